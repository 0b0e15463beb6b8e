//! The Sim workspace mirror: with `AP_BASE`, `AP_TOKEN` and `AP_PROJECT`
//! set, every deployed workflow of the workspace is a character, and every
//! execution, whatever started it (a schedule, a chat, an API call, a
//! webhook, the Run button in Studio), is a run of it; an execution paused
//! at a Human in the Loop block waits for an answer in the office.
//!
//! One gateway follows each workspace (a lease in the store, so N gateways
//! on Redis ask Sim once, not N times), polling at a stated interval with
//! at most one request in flight, backing off on errors, and keeping its
//! place in the store so a restart neither loses nor repeats an execution.
//! `executions.rs` decides what is new in the log, `follow.rs` does one
//! poll; how Sim is spoken to and read is in `crate::sim`.

mod executions;
mod follow;

use crate::core::Service;
use crate::sim::SimLink;
use std::sync::Arc;
use std::time::Duration;

/// The longest wait between polls after errors.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How often the mirror asks Sim.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MirrorSettings {
    /// Between two polls of the execution log (`SIM_POLL_SECS`).
    pub poll: Duration,
    /// Between two reads of the workflow list (`SIM_ROSTER_SECS`).
    pub roster: Duration,
}

impl Default for MirrorSettings {
    fn default() -> Self {
        MirrorSettings {
            poll: Duration::from_secs(3),
            roster: Duration::from_secs(30),
        }
    }
}

/// Starts one follower per workspace; each polls while it holds the
/// workspace's lease.
pub fn spawn(service: Arc<Service>, link: Arc<SimLink>, settings: MirrorSettings) {
    for api in link.workspaces().cloned().collect::<Vec<_>>() {
        let service = Arc::downgrade(&service);
        let link = link.clone();
        tokio::spawn(async move {
            let mut follower: Option<follow::Follower> = None;
            let mut wait = Duration::ZERO;
            loop {
                tokio::time::sleep(wait).await;
                let Some(service) = service.upgrade() else {
                    break;
                };
                wait = settings.poll;
                match service
                    .take_lease(&format!("sim:{}", api.workspace), settings.poll * 5)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        // Another gateway follows it; take over from its saved place if it stops.
                        follower = None;
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot take the Sim follower's lease");
                        continue;
                    }
                }
                let follower = match &mut follower {
                    Some(follower) => follower,
                    None => match follow::Follower::load(&service, &link, &api, settings).await {
                        Ok(loaded) => follower.insert(loaded),
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot load the Sim follower's place");
                            continue;
                        }
                    },
                };
                if let Some(backoff) = follower.poll(&service).await {
                    wait = backoff.min(MAX_BACKOFF);
                }
            }
        });
    }
}
