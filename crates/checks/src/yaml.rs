//! YAML read the way Kubernetes and helm read it: YAML 1.1 scalars.
//!
//! helm installs, `kubectl apply` and helm's own values loading all go
//! through `sigs.k8s.io/yaml`, which parses with its fork of go-yaml v2 (YAML
//! 1.1) and converts to JSON without looking at the target type. So an
//! unquoted `defaultMode: 0755` reaches the API server as the integer 493,
//! `enabled: yes` as `true`, `1_000` as 1000. serde_yaml follows YAML 1.2
//! (and reads `0755` as a string), so judging rendered output with it
//! reported valid charts as broken.
//!
//! No Rust crate implements go-yaml v2's resolution rules (YAML 1.1 parsers
//! in Rust resolve by the 1.1 spec's regexps, which go-yaml does not follow:
//! it has no sexagesimal numbers and parses ints with Go's `ParseInt(s, 0)`),
//! so the rules of `resolve.go` are written out here over the events of
//! `yaml-rust2`, a maintained parser that tells a plain scalar from a quoted
//! one. Only plain scalars are resolved; quoted and block scalars are strings.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A document that is not YAML, with where (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at line {line} column {column}")]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Every document of a stream (`---` separated), empty documents as `null`.
pub fn documents(text: &str) -> Result<Vec<Value>, YamlError> {
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut b, true).map_err(|e| YamlError {
        line: e.marker().line(),
        column: e.marker().col() + 1,
        message: e.info().to_string(),
    })?;
    if let Some(e) = b.error {
        return Err(e);
    }
    Ok(b.docs)
}

/// One document (the first of the stream; `null` when there is none).
pub fn from_str(text: &str) -> Result<Value, YamlError> {
    Ok(documents(text)?.into_iter().next().unwrap_or(Value::Null))
}

enum Frame {
    Seq(usize, Vec<Value>),
    /// Anchor id, entries so far, and a key waiting for its value.
    Map(usize, Map<String, Value>, Option<String>),
}

#[derive(Default)]
struct Builder {
    docs: Vec<Value>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Value>,
    error: Option<YamlError>,
}

impl Builder {
    fn fail(&mut self, mark: Marker, message: String) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                line: mark.line(),
                column: mark.col() + 1,
                message,
            });
        }
    }

    /// A finished node: into its parent, or a document of its own.
    fn push(&mut self, v: Value, mark: Marker) {
        match self.stack.last_mut() {
            None => self.docs.push(v),
            Some(Frame::Seq(_, items)) => items.push(v),
            Some(Frame::Map(_, m, key)) => match key.take() {
                None => match key_string(&v) {
                    Some(k) => *key = Some(k),
                    None => self.fail(mark, "a mapping or sequence as a mapping key".into()),
                },
                Some(k) if k == "<<" => merge_into(m, v),
                Some(k) => {
                    // go-yaml v2 into interface{}: a repeated key keeps the last value.
                    m.insert(k, v);
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let v = scalar(&text, style, tag.as_ref());
                if anchor > 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                self.push(v, mark);
            }
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(v) => self.push(v, mark),
                None => self.fail(mark, "an alias to an unknown anchor".into()),
            },
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq(anchor, Vec::new())),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map(anchor, Map::new(), None)),
            Event::SequenceEnd | Event::MappingEnd => {
                let (anchor, v) = match self.stack.pop() {
                    Some(Frame::Seq(a, items)) => (a, Value::Array(items)),
                    Some(Frame::Map(a, m, _)) => (a, Value::Object(m)),
                    None => return,
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                self.push(v, mark);
            }
            Event::DocumentEnd => {
                // An empty document (`---` then nothing) produced no node.
                let _ = &self.stack;
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart => {}
        }
    }
}

/// `<<: *base` (or a list of them): keys the mapping does not set yet.
fn merge_into(m: &mut Map<String, Value>, v: Value) {
    let sources = match v {
        Value::Array(items) => items,
        other => vec![other],
    };
    for s in sources {
        if let Value::Object(src) = s {
            for (k, v) in src {
                m.entry(k).or_insert(v);
            }
        }
    }
}

