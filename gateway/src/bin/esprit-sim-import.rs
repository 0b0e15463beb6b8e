//! Imports a workflow export into your Sim workspace, deploys it, and names
//! it in agents.json, so it is a character in the office in one step:
//!
//!     AP_BASE=http://localhost:3000 AP_TOKEN=sk-sim-… AP_PROJECT=<workspace id> \
//!       cargo run -p gateway --bin esprit-sim-import -- --npc refunds
//!
//! Through Sim's public API (`POST /api/v1/workflows/import`, `POST
//! /api/v1/workflows/{id}/deploy`) with the workspace's API key; the default
//! export is the refund-approval example (a webhook trigger, a Function
//! block, a Human in the Loop block and an API block that reports to the
//! gateway).

use anyhow::{Context, bail};
use clap::Parser;
use gateway::config::OutboundSettings;
use gateway::outbound::Outbound;
use gateway::registry::Registry;
use gateway::sim::WorkspaceApi;
use gateway::sim::import::{Filling, fill, import};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(
    name = "esprit-sim-import",
    about = "Import a workflow into Sim, deploy it, and add it to the office"
)]
struct Args {
    /// Sim's base URL.
    #[arg(long, env = "AP_BASE")]
    ap_base: url::Url,
    /// A Sim API key of the workspace.
    #[arg(long, env = "AP_TOKEN", hide_env_values = true)]
    ap_token: String,
    /// The workspace id (the first, when several are listed).
    #[arg(long, env = "AP_PROJECT")]
    ap_project: String,
    /// The workflow export (Sim's `{version, state}` JSON).
    #[arg(long, default_value = "data/sim/refund-approval.json")]
    file: PathBuf,
    /// The workflow's name in Sim and in the office.
    #[arg(long, default_value = "Refund approval")]
    name: String,
    /// The agent and npc id in the office.
    #[arg(long, default_value = "refunds")]
    npc: String,
    /// How Sim reaches the gateway (the API block posts to `<this>/api/events`).
    #[arg(long, env = "PUBLIC_URL", default_value = "http://127.0.0.1:3001")]
    gateway_url: String,
    /// A publisher token for the API block (when the gateway requires tokens).
    #[arg(long, env = "ESPRIT_PUBLISHER_TOKEN", hide_env_values = true)]
    gateway_token: Option<String>,
    /// The webhook trigger's token; a random one when not given.
    #[arg(long)]
    webhook_token: Option<String>,
    /// The agents.json to name the workflow in (seated and named as `--npc`, `--name`).
    #[arg(long, env = "AGENT_MAP_FILE", default_value = "data/agents.json")]
    agents_file: PathBuf,
    /// Leave agents.json alone (the office still shows the workflow, under its id).
    #[arg(long)]
    no_agents_file: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !protocol::is_valid_id(&args.npc) {
        bail!(
            "--npc `{}` must be 1-64 letters, digits, `_` or `-`",
            args.npc
        );
    }
    let template = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let webhook_token = args.webhook_token.clone().unwrap_or_else(|| {
        let bytes: [u8; 16] = rand::random();
        format!("whk_{}", hex::encode(bytes))
    });
    let export = fill(
        &template,
        &Filling {
            gateway_url: args.gateway_url.clone(),
            gateway_token: args.gateway_token.clone(),
            npc: args.npc.clone(),
            webhook_token: webhook_token.clone(),
        },
    )
    .map_err(anyhow::Error::msg)
    .with_context(|| format!("{}", args.file.display()))?;
    let mut base = args.ap_base.clone();
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    let workspace = args
        .ap_project
        .split(',')
        .next()
        .unwrap_or("")
        .trim()
        .to_owned();
    let api = WorkspaceApi::new(
        // Sim compiles a route on its first use in development: be patient.
        Outbound::new(OutboundSettings {
            connect_timeout: std::time::Duration::from_secs(10),
            attempt_timeout: std::time::Duration::from_secs(300),
            attempts: 1,
            backoff: std::time::Duration::from_secs(1),
        }),
        base,
        args.ap_token.clone(),
        workspace,
    );
    let imported = import(&api, &export, &args.name)
        .await
        .context("Sim did not take the workflow")?;
    println!(
        "imported and deployed: {} ({})",
        args.name, imported.workflow_id
    );
    if let Some(url) = &imported.webhook_url {
        println!("webhook trigger:       {url}");
        println!("webhook token:         {webhook_token}");
        println!(
            "try it:                curl -X POST {url} -H 'Authorization: Bearer {webhook_token}' -H 'Content-Type: application/json' -d '{{\"order\": 42, \"amount\": 120.5, \"customer\": \"Ada\"}}'"
        );
    }
    if !args.no_agents_file {
        name_in_agents_file(
            &args.agents_file,
            &args.npc,
            &args.name,
            &imported.workflow_id,
        )?;
        println!("named in {} as `{}`", args.agents_file.display(), args.npc);
    }
    Ok(())
}

/// Adds (or replaces) the agent entry, checked by the registry's own rules,
/// written whole by a rename so a reader never sees half a file.
fn name_in_agents_file(
    path: &Path,
    npc: &str,
    name: &str,
    workflow_id: &str,
) -> anyhow::Result<()> {
    let mut agents: Vec<Value> = match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{} is not a JSON array", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    agents.retain(|a| a["agent"] != npc && a["workflowId"] != workflow_id);
    agents.push(json!({"agent": npc, "npc": npc, "name": name, "role": "Sim workflow", "workflowId": workflow_id}));
    let text = serde_json::to_string_pretty(&agents)? + "\n";
    Registry::parse(path, &text).map_err(anyhow::Error::msg)?;
    let temporary = path.with_extension("json.new");
    std::fs::write(&temporary, &text)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}
