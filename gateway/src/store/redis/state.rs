//! Followers' state on Redis: a string per value, and a lease per follower
//! that only its holder renews (set-if-absent, or extend-if-mine, in one
//! script), so one gateway of many follows each source.

use super::{RedisStore, unavailable};
use crate::store::{FollowerState, StoreError};
use async_trait::async_trait;
use redis::AsyncCommands;
use std::sync::LazyLock;
use std::time::Duration;

/// Takes the lease when nobody holds it, renews it when the caller does.
static TAKE_LEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
",
    )
});

#[async_trait]
impl FollowerState for RedisStore {
    async fn state(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .get(self.keys.state(key))
            .await
            .map_err(unavailable)
    }

    async fn put_state(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn()
            .set(self.keys.state(key), value)
            .await
            .map_err(unavailable)
    }

    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let taken: i64 = TAKE_LEASE
            .key(self.keys.lease(name))
            .arg(holder)
            .arg(ttl.as_millis().max(1) as u64)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(taken == 1)
    }
}
