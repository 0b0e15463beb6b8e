//! `{payload.date}`-style templates: checked when a flow loads, filled when it runs.

use serde_json::Value;
use std::collections::HashSet;

/// Names every template may use without a step defining them.
pub const BUILT_INS: [&str; 5] = ["payload", "run_id", "agent", "npc", "gateway"];

/// The origin part of an HTTP step's URL template (`{gateway}` or a literal
/// `scheme://host:port`): a flow may call only where its file says, whatever
/// a payload holds.
pub fn origin_of(template: &str) -> Result<&str, String> {
    if let Some(rest) = template.strip_prefix("{gateway}") {
        if rest.is_empty() || rest.starts_with(['/', '?']) {
            return Ok("{gateway}");
        }
    }
    let origin_end = template
        .find("://")
        .map(|scheme| {
            let authority = scheme + 3;
            template[authority..]
                .find(['/', '?', '#'])
                .map_or(template.len(), |end| authority + end)
        })
        .ok_or_else(|| format!("`{template}` must start with `http(s)://host` or `{{gateway}}`"))?;
    let origin = &template[..origin_end];
    if origin.contains('{') {
        return Err(format!(
            "`{template}`: the scheme, host and port must be written out (placeholders only in the path)"
        ));
    }
    match url::Url::parse(origin) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(origin),
        _ => Err(format!("`{origin}` is not an http(s) origin")),
    }
}

/// One `{root.path|default}` placeholder.
#[derive(Debug, Clone, PartialEq)]
struct Placeholder<'a> {
    root: &'a str,
    path: Vec<&'a str>,
    default: Option<&'a str>,
}

/// Splits a template into literal text and placeholders; `{{` and `}}` are literal braces.
fn parse(template: &str) -> Result<Vec<Result<String, Placeholder<'_>>>, String> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut rest = template;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("{{") {
            literal.push('{');
            rest = after;
        } else if let Some(after) = rest.strip_prefix("}}") {
            literal.push('}');
            rest = after;
        } else if let Some(after) = rest.strip_prefix('{') {
            let end = after
                .find('}')
                .ok_or_else(|| format!("unclosed `{{` in `{template}`"))?;
            let inner = &after[..end];
            let (expr, default) = match inner.split_once('|') {
                Some((expr, default)) => (expr.trim(), Some(default)),
                None => (inner.trim(), None),
            };
            let mut segments = expr.split('.');
            let root = segments.next().unwrap_or_default();
            if root.is_empty() || !root.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "`{{{inner}}}` is not a placeholder like `{{payload.name}}`"
                ));
            }
            if !literal.is_empty() {
                parts.push(Ok(std::mem::take(&mut literal)));
            }
            parts.push(Err(Placeholder {
                root,
                path: segments.collect(),
                default,
            }));
            rest = &after[end + 1..];
        } else {
            let ch = rest.chars().next().expect("not empty");
            literal.push(ch);
            rest = &rest[ch.len_utf8()..];
        }
    }
    if !literal.is_empty() {
        parts.push(Ok(literal));
    }
    Ok(parts)
}

/// Checks syntax and that every placeholder names something defined by then.
pub fn check(template: &str, known: &HashSet<String>) -> Result<(), String> {
    for part in parse(template)? {
        if let Err(placeholder) = part
            && !BUILT_INS.contains(&placeholder.root)
            && !known.contains(placeholder.root)
        {
            {
                let mut names: Vec<_> = BUILT_INS
                    .iter()
                    .map(|s| s.to_string())
                    .chain(known.iter().cloned())
                    .collect();
                names.sort();
                return Err(format!(
                    "`{{{}}}` names nothing; known here: {}",
                    placeholder.root,
                    names.join(", ")
                ));
            }
        }
    }
    Ok(())
}

/// Fills a template from `scope` (an object of roots). Missing values use the
/// default after `|`, else render empty.
pub fn render(template: &str, scope: &Value) -> String {
    let Ok(parts) = parse(template) else {
        return template.to_owned();
    };
    let mut out = String::new();
    for part in parts {
        match part {
            Ok(text) => out.push_str(&text),
            Err(placeholder) => {
                let mut value = scope.get(placeholder.root);
                for key in &placeholder.path {
                    value = value.and_then(|v| match v {
                        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
                        other => other.get(key),
                    });
                }
                match value {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(Value::Null) | None => out.push_str(placeholder.default.unwrap_or("")),
                    Some(other) => out.push_str(&other.to_string()),
                }
            }
        }
    }
    out
}

/// Renders every string inside a JSON value.
pub fn render_value(value: &Value, scope: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(render(s, scope)),
        Value::Array(items) => Value::Array(items.iter().map(|v| render_value(v, scope)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render_value(v, scope)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Every string inside a JSON value, for checking.
pub fn check_value(value: &Value, known: &HashSet<String>) -> Result<(), String> {
    match value {
        Value::String(s) => check(s, known),
        Value::Array(items) => items.iter().try_for_each(|v| check_value(v, known)),
        Value::Object(map) => map.values().try_for_each(|v| check_value(v, known)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    mod properties {
        use super::super::*;
        use crate::properties::json_value;
        use proptest::prelude::*;

        proptest! {
            /// Any template renders against any scope without a panic, and a
            /// template without braces renders as itself.
            #[test]
            fn any_template_renders(template in "\\PC{0,60}", scope in json_value()) {
                let rendered = render(&template, &scope);
                if !template.contains(['{', '}']) {
                    prop_assert_eq!(rendered, template.clone());
                }
                let _ = check(&template, &HashSet::new());
                let _ = origin_of(&template);
            }
        }
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn renders_paths_defaults_and_braces() {
        let scope = json!({"payload": {"who": "Ada", "n": 3, "list": ["x", "y"]}, "health": {"status": "ok"}});
        assert_eq!(
            render("Hi {payload.who}, {payload.n} new", &scope),
            "Hi Ada, 3 new"
        );
        assert_eq!(
            render("{payload.missing|nobody} {payload.list.1}", &scope),
            "nobody y"
        );
        assert_eq!(
            render("{{literal}} {health.status}", &scope),
            "{literal} ok"
        );
    }

    #[test]
    fn checks_that_placeholders_name_something() {
        let known: HashSet<String> = ["health".to_owned()].into();
        assert!(check("{payload.x} {health.status} {run_id}", &known).is_ok());
        let err = check("{decision.value}", &known).unwrap_err();
        assert!(err.contains("`{decision}` names nothing"), "{err}");
        assert!(
            check("{payload.x", &known)
                .unwrap_err()
                .contains("unclosed")
        );
        assert!(check("{ bad root }", &known).is_err());
    }
}
