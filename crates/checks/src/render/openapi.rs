//! Strict validation of every rendered object against the OpenAPI of each
//! supported Kubernetes version, offline: unknown fields and wrong types
//! fail, as `kubectl apply --validate=strict` would, but with no cluster.
//!
//! The definitions ship in `openapi/<version>.json` (made by
//! `scripts/openapi.sh` from the `k8s.io/kubernetes` Go module). Two types
//! that are strings in the spec accept numbers on the wire (IntOrString,
//! Quantity), and objects reject unknown keys; both are patched in here.
//!
//! Custom resources whose CustomResourceDefinition the chart renders are
//! validated against that CRD's `openAPIV3Schema` (as kubeconform does with
//! CRD schemas), strictly too; only kinds whose CRD lives elsewhere are
//! skipped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use jsonschema::Validator;
use serde_json::{json, Map, Value};

use crate::verdict::{Finding, Verdict};
use crate::{Manifests, Object};

/// One supported Kubernetes minor: its name in trial names, the patch
/// release whose API is checked in, and that API. Newest first; the first
/// is the default (its trials keep the plain `render/openapi/...` names).
/// Kept equal to `scripts/kubernetes-versions.tsv`.
pub struct Supported {
    pub minor: &'static str,
    pub version: &'static str,
    spec: &'static str,
}

pub const SUPPORTED: &[Supported] = &[
    Supported {
        minor: "1.37",
        version: "v1.37.2",
        spec: include_str!("../../openapi/v1.37.2.json"),
    },
    Supported {
        minor: "1.36",
        version: "v1.36.3",
        spec: include_str!("../../openapi/v1.36.3.json"),
    },
    Supported {
        minor: "1.35",
        version: "v1.35.4",
        spec: include_str!("../../openapi/v1.35.4.json"),
    },
];

/// The default Kubernetes version (the newest supported).
pub const PINNED_VERSION: &str = SUPPORTED[0].version;

static APIS: [OnceLock<OpenApi>; SUPPORTED.len()] = [const { OnceLock::new() }; SUPPORTED.len()];

pub struct OpenApi {
    version: String,
    minor: String,
    root: Arc<Value>,
    by_gvk: HashMap<(String, String, String), String>,
    validators: Mutex<HashMap<String, Arc<Validator>>>,
}

/// `(group, version, kind)` of an `apiVersion` and kind.
fn gvk(api_version: &str, kind: &str) -> (String, String, String) {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    (group.to_string(), version.to_string(), kind.to_string())
}

