//! Who may do what: role tokens from the config and per-run callback tokens.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, RwLock};

/// A role grants a set of rights; `operator` includes `viewer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Stream, history, roster.
    Viewer,
    /// Viewer rights, plus run, cancel and respond.
    Operator,
    /// Post events.
    Publisher,
}

impl FromStr for Role {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "publisher" => Ok(Role::Publisher),
            _ => Err(()),
        }
    }
}

/// What a request asks to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Right {
    View,
    Operate,
    Publish,
}

impl Role {
    fn grants(self, right: Right) -> bool {
        matches!(
            (self, right),
            (Role::Viewer, Right::View)
                | (Role::Operator, Right::View | Right::Operate)
                | (Role::Publisher, Right::Publish)
        )
    }
}

/// The caller, once its token is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// No tokens are configured: the gateway is open (loopback only unless told otherwise).
    Open,
    Role(Role),
    /// A run's callback token: may publish events for that run's npc only.
    Run {
        run_id: String,
        npc: String,
    },
    Anonymous,
}

impl Caller {
    pub fn may(&self, right: Right) -> bool {
        match self {
            Caller::Open => true,
            Caller::Role(role) => role.grants(right),
            Caller::Run { .. } => right == Right::Publish,
            Caller::Anonymous => false,
        }
    }

    /// A name for logs and for recording who answered a question.
    pub fn label(&self) -> String {
        match self {
            Caller::Open => "local".into(),
            Caller::Role(role) => format!("{role:?}").to_lowercase(),
            Caller::Run { run_id, .. } => format!("run {run_id}"),
            Caller::Anonymous => "anonymous".into(),
        }
    }
}

/// Configured role tokens, looked up by the SHA-256 of the token.
#[derive(Clone, Debug, Default)]
pub struct TokenTable {
    roles: HashMap<[u8; 32], Role>,
}

impl TokenTable {
    pub fn insert(&mut self, token: &str, role: Role) {
        self.roles.insert(digest(token), role);
    }

    pub fn is_empty(&self) -> bool {
        self.roles.is_empty()
    }
}

/// Token digest → (run id, npc).
type RunTokenMap = HashMap<[u8; 32], (String, String)>;

/// Callback tokens of runs in progress.
#[derive(Clone, Default)]
pub struct RunTokens {
    inner: Arc<RwLock<RunTokenMap>>,
}

impl RunTokens {
    /// A fresh random token for `run_id`, valid until [`RunTokens::revoke`].
    pub fn issue(&self, run_id: &str, npc: &str) -> String {
        let token = random_token();
        self.remember(&token, run_id, npc);
        token
    }

    pub fn remember(&self, token: &str, run_id: &str, npc: &str) {
        self.remember_digest(digest(token), run_id, npc);
    }

    /// Restores a token known only by its digest (after a restart).
    pub fn remember_digest(&self, digest: [u8; 32], run_id: &str, npc: &str) {
        self.inner
            .write()
            .expect("run token lock")
            .insert(digest, (run_id.to_owned(), npc.to_owned()));
    }

    pub fn revoke(&self, run_id: &str) {
        self.inner
            .write()
            .expect("run token lock")
            .retain(|_, (id, _)| id != run_id);
    }

    fn lookup(&self, token: &str) -> Option<(String, String)> {
        self.inner
            .read()
            .expect("run token lock")
            .get(&digest(token))
            .cloned()
    }
}

/// Resolves a presented token to a [`Caller`].
#[derive(Clone)]
pub struct Authenticator {
    pub tokens: TokenTable,
    pub runs: RunTokens,
}

impl Authenticator {
    pub fn caller(&self, token: Option<&str>) -> Caller {
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return if self.tokens.is_empty() {
                Caller::Open
            } else {
                Caller::Anonymous
            };
        };
        if let Some(role) = self.tokens.roles.get(&digest(token)) {
            return Caller::Role(*role);
        }
        if let Some((run_id, npc)) = self.runs.lookup(token) {
            return Caller::Run { run_id, npc };
        }
        if self.tokens.is_empty() {
            Caller::Open
        } else {
            Caller::Anonymous
        }
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

pub fn random_token() -> String {
    let bytes: [u8; 24] = rand::random();
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Authenticator {
        let mut tokens = TokenTable::default();
        tokens.insert("v", Role::Viewer);
        tokens.insert("o", Role::Operator);
        tokens.insert("p", Role::Publisher);
        Authenticator {
            tokens,
            runs: RunTokens::default(),
        }
    }

    #[test]
    fn roles_grant_their_rights_only() {
        let auth = auth();
        assert!(auth.caller(Some("v")).may(Right::View));
        assert!(!auth.caller(Some("v")).may(Right::Operate));
        assert!(auth.caller(Some("o")).may(Right::Operate));
        assert!(!auth.caller(Some("o")).may(Right::Publish));
        assert!(auth.caller(Some("p")).may(Right::Publish));
        assert!(!auth.caller(Some("p")).may(Right::View));
        assert!(!auth.caller(None).may(Right::View));
        assert!(!auth.caller(Some("nope")).may(Right::View));
    }

    #[test]
    fn run_tokens_publish_until_revoked() {
        let auth = auth();
        let token = auth.runs.issue("r1", "scheduler");
        assert_eq!(
            auth.caller(Some(&token)),
            Caller::Run {
                run_id: "r1".into(),
                npc: "scheduler".into()
            }
        );
        auth.runs.revoke("r1");
        assert_eq!(auth.caller(Some(&token)), Caller::Anonymous);
    }

    #[test]
    fn with_no_tokens_configured_everyone_is_local() {
        let open = Authenticator {
            tokens: TokenTable::default(),
            runs: RunTokens::default(),
        };
        assert_eq!(open.caller(None), Caller::Open);
        assert!(open.caller(Some("whatever")).may(Right::Operate));
    }
}
