//! What a run cost: tokens and money, as its source reported them.

use serde::{Deserialize, Serialize};

/// Usage a run's source reported (`data.usage` on any event): tokens in and
/// out, dollars, and the model when one was named.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub cost_usd: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// The most tokens and dollars one event may report.
const MAX_TOKENS: u64 = 1_000_000_000_000;
const MAX_USD: f64 = 1_000_000.0;
const MAX_MODEL_CHARS: usize = 64;

impl Usage {
    /// An event's `usage` field, checked: an object of non-negative,
    /// bounded `input_tokens`, `output_tokens` (whole numbers), `cost_usd`,
    /// and a short `model`; nothing else.
    pub fn parse(value: &serde_json::Value) -> Result<Usage, String> {
        let fields = value
            .as_object()
            .ok_or("`usage` must be an object {input_tokens, output_tokens, cost_usd, model}")?;
        for key in fields.keys() {
            if !["input_tokens", "output_tokens", "cost_usd", "model"].contains(&key.as_str()) {
                return Err(format!("`usage.{key}` is not a usage field"));
            }
        }
        let tokens = |key: &str| -> Result<u64, String> {
            match fields.get(key) {
                None | Some(serde_json::Value::Null) => Ok(0),
                Some(v) => v.as_u64().filter(|n| *n <= MAX_TOKENS).ok_or_else(|| {
                    format!("`usage.{key}` must be a whole number from 0 to {MAX_TOKENS}")
                }),
            }
        };
        let cost_usd = match fields.get("cost_usd") {
            None | Some(serde_json::Value::Null) => 0.0,
            Some(v) => v
                .as_f64()
                .filter(|c| c.is_finite() && (0.0..=MAX_USD).contains(c))
                .ok_or_else(|| format!("`usage.cost_usd` must be a number from 0 to {MAX_USD}"))?,
        };
        let model = match fields.get("model") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(m))
                if !m.trim().is_empty()
                    && m.chars().count() <= MAX_MODEL_CHARS
                    && !m.chars().any(char::is_control) =>
            {
                Some(m.clone())
            }
            Some(_) => {
                return Err(format!(
                    "`usage.model` must be a name of 1-{MAX_MODEL_CHARS} characters"
                ));
            }
        };
        Ok(Usage {
            input_tokens: tokens("input_tokens")?,
            output_tokens: tokens("output_tokens")?,
            cost_usd,
            model,
        })
    }

    /// Two reports of one run added up (the later model wins).
    pub fn plus(&self, other: &Usage) -> Usage {
        Usage {
            input_tokens: self.input_tokens.saturating_add(other.input_tokens),
            output_tokens: self.output_tokens.saturating_add(other.output_tokens),
            cost_usd: self.cost_usd + other.cost_usd,
            model: other.model.clone().or_else(|| self.model.clone()),
        }
    }

    pub fn tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    /// "$0.0042 · 1,540 tokens": how the office and logs say it.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if self.cost_usd > 0.0 {
            parts.push(dollars(self.cost_usd));
        }
        if self.tokens() > 0 {
            parts.push(format!("{} tokens", thousands(self.tokens())));
        }
        if let Some(model) = &self.model {
            parts.push(model.clone());
        }
        parts.join(" · ")
    }
}

/// Dollars with as many decimals as a small amount needs.
pub fn dollars(usd: f64) -> String {
    if usd >= 100.0 {
        format!("${usd:.0}")
    } else if usd >= 1.0 {
        format!("${usd:.2}")
    } else if usd >= 0.01 {
        format!("${usd:.3}")
    } else {
        format!("${usd:.4}")
    }
}

/// 1540 → "1,540".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_reads_like_a_person_would_say_it() {
        let usage = Usage {
            input_tokens: 1200,
            output_tokens: 340,
            cost_usd: 0.0042,
            model: Some("gpt-4o-mini".into()),
        };
        assert_eq!(usage.summary(), "$0.0042 · 1,540 tokens · gpt-4o-mini");
        assert_eq!(dollars(42.5), "$42.50");
        assert_eq!(dollars(0.25), "$0.250");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(Usage::default().summary(), "");
    }

    #[test]
    fn reported_usage_is_checked_and_adds_up() {
        use serde_json::json;
        let usage =
            Usage::parse(&json!({"input_tokens": 10, "cost_usd": 0.5, "model": "m"})).unwrap();
        assert_eq!(
            (usage.input_tokens, usage.output_tokens, usage.cost_usd),
            (10, 0, 0.5)
        );
        for bad in [
            json!(5),
            json!({"input_tokens": -1}),
            json!({"input_tokens": 1.5}),
            json!({"cost_usd": 1e9}),
            json!({"cost_usd": "free"}),
            json!({"model": ""}),
            json!({"model": "x".repeat(65)}),
            json!({"tokens": 3}),
        ] {
            assert!(Usage::parse(&bad).is_err(), "{bad}");
        }
        let sum = usage.plus(&Usage {
            output_tokens: 5,
            cost_usd: 0.25,
            ..Usage::default()
        });
        assert_eq!(
            (sum.tokens(), sum.cost_usd, sum.model.as_deref()),
            (15, 0.75, Some("m"))
        );
    }
}

/// Runs and what they used over a span of time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageTotals {
    pub runs: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
}

/// One agent's line of `GET /api/usage`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentUsage {
    pub agent: String,
    pub npc: String,
    #[serde(flatten)]
    pub totals: UsageTotals,
}

/// `GET /api/usage?since=&until=`: per agent and the fleet's totals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UsageReport {
    /// RFC 3339, in the gateway's time zone.
    pub since: String,
    pub until: String,
    /// The gateway's time zone ("today" is its day), as a UTC offset (`+01:00`).
    pub time_zone: String,
    pub agents: Vec<AgentUsage>,
    pub total: UsageTotals,
}

/// An agent's daily budget, and how today stands against it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetState {
    pub daily_usd: f64,
    pub spent_today_usd: f64,
    /// A run over budget would be refused (and the character sits benched).
    pub benched: bool,
    /// Who lifted the bench for today, if someone did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifted_by: Option<String>,
    /// A run that crosses the budget is cancelled, not only announced.
    #[serde(default)]
    pub hard: bool,
}
