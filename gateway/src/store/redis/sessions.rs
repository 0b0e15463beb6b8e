//! Browser sessions on Redis: one hash per session, expiring with it.

use super::{RedisStore, unavailable};
use crate::store::{SessionRecord, SessionStore, StoreError, now_ms};
use async_trait::async_trait;
use redis::AsyncCommands;
use std::collections::HashMap;

#[async_trait]
impl SessionStore for RedisStore {
    async fn put_session(&self, id: [u8; 32], session: SessionRecord) -> Result<(), StoreError> {
        let key = self.keys.session(&id);
        let agents = session
            .agents
            .map(|a| serde_json::Value::from(a).to_string())
            .unwrap_or_default();
        redis::pipe()
            .atomic()
            .hset_multiple(
                &key,
                &[
                    ("subject", session.subject),
                    ("role", session.role),
                    ("agents", agents),
                    ("source", hex::encode(session.source)),
                    ("via_jwt", u8::from(session.via_jwt).to_string()),
                    ("expires_ms", session.expires_ms.to_string()),
                ],
            )
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&key)
            .arg(session.expires_ms)
            .ignore()
            .query_async::<()>(&mut self.conn())
            .await
            .map_err(unavailable)
    }

    async fn session(&self, id: [u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        let hash: HashMap<String, String> = self
            .conn()
            .hgetall(self.keys.session(&id))
            .await
            .map_err(unavailable)?;
        let expires_ms: i64 = match hash.get("expires_ms").and_then(|v| v.parse().ok()) {
            Some(ms) if ms > now_ms() => ms,
            _ => return Ok(None),
        };
        Ok(Some(SessionRecord {
            subject: hash.get("subject").cloned().unwrap_or_default(),
            role: hash.get("role").cloned().unwrap_or_default(),
            agents: hash
                .get("agents")
                .filter(|a| !a.is_empty())
                .and_then(|a| serde_json::from_str(a).ok()),
            source: hash
                .get("source")
                .and_then(|s| hex::decode(s).ok())
                .and_then(|d| d.try_into().ok())
                .unwrap_or_default(),
            via_jwt: hash.get("via_jwt").map(String::as_str) == Some("1"),
            expires_ms,
        }))
    }

    async fn drop_session(&self, id: [u8; 32]) -> Result<(), StoreError> {
        self.conn()
            .del::<_, ()>(self.keys.session(&id))
            .await
            .map_err(unavailable)
    }
}
