//! Strict validation of every rendered object against the OpenAPI of the
//! pinned Kubernetes version, offline: unknown fields and wrong types fail,
//! as `kubectl apply --validate=strict` would, but with no cluster.
//!
//! The definitions ship in `openapi/<version>.json` (made by
//! `scripts/openapi.sh` from the `k8s.io/kubernetes` Go module). Two types
//! that are strings in the spec accept numbers on the wire (IntOrString,
//! Quantity), and objects reject unknown keys; both are patched in here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use jsonschema::Validator;
use serde_json::{json, Map, Value};

use crate::verdict::{Finding, Verdict};
use crate::Object;

/// The Kubernetes version whose API the render tier validates against.
pub const PINNED_VERSION: &str = "v1.34.4";
const PINNED_SPEC: &str = include_str!("../../openapi/v1.34.4.json");

pub struct OpenApi {
    version: String,
    root: Arc<Value>,
    by_gvk: HashMap<(String, String, String), String>,
    validators: Mutex<HashMap<String, Arc<Validator>>>,
}

impl OpenApi {
    /// The pinned version's API, parsed once per process.
    pub fn pinned() -> &'static OpenApi {
        static API: OnceLock<OpenApi> = OnceLock::new();
        API.get_or_init(|| {
            OpenApi::from_spec(PINNED_VERSION, PINNED_SPEC)
                .expect("the embedded OpenAPI spec parses")
        })
    }

    pub fn from_spec(version: &str, text: &str) -> Result<OpenApi, serde_json::Error> {
        let spec: Value = serde_json::from_str(text)?;
        let mut defs = spec
            .get("definitions")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut by_gvk = HashMap::new();
        for (name, def) in &defs {
            for gvk in def
                .get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let s = |k: &str| {
                    gvk.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                by_gvk.insert((s("group"), s("version"), s("kind")), name.clone());
            }
        }
        defs.insert(
            "io.k8s.apimachinery.pkg.util.intstr.IntOrString".into(),
            json!({"type": ["string", "integer"]}),
        );
        defs.insert(
            "io.k8s.apimachinery.pkg.api.resource.Quantity".into(),
            json!({"type": ["string", "number"]}),
        );
        for def in defs.values_mut() {
            make_strict(def);
        }
        Ok(OpenApi {
            version: version.to_string(),
            root: Arc::new(Value::Object(Map::from_iter([(
                "definitions".to_string(),
                Value::Object(defs),
            )]))),
            by_gvk,
            validators: Mutex::new(HashMap::new()),
        })
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    fn definition_for(&self, api_version: &str, kind: &str) -> Option<&String> {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        self.by_gvk
            .get(&(group.to_string(), version.to_string(), kind.to_string()))
    }

    fn validator(&self, def: &str) -> Arc<Validator> {
        let mut cache = self.validators.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = cache.get(def) {
            return v.clone();
        }
        let mut schema = (*self.root).clone();
        schema["$ref"] = Value::String(format!("#/definitions/{def}"));
        let v = Arc::new(
            jsonschema::draft4::options()
                .should_validate_formats(false)
                .build(&schema)
                .expect("patched Kubernetes definitions compile"),
        );
        cache.insert(def.to_string(), v.clone());
        v
    }

    /// Validates one rendered object. Kinds the API does not define (CRDs
    /// such as ServiceMonitor) are skipped with that reason, not passed.
    pub fn validate(&self, obj: &Object) -> Verdict {
        let subject = obj.id().to_string();
        let expected = format!(
            "a valid {} {} per the Kubernetes {} API (strict)",
            obj.api_version, obj.kind, self.version
        );
        let Some(def) = self.definition_for(&obj.api_version, &obj.kind) else {
            return Verdict::skip(
                subject,
                format!(
                    "{} {} is not part of the Kubernetes {} API (a CRD kind?); its CRD validates it at install time",
                    obj.api_version, obj.kind, self.version
                ),
            );
        };
        let validator = self.validator(def);
        let instance = without_nulls(&obj.doc);
        let findings: Vec<Finding> = validator
            .iter_errors(&instance)
            .map(|e| {
                let pointer = e.instance_path().to_string();
                let field = dotted(&pointer);
                let message = e.to_string();
                let (problem, fix) = if let Some(unknown) = super::unexpected_key(&message) {
                    (
                        format!("unknown field `{unknown}` (not in {} {})", obj.kind, self.version),
                        "remove it, or fix its spelling or indentation (it may belong one level up or down)".to_string(),
                    )
                } else {
                    (message, "change the value to the type the API expects".to_string())
                };
                Finding {
                    object: format!("{} (from {})", obj.id(), obj.source),
                    field: if field.is_empty() { "<root>".into() } else { field },
                    problem,
                    fix,
                }
            })
            .collect();
        Verdict::from_findings(subject, expected, findings)
    }
}

/// Adds `additionalProperties: false` to every object schema with declared
/// properties, recursively (inline schemas included).
fn make_strict(schema: &mut Value) {
    let Some(m) = schema.as_object_mut() else {
        return;
    };
    let preserve = m
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true);
    if m.contains_key("properties") && !m.contains_key("additionalProperties") && !preserve {
        m.insert("additionalProperties".into(), Value::Bool(false));
    }
    for (k, v) in m.iter_mut() {
        match k.as_str() {
            "properties" => {
                if let Some(props) = v.as_object_mut() {
                    props.values_mut().for_each(make_strict);
                }
            }
            "items" | "additionalProperties" => make_strict(v),
            _ => {}
        }
    }
}

/// `null` means "unset" to the API server (helm renders `creationTimestamp:
/// null` and empty values that way), so it is not a type error.
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// `/spec/template/spec/containers/0/ports` -> `spec.template.spec.containers[0].ports`
pub fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if seg.parse::<usize>().is_ok() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Manifests;

    fn one(yaml: &str) -> Verdict {
        let m = Manifests::parse(yaml).unwrap();
        OpenApi::pinned().validate(&m.objects[0])
    }

    #[test]
    fn a_well_formed_deployment_passes() {
        let v = one("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w, creationTimestamp: null}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers:\n      - name: c\n        image: x:1\n        ports: [{containerPort: 80, name: http}]\n        resources: {limits: {cpu: 1, memory: 64Mi}}\n        readinessProbe: {httpGet: {path: /, port: http}}\n");
        assert!(!v.failed(), "{v}");
    }

    #[test]
    fn a_misplaced_field_is_named_with_its_path() {
        let v = one("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers:\n      - name: c\n        image: x:1\n        resource: {limits: {cpu: 1}}\n");
        assert!(v.failed());
        let f = v.findings().next().unwrap();
        assert_eq!(f.field, "spec.template.spec.containers[0]");
        assert!(f.problem.contains("unknown field `resource`"), "{f:?}");
    }

    #[test]
    fn a_wrong_type_fails() {
        let v = one("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [{port: eighty}]\n");
        assert!(v.failed(), "{v}");
        assert_eq!(v.findings().next().unwrap().field, "spec.ports[0].port");
    }

    #[test]
    fn crd_kinds_are_skipped_with_the_reason() {
        let v = one(
            "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: m}\n",
        );
        assert!(
            matches!(v.outcome, crate::Outcome::Skip(ref r) if r.contains("CRD")),
            "{v:?}"
        );
    }
}
