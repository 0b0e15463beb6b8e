//! The followers' state contract: values round-trip and are replaced whole;
//! a lease has one holder at a time, renews for it, and passes on once it lapses.

use super::*;
use std::time::Duration;

pub(super) async fn follower_state_keeps_values_and_one_holder(stores: &Stores) {
    let state = &stores.followers;
    assert_eq!(state.state("sim.follow.ws1").await.unwrap(), None);
    state
        .put_state("sim.follow.ws1", r#"{"a":1}"#)
        .await
        .unwrap();
    state
        .put_state("sim.follow.ws1", r#"{"a":2}"#)
        .await
        .unwrap();
    state.put_state("sim.follow.ws2", "other").await.unwrap();
    assert_eq!(
        state.state("sim.follow.ws1").await.unwrap().as_deref(),
        Some(r#"{"a":2}"#)
    );

    let ttl = Duration::from_millis(300);
    assert!(state.take_lease("sim:ws1", "gw-a", ttl).await.unwrap());
    assert!(
        !state.take_lease("sim:ws1", "gw-b", ttl).await.unwrap(),
        "one holder"
    );
    assert!(
        state.take_lease("sim:ws1", "gw-a", ttl).await.unwrap(),
        "the holder renews"
    );
    assert!(
        state.take_lease("sim:ws2", "gw-b", ttl).await.unwrap(),
        "leases are by name"
    );
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert!(
        state.take_lease("sim:ws1", "gw-b", ttl).await.unwrap(),
        "a lapsed lease passes on"
    );
    assert!(!state.take_lease("sim:ws1", "gw-a", ttl).await.unwrap());
}