impl OpenApi {
    /// The default version's API (the newest supported), parsed once per process.
    pub fn pinned() -> &'static OpenApi {
        OpenApi::at(0)
    }

    fn at(i: usize) -> &'static OpenApi {
        APIS[i].get_or_init(|| {
            let s = &SUPPORTED[i];
            let mut api =
                OpenApi::from_spec(s.version, s.spec).expect("the embedded OpenAPI spec parses");
            api.minor = s.minor.to_string();
            api
        })
    }

    /// The embedded API of a supported minor (`1.36`, `v1.36`, or the
    /// patch version `v1.36.3`); `None` for a version vitals does not support.
    pub fn for_version(version: &str) -> Option<&'static OpenApi> {
        let v = version.trim_start_matches('v');
        SUPPORTED
            .iter()
            .position(|s| s.minor == v || s.version.trim_start_matches('v') == v)
            .map(OpenApi::at)
    }

    /// Every supported version's API, the default first.
    pub fn all() -> impl Iterator<Item = &'static OpenApi> {
        (0..SUPPORTED.len()).map(OpenApi::at)
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
            minor: version
                .trim_start_matches('v')
                .rsplit_once('.')
                .map_or(version, |(minor, _)| minor)
                .to_string(),
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

    /// `1.37`: the name trial names use.
    pub fn minor(&self) -> &str {
        &self.minor
    }

    /// Whether this is the default version (trials without `@<minor>`).
    pub fn is_default(&self) -> bool {
        self.version == PINNED_VERSION
    }

    fn definition_for(&self, api_version: &str, kind: &str) -> Option<&String> {
        self.by_gvk.get(&gvk(api_version, kind))
    }

    /// Whether the API group is one Kubernetes itself serves (in any
    /// supported version), so a kind it lacks is a mistake, not a CRD.
    fn is_builtin_group(&self, api_version: &str) -> bool {
        let (group, _, _) = gvk(api_version, "");
        self.by_gvk.keys().any(|(g, _, _)| *g == group)
    }

    /// Whether this version serves an `apiVersion` (`group/version`, or
    /// `group/version/Kind` as `.Capabilities.APIVersions.Has` takes it).
    pub fn serves(&self, api: &str) -> bool {
        let parts: Vec<&str> = api.split('/').collect();
        let (gv, kind) = match parts.as_slice() {
            [v] => (v.to_string(), None),
            [g, v] => (format!("{g}/{v}"), None),
            [g, v, k] => (format!("{g}/{v}"), Some(*k)),
            _ => return false,
        };
        let (group, version, _) = gvk(&gv, "");
        self.by_gvk
            .keys()
            .any(|(g, v, k)| *g == group && *v == version && kind.is_none_or(|want| want == k))
    }

    /// Whether the object's API is Kubernetes' own (any supported version
    /// knows its group): such objects get a trial per supported version.
    pub fn is_builtin(obj: &Object) -> bool {
        OpenApi::all().any(|api| api.is_builtin_group(&obj.api_version))
    }

    fn compile(schema: &Value) -> Arc<Validator> {
        Arc::new(
            jsonschema::draft4::options()
                .should_validate_formats(false)
                .build(schema)
                .expect("patched Kubernetes definitions compile"),
        )
    }

    fn validator(&self, def: &str) -> Arc<Validator> {
        let mut cache = self.validators.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = cache.get(def) {
            return v.clone();
        }
        let mut schema = (*self.root).clone();
        schema["$ref"] = Value::String(format!("#/definitions/{def}"));
        let v = OpenApi::compile(&schema);
        cache.insert(def.to_string(), v.clone());
        v
    }

    /// Validates one rendered object against the built-in API only.
    pub fn validate(&self, obj: &Object) -> Verdict {
        self.validate_in(obj, &Crds::default())
    }

    /// Validates one rendered object: a built-in kind against this
    /// version's API, a custom resource against its CRD when the chart
    /// renders it. Other kinds (a ServiceMonitor whose CRD is installed
    /// elsewhere) are skipped with that reason, not passed.
    pub fn validate_in(&self, obj: &Object, crds: &Crds) -> Verdict {
        let subject = obj.id().to_string();
        let expected = format!(
            "a valid {} {} per the Kubernetes {} API (strict)",
            obj.api_version, obj.kind, self.version
        );
        let (validator, what) = match self.definition_for(&obj.api_version, &obj.kind) {
            Some(def) => (
                self.validator(def),
                format!("{} {}", obj.kind, self.version),
            ),
            None => {
                if let Some(v) = crds.validator(self, &obj.api_version, &obj.kind) {
                    let expected = format!(
                        "a valid {} {} per its CustomResourceDefinition in the chart (strict)",
                        obj.api_version, obj.kind
                    );
                    return findings_verdict(
                        obj,
                        subject,
                        expected,
                        &v,
                        &format!("the CRD of {}", obj.kind),
                    );
                }
                return self.not_served(obj, subject, expected);
            }
        };
        findings_verdict(obj, subject, expected, &validator, &what)
    }

    /// A kind this version does not define: a failure when Kubernetes
    /// serves the group (the API was removed, is not there yet, or never
    /// existed), else a custom resource whose CRD is not in the chart.
    fn not_served(&self, obj: &Object, subject: String, expected: String) -> Verdict {
        let elsewhere: Vec<&str> = OpenApi::all()
            .filter(|api| api.definition_for(&obj.api_version, &obj.kind).is_some())
            .map(|api| api.version())
            .collect();
        if elsewhere.is_empty() && !self.is_builtin_group(&obj.api_version) {
            return Verdict::skip(
                subject,
                format!(
                    "{} {} is not part of the Kubernetes {} API and the chart renders no CRD for it; its CRD validates it at install time",
                    obj.api_version, obj.kind, self.version
                ),
            );
        }
        let served: Vec<String> = self
            .by_gvk
            .keys()
            .filter(|(_, _, k)| *k == obj.kind)
            .map(|(g, v, _)| {
                if g.is_empty() {
                    v.clone()
                } else {
                    format!("{g}/{v}")
                }
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let problem = if elsewhere.is_empty() {
            format!(
                "Kubernetes {} does not serve {} {} (and no supported version does)",
                self.version, obj.api_version, obj.kind
            )
        } else {
            format!(
                "Kubernetes {} does not serve {} {} (served by {})",
                self.version,
                obj.api_version,
                obj.kind,
                elsewhere.join(", ")
            )
        };
        let fix = if served.is_empty() {
            format!(
                "Kubernetes {} has no {} at all: render it only for versions that serve it (gate on `.Capabilities.APIVersions.Has`)",
                self.version, obj.kind
            )
        } else {
            format!(
                "use an apiVersion Kubernetes {} serves for {}: {} (gate on `.Capabilities.APIVersions.Has` to support older versions)",
                self.version,
                obj.kind,
                served.join(", ")
            )
        };
        Verdict::from_findings(
            subject,
            expected,
            vec![Finding {
                object: format!("{} (from {})", obj.id(), obj.source),
                field: "apiVersion".into(),
                problem,
                fix,
            }],
        )
    }
}

fn findings_verdict(
    obj: &Object,
    subject: String,
    expected: String,
    validator: &Validator,
    what: &str,
) -> Verdict {
    let instance = without_nulls(&obj.doc);
    let findings: Vec<Finding> = validator
        .iter_errors(&instance)
        .map(|e| {
            let pointer = e.instance_path().to_string();
            let field = dotted(&pointer);
            let message = e.to_string();
            let (problem, fix) = if let Some(unknown) = super::unexpected_key(&message) {
                (
                    format!("unknown field `{unknown}` (not in {what})"),
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

type CompiledKey = (String, String, String, String);

/// The CustomResourceDefinitions a chart renders: the schema of each served
/// version of each kind, compiled on first use.
#[derive(Default)]
pub struct Crds {
    schemas: HashMap<(String, String, String), Value>,
    /// By (group, version, kind, Kubernetes version): ObjectMeta differs by version.
    compiled: Mutex<HashMap<CompiledKey, Arc<Validator>>>,
}

impl Crds {
    pub fn from_manifests(m: &Manifests) -> Crds {
        let mut schemas = HashMap::new();
        for crd in m
            .of_kind("CustomResourceDefinition")
            .filter(|o| o.api_version == "apiextensions.k8s.io/v1")
        {
            let s = |p: &str| {
                crd.doc
                    .pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let (group, kind) = (s("/spec/group"), s("/spec/names/kind"));
            for v in crd
                .doc
                .pointer("/spec/versions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let (Some(name), Some(schema)) = (
                    v.get("name").and_then(Value::as_str),
                    v.pointer("/schema/openAPIV3Schema"),
                ) else {
                    continue;
                };
                if v.get("served").and_then(Value::as_bool) == Some(false) {
                    continue;
                }
                schemas.insert(
                    (group.clone(), name.to_string(), kind.clone()),
                    schema.clone(),
                );
            }
        }
        Crds {
            schemas,
            compiled: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.schemas.is_empty()
    }

    /// Whether the chart renders a CRD that serves this kind at this version.
    pub fn has(&self, api_version: &str, kind: &str) -> bool {
        self.schemas.contains_key(&gvk(api_version, kind))
    }

    fn validator(&self, api: &OpenApi, api_version: &str, kind: &str) -> Option<Arc<Validator>> {
        let key = gvk(api_version, kind);
        let schema = self.schemas.get(&key)?;
        let mut cache = self.compiled.lock().unwrap_or_else(|p| p.into_inner());
        let ck = (
            key.0.clone(),
            key.1.clone(),
            key.2.clone(),
            api.version.clone(),
        );
        if let Some(v) = cache.get(&ck) {
            return Some(v.clone());
        }
        let mut s = schema.clone();
        from_structural(&mut s);
        // apiVersion, kind and metadata are implied by the API server;
        // metadata is checked as the built-in ObjectMeta.
        if let Some(m) = s.as_object_mut() {
            let props = m
                .entry("properties")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(props) = props.as_object_mut() {
                props.insert("apiVersion".into(), json!({"type": "string"}));
                props.insert("kind".into(), json!({"type": "string"}));
                props.insert(
                    "metadata".into(),
                    json!({"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}),
                );
            }
        }
        let mut root = (*api.root).clone();
        if let (Some(r), Value::Object(s)) = (root.as_object_mut(), s) {
            r.extend(s);
        }
        // A CRD's schema that does not compile is the CRD's own finding.
        let v = jsonschema::draft4::options()
            .should_validate_formats(false)
            .build(&root)
            .ok()
            .map(Arc::new)?;
        cache.insert(ck, v.clone());
        Some(v)
    }
}

/// A CRD's structural schema as JSON Schema draft 4: Kubernetes' extensions
/// become what they mean, and objects with declared properties reject
/// unknown fields (the API server would prune them; strict validation, as
/// `kubectl apply --validate=strict`, reports them).
fn from_structural(schema: &mut Value) {
    let Some(m) = schema.as_object_mut() else {
        return;
    };
    if m.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true) {
        m.remove("type");
        m.insert("type".into(), json!(["integer", "string"]));
    }
    let preserve = m
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true);
    if m.get("x-kubernetes-embedded-resource")
        .and_then(Value::as_bool)
        == Some(true)
    {
        let props = m
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(p) = props.as_object_mut() {
            for k in ["apiVersion", "kind"] {
                p.entry(k).or_insert(json!({"type": "string"}));
            }
            p.entry("metadata").or_insert(json!({"type": "object"}));
        }
    }
    if m.contains_key("properties") && !m.contains_key("additionalProperties") && !preserve {
        m.insert("additionalProperties".into(), Value::Bool(false));
    }
    for (k, v) in m.iter_mut() {
        match k.as_str() {
            "properties" => {
                if let Some(props) = v.as_object_mut() {
                    props.values_mut().for_each(from_structural);
                }
            }
            "items" | "additionalProperties" => from_structural(v),
            // allOf/anyOf/oneOf/not only add value checks to the fields the
            // structural schema declares: strict branches would reject the
            // fields another branch or the parent declares.
            _ => {}
        }
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

    const CRD: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec:\n  group: example.com\n  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}\n  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        description: A widget.\n        type: object\n        properties:\n          spec:\n            description: What the widget does.\n            type: object\n            required: [size]\n            properties:\n              size: {type: integer, minimum: 1, description: How big.}\n              port: {x-kubernetes-int-or-string: true}\n              extra: {type: object, x-kubernetes-preserve-unknown-fields: true}\n";

    fn with_crd(cr: &str) -> Verdict {
        let m = Manifests::parse(&format!("{CRD}---\n{cr}")).unwrap();
        let crds = Crds::from_manifests(&m);
        OpenApi::pinned().validate_in(&m.objects[1], &crds)
    }

    #[test]
    fn a_crd_with_descriptions_is_valid() {
        let v = one(CRD);
        assert!(!v.failed(), "{v}");
    }

    #[test]
    fn a_custom_resource_is_validated_against_the_charts_crd() {
        let ok = with_crd("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 2, port: http, extra: {any: thing}}\n");
        assert_eq!(ok.outcome, crate::Outcome::Pass, "{ok}");
        let bad = with_crd("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 0, colour: red}\n");
        let fields: Vec<_> = bad
            .findings()
            .map(|f| (f.field.clone(), f.problem.clone()))
            .collect();
        assert!(bad.failed(), "{bad}");
        assert!(
            fields
                .iter()
                .any(|(f, p)| f == "spec" && p.contains("unknown field `colour`")),
            "{fields:?}"
        );
        assert!(fields.iter().any(|(f, _)| f == "spec.size"), "{fields:?}");
    }

    #[test]
    fn an_api_one_supported_version_lacks_fails_naming_it() {
        let yaml = "apiVersion: certificates.k8s.io/v1\nkind: ClusterTrustBundle\nmetadata: {name: b}\nspec: {trustBundle: x}\n";
        let m = Manifests::parse(yaml).unwrap();
        assert!(!OpenApi::for_version("1.37")
            .unwrap()
            .validate(&m.objects[0])
            .failed());
        let v = OpenApi::for_version("1.36")
            .unwrap()
            .validate(&m.objects[0]);
        assert!(v.failed(), "{v}");
        let text = v.to_string();
        assert!(text.contains("Kubernetes v1.36.3 does not serve certificates.k8s.io/v1 ClusterTrustBundle (served by v1.37.2)"), "{text}");
        assert!(text.contains("certificates.k8s.io/v1alpha1"), "{text}");
    }

    #[test]
    fn a_removed_builtin_api_is_not_taken_for_a_crd() {
        let v = one("apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: i}\n");
        assert!(v.failed(), "{v}");
        assert!(v.to_string().contains("networking.k8s.io/v1"), "{v}");
    }

    #[test]
    fn supported_versions_are_the_newest_three_default_first() {
        let minors: Vec<_> = OpenApi::all().map(|a| a.minor().to_string()).collect();
        assert_eq!(minors, ["1.37", "1.36", "1.35"]);
        assert!(OpenApi::pinned().is_default());
        assert_eq!(OpenApi::for_version("v1.35.4").unwrap().minor(), "1.35");
        assert!(OpenApi::for_version("1.34").is_none());
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
