//! OpenTelemetry in (`/v1/traces`, `/v1/logs`): how long visiting agents
//! stay, how long spans wait for their agent, how much one export may carry.

use super::{ConfigError, seconds};
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "OpenTelemetry (OTLP/HTTP at /v1/traces and /v1/logs)")]
pub struct TelemetryArgs {
    /// Seconds a visiting agent (one its spans or Claude Code's events
    /// brought in) stays with nothing reported, then walks out.
    #[arg(long, env = "OTEL_VISITOR_IDLE_SECS", default_value_t = 600.0)]
    pub otel_visitor_idle_secs: f64,

    /// Seconds a sub-agent stays after it last reported (it walks back to
    /// the agent that spawned it, then leaves).
    #[arg(long, env = "OTEL_SUB_AGENT_LINGER_SECS", default_value_t = 20.0)]
    pub otel_sub_agent_linger_secs: f64,

    /// Seconds of quiet after which a Claude Code prompt's run ends.
    #[arg(long, env = "OTEL_CLAUDE_QUIET_SECS", default_value_t = 60.0)]
    pub otel_claude_quiet_secs: f64,

    /// Seconds an `invoke_agent` span waits for its parent's spans (to
    /// learn whose sub-agent it is) before it counts as top-level.
    #[arg(long, env = "OTEL_LINK_WAIT_SECS", default_value_t = 5.0)]
    pub otel_link_wait_secs: f64,

    /// Spans (or log records) one export may carry.
    #[arg(long, env = "OTEL_MAX_ITEMS", default_value_t = 10_000)]
    pub otel_max_items: usize,

    /// Bytes an export's body may carry as sent (gzip or not).
    #[arg(long, env = "OTEL_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub otel_max_body_bytes: u64,

    /// Bytes an export may inflate to (gzip undone).
    #[arg(long, env = "OTEL_MAX_INFLATED_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub otel_max_inflated_bytes: usize,
}

#[derive(Debug, Clone, Copy)]
pub struct TelemetrySettings {
    pub visitor_idle: Duration,
    pub sub_agent_linger: Duration,
    pub claude_quiet: Duration,
    pub link_wait: Duration,
    pub body_limit: u64,
    pub bounds: crate::otel::Bounds,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            visitor_idle: Duration::from_secs(600),
            sub_agent_linger: Duration::from_secs(20),
            claude_quiet: Duration::from_secs(60),
            link_wait: Duration::from_secs(5),
            body_limit: 4 * 1024 * 1024,
            bounds: crate::otel::Bounds::default(),
        }
    }
}

impl TelemetryArgs {
    pub fn settings(&self) -> Result<TelemetrySettings, ConfigError> {
        if self.otel_max_items == 0 {
            return Err(ConfigError::NotPositive("--otel-max-items"));
        }
        if self.otel_max_body_bytes == 0 {
            return Err(ConfigError::NotPositive("--otel-max-body-bytes"));
        }
        if self.otel_max_inflated_bytes == 0 {
            return Err(ConfigError::NotPositive("--otel-max-inflated-bytes"));
        }
        Ok(TelemetrySettings {
            visitor_idle: seconds(self.otel_visitor_idle_secs, "--otel-visitor-idle-secs")?,
            sub_agent_linger: seconds(
                self.otel_sub_agent_linger_secs,
                "--otel-sub-agent-linger-secs",
            )?,
            claude_quiet: seconds(self.otel_claude_quiet_secs, "--otel-claude-quiet-secs")?,
            link_wait: seconds(self.otel_link_wait_secs, "--otel-link-wait-secs")?,
            body_limit: self.otel_max_body_bytes,
            bounds: crate::otel::Bounds {
                inflated_bytes: self.otel_max_inflated_bytes,
                items: self.otel_max_items,
                ..crate::otel::Bounds::default()
            },
        })
    }
}
