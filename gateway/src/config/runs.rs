//! How runs go out and how long they may stay quiet: webhook attempts and
//! timeouts, run deadlines, embedded flows.

use super::{ConfigError, seconds};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Runs and what they call")]
pub struct RunArgs {
    /// Directory of embedded flows (`<name>.ron`).
    #[arg(long, env = "FLOWS_DIR", default_value = "data/flows")]
    pub flows_dir: PathBuf,

    /// Seconds before one outbound request (a webhook attempt, a poll) times out.
    #[arg(long, env = "WEBHOOK_TIMEOUT_SECS", default_value_t = 15.0)]
    pub webhook_timeout_secs: f64,

    /// Seconds to wait for an outbound connection.
    #[arg(long, env = "CONNECT_TIMEOUT_SECS", default_value_t = 5.0)]
    pub connect_timeout_secs: f64,

    /// Attempts per webhook (first try included).
    #[arg(long, env = "WEBHOOK_ATTEMPTS", default_value_t = 4)]
    pub webhook_attempts: u32,

    /// First retry delay in milliseconds; doubles each attempt.
    #[arg(long, env = "WEBHOOK_BACKOFF_MS", default_value_t = 500)]
    pub webhook_backoff_ms: u64,

    /// A run with no event for this long ends as `error` (an agent's
    /// `deadlineSecs` overrides it); also how long Sim's stream may stay silent.
    #[arg(long, env = "RUN_DEADLINE_SECS", default_value_t = 600.0)]
    pub run_deadline_secs: f64,

    /// Seconds between checks for runs past their deadline.
    #[arg(long, env = "RUN_SWEEP_SECS", default_value_t = 5.0, hide = true)]
    pub run_sweep_secs: f64,

    /// Seed for embedded flows' randomness (repeatable demos and tests).
    #[arg(long, env = "FLOW_SEED", hide = true)]
    pub flow_seed: Option<u64>,

    /// Start random demo runs every few seconds so the office never stands still.
    #[arg(long, env = "DEMO")]
    pub demo: bool,
}

#[derive(Debug, Clone)]
pub struct OutboundSettings {
    pub connect_timeout: Duration,
    /// One request: a webhook attempt, a poll, a log read (not a whole Sim run).
    pub attempt_timeout: Duration,
    pub attempts: u32,
    pub backoff: Duration,
}

impl RunArgs {
    pub fn outbound(&self) -> Result<OutboundSettings, ConfigError> {
        if self.webhook_attempts == 0 {
            return Err(ConfigError::NotPositive("--webhook-attempts"));
        }
        Ok(OutboundSettings {
            connect_timeout: seconds(self.connect_timeout_secs, "--connect-timeout-secs")?,
            attempt_timeout: seconds(self.webhook_timeout_secs, "--webhook-timeout-secs")?,
            attempts: self.webhook_attempts,
            backoff: Duration::from_millis(self.webhook_backoff_ms),
        })
    }

    pub fn deadline(&self) -> Result<Duration, ConfigError> {
        seconds(self.run_deadline_secs, "--run-deadline-secs")
    }

    pub fn sweep(&self) -> Result<Duration, ConfigError> {
        seconds(self.run_sweep_secs, "--run-sweep-secs")
    }
}
