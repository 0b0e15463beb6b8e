//! Signing in: a token exchanged for a browser session.

use serde::{Deserialize, Serialize};

/// The body of `POST /api/session`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    pub token: String,
}

/// `GET /api/session`: who the office is signed in as.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The name recorded on what this person does (`by`).
    pub subject: String,
    /// `viewer`, `operator` or `publisher`.
    pub role: String,
    /// The agents this person may act on; absent means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents: Option<Vec<String>>,
    /// When the session ends (RFC 3339); absent for an open gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// The gateway asks for no sign-in (loopback, no tokens configured).
    #[serde(default)]
    pub open: bool,
}
