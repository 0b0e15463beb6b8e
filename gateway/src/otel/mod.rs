//! OpenTelemetry in: OTLP/HTTP export requests (protobuf or JSON, gzip or
//! not) read into the office's terms. Spans of GenAI agents become runs of
//! visiting characters ([`assemble`]); Claude Code's log events become runs
//! of its sessions ([`claude`]). Decoding uses the OTLP messages of
//! `opentelemetry-proto`; nothing here knows HTTP or the store.

pub mod assemble;
mod attrs;
pub mod claude;
pub mod spans;

use attrs::Attrs;
use claude::ClaudeRecord;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use spans::SpanFact;

/// How an export request's body is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// From the request's `Content-Type`; OTLP/HTTP knows only these two.
    pub fn of(content_type: Option<&str>) -> Option<Encoding> {
        let essence = content_type?.split(';').next()?.trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
            "application/json" => Some(Encoding::Json),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// How much one export may carry.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Bytes after gzip is undone.
    pub inflated_bytes: usize,
    /// Spans, or log records, in one request.
    pub items: usize,
    /// Attributes one span or record may carry.
    pub attributes: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            inflated_bytes: 8 * 1024 * 1024,
            items: 10_000,
            attributes: 256,
        }
    }
}

/// Why an export request cannot be read at all (a 400, or a 413).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportProblem {
    #[error("the gzip body is corrupt: {0}")]
    Gzip(String),
    #[error("the body inflates past {0} bytes")]
    TooLarge(usize),
    #[error("unsupported Content-Encoding `{0}`; send gzip or none")]
    ContentEncoding(String),
    #[error("malformed OTLP protobuf: {0}")]
    Protobuf(String),
    #[error("malformed OTLP JSON: {0}")]
    Json(String),
    #[error("{count} {what} in one request; at most {limit}")]
    TooMany {
        count: usize,
        limit: usize,
        what: &'static str,
    },
}

/// Undoes `Content-Encoding: gzip`, never past `limit` bytes.
pub fn inflate(
    body: &[u8],
    content_encoding: Option<&str>,
    limit: usize,
) -> Result<Vec<u8>, ExportProblem> {
    match content_encoding
        .map(|e| e.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("" | "identity") => {
            if body.len() > limit {
                return Err(ExportProblem::TooLarge(limit));
            }
            Ok(body.to_vec())
        }
        Some("gzip") => {
            let mut out = Vec::new();
            let mut inflated =
                std::io::Read::take(flate2::read::MultiGzDecoder::new(body), limit as u64 + 1);
            std::io::Read::read_to_end(&mut inflated, &mut out)
                .map_err(|e| ExportProblem::Gzip(e.to_string()))?;
            if out.len() > limit {
                return Err(ExportProblem::TooLarge(limit));
            }
            Ok(out)
        }
        Some(other) => Err(ExportProblem::ContentEncoding(other.to_owned())),
    }
}

fn decode<T: Message + Default + serde::de::DeserializeOwned>(
    body: &[u8],
    encoding: Encoding,
) -> Result<T, ExportProblem> {
    match encoding {
        Encoding::Protobuf => T::decode(body).map_err(|e| ExportProblem::Protobuf(e.to_string())),
        Encoding::Json => {
            serde_json::from_slice(body).map_err(|e| ExportProblem::Json(e.to_string()))
        }
    }
}

/// What an export request said, and what of it could not be read.
#[derive(Debug)]
pub struct Unpacked<T> {
    pub items: Vec<T>,
    pub rejected: usize,
    /// The first reason something was rejected (OTLP's partial-success message).
    pub why: Option<String>,
}

impl<T> Unpacked<T> {
    fn new() -> Unpacked<T> {
        Unpacked {
            items: Vec::new(),
            rejected: 0,
            why: None,
        }
    }

    fn reject(&mut self, why: impl FnOnce() -> String) {
        self.rejected += 1;
        if self.why.is_none() {
            self.why = Some(why());
        }
    }
}

fn service_name(attrs: &Attrs) -> String {
    attrs
        .text("service.name", spans::NAME_CHARS)
        .unwrap_or_else(|| "unknown_service".into())
}

/// The spans of a `/v1/traces` body.
pub fn read_traces(
    body: &[u8],
    encoding: Encoding,
    bounds: Bounds,
) -> Result<Unpacked<SpanFact>, ExportProblem> {
    let request: ExportTraceServiceRequest = decode(body, encoding)?;
    let count: usize = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    if count > bounds.items {
        return Err(ExportProblem::TooMany {
            count,
            limit: bounds.items,
            what: "spans",
        });
    }
    let mut read = Unpacked::new();
    for resource in &request.resource_spans {
        let empty = Vec::new();
        let resource_attrs = resource.resource.as_ref().map_or(&empty, |r| &r.attributes);
        let service = service_name(&Attrs(resource_attrs));
        for span in resource.scope_spans.iter().flat_map(|s| &s.spans) {
            if span.attributes.len() > bounds.attributes {
                read.reject(|| {
                    format!(
                        "span `{}` carries {} attributes; at most {}",
                        span.name.chars().take(64).collect::<String>(),
                        span.attributes.len(),
                        bounds.attributes
                    )
                });
                continue;
            }
            match SpanFact::read(span, &service) {
                Ok(fact) => read.items.push(fact),
                Err(problem) => read.reject(|| problem.to_string()),
            }
        }
    }
    Ok(read)
}

