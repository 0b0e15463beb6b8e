//! Webhook backend: a run is one signed POST of [`protocol::RunWebhook`] to the
//! agent's `webhookUrl` (a Sim webhook trigger, n8n, your own service); the
//! workflow reports back to `callback_url` with the run's token.

use super::{BackendError, RunBackend, RunReport, RunStart};
use crate::outbound::{Delivery, Origin, Outbound, redact};
use crate::registry::{Agent, RunTarget};
use async_trait::async_trait;
use protocol::{AnswerDelivery, Question};
use url::Url;

pub struct WebhookBackend {
    outbound: Outbound,
}

impl WebhookBackend {
    pub fn new(outbound: Outbound) -> WebhookBackend {
        WebhookBackend { outbound }
    }
}

#[async_trait]
impl RunBackend for WebhookBackend {
    fn start(&self, run: RunStart, report: RunReport) {
        let RunTarget::Webhook(url) = &run.agent.target else {
            unreachable!("the webhook backend only gets webhook agents");
        };
        let delivery = Delivery {
            url: url.clone(),
            body: serde_json::to_vec(&run.webhook)
                .expect("the webhook body serializes")
                .into(),
            bearer: run.agent.webhook_token.clone(),
            secret: run.agent.secret.clone(),
            message_id: format!("msg_{}", run.run.run_id),
        };
        let outbound = self.outbound.clone();
        tokio::spawn(async move {
            let allowed = Origin::of(&delivery.url);
            match outbound.deliver(&delivery, &allowed).await {
                Ok(delivered) => {
                    tracing::info!(npc = %run.run.npc, run_id = %run.run.run_id, status = %delivered.status, attempts = delivered.attempts, "webhook delivered");
                }
                Err(failed) => {
                    tracing::warn!(npc = %run.run.npc, run_id = %run.run.run_id, url = %redact(&delivery.url), reason = %failed, "webhook failed");
                    let _ = report.fail(&format!("webhook {failed}")).await;
                }
            }
        });
    }

    async fn answer(
        &self,
        agent: &Agent,
        question: &Question,
        answer: &AnswerDelivery,
    ) -> Result<(), BackendError> {
        let RunTarget::Webhook(webhook) = &agent.target else {
            return Ok(());
        };
        forward_answer(
            &self.outbound,
            &Origin::of(webhook),
            agent,
            question,
            answer,
        )
        .await
    }
}

/// POSTs an answer to the question's `resume_url`, if it has one, on the
/// agent's own origin only: a question is published by whoever holds a
/// publish token, and its `resume_url` must not steer the agent's credentials
/// anywhere else.
pub async fn forward_answer(
    outbound: &Outbound,
    allowed: &Origin,
    agent: &Agent,
    question: &Question,
    answer: &AnswerDelivery,
) -> Result<(), BackendError> {
    let Some(resume_url) = &question.resume_url else {
        return Ok(());
    };
    let url = Url::parse(resume_url).map_err(|e| BackendError::BadResumeUrl(e.to_string()))?;
    outbound.check(&url, allowed)?;
    let delivery = Delivery {
        body: serde_json::to_vec(answer)
            .expect("the answer serializes")
            .into(),
        bearer: agent.webhook_token.clone(),
        secret: agent.secret.clone(),
        message_id: format!("msg_{}_answer_{}", answer.run_id, answer.question_id),
        url,
    };
    let delivered = outbound.deliver(&delivery, allowed).await?;
    tracing::info!(run_id = %answer.run_id, url = %redact(&delivery.url), status = %delivered.status, "answer delivered");
    Ok(())
}
