//! The sessions' contract.

use super::*;

pub(super) async fn sessions_last_until_they_expire_or_end(stores: &Stores) {
    let record = |expires_ms| SessionRecord {
        subject: "alice".into(),
        role: "operator".into(),
        agents: Some(vec!["deploy*".into()]),
        source: [3; 32],
        via_jwt: false,
        expires_ms,
    };
    let later = now_ms() + 60_000;
    stores
        .sessions
        .put_session([1; 32], record(later))
        .await
        .unwrap();
    stores
        .sessions
        .put_session([2; 32], record(now_ms() - 1))
        .await
        .unwrap();
    assert_eq!(
        stores.sessions.session([1; 32]).await.unwrap(),
        Some(record(later))
    );
    assert_eq!(
        stores.sessions.session([2; 32]).await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(
        stores.sessions.session([9; 32]).await.unwrap(),
        None,
        "unknown"
    );
    stores.sessions.drop_session([1; 32]).await.unwrap();
    assert_eq!(
        stores.sessions.session([1; 32]).await.unwrap(),
        None,
        "signed out"
    );
}