/// How sigs.k8s.io/yaml turns a non-string key into a JSON object key.
fn key_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => Some("null".into()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// A scalar as go-yaml v2 resolves it: quoted, block and `!!str`-tagged
/// scalars are strings; plain ones may be null, bool, int or float.
fn scalar(text: &str, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    if let Some(t) = tag {
        if t.handle == "!!" || t.handle == "tag:yaml.org,2002:" {
            match t.suffix.as_str() {
                "str" | "binary" | "timestamp" => return Value::String(text.into()),
                "null" => return Value::Null,
                "bool" | "int" | "float" => return resolve_plain(text),
                _ => {}
            }
        } else if t.handle == "!" && t.suffix.is_empty() {
            return Value::String(text.into());
        }
    }
    match style {
        TScalarStyle::Plain => resolve_plain(text),
        _ => Value::String(text.into()),
    }
}

/// go-yaml v2 `resolve()` for a plain scalar.
pub fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            return Value::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            return Value::Bool(false)
        }
        _ => {}
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        return Value::String(text.into());
    }
    // `.inf` and `.nan` are floats to go-yaml, but JSON has no such numbers
    // (sigs.k8s.io/yaml fails on them): left as text, the API rejects them.
    let plain = text.replace('_', "");
    if let Some(n) = go_parse_int(&plain) {
        return Value::Number(n);
    }
    if is_yaml_style_float(&plain) {
        if let Ok(f) = plain.parse::<f64>() {
            // encoding/json writes an integral float64 without a fraction,
            // so the API server reads `08` (not octal, so a float) as 8.
            if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
                return Value::Number(Number::from(f as i64));
            }
            if let Some(n) = Number::from_f64(f) {
                return Value::Number(n);
            }
        }
    }
    Value::String(text.into())
}

/// Go's `strconv.ParseInt(s, 0, 64)` then `ParseUint(s, 0, 64)`: a sign,
/// then `0x`/`0o`/`0b` or a leading `0` for octal, else decimal.
fn go_parse_int(s: &str) -> Option<Number> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if neg {
        if magnitude <= i64::MAX as u64 + 1 {
            return Some(Number::from((magnitude as i128).wrapping_neg() as i64));
        }
        return None;
    }
    Some(Number::from(magnitude))
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$` (go-yaml's yamlStyleFloat).
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && matches!(b[i], b'+' | b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && matches!(b[i], b'e' | b'E') {
        i += 1;
        if i < b.len() && matches!(b[i], b'+' | b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    #[rstest]
    #[case("defaultMode: 0755", json!(493))]
    #[case("defaultMode: '0755'", json!("0755"))]
    #[case("defaultMode: \"0755\"", json!("0755"))]
    #[case("defaultMode: 420", json!(420))]
    #[case("defaultMode: 0o755", json!(493))]
    #[case("defaultMode: 0x1ED", json!(493))]
    #[case("defaultMode: 08", json!(8))]
    #[case("defaultMode: 1_000", json!(1000))]
    #[case("defaultMode: -12", json!(-12))]
    #[case("defaultMode: 0.5", json!(0.5))]
    #[case("defaultMode: 1e3", json!(1000))]
    #[case("defaultMode: yes", json!(true))]
    #[case("defaultMode: Off", json!(false))]
    #[case("defaultMode: ~", json!(null))]
    #[case("defaultMode:", json!(null))]
    #[case("defaultMode: !!str 0755", json!("0755"))]
    #[case("defaultMode: 1.2.3", json!("1.2.3"))]
    #[case("defaultMode: 2024-01-01", json!("2024-01-01"))]
    #[case("defaultMode: 100m", json!("100m"))]
    #[case("defaultMode: .inf", json!(".inf"))]
    #[case("defaultMode: |\n  0755\n", json!("0755\n"))]
    fn scalars_resolve_as_go_yaml_v2_does(#[case] yaml: &str, #[case] want: Value) {
        assert_eq!(from_str(yaml).unwrap()["defaultMode"], want, "{yaml}");
    }

    #[test]
    fn keys_anchors_and_merges() {
        let v = from_str("base: &b {a: 1, on: 2}\nx:\n  <<: *b\n  a: 3\nl: [*b]\n").unwrap();
        assert_eq!(v["x"], json!({"a": 3, "true": 2}));
        assert_eq!(v["l"][0]["a"], json!(1));
    }

    #[test]
    fn streams_and_errors() {
        let docs = documents("a: 1\n---\nb: [1, 2]\n").unwrap();
        assert_eq!(docs, vec![json!({"a": 1}), json!({"b": [1, 2]})]);
        let e = from_str("a: 1\nb: [\n").unwrap_err();
        assert!(e.line >= 2, "{e}");
    }
}
