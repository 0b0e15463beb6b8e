//! The API's errors as HTTP: each has a status and a stable code, and renders
//! as `{"error":{"code","message"}}`. The core's errors map here; so do the
//! edge's own refusals (bad JSON, bodies too large, missing tokens).

use crate::core::CoreError;
use crate::store::StoreError;
use protocol::ErrorBody;
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;
use warp::{Reply, reject::Reject};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds to wait before retrying (`Retry-After`).
    pub retry_after: Option<u64>,
}

impl Reject for ApiError {}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn retry_after(mut self, secs: u64) -> ApiError {
        self.retry_after = Some(secs.max(1));
        self
    }

    pub fn invalid_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn malformed_json(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("malformed JSON: {}", message.into()),
        )
    }

    pub fn payload_too_large(limit: u64) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is larger than the {limit}-byte limit"),
        )
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token or session is required",
        )
    }

    pub fn forbidden(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this token may not {what}"),
        )
    }

    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
    }

    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed",
        )
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody::new(self.code, self.message.clone())
    }

    pub fn into_response(self) -> Response {
        let mut response =
            warp::reply::with_status(warp::reply::json(&self.body()), self.status).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(secs));
        }
        response
    }
}

impl From<CoreError> for ApiError {
    fn from(error: CoreError) -> ApiError {
        let message = error.to_string();
        let (status, code) = match &error {
            CoreError::UnknownAgent(_) => (StatusCode::NOT_FOUND, "unknown_agent"),
            CoreError::UnknownNpc(_) => (StatusCode::NOT_FOUND, "unknown_npc"),
            CoreError::UnknownRun(_) => (StatusCode::NOT_FOUND, "unknown_run"),
            CoreError::AgentBusy { .. } => (StatusCode::CONFLICT, "agent_busy"),
            CoreError::InvalidEvent(e) if e.problem.is_forbidden() => {
                (StatusCode::FORBIDDEN, "forbidden")
            }
            CoreError::InvalidEvent(e)
                if matches!(e.problem, crate::core::EventProblem::UnknownNpc(_)) =>
            {
                (StatusCode::NOT_FOUND, "unknown_npc")
            }
            CoreError::InvalidEvent(_) => (StatusCode::BAD_REQUEST, "invalid_event"),
            CoreError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            CoreError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            CoreError::NotSignedIn => (StatusCode::UNAUTHORIZED, "unauthorized"),
            CoreError::NotAwaiting(_) => (StatusCode::CONFLICT, "not_awaiting"),
            CoreError::RunEnded(_) => (StatusCode::CONFLICT, "run_ended"),
            CoreError::RunConflict(_) => (StatusCode::CONFLICT, "run_conflict"),
            CoreError::Store(StoreError::DiskFull(_)) => {
                (StatusCode::INSUFFICIENT_STORAGE, "disk_full")
            }
            CoreError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
            CoreError::Backend(crate::backends::BackendError::AnsweredElsewhere(_)) => {
                (StatusCode::CONFLICT, "answered_elsewhere")
            }
            CoreError::Backend(_) => (StatusCode::BAD_GATEWAY, "upstream_failed"),
            CoreError::OverBudget { .. } => (StatusCode::CONFLICT, "over_budget"),
            CoreError::ObserveOnly(_) => (StatusCode::CONFLICT, "observe_only"),
        };
        let error = ApiError::new(status, code, message);
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::INSUFFICIENT_STORAGE {
            error.retry_after(5)
        } else {
            error
        }
    }
}
