//! Who can sign in, and how: named tokens, a users file, a JWT key, sessions.

use super::ConfigError;
use crate::auth::{AgentScope, Identity, Role, TokenTable};
use std::path::PathBuf;
use std::time::Duration;

/// The shortest configured token, and the shortest HS256 secret, accepted:
/// guessing either must be out of reach.
pub const MIN_TOKEN_CHARS: usize = 16;
pub const MIN_JWT_SECRET_BYTES: usize = 32;

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Who may sign in")]
pub struct AuthArgs {
    /// Access tokens, comma-separated `role:name:token` (or `role:token`, named
    /// after the role); roles: viewer, operator, publisher. At least 16 characters each.
    #[arg(
        long = "token",
        env = "ESPRIT_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub tokens: Vec<String>,

    /// A users file: `[{"name", "role", "tokenSha256", "agents"}]`, reloaded on change.
    #[arg(long, env = "ESPRIT_USERS_FILE")]
    pub users_file: Option<PathBuf>,

    /// Verify JWTs signed with this shared secret (HS256, at least 32 bytes).
    #[arg(long, env = "ESPRIT_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Verify JWTs signed with this PEM public key (RS256, ES256 or EdDSA).
    #[arg(long, env = "ESPRIT_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,

    /// The `iss` JWTs must carry.
    #[arg(long, env = "ESPRIT_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// The `aud` JWTs must carry (required with a JWT key).
    #[arg(long, env = "ESPRIT_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// Hours a browser session lasts after signing in.
    #[arg(long, env = "SESSION_HOURS", default_value_t = 12.0)]
    pub session_hours: f64,

    /// Mark the session cookie `Secure` (set it when the office is served over HTTPS;
    /// on by default when PUBLIC_URL is https).
    #[arg(long, env = "SECURE_COOKIES")]
    pub secure_cookies: bool,

    /// When set, `/metrics` answers only requests bearing this token.
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
}

/// Who can sign in, and how.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    pub tokens: TokenTable,
    pub users_file: Option<PathBuf>,
    pub jwt: Option<JwtSettings>,
    pub session_lifetime: Duration,
    pub secure_cookies: bool,
}

impl AuthSettings {
    /// Anything that makes the gateway ask who is calling.
    pub fn is_configured(&self) -> bool {
        !self.tokens.is_empty() || self.users_file.is_some() || self.jwt.is_some()
    }
}

#[derive(Debug, Clone)]
pub enum JwtKey {
    Secret(String),
    PublicKeyFile(PathBuf),
}

#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub key: JwtKey,
    pub issuer: Option<String>,
    /// Required: a token minted for another service is not one for us.
    pub audience: String,
}

impl AuthArgs {
    /// The settings, checked; `https` says the office is served over HTTPS.
    pub fn settings(self, https: bool) -> Result<AuthSettings, ConfigError> {
        let mut tokens = TokenTable::default();
        for entry in self.tokens.iter().filter(|t| !t.trim().is_empty()) {
            let (identity, token) = parse_token(entry)?;
            tokens.insert(token, identity);
        }
        let key = match (
            self.jwt_secret.filter(|s| !s.is_empty()),
            self.jwt_public_key_file,
        ) {
            (Some(_), Some(_)) => return Err(ConfigError::TwoJwtKeys),
            (Some(secret), None) => Some(JwtKey::Secret(secret)),
            (None, Some(path)) => Some(JwtKey::PublicKeyFile(path)),
            (None, None) => None,
        };
        let jwt = match key {
            Some(key) => Some(jwt_settings(key, self.jwt_issuer, self.jwt_audience)?),
            None => None,
        };
        Ok(AuthSettings {
            tokens,
            users_file: self.users_file,
            jwt,
            session_lifetime: Duration::from_secs_f64(
                self.session_hours.clamp(1.0 / 60.0, 24.0 * 30.0) * 3600.0,
            ),
            secure_cookies: self.secure_cookies || https,
        })
    }
}

/// A JWT key is used only with an audience, and a shared secret only when long enough.
fn jwt_settings(
    key: JwtKey,
    issuer: Option<String>,
    audience: Option<String>,
) -> Result<JwtSettings, ConfigError> {
    if let JwtKey::Secret(secret) = &key
        && secret.len() < MIN_JWT_SECRET_BYTES
    {
        return Err(ConfigError::ShortJwtSecret(secret.len()));
    }
    let audience = audience
        .filter(|a| !a.trim().is_empty())
        .ok_or(ConfigError::NoJwtAudience)?;
    Ok(JwtSettings {
        key,
        issuer,
        audience,
    })
}

/// `role:name:token` or `role:token` (then named after the role).
fn parse_token(entry: &str) -> Result<(Identity, &str), ConfigError> {
    let bad = || ConfigError::BadToken(redact(entry));
    let (role, rest) = entry.trim().split_once(':').ok_or_else(bad)?;
    let role: Role = role.trim().parse().map_err(|_| bad())?;
    let (subject, token) = match rest.split_once(':') {
        Some((name, token)) if protocol::is_valid_id(name) => (name.to_owned(), token),
        _ => (role.as_str().to_owned(), rest),
    };
    if token.trim().is_empty() {
        return Err(bad());
    }
    let chars = token.trim().chars().count();
    if chars < MIN_TOKEN_CHARS {
        return Err(ConfigError::ShortToken {
            name: subject,
            chars,
        });
    }
    Ok((
        Identity {
            subject,
            role,
            agents: AgentScope::All,
        },
        token.trim(),
    ))
}

/// A value that may hold a secret, as an error shows it: its first part only.
pub(super) fn redact(entry: &str) -> String {
    match entry.split_once(':') {
        Some((role, _)) => format!("{role}:…"),
        None => "…".to_owned(),
    }
}
