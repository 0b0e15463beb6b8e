//! Followers' state in SQLite: small named values and leases, written on the
//! writer's connection, read through the pool. One machine has one gateway
//! on a SQLite file, so a lease here is mostly a formality kept for the
//! contract's sake.

use super::SqliteStore;
use crate::store::{FollowerState, StoreError, now_ms};
use async_trait::async_trait;
use r2d2_sqlite::rusqlite::{OptionalExtension, params};
use std::time::Duration;

#[async_trait]
impl FollowerState for SqliteStore {
    async fn state(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_owned();
        self.read(move |conn| {
            conn.prepare_cached("SELECT value FROM follower_state WHERE key = ?1")?
                .query_row(params![key], |row| row.get(0))
                .optional()
        })
        .await
    }

    async fn put_state(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO follower_state (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
        })
        .await
    }

    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write(move |conn| {
            let now = now_ms();
            conn.execute(
                "INSERT INTO leases (name, holder, expires_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms
                 WHERE leases.holder = excluded.holder OR leases.expires_ms <= ?4",
                params![name, holder, now + ttl.as_millis() as i64, now],
            )?;
            let current: String = conn
                .prepare_cached("SELECT holder FROM leases WHERE name = ?1")?
                .query_row(params![name], |row| row.get(0))?;
            Ok(current == holder)
        })
        .await
    }
}
