//! Importing a workflow export into a Sim workspace and deploying it
//! (`POST /api/v1/workflows/import`, `POST /api/v1/workflows/{id}/deploy`),
//! so a Sim user has a working agent in one command (`esprit-sim-import`).
//! The shipped example (`data/sim/refund-approval.json`) holds placeholders
//! the importer fills: `__GATEWAY_URL__`, `__GATEWAY_TOKEN__`, `__NPC__`,
//! `__WEBHOOK_TOKEN__`.

use super::{SimError, WorkspaceApi};
use serde_json::Value;

/// What the placeholders become.
#[derive(Debug, Clone)]
pub struct Filling {
    /// How Sim reaches the gateway (`__GATEWAY_URL__`), no trailing slash.
    pub gateway_url: String,
    /// A publisher token for the API block (`__GATEWAY_TOKEN__`); none drops the header.
    pub gateway_token: Option<String>,
    /// The npc the API block reports for (`__NPC__`).
    pub npc: String,
    /// The webhook trigger's token (`__WEBHOOK_TOKEN__`).
    pub webhook_token: String,
}

/// A deployed workflow, and where its webhook trigger listens.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub workflow_id: String,
    pub webhook_url: Option<String>,
}

/// The export with its placeholders filled (and the gateway's
/// `Authorization` header row dropped when there is no token).
pub fn fill(template: &str, filling: &Filling) -> Result<Value, String> {
    let text = template
        .replace("__GATEWAY_URL__", filling.gateway_url.trim_end_matches('/'))
        .replace("__NPC__", &filling.npc)
        .replace("__WEBHOOK_TOKEN__", &filling.webhook_token);
    let text = match &filling.gateway_token {
        Some(token) => text.replace("__GATEWAY_TOKEN__", token),
        None => text,
    };
    let mut export: Value =
        serde_json::from_str(&text).map_err(|e| format!("the workflow export is not JSON: {e}"))?;
    if filling.gateway_token.is_none() {
        for block in blocks_mut(&mut export) {
            if let Some(rows) = block
                .pointer_mut("/subBlocks/headers/value")
                .and_then(Value::as_array_mut)
            {
                rows.retain(|row| {
                    !row.pointer("/cells/Value")
                        .and_then(Value::as_str)
                        .is_some_and(|v| v.contains("__GATEWAY_TOKEN__"))
                });
            }
        }
    }
    if export.get("state").and_then(|s| s.get("blocks")).is_none() {
        return Err("the workflow export has no `state.blocks`".into());
    }
    Ok(export)
}

fn blocks_mut(export: &mut Value) -> impl Iterator<Item = &mut Value> {
    export
        .pointer_mut("/state/blocks")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|blocks| blocks.values_mut())
}

/// Imports, deploys, and finds the webhook trigger's URL (Sim regenerates
/// block ids on import; a generic webhook's path is its block's id unless
/// it names one).
pub async fn import(api: &WorkspaceApi, export: &Value, name: &str) -> Result<Imported, SimError> {
    let workflow_id = api.import_workflow(export, name).await?;
    api.deploy(&workflow_id).await?;
    let exported = api.export_workflow(&workflow_id).await?;
    let webhook_path = exported
        .pointer("/state/blocks")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|blocks| blocks.values())
        .find(|b| b.get("type").and_then(Value::as_str) == Some("generic_webhook"))
        .map(|b| {
            b.pointer("/subBlocks/triggerPath/value")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
                .or_else(|| b.get("id").and_then(Value::as_str))
                .unwrap_or_default()
                .to_owned()
        });
    Ok(Imported {
        webhook_url: webhook_path.map(|path| format!("{}api/webhooks/trigger/{path}", api.base())),
        workflow_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../data/sim/refund-approval.json");

    #[test]
    fn the_example_is_filled_in_and_keeps_its_blocks() {
        let filling = Filling {
            gateway_url: "http://127.0.0.1:3001/".into(),
            gateway_token: None,
            npc: "refunds".into(),
            webhook_token: "whk-123".into(),
        };
        let export = fill(EXAMPLE, &filling).unwrap();
        let text = export.to_string();
        assert!(!text.contains("__"), "every placeholder filled: {text}");
        assert!(text.contains("http://127.0.0.1:3001/api/events"));
        assert!(text.contains(r#"\"npc\": \"refunds\""#));
        assert!(
            !text.contains("Bearer"),
            "no token, no Authorization header"
        );
        let kinds: Vec<&str> = export["state"]["blocks"]
            .as_object()
            .unwrap()
            .values()
            .map(|b| b["type"].as_str().unwrap())
            .collect();
        for kind in ["generic_webhook", "function", "human_in_the_loop", "api"] {
            assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
        }
        let with_token = fill(
            EXAMPLE,
            &Filling {
                gateway_token: Some("pub-token-0123456789".into()),
                ..filling
            },
        )
        .unwrap();
        assert!(
            with_token
                .to_string()
                .contains("Bearer pub-token-0123456789")
        );
        assert!(fill("{", &with_token_filling()).is_err());
    }

    fn with_token_filling() -> Filling {
        Filling {
            gateway_url: "http://x".into(),
            gateway_token: Some("t".into()),
            npc: "n".into(),
            webhook_token: "w".into(),
        }
    }
}