/// The Claude Code records of a `/v1/logs` body; other log records are
/// accepted and left alone.
pub fn read_logs(
    body: &[u8],
    encoding: Encoding,
    bounds: Bounds,
) -> Result<Unpacked<ClaudeRecord>, ExportProblem> {
    let request: ExportLogsServiceRequest = decode(body, encoding)?;
    let count: usize = request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len())
        .sum();
    if count > bounds.items {
        return Err(ExportProblem::TooMany {
            count,
            limit: bounds.items,
            what: "log records",
        });
    }
    let mut read = Unpacked::new();
    for resource in &request.resource_logs {
        let empty = Vec::new();
        let resource_attrs = resource.resource.as_ref().map_or(&empty, |r| &r.attributes);
        for record in resource.scope_logs.iter().flat_map(|s| &s.log_records) {
            if record.attributes.len() > bounds.attributes {
                read.reject(|| {
                    format!(
                        "a log record carries {} attributes; at most {}",
                        record.attributes.len(),
                        bounds.attributes
                    )
                });
                continue;
            }
            if let Some(claude) = ClaudeRecord::read(record, &Attrs(resource_attrs)) {
                read.items.push(claude);
            }
        }
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// An OTLP/JSON body as the specification writes one: hex ids, string
    /// int64s, camelCase names.
    const JSON: &str = r#"{"resourceSpans":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"trips"}}]},
      "scopeSpans":[{"scope":{"name":"agents"},"spans":[
        {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
         "name":"invoke_agent planner","kind":1,
         "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000002000000000",
         "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"invoke_agent"}},
                       {"key":"gen_ai.agent.name","value":{"stringValue":"planner"}},
                       {"key":"gen_ai.usage.input_tokens","value":{"intValue":"12"}}],
         "status":{"code":2,"message":"quota exceeded"}}]}]}]}"#;

    #[test]
    fn the_specifications_json_reads() {
        let read = read_traces(JSON.as_bytes(), Encoding::Json, Bounds::default()).unwrap();
        assert_eq!(read.rejected, 0);
        let span = &read.items[0];
        assert_eq!(span.trace, "5b8efff798038103d269b633813fc60c");
        assert_eq!(span.agent.as_ref().unwrap().key, "planner@trips");
        assert_eq!(span.failure.as_deref(), Some("quota exceeded"));
        assert_eq!(span.end_ms - span.start_ms, 2000);
    }

    #[test]
    fn gzip_is_undone_within_the_limit() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(JSON.as_bytes()).unwrap();
        let body = gz.finish().unwrap();
        assert_eq!(
            inflate(&body, Some("gzip"), 1 << 20).unwrap(),
            JSON.as_bytes()
        );
        assert_eq!(
            inflate(&body, Some("gzip"), 100),
            Err(ExportProblem::TooLarge(100))
        );
        assert!(matches!(
            inflate(b"not gzip", Some("gzip"), 100),
            Err(ExportProblem::Gzip(_))
        ));
        assert!(matches!(
            inflate(b"x", Some("br"), 100),
            Err(ExportProblem::ContentEncoding(_))
        ));
    }

    #[test]
    fn malformed_bodies_say_so() {
        assert!(matches!(
            read_traces(b"\xff\xff\xff", Encoding::Protobuf, Bounds::default()),
            Err(ExportProblem::Protobuf(_))
        ));
        assert!(matches!(
            read_traces(b"{\"resourceSpans\": 3}", Encoding::Json, Bounds::default()),
            Err(ExportProblem::Json(_))
        ));
        let few = Bounds {
            items: 0,
            ..Bounds::default()
        };
        assert!(matches!(
            read_traces(JSON.as_bytes(), Encoding::Json, few),
            Err(ExportProblem::TooMany { count: 1, .. })
        ));
    }

    #[test]
    fn content_types_are_otlps_two() {
        assert_eq!(
            Encoding::of(Some("application/x-protobuf")),
            Some(Encoding::Protobuf)
        );
        assert_eq!(
            Encoding::of(Some("application/json; charset=utf-8")),
            Some(Encoding::Json)
        );
        assert_eq!(Encoding::of(Some("text/plain")), None);
        assert_eq!(Encoding::of(None), None);
    }
}
