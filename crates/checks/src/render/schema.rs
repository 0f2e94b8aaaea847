//! A profile's values against the chart's `values.schema.json`, reported
//! per key and per file: helm would stop at the first error with a message
//! about the merged values; this names the file a person has to edit.

use std::path::Path;

use serde_json::Value;

use crate::render::openapi::dotted;
use crate::values::ValuesSet;
use crate::verdict::{Finding, Verdict};

/// Validates the merged values of a profile. A chart with no schema is
/// skipped with that reason: helm makes the schema optional (the five
/// charts' own conventions require one, and their `helm lint` says so).
pub fn check(chart_dir: &Path, values: &ValuesSet) -> Verdict {
    let schema_path = chart_dir.join("values.schema.json");
    let subject = format!("{}", schema_path.display());
    let expected = "the profile's values validate against values.schema.json";
    let schema: Value = match std::fs::read_to_string(&schema_path) {
        Err(_) => return Verdict::skip(
            subject,
            "the chart has no values.schema.json (optional in helm; with one, a typo'd key fails here)",
        ),
        Ok(text) => match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                return Verdict::fail(
                    subject,
                    expected,
                    format!("values.schema.json is not valid JSON: {e}"),
                )
            }
        },
    };
    let validator = match jsonschema::options()
        .should_validate_formats(false)
        .build(&schema)
    {
        Ok(v) => v,
        Err(e) => {
            return Verdict::fail(
                subject,
                expected,
                format!("values.schema.json is not a valid schema: {e}"),
            )
        }
    };
    let merged = values.merged();
    let findings: Vec<Finding> = validator
        .iter_errors(&merged)
        .map(|e| {
            let pointer = e.instance_path().to_string();
            let mut path: Vec<String> = pointer
                .split('/')
                .skip(1)
                .map(|s| s.replace("~1", "/").replace("~0", "~"))
                .collect();
            let message = e.to_string();
            let (problem, fix) = match super::unexpected_key(&message) {
                Some(key) => {
                    path.push(key.clone());
                    (
                        format!("unknown key `{key}`"),
                        "remove it or fix its spelling; the schema lists every key the chart reads"
                            .to_string(),
                    )
                }
                None => (
                    message,
                    "set a value of the type and range the schema allows".to_string(),
                ),
            };
            let file = values
                .origin(&path)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "values".into());
            let key = dotted(&format!("/{}", path.join("/")));
            Finding {
                object: format!("`{file}`"),
                field: if key.is_empty() { "<root>".into() } else { key },
                problem,
                fix,
            }
        })
        .collect();
    Verdict::from_findings(subject, expected, findings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn chart(schema: &str, files: &[(&str, &str)]) -> (tempfile::TempDir, Verdict) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("values.schema.json"), schema).unwrap();
        let mut paths: Vec<PathBuf> = Vec::new();
        for (name, body) in files {
            let p = dir.path().join(name);
            std::fs::write(&p, body).unwrap();
            paths.push(p);
        }
        let v = check(dir.path(), &ValuesSet::load(&paths).unwrap());
        (dir, v)
    }

    const SCHEMA: &str = r#"{"type":"object","additionalProperties":false,"properties":{"server":{"type":"object","additionalProperties":false,"properties":{"replicas":{"type":"integer","minimum":1}}}}}"#;

    #[test]
    fn an_unknown_key_names_the_profile_file_and_the_key() {
        let (_d, v) = chart(
            SCHEMA,
            &[
                ("values.yaml", "server: {replicas: 1}\n"),
                ("values-prod.yaml", "server: {replica: 3}\n"),
            ],
        );
        assert!(v.failed());
        let f = v.findings().next().unwrap();
        assert!(f.object.contains("values-prod.yaml"), "{f:?}");
        assert_eq!(f.field, "server.replica");
        assert_eq!(f.problem, "unknown key `replica`");
    }

    #[test]
    fn a_wrong_type_names_the_file_that_set_it() {
        let (_d, v) = chart(
            SCHEMA,
            &[
                ("values.yaml", "server: {replicas: 1}\n"),
                ("values-prod.yaml", "server: {replicas: two}\n"),
            ],
        );
        let f = v.findings().next().unwrap();
        assert!(
            f.object.contains("values-prod.yaml") && f.field == "server.replicas",
            "{f:?}"
        );
    }

    #[test]
    fn valid_values_pass() {
        let (_d, v) = chart(SCHEMA, &[("values.yaml", "server: {replicas: 2}\n")]);
        assert!(!v.failed(), "{v}");
    }
}
