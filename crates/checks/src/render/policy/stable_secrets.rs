//! A production profile renders no secret material of its own. Two renders
//! of the same chart and values must give the same Secrets: a Secret whose
//! data differs was generated at render time (`randAlphaNum`, `genCA`, or a
//! `lookup` that finds nothing under `helm template`), so under Argo CD or
//! Flux, which render without the cluster, it drifts from the password the
//! database was initialised with on every sync. And where the values name
//! an `existingSecret`, the chart must not render a Secret of that name: it
//! would overwrite (or fight over) the one created out of band.

use std::collections::BTreeSet;

use serde_json::Value;

use super::PolicyCx;
use crate::verdict::{Finding, Verdict};
use crate::{Manifests, Object};

/// The keys of a Secret whose `data` or `stringData` differ between two renders.
fn changed_keys(a: &Object, b: Option<&Object>) -> Vec<String> {
    let mut out = BTreeSet::new();
    for field in ["data", "stringData"] {
        let empty = serde_json::Map::new();
        let left = a
            .doc
            .get(field)
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let right = b
            .and_then(|b| b.doc.get(field))
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for k in left.keys().chain(right.keys()) {
            if left.get(k) != right.get(k) {
                out.insert(format!("{field}.{k}"));
            }
        }
    }
    out.into_iter().collect()
}

/// Every non-empty `existingSecret`-like value (`existingSecret`,
/// `auth.existingSecret`, `existingSecretName`) in the merged values, with its dotted key.
fn expected_secrets(v: &Value, path: &mut Vec<String>, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                path.push(k.clone());
                let key = k.to_ascii_lowercase();
                match child {
                    Value::String(s)
                        if (key == "existingsecret" || key == "existingsecretname")
                            && !s.trim().is_empty() =>
                    {
                        out.push((path.join("."), s.clone()));
                    }
                    _ => expected_secrets(child, path, out),
                }
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                path.push(i.to_string());
                expected_secrets(child, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn judge(secret: &Object, again: Option<&Manifests>, expected: &[(String, String)]) -> Verdict {
    let mut findings = Vec::new();
    if let Some(again) = again {
        let keys = changed_keys(secret, again.get("Secret", &secret.name));
        if !keys.is_empty() {
            findings.push(Finding {
                object: secret.id().to_string(),
                field: keys.join(", "),
                problem: "differs between two renders of the same values: generated at render time \
                          (randAlphaNum or a lookup that finds nothing under `helm template`), so GitOps \
                          tools and every `helm template` produce a new password"
                    .into(),
                fix: "in prod, require an existing Secret (`existingSecret`, `fail` with a clear message when it is missing) \
                      and render no generated credentials"
                    .into(),
            });
        }
    }
    for (key, name) in expected.iter().filter(|(_, n)| *n == secret.name) {
        findings.push(Finding {
            object: secret.id().to_string(),
            field: "metadata.name".into(),
            problem: format!("the values expect this Secret to exist already (`{key}: {name}`), yet the chart renders it"),
            fix: format!("render no Secret when `{key}` is set; the one created out of band is used as it is"),
        });
    }
    Verdict::from_findings(
        secret.id().to_string(),
        "prod renders no generated secret material and no Secret the values expect to exist",
        findings,
    )
}

pub fn check(cx: &PolicyCx<'_>) -> Vec<(String, Verdict)> {
    if !cx.prod {
        return Vec::new();
    }
    let mut expected = Vec::new();
    expected_secrets(&cx.values.merged(), &mut Vec::new(), &mut expected);
    cx.manifests
        .of_kind("Secret")
        .map(|s| (s.id().slug(), judge(s, cx.rerender, &expected)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::ValuesSet;
    use std::path::PathBuf;

    fn secret(password: &str) -> String {
        format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: app-db}}\ndata: {{password: {password}, user: YXBw}}\n")
    }

    fn run(first: &str, second: &str, values: Value) -> Vec<(String, Verdict)> {
        let (a, b) = (
            Manifests::parse(first).unwrap(),
            Manifests::parse(second).unwrap(),
        );
        let values = ValuesSet {
            files: vec![(PathBuf::from("values-prod.yaml"), values)],
        };
        check(&PolicyCx {
            manifests: &a,
            values: &values,
            prod: true,
            rerender: Some(&b),
            schema: None,
            declared: &Default::default(),
        })
    }

    #[test]
    fn a_password_that_changes_between_renders_fails_with_the_key() {
        let v = run(&secret("Zm9v"), &secret("YmFy"), serde_json::json!({}));
        assert_eq!(v[0].0, "secret/app-db");
        let text = v[0].1.to_string();
        assert!(v[0].1.failed(), "{text}");
        assert!(
            text.contains("`data.password`: differs between two renders"),
            "{text}"
        );
        assert!(!text.contains("data.user"), "{text}");
    }

    #[test]
    fn a_stable_secret_passes() {
        let v = run(&secret("Zm9v"), &secret("Zm9v"), serde_json::json!({}));
        assert!(!v[0].1.failed(), "{}", v[0].1);
    }

    #[test]
    fn a_secret_rendered_under_the_existing_secrets_name_fails() {
        let v = run(
            &secret("Zm9v"),
            &secret("Zm9v"),
            serde_json::json!({"db": {"auth": {"existingSecret": "app-db"}}}),
        );
        let text = v[0].1.to_string();
        assert!(text.contains("`db.auth.existingSecret: app-db`"), "{text}");
    }
}
