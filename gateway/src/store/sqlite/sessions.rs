//! Browser sessions in SQLite: written on the writer's connection, in order
//! with the appends; read through the pool.

use super::SqliteStore;
use crate::store::{SessionRecord, SessionStore, StoreError, now_ms};
use async_trait::async_trait;
use r2d2_sqlite::rusqlite::{OptionalExtension, params};

#[async_trait]
impl SessionStore for SqliteStore {
    async fn put_session(&self, id: [u8; 32], session: SessionRecord) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO sessions (id, subject, role, agents, source, via_jwt, expires_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    hex::encode(id),
                    session.subject,
                    session.role,
                    session.agents.map(|a| serde_json::Value::from(a).to_string()),
                    hex::encode(session.source),
                    session.via_jwt,
                    session.expires_ms
                ],
            )
            .map(|_| ())
        })
        .await
    }

    async fn session(&self, id: [u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT subject, role, agents, source, via_jwt, expires_ms FROM sessions
                 WHERE id = ?1 AND expires_ms > ?2",
            )?
            .query_row(params![hex::encode(id), now_ms()], |row| {
                let agents: Option<String> = row.get(2)?;
                let source: String = row.get(3)?;
                Ok(SessionRecord {
                    subject: row.get(0)?,
                    role: row.get(1)?,
                    agents: agents.and_then(|a| serde_json::from_str(&a).ok()),
                    source: hex::decode(source)
                        .ok()
                        .and_then(|d| <[u8; 32]>::try_from(d).ok())
                        .unwrap_or_default(),
                    via_jwt: row.get(4)?,
                    expires_ms: row.get(5)?,
                })
            })
            .optional()
        })
        .await
    }

    async fn drop_session(&self, id: [u8; 32]) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "DELETE FROM sessions WHERE id = ?1",
                params![hex::encode(id)],
            )
            .map(|_| ())
        })
        .await
    }
}
