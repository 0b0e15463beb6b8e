//! The parts of Sim's public API a workspace mirror reads, typed (Sim v0.8.9;
//! docs/sim-integration.md names the route files):
//! - `GET /api/v1/workflows?workspaceId&deployedOnly=true&limit&cursor`: the
//!   deployed workflows, in cursor pages (`data`, `nextCursor`);
//! - `GET /api/v1/logs?workspaceId&order=asc&startDate&limit&cursor`: the
//!   execution log rows, oldest first; with `executionId&details=full&
//!   includeTraceSpans=true&includeFinalOutput=true`, one execution whole;
//! - `GET /api/workflows/{id}/paused?status=paused,partially_resumed`: a
//!   workflow's executions waiting at a Human in the Loop block;
//! - `POST /api/v2/workflows/{id}/runs/{runId}/resume` `{contextId, input}`
//!   (when Sim runs with `V2_API=true`), else the pause point's own
//!   `POST /api/resume/{workflowId}/{executionId}/{contextId}` `{input}`.
//!
//! v1 and the pause routes answer on every Sim; v2 only where the operator
//! turned it on, so the mirror asks v2 once and uses it only for resuming.

use crate::metrics;
use crate::outbound::{Origin, Outbound, describe, read_capped, sanitize};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::time::Duration;
use url::Url;

/// The largest answer read from Sim (a page of rows, one execution's trace).
const ANSWER_CAP: usize = 8 * 1024 * 1024;
/// Rows per page (v1's `limit` allows 1–100 for workflows, 1–1000 for logs).
const PAGE: usize = 100;
/// Pages read per call: the rest comes on the next poll.
const MAX_PAGES: usize = 10;
/// How long an answer to a resume is waited for before the mirror goes on
/// (a synchronous resume runs the rest of the workflow inside the request).
const RESUME_ANSWER_WAIT: Duration = Duration::from_secs(3);

/// Why a call to Sim did not give an answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    #[error("Sim unreachable: {0}")]
    Unreachable(String),
    /// 401/403: the key is wrong, or not this workspace's.
    #[error("Sim refused the API key ({status}: {said})")]
    KeyRefused { status: u16, said: String },
    #[error("Sim is rate limiting; retrying in {} s", .0.as_secs())]
    RateLimited(Duration),
    #[error("Sim answered {status}: {said}")]
    Refused { status: u16, said: String },
    #[error("Sim's answer could not be read: {0}")]
    Unreadable(String),
}

