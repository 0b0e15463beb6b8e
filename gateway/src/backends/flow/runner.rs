//! One flow run: its steps in order, each reported as a workflow's API blocks
//! would report it.

use super::RunningFlows;
use super::definition::{Flow, Step};
use super::template::{origin_of, render, render_value};
use crate::backends::{RunReport, RunStart};
use crate::outbound::{Origin, Outbound, describe, read_capped, sanitize};
use protocol::{Question, RunAnswered, RunEvent};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use url::Url;

/// The most of an HTTP step's answer a flow keeps.
const HTTP_BODY_CAP: usize = 256 * 1024;

pub(super) struct FlowRun {
    flow: Arc<Flow>,
    report: RunReport,
    scope: Value,
    outbound: Outbound,
    running: RunningFlows,
    rng: StdRng,
}

/// The run has ended (its end is reported, or the core refused an event).
struct Ended;

impl FlowRun {
    pub(super) fn new(
        flow: Arc<Flow>,
        run: &RunStart,
        report: RunReport,
        outbound: Outbound,
        gateway_url: String,
        running: RunningFlows,
        rng: StdRng,
    ) -> FlowRun {
        FlowRun {
            flow,
            scope: json!({
                "payload": run.webhook.payload,
                "run_id": run.run.run_id,
                "agent": run.run.agent,
                "npc": run.run.npc,
                "gateway": gateway_url,
            }),
            report,
            outbound,
            running,
            rng,
        }
    }

    pub(super) async fn execute(mut self) {
        for step in self.flow.steps.clone() {
            if self.step(&step).await.is_err() {
                return;
            }
        }
        // A flow without a final Done still ends its run.
        let _ = self
            .post(RunEvent::Finished {
                result: Value::Null,
                message: Some("finished".into()),
                usage: None,
            })
            .await;
    }

    async fn step(&mut self, step: &Step) -> Result<(), Ended> {
        match step {
            Step::Say(message) => {
                let message = render(message, &self.scope);
                self.post(RunEvent::step(message)).await
            }
            Step::Wait { secs, jitter } => {
                let extra = if *jitter > 0.0 {
                    self.rng.random_range(0.0..*jitter)
                } else {
                    0.0
                };
                tokio::time::sleep(Duration::from_secs_f64(secs + extra)).await;
                Ok(())
            }
            Step::Http {
                method,
                url,
                body,
                save_as,
                message,
            } => {
                if let Some(message) = message {
                    let message = render(message, &self.scope);
                    self.post(RunEvent::step(message)).await?;
                }
                let answer = self.http(method, url, body.as_ref()).await;
                match answer {
                    Ok((status, body)) => {
                        if let Some(name) = save_as {
                            self.scope[name.as_str()] = json!({ "status": status, "body": body });
                        }
                        Ok(())
                    }
                    Err(problem) => self.fail(problem).await,
                }
            }
            Step::Ask {
                question,
                options,
                timeout_secs,
                save_as,
                stop_on,
            } => {
                let question = render(question, &self.scope);
                let answer = self.ask(&question, options, *timeout_secs).await?;
                let decision = answer.decision.clone();
                self.scope[save_as.as_str()] = json!({
                    "decision": answer.decision,
                    "comment": answer.comment,
                    "by": answer.by,
                });
                if stop_on.contains(&decision) {
                    self.post(RunEvent::Finished {
                        result: json!({ "decision": decision, "comment": answer.comment }),
                        message: Some(format!("stopped: {decision}")),
                        usage: None,
                    })
                    .await?;
                    return Err(Ended);
                }
                Ok(())
            }
            Step::Fail {
                message,
                probability,
            } => {
                if *probability >= 1.0 || self.rng.random_bool(*probability) {
                    let message = render(message, &self.scope);
                    return self.fail(message).await;
                }
                Ok(())
            }
            Step::Done { result, message } => {
                self.post(RunEvent::Finished {
                    result: render_value(result, &self.scope),
                    message: message.as_ref().map(|m| render(m, &self.scope)),
                    usage: None,
                })
                .await?;
                Err(Ended)
            }
        }
    }

    /// A real HTTP request to the origin the flow file names.
    async fn http(
        &self,
        method: &str,
        url_template: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let origin = origin_of(url_template).expect("checked when the flow loaded");
        let allowed = Url::parse(&render(origin, &self.scope))
            .map(|u| Origin::of(&u))
            .map_err(|e| format!("`{origin}` is not a URL: {e}"))?;
        let rendered = render(url_template, &self.scope);
        let url = Url::parse(&rendered).map_err(|e| format!("`{rendered}` is not a URL: {e}"))?;
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("validated at load");
        let mut request = self
            .outbound
            .request(method.clone(), &url, &allowed)
            .map_err(|e| e.to_string())?
            .timeout(self.outbound.settings().attempt_timeout);
        if let Some(body) = body {
            request = request.json(&render_value(body, &self.scope));
        }
        // People see the origin; the log keeps the path and the answer's words.
        let shown = crate::outbound::shown(&url);
        let response = request
            .send()
            .await
            .map_err(|e| format!("{method} {shown} failed: {}", describe(&e)))?;
        let status = response.status();
        let text = read_capped(response, HTTP_BODY_CAP)
            .await
            .map_err(|e| format!("{method} {shown}: {e}"))?;
        let text = String::from_utf8_lossy(&text).into_owned();
        if !status.is_success() {
            tracing::info!(
                run_id = %self.report.run().run_id,
                url = %crate::outbound::redact(&url),
                %status,
                body = %sanitize(&text, 300),
                "a flow's request was refused"
            );
            return Err(format!(
                "{method} {shown} answered {status} (its answer is in the gateway's log)"
            ));
        }
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status.as_u16(), body))
    }

    /// Posts `awaiting` and waits for the `response` event of this run.
    async fn ask(
        &mut self,
        question: &str,
        options: &[String],
        timeout_secs: f64,
    ) -> Result<Arc<RunAnswered>, Ended> {
        let (tx, rx) = oneshot::channel();
        let run_id = self.report.run().run_id.clone();
        // Waiting before asking, so an answer can never arrive first.
        match self
            .running
            .lock()
            .expect("flows running lock")
            .get_mut(&run_id)
        {
            Some(running) => running.waiting = Some(tx),
            None => return Err(Ended),
        }
        self.post(RunEvent::Asked(Question {
            question: question.to_owned(),
            options: options.to_vec(),
            timeout_secs: Some(timeout_secs),
            ..Question::default()
        }))
        .await?;
        match tokio::time::timeout(Duration::from_secs_f64(timeout_secs), rx).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(Ended),
            Err(_) => {
                self.fail(format!(
                    "no answer to \"{question}\" within {timeout_secs}s"
                ))
                .await?;
                Err(Ended)
            }
        }
    }

    async fn fail(&self, error: String) -> Result<(), Ended> {
        self.post(RunEvent::Failed { error, usage: None }).await?;
        Err(Ended)
    }

    /// Reports one event. A refusal (the run was cancelled or timed out) ends the flow.
    async fn post(&self, event: RunEvent) -> Result<(), Ended> {
        self.report
            .event(event)
            .await
            .map(|_| ())
            .map_err(|_| Ended)
    }
}
