//! Today's test overlay, cut to what an earlier revision of a chart reads.
//!
//! An upgrade may start from a revision older than the chart's overlay
//! template (health-platform's last version change predates the overlays).
//! Today's overlay then sets keys that revision's strict schema refuses
//! (`/tests: additional properties 'client'`), and the install fails before
//! anything is tested. A key the old schema refuses is a key the old
//! templates never read, so dropping it changes nothing that revision
//! renders: the overlay stays the overlay (local images, requests sized to
//! the node), minus what was not there yet. The dropped keys are named in the
//! upgrade's label, so the evidence says what was cut.

use std::path::Path;

use serde_json::{Map, Value};

/// `values` with every key dropped that the chart's schemas (its own
/// `values.schema.json` and, under a subchart's key, that subchart's) refuse
/// as an additional property; returns the kept values and the JSON pointers
/// of what was dropped, in order.
pub fn prune_to_schema(values: &Value, chart_dir: &Path) -> (Value, Vec<String>) {
    let mut dropped = Vec::new();
    let kept = prune_chart(values, chart_dir, "", &mut dropped);
    (kept, dropped)
}

fn read_schema(chart_dir: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(chart_dir.join("values.schema.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// One chart level: its schema for its own keys, and each directory
/// subchart's schema for the key it is mounted under.
fn prune_chart(values: &Value, chart_dir: &Path, at: &str, dropped: &mut Vec<String>) -> Value {
    let Value::Object(map) = values else {
        return values.clone();
    };
    let schema = read_schema(chart_dir);
    let mut out = Map::new();
    for (key, v) in map {
        let here = format!("{at}/{key}");
        let sub = chart_dir.join("charts").join(key);
        if sub.join("Chart.yaml").is_file() {
            // Helm validates a subchart's values against the subchart's own
            // schema; the parent's may not list the key at all.
            out.insert(key.clone(), prune_chart(v, &sub, &here, dropped));
            continue;
        }
        if key == "global" {
            out.insert(key.clone(), v.clone());
            continue;
        }
        match schema.as_ref() {
            Some(s) => match property(s, key) {
                Prop::Refused => dropped.push(here),
                Prop::Known(ps) => {
                    out.insert(key.clone(), prune_object(v, ps, &here, dropped));
                }
                Prop::Open => {
                    out.insert(key.clone(), v.clone());
                }
            },
            None => {
                out.insert(key.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

enum Prop<'a> {
    /// Listed under `properties`: its own schema applies below.
    Known(&'a Value),
    /// Not listed, and `additionalProperties: false`.
    Refused,
    /// Not listed, but additional properties are allowed (or the schema
    /// composes others: `$ref`, `allOf`, ... are not followed, so nothing
    /// below them is dropped).
    Open,
}

fn property<'a>(schema: &'a Value, key: &str) -> Prop<'a> {
    if let Some(p) = schema.get("properties").and_then(|p| p.get(key)) {
        return Prop::Known(p);
    }
    let composed = ["$ref", "allOf", "anyOf", "oneOf"]
        .iter()
        .any(|k| schema.get(k).is_some());
    if !composed && schema.get("additionalProperties") == Some(&Value::Bool(false)) {
        Prop::Refused
    } else {
        Prop::Open
    }
}

fn prune_object(values: &Value, schema: &Value, at: &str, dropped: &mut Vec<String>) -> Value {
    let Value::Object(map) = values else {
        return values.clone();
    };
    let mut out = Map::new();
    for (key, v) in map {
        let here = format!("{at}/{key}");
        match property(schema, key) {
            Prop::Refused => dropped.push(here),
            Prop::Known(ps) => {
                out.insert(key.clone(), prune_object(v, ps, &here, dropped));
            }
            Prop::Open => {
                out.insert(key.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chart(dir: &Path, schema: Value) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join("Chart.yaml"),
            "apiVersion: v2\nname: x\nversion: 0.1.0\n",
        )
        .unwrap();
        std::fs::write(dir.join("values.schema.json"), schema.to_string()).unwrap();
    }

    #[test]
    fn keys_an_older_strict_schema_refuses_are_dropped_and_named() {
        let tmp = tempfile::tempdir().unwrap();
        chart(
            tmp.path(),
            json!({
                "type": "object", "additionalProperties": false,
                "properties": {
                    "tests": {"type": "object", "additionalProperties": false,
                              "properties": {"image": {"type": "object"}}},
                    "server": {"type": "object"}
                }
            }),
        );
        let today = json!({
            "tests": {"client": "agent", "image": {"repository": "vitals/agent"}},
            "server": {"anything": 1},
            "waitForMigrations": {"client": "agent"}
        });
        let (kept, dropped) = prune_to_schema(&today, tmp.path());
        assert_eq!(
            kept,
            json!({"tests": {"image": {"repository": "vitals/agent"}}, "server": {"anything": 1}})
        );
        assert_eq!(dropped, ["/tests/client", "/waitForMigrations"]);
    }

    #[test]
    fn a_subcharts_keys_are_judged_by_the_subcharts_schema_and_global_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        chart(
            tmp.path(),
            json!({"type": "object", "additionalProperties": false, "properties": {}}),
        );
        chart(
            &tmp.path().join("charts/infrastructure"),
            json!({"type": "object", "additionalProperties": false,
                   "properties": {"redis": {"type": "object"}}}),
        );
        let today = json!({
            "global": {"requireExistingSecrets": false},
            "infrastructure": {"redis": {"x": 1}, "newThing": true}
        });
        let (kept, dropped) = prune_to_schema(&today, tmp.path());
        assert_eq!(
            kept,
            json!({"global": {"requireExistingSecrets": false}, "infrastructure": {"redis": {"x": 1}}})
        );
        assert_eq!(dropped, ["/infrastructure/newThing"]);
    }

    #[test]
    fn without_a_schema_or_behind_a_ref_nothing_is_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path()).unwrap();
        let today = json!({"a": {"b": 1}});
        assert_eq!(prune_to_schema(&today, tmp.path()), (today.clone(), vec![]));
        chart(
            tmp.path(),
            json!({"$ref": "#/definitions/x", "additionalProperties": false}),
        );
        assert_eq!(prune_to_schema(&today, tmp.path()), (today, vec![]));
    }
}
