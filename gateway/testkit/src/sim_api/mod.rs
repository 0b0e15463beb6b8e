//! A stand-in for the parts of Sim's API the gateway uses, as Sim v0.8.9
//! defines them (the route files are named in docs/sim-integration.md), as a
//! real HTTP server on loopback:
//! - `execute.rs`: `POST /api/workflows/{id}/execute` (sync, stream, async
//!   job), `GET /api/jobs/{jobId}`, the execution cancel route;
//! - `runner.rs`: one execution's blocks, its log row written at the start
//!   and completed when it ends or pauses at a Human in the Loop block, and
//!   resuming a pause (the legacy `/api/resume/{wf}/{exec}/{ctx}` route and
//!   v2's `/api/v2/workflows/{id}/runs/{runId}/resume`, only with v2 on);
//! - `lists.rs`: `GET /api/v1/workflows` and `GET /api/v1/logs` in cursor
//!   pages, `GET /api/workflows/{id}/paused`, `GET /api/v2/workflows`.
//!
//! Tests drive it as Sim's other users would: executions started elsewhere
//! (a schedule, a chat), an answer given in Sim's own portal, Sim going away.

mod execute;
mod lists;
mod runner;

pub use execute::ExecuteCall;

use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use warp::http::StatusCode;
use warp::{Filter, Reply};

/// One block of a workflow.
#[derive(Clone, Debug)]
pub struct Block {
    pub id: String,
    pub name: String,
    /// Sim's block type (`function`, `agent`, `start_trigger`, `human_in_the_loop`, …).
    pub kind: String,
    pub output: Value,
    /// Fails with this message instead of producing `output`.
    pub fails: Option<String>,
    /// The failure is caught by an error path: the workflow goes on.
    pub handled: bool,
    /// Runs this many times inside a loop (0: not in a loop).
    pub iterations: u32,
    /// Posts this `step` to the run's `callback_url`, as an API block would.
    pub callback: Option<String>,
    /// Tokens `(input, output)` and dollars its span logs (an agent block).
    pub usage: Option<(u64, u64, f64)>,
    /// A Human in the Loop block: what it shows, and its resume form.
    pub pause: Option<Pause>,
}

/// What a Human in the Loop block shows (`responseStructure`) and asks (`inputFormat`).
#[derive(Clone, Debug)]
pub struct Pause {
    pub display: Vec<(String, Value)>,
    pub form: Vec<Value>,
}

impl Block {
    pub fn new(id: &str, name: &str, output: Value) -> Block {
        Block {
            id: id.into(),
            name: name.into(),
            kind: "function".into(),
            output,
            fails: None,
            handled: false,
            iterations: 0,
            callback: None,
            usage: None,
            pause: None,
        }
    }

    /// The Start block every API-run workflow begins with.
    pub fn start() -> Block {
        Block {
            kind: "start_trigger".into(),
            ..Block::new("b0-start", "Start", json!({"input": "ok"}))
        }
    }

    /// A Human in the Loop block showing `display` and asking for `form`
    /// (Sim's `inputFormat` entries).
    pub fn human(id: &str, name: &str, display: Vec<(&str, Value)>, form: Vec<Value>) -> Block {
        Block {
            kind: "human_in_the_loop".into(),
            pause: Some(Pause {
                display: display
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
                form,
            }),
            ..Block::new(id, name, json!({}))
        }
    }

    /// An agent block that used tokens and money.
    pub fn agent(id: &str, name: &str, output: Value, tokens: (u64, u64), cost: f64) -> Block {
        Block {
            kind: "agent".into(),
            usage: Some((tokens.0, tokens.1, cost)),
            ..Block::new(id, name, output)
        }
    }
}

#[derive(Clone, Debug)]
pub struct Workflow {
    pub name: String,
    pub deployed: bool,
    pub blocks: Vec<Block>,
}

impl Workflow {
    pub fn deployed(name: &str, blocks: Vec<Block>) -> Workflow {
        Workflow {
            name: name.into(),
            deployed: true,
            blocks,
        }
    }
}

