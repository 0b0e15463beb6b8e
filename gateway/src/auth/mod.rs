//! Who may do what: named tokens (from `ESPRIT_TOKENS` or a users file),
//! JWTs from an identity provider, per-run callback tokens, and the callers
//! they resolve to. Nothing here knows HTTP.

pub mod jwt;
mod jwt_crypto;
pub mod users;

pub use jwt_crypto::install as install_jwt_crypto;

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, RwLock};

/// A role grants a set of rights; `operator` includes `viewer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
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

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Publisher => "publisher",
        }
    }

    fn grants(self, right: Right) -> bool {
        matches!(
            (self, right),
            (Role::Viewer, Right::View)
                | (Role::Operator, Right::View | Right::Operate)
                | (Role::Publisher, Right::Publish)
        )
    }
}

/// What a request asks to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Right {
    View,
    Operate,
    Publish,
}

impl Right {
    pub fn describe(self) -> &'static str {
        match self {
            Right::View => "view the office",
            Right::Operate => "run or answer agents",
            Right::Publish => "publish events",
        }
    }
}

/// Which agents a person may act on.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum AgentScope {
    #[default]
    All,
    /// Agent ids or patterns (`deploy*`, `*-bot`, `agent-?`).
    Only(Vec<String>),
}

impl AgentScope {
    pub fn allows(&self, agent: &str) -> bool {
        match self {
            AgentScope::All => true,
            AgentScope::Only(patterns) => patterns
                .iter()
                .any(|p| wildmatch::WildMatch::new(p).matches(agent)),
        }
    }

    pub fn patterns(&self) -> Option<&[String]> {
        match self {
            AgentScope::All => None,
            AgentScope::Only(patterns) => Some(patterns),
        }
    }
}

/// A named person or service, as a token, a JWT or a session names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Who: recorded as `by` on every run, cancel and answer.
    pub subject: String,
    pub role: Role,
    pub agents: AgentScope,
}

/// The caller, once its credentials are known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// No tokens are configured: the gateway is open (loopback only unless told otherwise).
    Local,
    Person(Arc<Identity>),
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
            Caller::Local => true,
            Caller::Person(identity) => identity.role.grants(right),
            Caller::Run { .. } => right == Right::Publish,
            Caller::Anonymous => false,
        }
    }

    /// Whether this caller may act on `agent` (its token's agent list).
    pub fn may_act_on(&self, agent: &str) -> bool {
        match self {
            Caller::Person(identity) => identity.agents.allows(agent),
            Caller::Local | Caller::Run { .. } => true,
            Caller::Anonymous => false,
        }
    }

    /// The name recorded on what this caller does.
    pub fn by(&self) -> String {
        match self {
            Caller::Local => "local".into(),
            Caller::Person(identity) => identity.subject.clone(),
            Caller::Run { run_id, .. } => format!("run {run_id}"),
            Caller::Anonymous => "anonymous".into(),
        }
    }
}

/// Configured tokens, looked up by the SHA-256 of the token.
#[derive(Clone, Debug, Default)]
pub struct TokenTable {
    people: HashMap<[u8; 32], Arc<Identity>>,
}

impl TokenTable {
    pub fn insert(&mut self, token: &str, identity: Identity) {
        self.people.insert(digest(token), Arc::new(identity));
    }

    /// A token known only by its digest (a users file stores no tokens).
    pub fn insert_digest(&mut self, digest: [u8; 32], identity: Identity) {
        self.people.insert(digest, Arc::new(identity));
    }

    pub fn is_empty(&self) -> bool {
        self.people.is_empty()
    }

    pub fn get(&self, token: &str) -> Option<Arc<Identity>> {
        self.people.get(&digest(token)).cloned()
    }

    pub fn get_digest(&self, digest: &[u8; 32]) -> Option<Arc<Identity>> {
        self.people.get(digest).cloned()
    }
}

/// Token digest → (run id, npc).
type RunTokenMap = HashMap<[u8; 32], (String, String)>;

/// Callback tokens of runs in progress, learned from `started` events (from
/// any gateway sharing the store) and forgotten when the run ends.
#[derive(Clone, Default)]
pub struct RunTokens {
    inner: Arc<RwLock<RunTokenMap>>,
}

impl RunTokens {
    /// A fresh random token and its digest.
    pub fn mint() -> (String, [u8; 32]) {
        let token = random_token();
        let digest = digest(&token);
        (token, digest)
    }

    pub fn remember(&self, digest: [u8; 32], run_id: &str, npc: &str) {
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

    pub fn lookup(&self, token: &str) -> Option<(String, String)> {
        self.inner
            .read()
            .expect("run token lock")
            .get(&digest(token))
            .cloned()
    }
}

/// How a credential was proven.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// A token the config or the users file names.
    Token,
    /// A JWT from the identity provider.
    Jwt,
}

/// A person's credential, checked: enough to open a session on it.
#[derive(Clone, Debug, PartialEq)]
pub struct Credential {
    pub identity: Arc<Identity>,
    /// SHA-256 of the credential: a session dies with its token.
    pub source: [u8; 32],
    pub via: Via,
    /// When the credential itself expires (seconds since the epoch), if it does.
    pub expires: Option<u64>,
}

