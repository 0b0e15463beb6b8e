//! Who is calling: a bearer token (a person's, a JWT, a run's callback) or a
//! browser session opened by signing in with one. Sessions live in the store,
//! so every gateway sharing it knows them, and die with the token that opened
//! them.

use super::{CoreError, Service};
use crate::auth::{AgentScope, Caller, Identity, Role, Via, digest, random_token};
use crate::store::{SessionRecord, now_ms};
use protocol::SessionInfo;
use std::sync::Arc;

/// What a request presented.
#[derive(Clone, Copy, Debug, Default)]
pub struct Credentials<'a> {
    pub bearer: Option<&'a str>,
    pub session: Option<&'a str>,
}

/// A new session: the cookie's value and who it is.
pub struct SignedIn {
    pub session_id: String,
    pub info: SessionInfo,
    pub lifetime_secs: u64,
}

impl Service {
    /// The caller behind what a request presented. A bearer token decides
    /// when one is given; otherwise the session, if any.
    pub async fn caller_for(&self, credentials: Credentials<'_>) -> Caller {
        if let Some(token) = credentials.bearer.filter(|t| !t.is_empty()) {
            let caller = self.auth.caller(Some(token));
            if caller == Caller::Anonymous {
                // A run another gateway started, whose `started` this one has not read yet.
                if let Ok(Some((run_id, npc))) = self.store.runs.run_for_token(digest(token)).await
                {
                    return Caller::Run { run_id, npc };
                }
            }
            return caller;
        }
        if let Some(session) = credentials.session.filter(|s| !s.is_empty())
            && let Some(identity) = self.session(session).await
        {
            return Caller::Person(identity);
        }
        self.auth.caller(None)
    }

    /// The person a session stands for, as they are now: a session opened
    /// with a configured token takes that token's current role and agents (a
    /// demotion or a removed token counts at once); one opened with a JWT
    /// keeps the token's claims until it expires.
    async fn session(&self, session_id: &str) -> Option<Arc<Identity>> {
        let record = match self.store.sessions.session(digest(session_id)).await {
            Ok(record) => record?,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a session");
                return None;
            }
        };
        let identity = if record.via_jwt {
            Arc::new(Identity {
                subject: record.subject,
                role: record.role.parse().ok()?,
                agents: record.agents.map_or(AgentScope::All, AgentScope::Only),
            })
        } else {
            self.auth.token_holder(&record.source)?
        };
        // Publishers are machines: they never hold a browser session.
        (identity.role != Role::Publisher).then_some(identity)
    }

    /// Opens a session for a person's token or JWT.
    pub async fn sign_in(&self, token: &str) -> Result<SignedIn, CoreError> {
        let credential = self
            .auth
            .identify(token.trim())
            .ok_or(CoreError::NotSignedIn)?;
        if credential.identity.role == Role::Publisher {
            return Err(CoreError::Forbidden(
                "open a browser session: publisher tokens are for machines posting events".into(),
            ));
        }
        let lifetime = self.settings.session_lifetime.as_millis() as i64;
        let mut expires_ms = now_ms() + lifetime;
        if let Some(expires) = credential.expires {
            expires_ms = expires_ms.min(expires as i64 * 1000);
        }
        let identity = credential.identity.clone();
        let session_id = random_token();
        self.store
            .sessions
            .put_session(
                digest(&session_id),
                SessionRecord {
                    subject: identity.subject.clone(),
                    role: identity.role.as_str().to_owned(),
                    agents: identity.agents.patterns().map(<[String]>::to_vec),
                    source: credential.source,
                    via_jwt: credential.via == Via::Jwt,
                    expires_ms,
                },
            )
            .await?;
        tracing::info!(subject = %identity.subject, role = identity.role.as_str(), "signed in");
        Ok(SignedIn {
            session_id,
            info: info_of(&identity, Some(expires_ms)),
            lifetime_secs: match credential.expires {
                Some(_) => ((expires_ms - now_ms()).max(0) / 1000) as u64,
                None => self.settings.session_lifetime.as_secs(),
            },
        })
    }

    pub async fn sign_out(&self, session_id: &str) -> Result<(), CoreError> {
        Ok(self.store.sessions.drop_session(digest(session_id)).await?)
    }

    /// Who a caller is, as the office shows it.
    pub fn session_info(&self, caller: &Caller) -> Result<SessionInfo, CoreError> {
        match caller {
            Caller::Local => Ok(SessionInfo {
                subject: "local".into(),
                role: "operator".into(),
                agents: None,
                expires_at: None,
                open: true,
            }),
            Caller::Person(identity) => Ok(info_of(identity, None)),
            Caller::Run { .. } | Caller::Anonymous => Err(CoreError::NotSignedIn),
        }
    }
}

fn info_of(identity: &Identity, expires_ms: Option<i64>) -> SessionInfo {
    SessionInfo {
        subject: identity.subject.clone(),
        role: identity.role.as_str().to_owned(),
        agents: identity.agents.patterns().map(<[String]>::to_vec),
        expires_at: expires_ms.and_then(|ms| {
            time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
                .ok()?
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        }),
        open: false,
    }
}