/// How the stand-in treats streaming requests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Streaming {
    Normal,
    /// Drop the connection after this many blocks, without a final frame.
    CutAfter(usize),
    /// Answer streaming requests with 502, as a proxy in front of Sim can.
    Unavailable,
}

/// How the whole stand-in answers, to play Sim's bad days.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Mood {
    #[default]
    Fine,
    /// 503 to everything, as a proxy in front of a Sim that is down.
    Down,
    /// 401 `Invalid API key` to everything (the key was revoked).
    RefusesKey,
}

/// One execution's log row, as Sim's `workflow_execution_logs` keeps it.
#[derive(Clone, Debug)]
pub(crate) struct LogRow {
    pub id: String,
    pub workflow_id: String,
    pub execution_id: String,
    pub level: &'static str,
    pub trigger: String,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    pub spans: Vec<Value>,
    pub final_output: Option<Value>,
    pub cost: Option<f64>,
}

/// An execution waiting at a Human in the Loop block.
#[derive(Clone, Debug)]
pub(crate) struct Paused {
    pub workflow_id: String,
    pub context_id: String,
    /// The block after the pause, where a resume goes on.
    pub next_block: usize,
    pub resume_status: &'static str,
    pub resume_input: Option<Value>,
    pub paused_ms: i64,
    pub response_data: Value,
    pub input: Value,
    pub order: u32,
}

#[derive(Default)]
pub(crate) struct State {
    /// In Sim's list order (`sortOrder`, then creation).
    pub workflows: Vec<(String, Workflow)>,
    pub claimed: HashSet<String>,
    pub jobs: HashMap<String, Value>,
    /// In start order.
    pub logs: Vec<LogRow>,
    pub paused: BTreeMap<String, Paused>,
    pub calls: Vec<ExecuteCall>,
    pub streaming: Option<Streaming>,
    pub cancelled: Vec<String>,
    /// Requests by route, to measure what a client costs Sim.
    pub requests: BTreeMap<String, u64>,
    pub v2: bool,
    pub mood: Mood,
    pub next_id: u64,
}

impl State {
    pub fn workflow(&self, id: &str) -> Option<&Workflow> {
        self.workflows.iter().find(|(w, _)| w == id).map(|(_, w)| w)
    }

    pub fn log_mut(&mut self, execution_id: &str) -> Option<&mut LogRow> {
        self.logs
            .iter_mut()
            .find(|l| l.execution_id == execution_id)
    }

    pub fn fresh_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{:04}", self.next_id)
    }
}

#[derive(Clone)]
pub struct StandInSimApi {
    pub url: String,
    pub key: String,
    pub(crate) state: Arc<Mutex<State>>,
    addr: SocketAddr,
    stop: Arc<Mutex<Option<tokio::sync::oneshot::Sender<()>>>>,
}

pub(crate) fn error(status: StatusCode, body: Value) -> warp::reply::Response {
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

/// Milliseconds as `Date.toISOString()` writes them.
pub(crate) fn iso(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{:03}Z",
        ms.rem_euclid(1000)
    )
}

