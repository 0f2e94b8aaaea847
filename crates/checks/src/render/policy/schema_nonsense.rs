//! A values schema refuses nonsense for keys whose name says what they
//! hold. For each such key the profile sets, nonsense of the kind the name
//! promises is put in its place and the merged values validated against
//! `values.schema.json`; the schema fails when it accepts one (helm would
//! render it, and the cluster would refuse it later, or worse, take it).
//!
//! | key (last segment, any case) | present as | nonsense tried |
//! | --- | --- | --- |
//! | `schedule`, `*Schedule`, `cron`, `*Cron` | string | `"not a cron"` |
//! | `replicas`, `replicaCount`, `*Replicas` | integer | `-1`, `"two"` |
//! | `memory` | string or number | `"lots"`, `"512K"` (not a Kubernetes quantity) |
//! | `*Memory` | string | `"lots"` |
//! | `cpu` | string or number | `"fast"` |
//! | `host`, `hostname`, `*Host`, `*Hostname` | string | `"not a host"` |
//! | `storageClass`, `storageClassName`, `*StorageClass` | string | `"Bad Class!"` |
//! | `port`, `*Port` (not `export`, `report`, ...) | integer | `0`, `70000` |
//! | `*timeout*`, `*duration*` | string or integer | `"forever"` |
//!
//! Only keys the profile sets are tried, with the type they have there, so
//! a key left null and a string-valued port name are not judged.

use std::path::Path;

use serde_json::Value;

use super::PolicyCx;
use crate::verdict::{Finding, Verdict};

/// The nonsense a key's name and value type call for, with what the key holds.
fn nonsense(key: &str, value: &Value) -> Option<(&'static str, Vec<Value>)> {
    let k = key.to_ascii_lowercase();
    let s = value.is_string();
    let int = value.is_i64() || value.is_u64();
    let num = value.is_number();
    if s && (k.ends_with("schedule") || k == "cron" || k.ends_with("cron")) {
        return Some(("a cron schedule", vec!["not a cron".into()]));
    }
    if int && (k == "replicas" || k == "replicacount" || k.ends_with("replicas")) {
        return Some(("a replica count", vec![(-1).into(), "two".into()]));
    }
    if k == "memory" && (s || num) {
        return Some(("a memory quantity", vec!["lots".into(), "512K".into()]));
    }
    if s && k.ends_with("memory") {
        return Some(("a memory size", vec!["lots".into()]));
    }
    if k == "cpu" && (s || num) {
        return Some(("a cpu quantity", vec!["fast".into()]));
    }
    if s && (k.ends_with("host") || k.ends_with("hostname")) && k != "ghost" {
        return Some(("a host name", vec!["not a host".into()]));
    }
    if s && (k == "storageclassname" || k.ends_with("storageclass")) {
        return Some(("a storage class name", vec!["Bad Class!".into()]));
    }
    const NOT_PORTS: [&str; 7] = [
        "export",
        "report",
        "support",
        "transport",
        "import",
        "passport",
        "viewport",
    ];
    if int && k.ends_with("port") && !NOT_PORTS.iter().any(|w| k.ends_with(w)) {
        return Some(("a port number", vec![0.into(), 70000.into()]));
    }
    if (s || int) && (k.contains("timeout") || k.contains("duration")) {
        return Some(("a duration", vec!["forever".into()]));
    }
    None
}

/// Every scalar leaf of a map in the merged values: its JSON pointer,
/// dotted key and value.
fn leaves<'v>(
    v: &'v Value,
    pointer: &str,
    dotted: &str,
    out: &mut Vec<(String, String, &'v Value)>,
) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
                let d = if dotted.is_empty() {
                    k.clone()
                } else {
                    format!("{dotted}.{k}")
                };
                if child.is_object() || child.is_array() {
                    leaves(child, &p, &d, out);
                } else {
                    out.push((p, d, child));
                }
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                leaves(
                    child,
                    &format!("{pointer}/{i}"),
                    &format!("{dotted}[{i}]"),
                    out,
                );
            }
        }
        _ => {}
    }
}

