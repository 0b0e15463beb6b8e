//! OTLP/HTTP on the gateway's own port: `POST /v1/traces` and `POST
//! /v1/logs`, so `OTEL_EXPORTER_OTLP_ENDPOINT=http://gateway:3001` works
//! unchanged. Protobuf or JSON, gzip or not; a publisher's bearer token
//! (`OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer …"`); answers in the
//! request's encoding, failures as OTLP's `google.rpc.Status`.

use super::edge::{Action, Edge};
use super::error::ApiError;
use super::{Presented, caller_of, read_limited};
use crate::auth::Right;
use crate::core::{CoreError, Service, Told};
use crate::otel::{Bounds, Encoding, ExportProblem, inflate, read_logs, read_traces};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection};

/// `google.rpc.Status`, the body of an OTLP failure (its `details` left empty).
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// Which export a request is.
#[derive(Clone, Copy, Debug)]
enum Signal {
    Traces,
    Logs,
}

/// What the OTLP routes need besides the service.
#[derive(Clone, Copy, Debug)]
pub struct OtlpSettings {
    /// Bytes of body as sent (gzip or not).
    pub body_limit: u64,
    pub body_timeout: Duration,
    pub bounds: Bounds,
}

struct Export {
    signal: Signal,
    encoding: Encoding,
    body: bytes::Bytes,
    content_encoding: Option<String>,
}

pub fn routes(
    service: Arc<Service>,
    edge: Arc<Edge>,
    settings: OtlpSettings,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let signal = warp::path!("v1" / "traces")
        .map(|| Signal::Traces)
        .or(warp::path!("v1" / "logs").map(|| Signal::Logs))
        .unify();
    signal
        .and(warp::post())
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::header::optional::<String>("content-type"))
        .and(warp::header::optional::<String>("content-encoding"))
        .and(warp::header::optional::<u64>("content-length"))
        .and(super::edge::client(edge.clone()))
        .and(warp::body::stream())
        .then(
            move |signal: Signal,
                  authorization: Option<String>,
                  content_type: Option<String>,
                  content_encoding: Option<String>,
                  declared: Option<u64>,
                  client: IpAddr,
                  body| {
                let (service, edge) = (service.clone(), edge.clone());
                async move {
                    // Answer in the request's encoding; JSON when it named neither.
                    let encoding = Encoding::of(content_type.as_deref()).unwrap_or(Encoding::Json);
                    let presented = Presented {
                        authorization: authorization.as_deref(),
                        session: None,
                        client,
                    };
                    let caller = match caller_of(
                        &service,
                        &edge,
                        presented,
                        Right::Publish,
                        Some(Action::Publish),
                    )
                    .await
                    {
                        Ok(caller) => caller,
                        Err(error) => return failure(encoding, &error),
                    };
                    if Encoding::of(content_type.as_deref()).is_none() {
                        return failure(
                            encoding,
                            &ApiError::new(
                                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                                "unsupported_media_type",
                                "send application/x-protobuf or application/json",
                            ),
                        );
                    }
                    let read = tokio::time::timeout(
                        settings.body_timeout,
                        read_limited(body, declared, settings.body_limit),
                    )
                    .await;
                    let body = match read {
                        Ok(Ok(body)) => body,
                        Ok(Err(error)) => return failure(encoding, &error),
                        Err(_) => {
                            return failure(
                                encoding,
                                &ApiError::new(
                                    StatusCode::REQUEST_TIMEOUT,
                                    "body_timeout",
                                    "the request body did not arrive in time",
                                ),
                            );
                        }
                    };
                    let export = Export {
                        signal,
                        encoding,
                        body,
                        content_encoding,
                    };
                    match take(&service, &caller, export, settings.bounds).await {
                        Ok(told) => success(signal, encoding, &told),
                        Err(error) => failure(encoding, &error),
                    }
                }
            },
        )
}

async fn take(
    service: &Service,
    caller: &crate::auth::Caller,
    export: Export,
    bounds: Bounds,
) -> Result<Told, ApiError> {
    let body = inflate(
        &export.body,
        export.content_encoding.as_deref(),
        bounds.inflated_bytes,
    )
    .map_err(problem)?;
    let (told, unread, why) = match export.signal {
        Signal::Traces => {
            let read = read_traces(&body, export.encoding, bounds).map_err(problem)?;
            let told = service.take_spans(caller, read.items).await;
            (told, read.rejected, read.why)
        }
        Signal::Logs => {
            let read = read_logs(&body, export.encoding, bounds).map_err(problem)?;
            let told = service.take_claude(caller, read.items).await;
            (told, read.rejected, read.why)
        }
    };
    let mut told = told.map_err(|e: CoreError| ApiError::from(e))?;
    told.refused += unread;
    if told.why.is_none() {
        told.why = why;
    }
    Ok(told)
}

fn problem(problem: ExportProblem) -> ApiError {
    match problem {
        ExportProblem::TooLarge(limit) => ApiError::payload_too_large(limit as u64),
        ExportProblem::ContentEncoding(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            problem.to_string(),
        ),
        other => ApiError::new(StatusCode::BAD_REQUEST, "invalid_export", other.to_string()),
    }
}

/// `200` with OTLP's answer, a partial success when something was refused.
fn success(signal: Signal, encoding: Encoding, told: &Told) -> Response {
    let rejected = told.refused as i64;
    let message = told.why.clone().unwrap_or_default();
    let (proto, json) = match signal {
        Signal::Traces => {
            let answer = ExportTraceServiceResponse {
                partial_success: (rejected > 0).then_some(ExportTracePartialSuccess {
                    rejected_spans: rejected,
                    error_message: message,
                }),
            };
            (answer.encode_to_vec(), serde_json::to_vec(&answer))
        }
        Signal::Logs => {
            let answer = ExportLogsServiceResponse {
                partial_success: (rejected > 0).then_some(ExportLogsPartialSuccess {
                    rejected_log_records: rejected,
                    error_message: message,
                }),
            };
            (answer.encode_to_vec(), serde_json::to_vec(&answer))
        }
    };
    let body = match encoding {
        Encoding::Protobuf => proto,
        // A full success is the empty message (not `"partialSuccess": null`).
        Encoding::Json if rejected == 0 => b"{}".to_vec(),
        Encoding::Json => json.expect("an OTLP answer serializes"),
    };
    encoded(StatusCode::OK, encoding, body)
}

/// An OTLP failure: the HTTP status OTLP names, a `google.rpc.Status` body.
fn failure(encoding: Encoding, error: &ApiError) -> Response {
    // gRPC codes: INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED,
    // RESOURCE_EXHAUSTED, UNAVAILABLE, INTERNAL.
    let code = match error.status {
        StatusCode::UNAUTHORIZED => 16,
        StatusCode::FORBIDDEN => 7,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::PAYLOAD_TOO_LARGE => 8,
        StatusCode::SERVICE_UNAVAILABLE => 14,
        status if status.is_server_error() => 13,
        _ => 3,
    };
    let status = RpcStatus {
        code,
        message: error.message.clone(),
    };
    let body = match encoding {
        Encoding::Protobuf => status.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(&status).expect("a status serializes"),
    };
    let mut response = encoded(error.status, encoding, body);
    if let Some(secs) = error.retry_after {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from(secs));
    }
    response
}

fn encoded(status: StatusCode, encoding: Encoding, body: Vec<u8>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static(encoding.content_type()),
    );
    response
}
