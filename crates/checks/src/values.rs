//! Values files: loading, helm's merge, and finding which file set a key, so
//! every values error can name the file and the key.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum ValuesError {
    #[error("values file `{}` cannot be read", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("values file `{}` is not valid YAML: {message}", path.display())]
    NotYaml { path: PathBuf, message: String },
    #[error("values file `{}` must be a map at the top level", path.display())]
    NotAMap { path: PathBuf },
}

/// The values files of one profile, lowest precedence first (the chart's
/// `values.yaml`, then each `-f` file in order), as helm applies them.
#[derive(Debug, Clone)]
pub struct ValuesSet {
    pub files: Vec<(PathBuf, Value)>,
}

impl ValuesSet {
    pub fn load(paths: &[PathBuf]) -> Result<ValuesSet, ValuesError> {
        let files = paths
            .iter()
            .map(|p| {
                let text =
                    std::fs::read_to_string(p).map_err(|source| ValuesError::Unreadable {
                        path: p.clone(),
                        source,
                    })?;
                // helm reads values with YAML 1.1 scalars, as the API server reads manifests.
                let v: Value = crate::yaml::from_str(&text).map_err(|e| ValuesError::NotYaml {
                    path: p.clone(),
                    message: e.to_string(),
                })?;
                match v {
                    Value::Null => Ok((p.clone(), Value::Object(Map::new()))),
                    Value::Object(_) => Ok((p.clone(), v)),
                    _ => Err(ValuesError::NotAMap { path: p.clone() }),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(ValuesSet { files })
    }

    /// Helm's coalescing: maps merge key by key, a later scalar or list
    /// replaces, and `null` deletes the key.
    pub fn merged(&self) -> Value {
        let mut out = Value::Object(Map::new());
        for (_, v) in &self.files {
            merge(&mut out, v);
        }
        out
    }

    /// The file with the highest precedence that sets `path` (or the nearest
    /// ancestor of it): the file a person should open to fix that key.
    pub fn origin(&self, path: &[String]) -> Option<&Path> {
        for depth in (0..=path.len()).rev() {
            let prefix = &path[..depth];
            if let Some((p, _)) = self
                .files
                .iter()
                .rev()
                .find(|(_, v)| lookup(v, prefix).is_some())
            {
                return Some(p);
            }
        }
        None
    }
}

fn merge(dst: &mut Value, src: &Value) {
    match (dst, src) {
        (Value::Object(d), Value::Object(s)) => {
            for (k, v) in s {
                if v.is_null() {
                    d.remove(k);
                } else if let Some(existing) =
                    d.get_mut(k).filter(|e| e.is_object() && v.is_object())
                {
                    merge(existing, v);
                } else {
                    d.insert(k.clone(), v.clone());
                }
            }
        }
        (d, s) => *d = s.clone(),
    }
}

fn lookup<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, seg| match cur {
        Value::Object(m) => m.get(seg),
        Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// A value that looks like a credential written in plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaintextSecret {
    /// Dotted key, e.g. `postgresql.auth.password`.
    pub key: String,
}

const SECRET_WORDS: [&str; 8] = [
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "accesskey",
    "privatekey",
];

/// Keys that name a secret or a key inside one rather than holding a credential.
fn is_reference_key(k: &str) -> bool {
    k.contains("existing")
        || k.ends_with("name")
        || k.ends_with("ref")
        || k.ends_with("passwordkey")
        || k.ends_with("tokenkey")
        || k.ends_with("secretkeyname")
        || k.ends_with("keys")
        || k.ends_with("enabled")
        || k.ends_with("create")
}

fn looks_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| k.contains(w)) && !is_reference_key(&k)
}

/// Walks one values file for credentials in plain text: secret-like keys
/// holding a non-empty string, and `env` entries `{name: *_PASSWORD, value: ..}`.
pub fn plaintext_secrets(v: &Value) -> Vec<PlaintextSecret> {
    let mut out = Vec::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

fn walk(v: &Value, path: &mut Vec<String>, out: &mut Vec<PlaintextSecret>) {
    match v {
        Value::Object(m) => {
            if let (Some(Value::String(name)), Some(Value::String(val))) =
                (m.get("name"), m.get("value"))
            {
                if looks_secret(name) && !val.is_empty() {
                    out.push(PlaintextSecret {
                        key: format!("{}.value ({name})", path.join(".")),
                    });
                }
            }
            for (k, child) in m {
                path.push(k.clone());
                match child {
                    Value::String(s) if looks_secret(k) && !s.trim().is_empty() => {
                        out.push(PlaintextSecret {
                            key: path.join("."),
                        })
                    }
                    _ => walk(child, path, out),
                }
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                path.push(i.to_string());
                walk(child, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(files: Vec<(&str, Value)>) -> ValuesSet {
        ValuesSet {
            files: files
                .into_iter()
                .map(|(p, v)| (PathBuf::from(p), v))
                .collect(),
        }
    }

    #[test]
    fn later_files_win_and_null_deletes() {
        let s = set(vec![
            ("values.yaml", json!({"a": {"x": 1, "y": 2}, "b": [1, 2]})),
            (
                "values-prod.yaml",
                json!({"a": {"y": 3, "x": null}, "b": [9]}),
            ),
        ]);
        assert_eq!(s.merged(), json!({"a": {"y": 3}, "b": [9]}));
    }

    #[test]
    fn origin_names_the_file_that_set_the_key() {
        let s = set(vec![
            (
                "values.yaml",
                json!({"server": {"replicas": 1, "port": 80}}),
            ),
            ("values-prod.yaml", json!({"server": {"replicas": "two"}})),
        ]);
        let path = |p: &str| p.split('.').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            s.origin(&path("server.replicas")),
            Some(Path::new("values-prod.yaml"))
        );
        assert_eq!(
            s.origin(&path("server.port")),
            Some(Path::new("values.yaml"))
        );
        assert_eq!(
            s.origin(&path("other")),
            Some(Path::new("values-prod.yaml"))
        );
    }

    #[test]
    fn credentials_in_plain_text_are_found_but_references_are_not() {
        let v = json!({
            "postgresql": {"auth": {"password": "hunter2", "existingSecret": "pg", "existingSecretPasswordKey": "password"}},
            "minio": {"secretKey": "abc", "accessKey": ""},
            "env": [{"name": "API_TOKEN", "value": "t0k"}, {"name": "LOG_LEVEL", "value": "info"}],
            "automountServiceAccountToken": false
        });
        let keys: Vec<_> = plaintext_secrets(&v).into_iter().map(|s| s.key).collect();
        assert_eq!(
            keys,
            [
                "env.0.value (API_TOKEN)",
                "minio.secretKey",
                "postgresql.auth.password"
            ]
        );
    }
}
