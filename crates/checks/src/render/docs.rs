//! Values documentation, both ways (the contract Bitnami's
//! readme-generator enforces, checked without Node): every key of
//! `values.yaml` is covered by a `## @param` (or `## @skip`) comment, and
//! every `## @param` names a key that exists. A documented map covers its
//! subtree.

use std::path::Path;

use serde_json::Value;

use crate::verdict::{Finding, Verdict};

fn leaves(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(child, &p, out);
            }
        }
        _ => {
            if !prefix.is_empty() {
                out.push(prefix.to_string());
            }
        }
    }
}

fn exists(v: &Value, key: &str) -> bool {
    let mut cur = v;
    for seg in key.split('.') {
        // `@param image.pullSecrets[0]`-style or escaped keys are taken as written.
        let seg = seg.split('[').next().unwrap_or(seg);
        match cur.get(seg) {
            Some(next) => cur = next,
            None => return false,
        }
    }
    true
}

/// `## @param key ...` or `## @skip key` with any whitespace between the
/// parts, as readme-generator-for-helm reads them: `(tag, key)`.
fn tag(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim_start().strip_prefix("##")?;
    let mut parts = rest.split_whitespace();
    let tag = parts.next().filter(|t| *t == "@param" || *t == "@skip")?;
    Some((tag, parts.next()?))
}

fn covers(doc: &str, key: &str) -> bool {
    key == doc || key.starts_with(&format!("{doc}."))
}

/// Checks one values.yaml.
pub fn check(values_file: &Path) -> Verdict {
    let subject = values_file.display().to_string();
    let expected = "every values key has a `## @param` (or `## @skip`) comment and every `## @param` names a real key";
    let text = match std::fs::read_to_string(values_file) {
        Ok(t) => t,
        Err(e) => return Verdict::fail(subject, expected, format!("cannot be read: {e}")),
    };
    let mut params = Vec::new();
    let mut skips = Vec::new();
    let mut helm_docs = 0;
    for line in text.lines() {
        match tag(line) {
            Some(("@param", key)) => params.push(key.to_string()),
            Some(("@skip", key)) => skips.push(key.to_string()),
            _ => {}
        }
        if line.trim_start().starts_with("# --") {
            helm_docs += 1;
        }
    }
    if params.is_empty() && skips.is_empty() {
        // helm-docs documents a key by the `# --` comment above it and lists
        // the others with their defaults: it has no "undocumented" to check.
        let why = if helm_docs > 0 {
            format!("values.yaml is documented with helm-docs (`# --` comments on {helm_docs} keys), not the readme-generator's `## @param` contract")
        } else {
            "values.yaml uses no `## @param` comments (the readme-generator grammar)".to_string()
        };
        return Verdict::skip(subject, why);
    }
    let values: Value = match crate::yaml::from_str(&text) {
        Ok(v) => v,
        Err(e) => return Verdict::fail(subject, expected, format!("not valid YAML: {e}")),
    };
    let mut keys = Vec::new();
    leaves(&values, "", &mut keys);
    let mut findings = Vec::new();
    for k in &keys {
        if !params.iter().chain(skips.iter()).any(|d| covers(d, k)) {
            findings.push(Finding {
                object: format!("`{subject}`"),
                field: k.clone(),
                problem: "no `## @param` comment documents it".into(),
                fix: format!("add `## @param {k} <what it does>` above it (or `## @skip` for a free-form map)"),
            });
        }
    }
    for p in &params {
        if !exists(&values, p) {
            findings.push(Finding {
                object: format!("`{subject}`"),
                field: p.clone(),
                problem: "`## @param` documents a key that values.yaml does not have".into(),
                fix: "fix the key in the comment, or add the value".into(),
            });
        }
    }
    let mut v = Verdict::from_findings(subject, expected, findings);
    if !v.failed() {
        v.observed = format!(
            "{} keys, {} @param, {} @skip",
            keys.len(),
            params.len(),
            skips.len()
        );
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Verdict {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("values.yaml");
        std::fs::write(&p, text).unwrap();
        check(&p)
    }

    #[test]
    fn documented_values_pass_and_a_map_covers_its_subtree() {
        let v = run("## @param replicas Pods\nreplicas: 1\n## @param resources Requests and limits\nresources:\n  requests: {cpu: 1m}\n## @skip extra\nextra: {a: 1}\n");
        assert!(!v.failed(), "{v}");
    }

    #[test]
    fn any_whitespace_separates_the_parts_of_a_param() {
        let v = run("##  @param replicas  Pods\nreplicas: 1\n##\t@param port Port\nport: 80\n");
        assert!(!v.failed(), "{v}");
    }

    #[test]
    fn helm_docs_comments_are_documentation_of_another_kind() {
        let v = run("# -- Pods to run\nreplicas: 1\nport: 80\n");
        assert!(
            matches!(v.outcome, crate::Outcome::Skip(ref r) if r.contains("helm-docs")),
            "{v:?}"
        );
    }

    #[test]
    fn undocumented_keys_and_stale_params_are_named() {
        let v = run("## @param replicas Pods\nreplicas: 1\nport: 80\n## @param image.tag Tag\nimage: {repository: x}\n");
        let fields: Vec<_> = v.findings().map(|f| f.field.clone()).collect();
        assert_eq!(fields, ["image.repository", "port", "image.tag"], "{v}");
    }
}