impl StandInSimApi {
    pub async fn start(key: &str) -> StandInSimApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let api = StandInSimApi {
            url: format!("http://{addr}"),
            key: key.into(),
            state: Arc::new(Mutex::new(State::default())),
            addr,
            stop: Arc::new(Mutex::new(None)),
        };
        api.serve(listener);
        api
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        *self.stop.lock().unwrap() = Some(tx);
        let routes = self.routes();
        tokio::spawn(
            warp::serve(routes)
                .incoming(listener)
                .graceful(async {
                    let _ = rx.await;
                })
                .run(),
        );
    }

    fn routes(&self) -> warp::filters::BoxedFilter<(warp::reply::Response,)> {
        let api = self.clone();
        let counted = warp::path::full().and(warp::method()).map(
            move |path: warp::path::FullPath, method: warp::http::Method| {
                let mut state = api.state.lock().unwrap();
                *state
                    .requests
                    .entry(format!("{method} {}", path.as_str()))
                    .or_default() += 1;
            },
        );
        let api = self.clone();
        let moody = warp::any().and_then(move || {
            let mood = api.state.lock().unwrap().mood;
            async move {
                match mood {
                    Mood::Fine => Err(warp::reject::not_found()),
                    Mood::Down => Ok(error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        json!({"error": "Service Unavailable"}),
                    )),
                    Mood::RefusesKey => Ok(error(
                        StatusCode::UNAUTHORIZED,
                        json!({"error": "Invalid API key"}),
                    )),
                }
            }
        });
        counted
            .untuple_one()
            .and(
                self.test_routes()
                    .or(moody)
                    .unify()
                    .or(execute::routes(self))
                    .unify()
                    .or(lists::routes(self))
                    .unify()
                    .or(runner::routes(self))
                    .unify(),
            )
            .boxed()
    }

    /// Control routes for tests in other languages (not Sim's): start an
    /// execution as a schedule would, answer a pause as Sim's portal would,
    /// have a bad day. They answer whatever the mood.
    fn test_routes(&self) -> warp::filters::BoxedFilter<(warp::reply::Response,)> {
        let start = {
            let api = self.clone();
            warp::path!("_test" / "start" / String / String)
                .and(warp::post())
                .map(move |workflow: String, trigger: String| {
                    let id = api.start_elsewhere(&workflow, &trigger);
                    warp::reply::json(&json!({"executionId": id})).into_response()
                })
        };
        let answer = {
            let api = self.clone();
            warp::path!("_test" / "answer" / String)
                .and(warp::post())
                .and(warp::body::json())
                .then(move |execution: String, input: Value| {
                    let api = api.clone();
                    async move {
                        match api.answer_in_sim(&execution, input).await {
                            Ok(()) => warp::reply::json(&json!({"ok": true})).into_response(),
                            Err(why) => error(StatusCode::CONFLICT, json!({"error": why})),
                        }
                    }
                })
        };
        let mood = {
            let api = self.clone();
            warp::path!("_test" / "mood" / String)
                .and(warp::post())
                .map(move |mood: String| {
                    let mood = match mood.as_str() {
                        "down" => Mood::Down,
                        "refuses-key" => Mood::RefusesKey,
                        _ => Mood::Fine,
                    };
                    api.set_mood(mood);
                    warp::reply::json(&json!({"ok": true})).into_response()
                })
        };
        start.or(answer).unify().or(mood).unify().boxed()
    }

    /// Stops answering: connections are refused until [`Self::restart`].
    pub async fn stop(&self) {
        if let Some(tx) = self.stop.lock().unwrap().take() {
            let _ = tx.send(());
        }
        // Let the listener close.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    /// Answers again on the same address, with what it knew.
    pub async fn restart(&self) {
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        };
        self.serve(listener);
    }

    pub fn set_mood(&self, mood: Mood) {
        self.state.lock().unwrap().mood = mood;
    }

    /// Turns Sim's v2 API on (`V2_API=true` in Sim's environment).
    pub fn enable_v2(&self) {
        self.state.lock().unwrap().v2 = true;
    }

    /// Executions a cancel request named.
    pub fn cancelled(&self) -> Vec<String> {
        self.state.lock().unwrap().cancelled.clone()
    }

    pub fn add_workflow(&self, id: &str, workflow: Workflow) {
        let mut state = self.state.lock().unwrap();
        state.workflows.retain(|(w, _)| w != id);
        state.workflows.push((id.into(), workflow));
    }

    /// Undeploys (or deploys) a workflow.
    pub fn set_deployed(&self, id: &str, deployed: bool) {
        let mut state = self.state.lock().unwrap();
        if let Some((_, w)) = state.workflows.iter_mut().find(|(w, _)| w == id) {
            w.deployed = deployed;
        }
    }

    pub fn set_streaming(&self, streaming: Streaming) {
        self.state.lock().unwrap().streaming = Some(streaming);
    }

    pub fn calls(&self) -> Vec<ExecuteCall> {
        self.state.lock().unwrap().calls.clone()
    }

    /// Requests so far whose `METHOD /path` starts with `prefix`.
    pub fn requests(&self, prefix: &str) -> u64 {
        self.state
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|(route, _)| route.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    }

    /// A workspace for the browser tests: "Refunds" (a Human in the Loop
    /// approval with a note) and "Mail triage" (three steps).
    pub fn with_example_workflows(&self) {
        self.add_workflow(
            "wf-refunds",
            Workflow::deployed(
                "Refunds",
                vec![
                    Block::start(),
                    Block::new("b1", "Look up order", json!({"order": 42})),
                    Block::human(
                        "hitl-1",
                        "Approve refund",
                        vec![("question", json!("Refund order 42?")), ("amount", json!(120.5))],
                        vec![
                            json!({"name": "approved", "label": "Approve", "type": "boolean", "required": true}),
                            json!({"name": "note", "type": "string"}),
                        ],
                    ),
                    Block::new("b3", "Refund", json!({"refunded": true})),
                ],
            ),
        );
        self.add_workflow(
            "wf-mail",
            Workflow::deployed(
                "Mail triage",
                vec![
                    Block::start(),
                    Block::agent(
                        "b1",
                        "Draft",
                        json!({"content": "drafted"}),
                        (1200, 340),
                        0.0042,
                    ),
                    Block::new("b2", "Send", json!({"sent": true})),
                ],
            ),
        );
    }

    /// Starts an execution the way a schedule, a chat or Studio's Run
    /// button would: not through the gateway. Returns its execution id.
    pub fn start_elsewhere(&self, workflow_id: &str, trigger: &str) -> String {
        let (workflow, execution_id) = {
            let mut state = self.state.lock().unwrap();
            let workflow = state
                .workflow(workflow_id)
                .cloned()
                .unwrap_or_else(|| panic!("no workflow {workflow_id}"));
            (workflow, state.fresh_id("exec"))
        };
        let run = runner::Run {
            api: self.clone(),
            workflow_id: workflow_id.into(),
            execution_id: execution_id.clone(),
            workflow,
            input: json!({}),
            trigger: trigger.into(),
        };
        tokio::spawn(async move {
            run.run_all().await;
        });
        execution_id
    }

    /// Answers a pause the way Sim's own resume page or API would.
    pub async fn answer_in_sim(&self, execution_id: &str, input: Value) -> Result<(), String> {
        let context = self
            .state
            .lock()
            .unwrap()
            .paused
            .get(execution_id)
            .map(|p| p.context_id.clone())
            .ok_or("no paused execution")?;
        runner::resume(self, execution_id, &context, input)
            .await
            .map(|_| ())
            .map_err(|(_, why)| why)
    }

    /// Whether an execution's log row has ended (for tests' waits).
    pub fn execution_output(&self, execution_id: &str) -> Option<Value> {
        let state = self.state.lock().unwrap();
        let row = state.logs.iter().find(|l| l.execution_id == execution_id)?;
        row.ended_ms?;
        row.final_output.clone()
    }

    /// Sim's 401 when the request does not carry this Sim's key.
    pub(crate) fn refusal(&self, key: Option<&str>) -> Option<warp::reply::Response> {
        match key {
            Some(k) if k == self.key => None,
            Some(_) => Some(error(
                StatusCode::UNAUTHORIZED,
                json!({"error": "Invalid API key"}),
            )),
            None => Some(error(
                StatusCode::UNAUTHORIZED,
                json!({"error": "Unauthorized"}),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::iso;

    #[test]
    fn times_are_written_as_javascript_writes_them() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(1_796_565_723_456), "2026-12-06T14:02:03.456Z");
    }
}