/// A deployed workflow of the workspace.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowRow {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// One row of the execution log list (`details=basic`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawLogRow")]
pub struct LogRow {
    pub id: String,
    pub workflow_id: String,
    pub execution_id: String,
    pub level: String,
    /// What started it: `api`, `webhook`, `schedule`, `manual`, `chat`, …
    pub trigger: String,
    pub started_ms: i64,
    pub ended_at: Option<String>,
    pub total_duration_ms: Option<u64>,
    pub cost: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogRow {
    id: String,
    #[serde(default)]
    workflow_id: Option<String>,
    execution_id: String,
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    trigger: Option<String>,
    started_at: String,
    #[serde(default)]
    ended_at: Option<String>,
    #[serde(default)]
    total_duration_ms: Option<f64>,
    #[serde(default)]
    cost: Option<Value>,
}

impl TryFrom<RawLogRow> for LogRow {
    type Error = String;
    fn try_from(raw: RawLogRow) -> Result<LogRow, String> {
        Ok(LogRow {
            started_ms: parse_ms(&raw.started_at)
                .ok_or_else(|| format!("startedAt `{}` is not a time", raw.started_at))?,
            id: raw.id,
            workflow_id: raw.workflow_id.unwrap_or_default(),
            execution_id: raw.execution_id,
            level: raw.level.unwrap_or_else(|| "info".into()),
            trigger: raw.trigger.unwrap_or_else(|| "unknown".into()),
            ended_at: raw.ended_at,
            total_duration_ms: raw.total_duration_ms.map(|ms| ms.max(0.0) as u64),
            cost: raw
                .cost
                .as_ref()
                .and_then(|c| c.get("total"))
                .and_then(Value::as_f64),
        })
    }
}

/// RFC 3339 (what `Date.toISOString()` writes) as Unix milliseconds.
pub fn parse_ms(text: &str) -> Option<i64> {
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some((at.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Unix milliseconds as `Date.toISOString()` writes them.
pub fn iso_ms(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    at.format(&format).expect("UTC times format")
}

/// A workflow's execution waiting for a person, as the paused list gives it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PausedExecution {
    pub execution_id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub pause_points: Vec<PausePoint>,
}

/// One place an execution waits at (a Human in the Loop block, maybe in a loop).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PausePoint {
    pub context_id: String,
    #[serde(default)]
    pub block_id: Option<String>,
    /// `paused` until someone answers (then `queued`, `resuming`, `resumed`, `failed`).
    #[serde(default)]
    pub resume_status: String,
    #[serde(default)]
    pub pause_kind: Option<String>,
    /// The block's `response`: `{data: {responseStructure, inputFormat, _resume}, …}`.
    #[serde(default)]
    pub response: Value,
    #[serde(default)]
    pub resume_links: Option<ResumeLinks>,
    #[serde(default)]
    pub latest_resume_entry: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResumeLinks {
    #[serde(default)]
    pub api_url: Option<String>,
    #[serde(default)]
    pub ui_url: Option<String>,
}

/// What Sim said to a resume.
#[derive(Debug, Clone, PartialEq)]
pub enum Resumed {
    /// Taken (or still being answered after [`RESUME_ANSWER_WAIT`]).
    Accepted,
    /// Someone answered this pause already (409), or it is gone (404).
    AlreadyAnswered(String),
}

/// One workspace, spoken to with its API key.
#[derive(Clone)]
pub struct WorkspaceApi {
    outbound: Outbound,
    base: Url,
    origin: Origin,
    key: String,
    pub workspace: String,
}

impl WorkspaceApi {
    /// `base` ends with `/` (the config makes sure).
    pub fn new(outbound: Outbound, base: Url, key: String, workspace: String) -> WorkspaceApi {
        WorkspaceApi {
            outbound,
            origin: Origin::of(&base),
            base,
            key,
            workspace,
        }
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Url {
        let mut url = self.base.join(path).expect("paths under AP_BASE join");
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// One call: the answer's JSON, or why there is none.
    async fn call(
        &self,
        method: reqwest::Method,
        url: &Url,
        body: Option<&Value>,
    ) -> Result<Value, SimError> {
        let response = self.send(method, url, body).await?;
        read_json(response).await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: &Url,
        body: Option<&Value>,
    ) -> Result<reqwest::Response, SimError> {
        metrics::SIM_REQUESTS.inc();
        let mut request = self
            .outbound
            .request(method, url, &self.origin)
            .map_err(|e| SimError::Unreachable(e.to_string()))?
            .header("X-API-Key", &self.key)
            .timeout(self.outbound.settings().attempt_timeout);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| SimError::Unreachable(describe(&e)))?;
        check_status(response).await
    }

    /// Every deployed workflow (at most [`MAX_PAGES`] pages of [`PAGE`]).
    pub async fn workflows(&self) -> Result<Vec<WorkflowRow>, SimError> {
        let mut rows = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let limit = PAGE.to_string();
            let mut query = vec![
                ("workspaceId", self.workspace.as_str()),
                ("deployedOnly", "true"),
                ("limit", limit.as_str()),
            ];
            if let Some(cursor) = &cursor {
                query.push(("cursor", cursor));
            }
            let page = self
                .call(
                    reqwest::Method::GET,
                    &self.url("api/v1/workflows", &query),
                    None,
                )
                .await?;
            rows.extend(rows_of::<WorkflowRow>(&page)?);
            cursor = next_cursor(&page);
            if cursor.is_none() {
                break;
            }
        }
        Ok(rows)
    }

    /// Log rows started at or after `from_ms`, oldest first; the second
    /// value says whether more remain past what was read.
    pub async fn rows_since(&self, from_ms: i64) -> Result<(Vec<LogRow>, bool), SimError> {
        let start = iso_ms(from_ms);
        let mut rows = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let limit = PAGE.to_string();
            let mut query = vec![
                ("workspaceId", self.workspace.as_str()),
                ("order", "asc"),
                ("startDate", start.as_str()),
                ("limit", limit.as_str()),
            ];
            if let Some(cursor) = &cursor {
                query.push(("cursor", cursor));
            }
            let page = self
                .call(reqwest::Method::GET, &self.url("api/v1/logs", &query), None)
                .await?;
            rows.extend(rows_of::<LogRow>(&page)?);
            cursor = next_cursor(&page);
            if cursor.is_none() {
                return Ok((rows, false));
            }
        }
        Ok((rows, true))
    }

    /// The newest rows (for the first look at a workspace).
    pub async fn newest_rows(&self) -> Result<Vec<LogRow>, SimError> {
        let limit = PAGE.to_string();
        let query = [
            ("workspaceId", self.workspace.as_str()),
            ("order", "desc"),
            ("limit", limit.as_str()),
        ];
        let page = self
            .call(reqwest::Method::GET, &self.url("api/v1/logs", &query), None)
            .await?;
        let mut rows = rows_of::<LogRow>(&page)?;
        rows.reverse();
        Ok(rows)
    }

    /// One execution whole: its row with `traceSpans`, `finalOutput` and `cost`.
    pub async fn execution(&self, execution_id: &str) -> Result<Option<Value>, SimError> {
        let query = [
            ("workspaceId", self.workspace.as_str()),
            ("executionId", execution_id),
            ("details", "full"),
            ("includeTraceSpans", "true"),
            ("includeFinalOutput", "true"),
        ];
        let page = self
            .call(reqwest::Method::GET, &self.url("api/v1/logs", &query), None)
            .await?;
        Ok(page
            .get("data")
            .and_then(Value::as_array)
            .and_then(|rows| rows.first())
            .cloned())
    }

    /// The workflow's executions waiting for a person (`/paused/{executionId}` has
    /// one whole, answered pauses too).
    pub async fn paused(&self, workflow_id: &str) -> Result<Vec<PausedExecution>, SimError> {
        let url = self.url(
            &format!("api/workflows/{workflow_id}/paused"),
            &[("status", "paused,partially_resumed")],
        );
        let answer = self.call(reqwest::Method::GET, &url, None).await?;
        let list = answer
            .get("pausedExecutions")
            .cloned()
            .unwrap_or(Value::Array(Vec::new()));
        serde_json::from_value(list).map_err(|e| SimError::Unreachable(format!("paused list: {e}")))
    }

    /// One execution's pauses, answered or not (its resume inputs among them).
    pub async fn paused_execution(
        &self,
        workflow_id: &str,
        execution_id: &str,
    ) -> Result<Option<PausedExecution>, SimError> {
        let url = self.url(
            &format!("api/workflows/{workflow_id}/paused/{execution_id}"),
            &[],
        );
        match self.call(reqwest::Method::GET, &url, None).await {
            Ok(detail) => serde_json::from_value(detail)
                .map(Some)
                .map_err(|e| SimError::Unreadable(format!("paused execution: {e}"))),
            Err(SimError::Refused { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a workflow in the workspace from an export (`{version, state}`);
    /// returns its new id (`POST /api/v1/workflows/import`).
    pub async fn import_workflow(&self, export: &Value, name: &str) -> Result<String, SimError> {
        let url = self.url("api/v1/workflows/import", &[]);
        let body = json!({"workspaceId": self.workspace, "workflow": export, "name": name});
        let answer = self.call(reqwest::Method::POST, &url, Some(&body)).await?;
        answer
            .pointer("/data/id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| SimError::Unreadable("the import answer names no workflow id".into()))
    }

    /// Deploys a workflow (`POST /api/v1/workflows/{id}/deploy`): only deployed ones run.
    pub async fn deploy(&self, workflow_id: &str) -> Result<(), SimError> {
        let url = self.url(&format!("api/v1/workflows/{workflow_id}/deploy"), &[]);
        self.call(reqwest::Method::POST, &url, Some(&json!({})))
            .await
            .map(|_| ())
    }

    /// A workflow's state as Sim exports it (`GET /api/v1/workflows/{id}/export`).
    pub async fn export_workflow(&self, workflow_id: &str) -> Result<Value, SimError> {
        let url = self.url(&format!("api/v1/workflows/{workflow_id}/export"), &[]);
        let answer = self.call(reqwest::Method::GET, &url, None).await?;
        Ok(answer.get("data").cloned().unwrap_or(answer))
    }

    /// Sim's base URL (ends with `/`).
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Whether this Sim answers its v2 API (`V2_API=true`).
    pub async fn has_v2(&self) -> Result<bool, SimError> {
        let url = self.url(
            "api/v2/workflows",
            &[("workspaceId", self.workspace.as_str()), ("limit", "1")],
        );
        match self.call(reqwest::Method::GET, &url, None).await {
            Ok(_) => Ok(true),
            Err(SimError::Refused { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Resumes a paused execution with a person's answer. Waits for Sim's
    /// status line only briefly: the rest of a synchronous resume runs in
    /// the background and the log says how it ended.
    pub async fn resume(
        &self,
        pause: &protocol::SimPause,
        input: &Map<String, Value>,
        v2: bool,
    ) -> Result<Resumed, SimError> {
        let (url, body) = if v2 {
            (
                self.url(
                    &format!(
                        "api/v2/workflows/{}/runs/{}/resume",
                        pause.workflow_id, pause.execution_id
                    ),
                    &[],
                ),
                json!({"contextId": pause.context_id, "input": input}),
            )
        } else {
            (
                self.url(
                    &format!(
                        "api/resume/{}/{}/{}",
                        pause.workflow_id, pause.execution_id, pause.context_id
                    ),
                    &[],
                ),
                json!({"input": input}),
            )
        };
        let api = self.clone();
        let mut request = tokio::spawn(async move {
            api.send(reqwest::Method::POST, &url, Some(&body))
                .await
                .map(drain)
        });
        let outcome = match tokio::time::timeout(RESUME_ANSWER_WAIT, &mut request).await {
            Err(_) => return Ok(Resumed::Accepted),
            Ok(Err(joined)) => Err(SimError::Unreachable(joined.to_string())),
            Ok(Ok(outcome)) => outcome,
        };
        match outcome {
            Ok(()) => Ok(Resumed::Accepted),
            Err(SimError::Refused {
                status: status @ (404 | 409),
                said,
            }) => Ok(Resumed::AlreadyAnswered(format!("{status}: {said}"))),
            // A synchronous resume whose workflow then failed answers 500:
            // the pause was taken all the same, and the log tells the rest.
            Err(error) => match self.taken(pause).await {
                Ok(true) => Ok(Resumed::Accepted),
                _ => Err(error),
            },
        }
    }

    /// Whether Sim took an answer for this pause (it no longer waits there).
    async fn taken(&self, pause: &protocol::SimPause) -> Result<bool, SimError> {
        let Some(execution) = self
            .paused_execution(&pause.workflow_id, &pause.execution_id)
            .await?
        else {
            return Ok(false);
        };
        Ok(execution
            .pause_points
            .iter()
            .any(|p| p.context_id == pause.context_id && p.resume_status != "paused"))
    }
}

/// Reads what is left of an answer in the background (a sync resume's result).
fn drain(response: reqwest::Response) {
    tokio::spawn(async move {
        let _ = read_capped(response, ANSWER_CAP).await;
    });
}

async fn check_status(response: reqwest::Response) -> Result<reqwest::Response, SimError> {
    let status = response.status().as_u16();
    if response.status().is_success() {
        return Ok(response);
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let body = read_capped(response, 64 * 1024).await.unwrap_or_default();
    let said = said(&body);
    Err(match status {
        401 | 403 => SimError::KeyRefused { status, said },
        429 => SimError::RateLimited(Duration::from_secs(retry_after.unwrap_or(30).clamp(1, 600))),
        _ => SimError::Refused { status, said },
    })
}

/// Sim's error words (`{"error": "…"}` or `{"error": {"message": "…"}}`), shortened.
fn said(body: &[u8]) -> String {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = match parsed.get("error") {
        Some(Value::String(s)) => s.clone(),
        Some(error) => error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        None => String::from_utf8_lossy(body).into_owned(),
    };
    sanitize(text.trim(), 200)
}

async fn read_json(response: reqwest::Response) -> Result<Value, SimError> {
    let body = read_capped(response, ANSWER_CAP)
        .await
        .map_err(|e| SimError::Unreadable(e.to_string()))?;
    serde_json::from_slice(&body).map_err(|e| SimError::Unreadable(e.to_string()))
}

fn rows_of<T: serde::de::DeserializeOwned>(page: &Value) -> Result<Vec<T>, SimError> {
    let data = page
        .get("data")
        .cloned()
        .unwrap_or(Value::Array(Vec::new()));
    serde_json::from_value(data).map_err(|e| SimError::Unreadable(e.to_string()))
}

fn next_cursor(page: &Value) -> Option<String> {
    page.get("nextCursor")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_as_javascript_writes_them() {
        let ms = parse_ms("2026-12-06T14:02:03.456Z").unwrap();
        assert_eq!(iso_ms(ms), "2026-12-06T14:02:03.456Z");
        assert_eq!(parse_ms("2026-12-06T14:02:03Z"), Some(ms - 456));
        assert_eq!(parse_ms("yesterday"), None);
    }

    #[test]
    fn log_rows_read_sims_fields_and_refuse_a_bad_time() {
        let row: LogRow = serde_json::from_value(json!({
            "id": "log1", "workflowId": "wf", "executionId": "ex", "level": "error",
            "trigger": "schedule", "startedAt": "2026-12-06T14:02:03.000Z", "endedAt": null,
            "totalDurationMs": null, "cost": {"total": 0.0123}, "files": null
        }))
        .unwrap();
        assert_eq!(
            (row.trigger.as_str(), row.cost, row.ended_at),
            ("schedule", Some(0.0123), None)
        );
        let bad = serde_json::from_value::<LogRow>(
            json!({"id": "l", "executionId": "e", "startedAt": "soon"}),
        );
        assert!(bad.unwrap_err().to_string().contains("not a time"));
    }

    #[test]
    fn sims_error_words_are_read_in_both_shapes() {
        assert_eq!(said(br#"{"error":"Invalid API key"}"#), "Invalid API key");
        assert_eq!(
            said(br#"{"error":{"code":"NOT_FOUND","message":"Not found"}}"#),
            "Not found"
        );
        assert_eq!(said(b"plain words"), "plain words");
    }
}