/// Resolves presented credentials to a [`Caller`].
#[derive(Clone, Default)]
pub struct Authenticator {
    /// Nothing is configured to authenticate with: everyone is `Local`.
    open: bool,
    /// `ESPRIT_TOKENS` and the users file, merged; replaced when the file changes.
    tokens: Arc<RwLock<TokenTable>>,
    configured: TokenTable,
    pub runs: RunTokens,
    jwt: Option<Arc<jwt::JwtVerifier>>,
    /// Daily budgets of the users file's people, by name.
    budgets: Arc<RwLock<std::collections::HashMap<String, crate::budget::Budget>>>,
}

impl Authenticator {
    /// `users` is `None` without a users file (an empty file still closes the gateway).
    pub fn new(
        configured: TokenTable,
        users: Option<Vec<users::User>>,
        jwt: Option<jwt::JwtVerifier>,
        runs: RunTokens,
    ) -> Authenticator {
        let authenticator = Authenticator {
            open: configured.is_empty() && users.is_none() && jwt.is_none(),
            tokens: Default::default(),
            configured,
            runs,
            jwt: jwt.map(Arc::new),
            budgets: Default::default(),
        };
        authenticator.replace_users(users.unwrap_or_default());
        authenticator
    }

    /// Swaps in a new users file (its tokens join `ESPRIT_TOKENS`').
    pub fn replace_users(&self, users: Vec<users::User>) {
        let mut table = self.configured.clone();
        let mut budgets = std::collections::HashMap::new();
        for user in users {
            if let Some(budget) = user.budget {
                budgets.insert(user.identity.subject.clone(), budget);
            }
            table.insert_digest(user.token_digest, user.identity);
        }
        *self.tokens.write().expect("token table lock") = table;
        *self.budgets.write().expect("budgets lock") = budgets;
    }

    /// A person's daily budget, from the users file.
    pub fn budget_of(&self, subject: &str) -> Option<crate::budget::Budget> {
        self.budgets
            .read()
            .expect("budgets lock")
            .get(subject)
            .copied()
    }

    /// Whether the gateway is open (nothing configured): every request is `Local`.
    /// Decided once: a users file emptied later does not open the gateway.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// A person's token or JWT, checked (run tokens are not people).
    pub fn identify(&self, token: &str) -> Option<Credential> {
        let source = digest(token);
        if let Some(identity) = self
            .tokens
            .read()
            .expect("token table lock")
            .get_digest(&source)
        {
            return Some(Credential {
                identity,
                source,
                via: Via::Token,
                expires: None,
            });
        }
        let verified = self.jwt.as_ref()?.verify(token)?;
        Some(Credential {
            identity: Arc::new(verified.identity),
            source,
            via: Via::Jwt,
            expires: Some(verified.expires),
        })
    }

    /// Who a configured token names now (a removed token names nobody): a
    /// session opened with it takes its current role and agents on every use.
    pub fn token_holder(&self, source: &[u8; 32]) -> Option<Arc<Identity>> {
        self.tokens
            .read()
            .expect("token table lock")
            .get_digest(source)
    }

    pub fn caller(&self, token: Option<&str>) -> Caller {
        let token = token.filter(|t| !t.is_empty());
        if let Some(token) = token {
            if let Some(credential) = self.identify(token) {
                return Caller::Person(credential.identity);
            }
            if let Some((run_id, npc)) = self.runs.lookup(token) {
                return Caller::Run { run_id, npc };
            }
        }
        if self.is_open() {
            Caller::Local
        } else {
            Caller::Anonymous
        }
    }
}

pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

pub fn random_token() -> String {
    let bytes: [u8; 24] = rand::random();
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(role: Role, agents: AgentScope) -> Caller {
        Caller::Person(Arc::new(Identity {
            subject: "alice".into(),
            role,
            agents,
        }))
    }

    #[test]
    fn roles_grant_their_rights_only() {
        let all = AgentScope::All;
        assert!(person(Role::Viewer, all.clone()).may(Right::View));
        assert!(!person(Role::Viewer, all.clone()).may(Right::Operate));
        assert!(person(Role::Operator, all.clone()).may(Right::Operate));
        assert!(!person(Role::Operator, all.clone()).may(Right::Publish));
        assert!(person(Role::Publisher, all.clone()).may(Right::Publish));
        assert!(!person(Role::Publisher, all).may(Right::View));
        assert!(!Caller::Anonymous.may(Right::View));
        assert!(Caller::Local.may(Right::Operate));
    }

    #[test]
    fn agent_lists_take_patterns() {
        let scope = AgentScope::Only(vec!["deploy*".into(), "*-bot".into(), "mail".into()]);
        for (agent, allowed) in [
            ("deployer", true),
            ("deploy", true),
            ("chat-bot", true),
            ("mail", true),
            ("mailops", false),
            ("scheduler", false),
        ] {
            assert_eq!(scope.allows(agent), allowed, "{agent}");
        }
    }

    #[test]
    fn run_tokens_are_known_until_revoked() {
        let runs = RunTokens::default();
        let (token, digest) = RunTokens::mint();
        runs.remember(digest, "r1", "scheduler");
        assert_eq!(
            runs.lookup(&token),
            Some(("r1".to_owned(), "scheduler".to_owned()))
        );
        runs.revoke("r1");
        assert_eq!(runs.lookup(&token), None);
    }

    #[test]
    fn tokens_resolve_to_named_people() {
        let mut table = TokenTable::default();
        table.insert(
            "s3cret",
            Identity {
                subject: "alice".into(),
                role: Role::Operator,
                agents: AgentScope::All,
            },
        );
        assert_eq!(table.get("s3cret").unwrap().subject, "alice");
        assert!(table.get("other").is_none());
    }
}
