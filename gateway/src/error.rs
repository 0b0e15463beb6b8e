//! The API's one error type: each variant has a stable code and an HTTP status,
//! and renders as `{"error":{"code","message"}}`.

use crate::store::StoreError;
use protocol::ErrorBody;
use warp::http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no agent `{0}` in the registry")]
    UnknownAgent(String),
    #[error("no npc `{0}` in the registry")]
    UnknownNpc(String),
    #[error("no run `{0}`")]
    UnknownRun(String),
    #[error("agent `{agent}` is already running ({run_id}); wait for it to finish or cancel it")]
    AgentBusy { agent: String, run_id: String },
    #[error("{0}")]
    InvalidEvent(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("request body is larger than the {0}-byte limit")]
    PayloadTooLarge(u64),
    #[error("send a JSON body with `Content-Type: application/json`")]
    UnsupportedMediaType,
    #[error("a valid bearer token is required")]
    Unauthorized,
    #[error("this token may not {0}")]
    Forbidden(String),
    #[error("run `{0}` is not waiting for an answer")]
    NotAwaiting(String),
    #[error("run `{0}` has already ended")]
    RunEnded(String),
    #[error("{0}")]
    Conflict(String),
    #[error("no such route")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("event store: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Upstream(String),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::UnknownAgent(_) => "unknown_agent",
            ApiError::UnknownNpc(_) => "unknown_npc",
            ApiError::UnknownRun(_) => "unknown_run",
            ApiError::AgentBusy { .. } => "agent_busy",
            ApiError::InvalidEvent(_) => "invalid_event",
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotAwaiting(_) => "not_awaiting",
            ApiError::RunEnded(_) => "run_ended",
            ApiError::Conflict(_) => "conflict",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Store(_) => "store_unavailable",
            ApiError::Upstream(_) => "upstream_failed",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::UnknownAgent(_)
            | ApiError::UnknownNpc(_)
            | ApiError::UnknownRun(_)
            | ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::AgentBusy { .. }
            | ApiError::NotAwaiting(_)
            | ApiError::RunEnded(_)
            | ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::InvalidEvent(_)
            | ApiError::InvalidRequest(_)
            | ApiError::MalformedJson(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Upstream(_) => StatusCode::BAD_GATEWAY,
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody::new(self.code(), self.to_string())
    }
}

impl warp::reject::Reject for ApiError {}