/// The schema helm applies to a chart's values: its own
/// `values.schema.json`, and each directory subchart's under that
/// subchart's key (its alias, else its name), as helm validates the
/// subchart's values with the subchart's schema. `None` when the chart
/// has no schema that parses.
pub fn chart_schema(chart_dir: &Path) -> Option<Value> {
    let read = |dir: &Path| -> Option<Value> {
        serde_json::from_str(&std::fs::read_to_string(dir.join("values.schema.json")).ok()?).ok()
    };
    let own = read(chart_dir)?;
    let meta: Value = std::fs::read_to_string(chart_dir.join("Chart.yaml"))
        .ok()
        .and_then(|t| serde_yaml::from_str(&t).ok())
        .unwrap_or_default();
    let mut parts = vec![own];
    for dep in meta
        .get("dependencies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(name) = dep.get("name").and_then(Value::as_str) else {
            continue;
        };
        let key = dep.get("alias").and_then(Value::as_str).unwrap_or(name);
        if let Some(sub) = read(&chart_dir.join("charts").join(name)) {
            parts.push(serde_json::json!({"properties": {key: sub}}));
        }
    }
    Some(if parts.len() == 1 {
        parts.remove(0)
    } else {
        serde_json::json!({"allOf": parts})
    })
}

pub fn check(cx: &PolicyCx<'_>) -> Vec<(String, Verdict)> {
    let Some(schema) = cx.schema else {
        // No schema is the `render/schema/values` trial's failure, not this one's.
        return Vec::new();
    };
    let subject = "values.schema.json";
    let expected = "the schema refuses nonsense for every key whose name says what it holds";
    // Helm asserts `format` only for draft-07 and older schemas (its
    // validator's default); judge the schema as helm will apply it.
    let formats = schema
        .get("$schema")
        .or_else(|| schema.pointer("/allOf/0/$schema"))
        .and_then(Value::as_str)
        .is_some_and(|s| {
            ["draft-07", "draft-06", "draft-04", "draft-03"]
                .iter()
                .any(|d| s.contains(d))
        });
    let validator = match jsonschema::options()
        .should_validate_formats(formats)
        .build(schema)
    {
        Ok(v) => v,
        Err(e) => {
            return vec![(
                "values".into(),
                Verdict::fail(
                    subject,
                    expected,
                    format!("values.schema.json is not a valid schema: {e}"),
                ),
            )]
        }
    };
    let merged = cx.values.merged();
    let mut found = Vec::new();
    leaves(&merged, "", "", &mut found);
    let mut findings = Vec::new();
    for (pointer, dotted, value) in found {
        let key = dotted.rsplit(['.', ']']).next().unwrap_or(&dotted);
        let Some((holds, tries)) = nonsense(key, value) else {
            continue;
        };
        let accepted: Vec<String> = tries
            .into_iter()
            .filter(|bad| {
                let mut probe = merged.clone();
                match probe.pointer_mut(&pointer) {
                    Some(slot) => *slot = bad.clone(),
                    None => return false,
                }
                validator.is_valid(&probe)
            })
            .map(|bad| bad.to_string())
            .collect();
        if accepted.is_empty() {
            continue;
        }
        let path: Vec<String> = pointer
            .split('/')
            .skip(1)
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect();
        let file = cx
            .values
            .origin(&path)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "values".into());
        findings.push(Finding {
            object: format!("`{file}`"),
            field: dotted.clone(),
            problem: format!("holds {holds}, yet the schema accepts {}", accepted.join(" and ")),
            fix: format!(
                "constrain `{dotted}` in values.schema.json ({})",
                match holds {
                    "a cron schedule" => "a `pattern` for five cron fields",
                    "a replica count" => "`type: integer`, `minimum: 1`",
                    "a memory quantity" | "a cpu quantity" => "a `pattern` for Kubernetes quantities, e.g. ^[0-9]+(\\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$",
                    "a host name" => "`format: hostname` or a DNS-name `pattern`",
                    "a storage class name" => "a DNS-subdomain `pattern`, e.g. ^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
                    "a port number" => "`type: integer`, `minimum: 1`, `maximum: 65535`",
                    _ => "a `pattern` such as ^[0-9]+(ms|s|m|h)$, or `type: integer` with a `minimum`",
                }
            ),
        });
    }
    vec![(
        "values".into(),
        Verdict::from_findings(subject, expected, findings),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::ValuesSet;
    use crate::Manifests;
    use rstest::rstest;
    use std::path::PathBuf;

    fn judge(schema: Value, values: Value) -> Verdict {
        let m = Manifests::default();
        let values = ValuesSet {
            files: vec![(PathBuf::from("values-prod.yaml"), values)],
        };
        let mut v = check(&PolicyCx {
            manifests: &m,
            values: &values,
            prod: true,
            rerender: None,
            schema: Some(&schema),
            declared: &Default::default(),
        });
        v.remove(0).1
    }

    #[test]
    fn a_schedule_the_schema_leaves_free_names_the_key_and_the_value() {
        let v = judge(
            serde_json::json!({"type": "object", "properties": {"backup": {"type": "object", "properties": {"schedule": {"type": "string"}}}}}),
            serde_json::json!({"backup": {"schedule": "0 3 * * *"}}),
        );
        assert!(v.failed());
        let f = v.findings().next().unwrap();
        assert_eq!(f.field, "backup.schedule");
        assert!(f.object.contains("values-prod.yaml"), "{f:?}");
        assert!(
            f.problem
                .contains("holds a cron schedule, yet the schema accepts \"not a cron\""),
            "{f:?}"
        );
    }

    #[rstest]
    #[case("replicas", serde_json::json!(2), serde_json::json!({"type": "integer", "minimum": 1}))]
    #[case("port", serde_json::json!(8080), serde_json::json!({"type": "integer", "minimum": 1, "maximum": 65535}))]
    #[case("memory", serde_json::json!("256Mi"), serde_json::json!({"type": "string", "pattern": "^[0-9]+(Ki|Mi|Gi)$"}))]
    #[case("host", serde_json::json!("db.example.com"), serde_json::json!({"type": "string", "pattern": "^[a-z0-9.-]+$"}))]
    #[case("storageClass", serde_json::json!("fast-ssd"), serde_json::json!({"type": "string", "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"}))]
    #[case("waitTimeout", serde_json::json!("300s"), serde_json::json!({"type": "string", "pattern": "^[0-9]+(s|m|h)$"}))]
    #[case("schedule", serde_json::json!("0 3 * * *"), serde_json::json!({"type": "string", "pattern": "^(\\S+\\s+){4}\\S+$"}))]
    fn a_constrained_key_passes(#[case] key: &str, #[case] value: Value, #[case] rule: Value) {
        let v = judge(
            serde_json::json!({"type": "object", "properties": {key: rule}}),
            serde_json::json!({key: value}),
        );
        assert!(!v.failed(), "{v}");
    }

    #[rstest]
    #[case("replicaCount", serde_json::json!(1), "-1")]
    #[case("servicePort", serde_json::json!(80), "70000")]
    #[case("memory", serde_json::json!("256Mi"), "\"512K\"")]
    #[case("redisHost", serde_json::json!("cache"), "\"not a host\"")]
    fn a_loose_key_fails_naming_the_nonsense(
        #[case] key: &str,
        #[case] value: Value,
        #[case] shown: &str,
    ) {
        let loose = serde_json::json!({"type": "object", "properties": {key: {"type": ["string", "integer"]}}});
        let v = judge(loose, serde_json::json!({key: value}));
        assert!(v.to_string().contains(shown), "{v}");
    }

    #[test]
    fn a_format_counts_only_where_helm_asserts_it_draft_07() {
        let schema = |draft: &str| serde_json::json!({"$schema": draft, "type": "object", "properties": {"host": {"type": "string", "format": "hostname"}}});
        let values = serde_json::json!({"host": "db.example.com"});
        assert!(!judge(
            schema("http://json-schema.org/draft-07/schema#"),
            values.clone()
        )
        .failed());
        assert!(judge(
            schema("https://json-schema.org/draft/2020-12/schema"),
            values
        )
        .failed());
    }

    #[test]
    fn a_subcharts_own_schema_counts_for_its_keys() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join("Chart.yaml"),
            "name: umbrella\ndependencies: [{name: api, alias: rest}]\n",
        )
        .unwrap();
        std::fs::write(root.join("values.schema.json"), r#"{"type": "object"}"#).unwrap();
        std::fs::create_dir_all(root.join("charts/api")).unwrap();
        std::fs::write(
            root.join("charts/api/values.schema.json"),
            r#"{"properties": {"replicas": {"type": "integer", "minimum": 1}}}"#,
        )
        .unwrap();
        let schema = chart_schema(root).unwrap();
        assert!(!judge(schema.clone(), serde_json::json!({"rest": {"replicas": 2}})).failed());
        assert!(judge(schema, serde_json::json!({"other": {"replicas": 2}})).failed());
    }

    #[test]
    fn keys_that_only_sound_alike_are_not_tried() {
        for (k, v) in [
            ("schedulerName", serde_json::json!("default")),
            ("export", serde_json::json!(1)),
            ("probePort", serde_json::json!("http")),
            ("hostNetwork", serde_json::json!(false)),
        ] {
            assert!(nonsense(k, &v).is_none(), "{k}");
        }
    }
}
