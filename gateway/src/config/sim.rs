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

    /// Sim workspace id, used to build Studio links (`AP_PROJECT`).
    #[arg(long, env = "AP_PROJECT")]
    pub ap_project: Option<String>,

    /// Sim's public URL as a browser reaches it; `/studio/` redirects here.
    #[arg(long, env = "SIM_PUBLIC_URL")]
    pub sim_public_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SimSettings {
    /// `AP_BASE`, with a trailing slash so API paths join under it.
    pub api_base: Option<url::Url>,
    pub api_key: Option<String>,
    pub workspace_id: Option<String>,
    pub public_url: Option<String>,
    /// How long Sim's stream may stay silent before the run fails.
    pub stream_idle: Duration,
}

impl Default for SimSettings {
    fn default() -> Self {
        SimSettings {
            api_base: None,
            api_key: None,
            workspace_id: None,
            public_url: None,
            stream_idle: Duration::from_secs(600),
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
        Ok(SimSettings {
            stream_idle,
            api_base,
            api_key: self.ap_token.filter(|t| !t.is_empty()),
            workspace_id: self.ap_project.filter(|p| !p.is_empty()),
            public_url: self
                .sim_public_url
                .map(|u| u.trim_end_matches('/').to_owned()),
        })
    }
}
