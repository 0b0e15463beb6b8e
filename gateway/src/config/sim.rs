//! Where Sim is, and the key and workspace the gateway speaks to it with.

use super::ConfigError;
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Sim")]
pub struct SimArgs {
    /// Sim base URL for API mode (`AP_BASE`), e.g. http://sim:3000.
    #[arg(long, env = "AP_BASE")]
    pub ap_base: Option<url::Url>,

    /// Sim API key for API mode (`AP_TOKEN`).
    #[arg(long, env = "AP_TOKEN", hide_env_values = true)]
    pub ap_token: Option<String>,

    /// Sim workspace id (`AP_PROJECT`; several, comma-separated): its
    /// deployed workflows are the office's roster and every execution is
    /// shown, whatever started it.
    #[arg(long, env = "AP_PROJECT")]
    pub ap_project: Option<String>,

    /// Seconds between two reads of each workspace's execution log.
    #[arg(long, env = "SIM_POLL_SECS", default_value_t = 3.0)]
    pub sim_poll_secs: f64,

    /// Seconds between two reads of each workspace's workflow list.
    #[arg(long, env = "SIM_ROSTER_SECS", default_value_t = 30.0)]
    pub sim_roster_secs: f64,

    /// Sim's public URL as a browser reaches it; `/studio/` redirects here.
    #[arg(long, env = "SIM_PUBLIC_URL")]
    pub sim_public_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SimSettings {
    /// `AP_BASE`, with a trailing slash so API paths join under it.
    pub api_base: Option<url::Url>,
    pub api_key: Option<String>,
    /// `AP_PROJECT`: the workspaces mirrored (the first also names Studio links).
    pub workspaces: Vec<String>,
    pub public_url: Option<String>,
    /// How long Sim's stream may stay silent before the run fails.
    pub stream_idle: Duration,
    /// Between two reads of a workspace's execution log.
    pub poll: Duration,
    /// Between two reads of a workspace's workflow list.
    pub roster_every: Duration,
}

impl Default for SimSettings {
    fn default() -> Self {
        SimSettings {
            api_base: None,
            api_key: None,
            workspaces: Vec::new(),
            public_url: None,
            stream_idle: Duration::from_secs(600),
            poll: Duration::from_secs(3),
            roster_every: Duration::from_secs(30),
        }
    }
}

impl SimArgs {
    /// The settings; a run's stream may stay silent for `stream_idle`.
    pub fn settings(self, stream_idle: Duration) -> Result<SimSettings, ConfigError> {
        let api_base = match self.ap_base {
            Some(mut url) if matches!(url.scheme(), "http" | "https") => {
                if !url.path().ends_with('/') {
                    let path = format!("{}/", url.path());
                    url.set_path(&path);
                }
                Some(url)
            }
            Some(url) => return Err(ConfigError::BadApBase(url.to_string())),
            None => None,
        };
        let seconds = |name: &'static str, secs: f64| {
            if secs.is_finite() && (0.1..=3600.0).contains(&secs) {
                Ok(Duration::from_secs_f64(secs))
            } else {
                Err(ConfigError::BadSeconds(name, secs))
            }
        };
        Ok(SimSettings {
            stream_idle,
            api_base,
            api_key: self.ap_token.filter(|t| !t.is_empty()),
            workspaces: self
                .ap_project
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect(),
            poll: seconds("SIM_POLL_SECS", self.sim_poll_secs)?,
            roster_every: seconds("SIM_ROSTER_SECS", self.sim_roster_secs)?,
            public_url: self
                .sim_public_url
                .map(|u| u.trim_end_matches('/').to_owned()),
        })
    }
}
