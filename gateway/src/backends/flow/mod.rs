//! Embedded flows: small workflows in `data/flows/<name>.ron` that run inside
//! the gateway, speaking exactly the protocol a Sim workflow speaks: they post
//! `step`/`awaiting`/`done`/`error` through the same validated publish path a
//! callback takes, and an `Ask` waits for the `response` event a person's
//! answer writes. Nothing here is reachable over HTTP.

mod definition;
mod runner;
mod template;

pub use definition::{Flow, FlowError, Step};

use super::{BackendError, RunBackend, RunReport, RunStart};
use crate::outbound::Outbound;
use crate::registry::{Agent, RunTarget};
use crate::store::StoredEvent;
use async_trait::async_trait;
use protocol::{AnswerDelivery, EventKind, Question, RunAnswered};
use rand::SeedableRng;
use rand::rngs::StdRng;
use runner::FlowRun;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

/// A flow running in this process.
struct Running {
    task: AbortHandle,
    /// Set while the flow waits at an `Ask`: the answer a person gives.
    waiting: Option<oneshot::Sender<Arc<RunAnswered>>>,
}

type RunningFlows = Arc<Mutex<HashMap<String, Running>>>;

pub struct FlowBackend {
    dir: PathBuf,
    flows: RwLock<HashMap<String, Result<Arc<Flow>, FlowError>>>,
    running: RunningFlows,
    outbound: Outbound,
    /// What `{gateway}` means in a flow (the gateway's own URL).
    gateway_url: String,
    /// Makes `Wait` jitter and `Fail` probabilities repeatable (tests).
    seed: Option<u64>,
}

impl FlowBackend {
    pub fn new(
        dir: PathBuf,
        outbound: Outbound,
        gateway_url: String,
        seed: Option<u64>,
    ) -> FlowBackend {
        FlowBackend {
            dir,
            flows: RwLock::new(HashMap::new()),
            running: Default::default(),
            outbound,
            gateway_url,
            seed,
        }
    }

    /// Loads every `*.ron` in the flows directory; broken files are reported, not fatal.
    pub fn load_all(&self) -> std::io::Result<()> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "ron") {
                self.reload(&path);
            }
        }
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// (Re)loads one flow file. A broken file keeps the last good version running.
    pub fn reload(&self, path: &Path) {
        let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
            return;
        };
        let mut flows = self.flows.write().expect("flows lock");
        if !path.exists() {
            flows.remove(&name);
            tracing::info!(flow = %name, "flow removed");
            return;
        }
        match Flow::load(path) {
            Ok(flow) => {
                tracing::info!(flow = %name, steps = flow.steps.len(), "flow loaded");
                flows.insert(name, Ok(Arc::new(flow)));
            }
            Err(error) => {
                tracing::error!(%error, "flow file rejected");
                match flows.get(&name) {
                    Some(Ok(_)) => {
                        tracing::warn!(flow = %name, "keeping the previous version of the flow")
                    }
                    _ => {
                        flows.insert(name, Err(error));
                    }
                }
            }
        }
    }

    pub fn flow(&self, name: &str) -> Option<Result<Arc<Flow>, FlowError>> {
        self.flows.read().expect("flows lock").get(name).cloned()
    }

    fn rng(&self) -> StdRng {
        match self.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_rng(&mut rand::rng()),
        }
    }
}

#[async_trait]
impl RunBackend for FlowBackend {
    fn start(&self, run: RunStart, report: RunReport) {
        let RunTarget::Flow(name) = &run.agent.target else {
            unreachable!("the flow backend only gets flow agents");
        };
        let flow = match self.flow(name) {
            Some(Ok(flow)) => Ok(flow),
            Some(Err(error)) => Err(format!("flow `{name}` is broken: {error}")),
            None => Err(format!("no flow `{name}` in {}", self.dir.display())),
        };
        let flow = match flow {
            Ok(flow) => flow,
            Err(problem) => {
                tokio::spawn(async move {
                    let _ = report.fail(&problem).await;
                });
                return;
            }
        };
        let run_id = run.run.run_id.clone();
        let flow_run = FlowRun::new(
            flow,
            &run,
            report,
            self.outbound.clone(),
            self.gateway_url.clone(),
            self.running.clone(),
            self.rng(),
        );
        let running = self.running.clone();
        let finished_id = run_id.clone();
        // Registered before the task may look itself up.
        let mut table = self.running.lock().expect("flows running lock");
        let task = tokio::spawn(async move {
            flow_run.execute().await;
            running
                .lock()
                .expect("flows running lock")
                .remove(&finished_id);
        });
        table.insert(
            run_id,
            Running {
                task: task.abort_handle(),
                waiting: None,
            },
        );
    }

    async fn answer(
        &self,
        _agent: &Agent,
        _question: &Question,
        _answer: &AnswerDelivery,
    ) -> Result<(), BackendError> {
        // The `response` event is the answer: the flow sees it where it runs.
        Ok(())
    }

    fn committed(&self, event: &StoredEvent) {
        let Some(run_id) = &event.run_id else { return };
        let mut running = self.running.lock().expect("flows running lock");
        if event.kind.is_terminal() {
            // Ended here or on another gateway (a cancel, a timeout): stop now.
            if let Some(flow) = running.remove(run_id) {
                flow.task.abort();
            }
        } else if event.kind == EventKind::Response
            && let Some(answer) = &event.facts.answer
            && let Some(waiting) = running.get_mut(run_id).and_then(|r| r.waiting.take())
        {
            let _ = waiting.send(answer.clone());
        }
    }

    fn in_process(&self) -> bool {
        true
    }
}
