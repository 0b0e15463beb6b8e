//! A users file: people and services by name, with a role, the agents they
//! may act on, and the SHA-256 of their token (the file holds no tokens):
//!
//! ```json
//! [{"name": "alice", "role": "operator", "tokenSha256": "9f86…", "agents": ["deploy*"],
//!   "budget": {"dailyUsd": 20}}]
//! ```
//!
//! Validated while it is read, so every error names the file, line and field.

use super::{AgentScope, Identity, Role};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawUser {
    name: Name,
    role: RoleName,
    token_sha256: Sha256Hex,
    #[serde(default)]
    agents: Option<Vec<Pattern>>,
    /// What the runs they start may cost a day (`{"dailyUsd": 20}`).
    #[serde(default)]
    budget: Option<crate::budget::Budget>,
}

#[derive(Deserialize)]
#[serde(try_from = "String")]
struct Name(String);

impl TryFrom<String> for Name {
    type Error = String;
    fn try_from(s: String) -> Result<Name, String> {
        if protocol::is_valid_id(&s) {
            Ok(Name(s))
        } else {
            Err(format!(
                "`{s}` is not a name (1-64 letters, digits, `_` or `-`)"
            ))
        }
    }
}

#[derive(Deserialize)]
#[serde(try_from = "String")]
struct RoleName(Role);

impl TryFrom<String> for RoleName {
    type Error = String;
    fn try_from(s: String) -> Result<RoleName, String> {
        s.parse()
            .map(RoleName)
            .map_err(|_| format!("`{s}` is not viewer, operator or publisher"))
    }
}

#[derive(Deserialize)]
#[serde(try_from = "String")]
struct Sha256Hex([u8; 32]);

impl TryFrom<String> for Sha256Hex {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Sha256Hex, &'static str> {
        hex::decode(s.trim())
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .map(Sha256Hex)
            .ok_or("not a SHA-256 in hex (64 characters; `printf %s TOKEN | sha256sum`)")
    }
}

#[derive(Deserialize)]
#[serde(try_from = "String")]
struct Pattern(String);

impl TryFrom<String> for Pattern {
    type Error = String;
    fn try_from(s: String) -> Result<Pattern, String> {
        let plain = s.replace(['*', '?'], "a");
        if protocol::is_valid_id(&plain) {
            Ok(Pattern(s))
        } else {
            Err(format!(
                "`{s}` is not an agent id or pattern (`*` and `?` allowed)"
            ))
        }
    }
}

/// One user: who, and the digest of their token.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub identity: Identity,
    pub token_digest: [u8; 32],
    pub budget: Option<crate::budget::Budget>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum UsersError {
    #[error("{}: cannot read: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("{}:{line}:{column}: field `{field}`: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        field: String,
        message: String,
    },
}

pub fn load(path: &Path) -> Result<Vec<User>, UsersError> {
    let text = std::fs::read_to_string(path).map_err(|e| UsersError::Io {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    parse(path, &text)
}

pub fn parse(path: &Path, text: &str) -> Result<Vec<User>, UsersError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let invalid = |line, column, field: String, message: String| UsersError::Invalid {
        path: path.to_owned(),
        line,
        column,
        field,
        message: match message.rfind(" at line ") {
            Some(i) => message[..i].to_owned(),
            None => message,
        },
    };
    let raw: Vec<RawUser> = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        invalid(inner.line(), inner.column(), field, inner.to_string())
    })?;
    de.end()
        .map_err(|e| invalid(e.line(), e.column(), ".".into(), e.to_string()))?;
    let mut names = std::collections::HashSet::new();
    let mut users = Vec::with_capacity(raw.len());
    for (index, user) in raw.into_iter().enumerate() {
        if !names.insert(user.name.0.clone()) {
            return Err(invalid(
                0,
                0,
                format!("[{index}].name"),
                format!("duplicate name `{}`", user.name.0),
            ));
        }
        users.push(User {
            identity: Identity {
                subject: user.name.0,
                role: user.role.0,
                agents: user.agents.map_or(AgentScope::All, |p| {
                    AgentScope::Only(p.into_iter().map(|p| p.0).collect())
                }),
            },
            token_digest: user.token_sha256.0,
            budget: user.budget,
        });
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";

    #[test]
    fn users_load_with_their_roles_and_agents() {
        let users = parse(
            Path::new("users.json"),
            &format!(r#"[{{"name": "alice", "role": "operator", "tokenSha256": "{ALICE}", "agents": ["deploy*"]}}]"#),
        )
        .unwrap();
        assert_eq!(users[0].identity.subject, "alice");
        assert_eq!(users[0].token_digest, super::super::digest("secret"));
        assert!(users[0].identity.agents.allows("deployer"));
    }

    mod properties {
        use super::*;
        use crate::properties::json_value;
        use proptest::prelude::*;

        proptest! {
            /// Any document as a users file: users with valid names, or an
            /// error naming the file and the field.
            #[test]
            fn any_users_file_is_refused_clearly_or_valid(document in json_value()) {
                match parse(Path::new("users.json"), &document.to_string()) {
                    Ok(users) => {
                        for user in users {
                            prop_assert!(protocol::is_valid_id(&user.identity.subject));
                        }
                    }
                    Err(error) => {
                        let message = error.to_string();
                        prop_assert!(message.starts_with("users.json:") && message.contains("field `"), "{}", message);
                    }
                }
            }
        }
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let cases = [
            (
                format!(
                    "[\n{{\"name\": \"a\", \"role\": \"wizard\", \"tokenSha256\": \"{ALICE}\"}}]"
                ),
                "users.json:2:",
                "[0].role",
            ),
            (
                "[{\"name\": \"a\", \"role\": \"viewer\", \"tokenSha256\": \"abc\"}]".to_owned(),
                "users.json:1:",
                "[0].tokenSha256",
            ),
            (
                format!(
                    "[{{\"name\": \"a b\", \"role\": \"viewer\", \"tokenSha256\": \"{ALICE}\"}}]"
                ),
                "users.json:1:",
                "[0].name",
            ),
            (
                format!(
                    "[{{\"name\": \"a\", \"role\": \"viewer\", \"tokenSha256\": \"{ALICE}\", \"agents\": [\"a b\"]}}]"
                ),
                "users.json:1:",
                "[0].agents[0]",
            ),
        ];
        for (text, place, field) in cases {
            let error = parse(Path::new("users.json"), &text)
                .unwrap_err()
                .to_string();
            assert!(error.starts_with(place), "{error}");
            assert!(error.contains(&format!("field `{field}`")), "{error}");
        }
    }
}
