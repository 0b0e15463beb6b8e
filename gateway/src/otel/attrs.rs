//! Reading OpenTelemetry attributes the way exporters write them: strings
//! cut to a length the office keeps, counts as ints, doubles or digits.

use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value::Value};

/// A span's, record's or resource's attributes.
pub struct Attrs<'a>(pub &'a [KeyValue]);

impl Attrs<'_> {
    fn value(&self, key: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| v.value.as_ref())
    }

    /// A non-empty string (trimmed, at most `max` characters); numbers and
    /// booleans are written out.
    pub fn text(&self, key: &str, max: usize) -> Option<String> {
        let text = match self.value(key)? {
            Value::StringValue(s) => s.trim().chars().take(max).collect(),
            Value::IntValue(i) => i.to_string(),
            Value::DoubleValue(d) => d.to_string(),
            Value::BoolValue(b) => b.to_string(),
            _ => return None,
        };
        (!text.is_empty()).then_some(text)
    }

    /// A non-negative whole count.
    pub fn count(&self, key: &str) -> Option<u64> {
        match self.value(key)? {
            Value::IntValue(i) => u64::try_from(*i).ok(),
            Value::DoubleValue(d) if d.is_finite() && *d >= 0.0 => Some(*d as u64),
            Value::StringValue(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A non-negative finite number.
    pub fn amount(&self, key: &str) -> Option<f64> {
        let amount = match self.value(key)? {
            Value::DoubleValue(d) => *d,
            Value::IntValue(i) => *i as f64,
            Value::StringValue(s) => s.trim().parse().ok()?,
            _ => return None,
        };
        (amount.is_finite() && amount >= 0.0).then_some(amount)
    }

    /// `true`, `"true"` or `1`.
    pub fn flag(&self, key: &str) -> Option<bool> {
        match self.value(key)? {
            Value::BoolValue(b) => Some(*b),
            Value::StringValue(s) => match s.trim() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            },
            Value::IntValue(i) => Some(*i != 0),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::AnyValue;

    fn kv(key: &str, value: Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..KeyValue::default()
        }
    }

    #[test]
    fn values_are_read_as_exporters_write_them() {
        let list = [
            kv("s", Value::StringValue("  Bash  ".into())),
            kv("long", Value::StringValue("x".repeat(500))),
            kv("n", Value::StringValue("42".into())),
            kv("neg", Value::IntValue(-3)),
            kv("cost", Value::DoubleValue(0.0123)),
            kv("ok", Value::StringValue("true".into())),
            kv("empty", Value::StringValue(" ".into())),
        ];
        let attrs = Attrs(&list);
        assert_eq!(attrs.text("s", 64).as_deref(), Some("Bash"));
        assert_eq!(attrs.text("long", 64).unwrap().len(), 64);
        assert_eq!(attrs.text("empty", 64), None);
        assert_eq!(attrs.count("n"), Some(42));
        assert_eq!(attrs.count("neg"), None, "no negative counts");
        assert_eq!(attrs.amount("cost"), Some(0.0123));
        assert_eq!(attrs.flag("ok"), Some(true));
        assert_eq!(attrs.text("missing", 64), None);
    }
}
