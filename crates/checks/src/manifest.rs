//! The rendered output of a chart, parsed once and queried by every check.
//!
//! Objects stay `serde_json::Value`s: the OpenAPI check validates their
//! shape strictly, and policies read only the fields they judge, so a typed
//! model would add nothing but compile time.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

/// `Kind/name`, the way people name objects in conversation and in kubectl.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    pub kind: String,
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

impl ObjectRef {
    /// The path segment used in trial names: `deployment/medplum-server`.
    pub fn slug(&self) -> String {
        format!("{}/{}", self.kind.to_ascii_lowercase(), self.name)
    }
}

/// One rendered object.
#[derive(Debug, Clone)]
pub struct Object {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// The template that produced it (helm's `# Source:` comment).
    pub source: String,
    pub doc: Value,
}

impl Object {
    pub fn id(&self) -> ObjectRef {
        ObjectRef {
            kind: self.kind.clone(),
            name: self.name.clone(),
        }
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.doc
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
    }

    /// The helm hook kinds of this object (`pre-install`, `test`, ...).
    pub fn hooks(&self) -> Vec<&str> {
        self.annotation("helm.sh/hook")
            .map(|h| h.split(',').map(str::trim).collect())
            .unwrap_or_default()
    }

    pub fn is_test_hook(&self) -> bool {
        self.hooks()
            .iter()
            .any(|h| *h == "test" || *h == "test-success")
    }

    /// Where the pod template lives for kinds that carry one.
    pub fn pod_template_pointer(&self) -> Option<&'static str> {
        match self.kind.as_str() {
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
                Some("/spec/template")
            }
            "CronJob" => Some("/spec/jobTemplate/spec/template"),
            "Pod" => Some(""),
            _ => None,
        }
    }

    pub fn as_workload(&self) -> Option<Workload<'_>> {
        let ptr = self.pod_template_pointer()?;
        let template = if ptr.is_empty() {
            &self.doc
        } else {
            self.doc.pointer(ptr)?
        };
        Some(Workload {
            object: self,
            template,
            template_ptr: ptr,
        })
    }
}

/// An object that runs pods, with its pod template.
#[derive(Debug, Clone, Copy)]
pub struct Workload<'a> {
    pub object: &'a Object,
    pub template: &'a Value,
    template_ptr: &'static str,
}

/// One container of a workload, with the field path to it.
#[derive(Debug, Clone)]
pub struct Container<'a> {
    pub workload: Workload<'a>,
    pub name: String,
    pub init: bool,
    /// `spec.template.spec.containers[0]`
    pub path: String,
    pub spec: &'a Value,
}

impl<'a> Workload<'a> {
    /// Field path of the pod spec: `spec.template.spec`, or `spec` for a Pod.
    pub fn pod_spec_path(&self) -> String {
        if self.template_ptr.is_empty() {
            "spec".into()
        } else {
            format!(
                "{}.spec",
                self.template_ptr.trim_start_matches('/').replace('/', ".")
            )
        }
    }

    pub fn pod_spec(&self) -> Option<&'a Value> {
        self.template.get("spec")
    }

    pub fn pod_labels(&self) -> BTreeMap<String, String> {
        string_map(self.template.pointer("/metadata/labels"))
    }

    pub fn pod_annotation(&self, key: &str) -> Option<&'a str> {
        self.template
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
    }

    /// Init containers first, then app containers, as the kubelet runs them.
    pub fn containers(&self) -> Vec<Container<'a>> {
        let mut out = Vec::new();
        let Some(spec) = self.pod_spec() else {
            return out;
        };
        let base = self.pod_spec_path();
        for (field, init) in [("initContainers", true), ("containers", false)] {
            if let Some(list) = spec.get(field).and_then(Value::as_array) {
                for (i, c) in list.iter().enumerate() {
                    out.push(Container {
                        workload: *self,
                        name: c
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("?")
                            .to_string(),
                        init,
                        path: format!("{base}.{field}[{i}]"),
                        spec: c,
                    });
                }
            }
        }
        out
    }

    /// Long-running: serves until deleted (not a Job, CronJob or hook pod).
    pub fn is_long_running(&self) -> bool {
        matches!(
            self.object.kind.as_str(),
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet"
        )
    }

    /// `spec.selector` (null when absent): which pods are the workload's.
    pub fn selector(&self) -> Value {
        self.object
            .doc
            .pointer("/spec/selector")
            .cloned()
            .unwrap_or_default()
    }

    /// Whether a Service-style selector (`spec.selector` of a Service: a
    /// plain label map) selects pods of this workload, counting the labels
    /// its controller adds at runtime: a per-pod Service of a StatefulSet
    /// selects `statefulset.kubernetes.io/pod-name: <name>-0`, which no pod
    /// template carries.
    pub fn selected_by(&self, selector: &BTreeMap<String, String>) -> bool {
        let labels = self.pod_labels();
        !selector.is_empty()
            && selector.iter().all(|(k, v)| match labels.get(k) {
                Some(have) => have == v,
                None => self.controller_sets(k, v),
            })
    }

    /// Whether this workload's controller gives its pods label `key` with a
    /// value that can be `value`.
    pub fn controller_sets(&self, key: &str, value: &str) -> bool {
        let index = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        match (self.object.kind.as_str(), key) {
            ("StatefulSet", "statefulset.kubernetes.io/pod-name") => value
                .strip_prefix(&format!("{}-", self.object.name))
                .is_some_and(index),
            ("StatefulSet", "apps.kubernetes.io/pod-index") => index(value),
            ("StatefulSet" | "DaemonSet", "controller-revision-hash") => true,
            ("DaemonSet", "pod-template-generation") => index(value),
            ("Deployment" | "ReplicaSet", "pod-template-hash") => true,
            (
                "Job" | "CronJob",
                "job-name"
                | "batch.kubernetes.io/job-name"
                | "controller-uid"
                | "batch.kubernetes.io/controller-uid",
            ) => true,
            ("Job" | "CronJob", "batch.kubernetes.io/job-completion-index") => index(value),
            _ => false,
        }
    }

    /// Replicas as rendered (`spec.replicas`, default 1).
    pub fn replicas(&self) -> i64 {
        self.object
            .doc
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
    }
}

impl Container<'_> {
    pub fn label(&self) -> String {
        format!(
            "{} {}container `{}`",
            self.workload.object.id(),
            if self.init { "init " } else { "" },
            self.name
        )
    }

    /// `(name, number)` of each declared container port.
    pub fn ports(&self) -> Vec<(Option<String>, i64)> {
        self.spec
            .get("ports")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| {
                        let n = p.get("containerPort")?.as_i64()?;
                        Some((p.get("name").and_then(Value::as_str).map(String::from), n))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Reads a `map[string]string` field; absent or malformed gives an empty map.
pub fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// A label selector (`matchLabels` + `matchExpressions`) matched against labels.
pub fn selector_matches(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    let ml = string_map(selector.get("matchLabels"));
    if !ml.iter().all(|(k, v)| labels.get(k) == Some(v)) {
        return false;
    }
    let exprs = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    exprs.iter().all(|e| {
        let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
        let values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let have = labels.get(key).map(String::as_str);
        match e
            .get("operator")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "In" => have.is_some_and(|h| values.contains(&h)),
            "NotIn" => have.is_none_or(|h| !values.contains(&h)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => false,
        }
    })
}

#[derive(Debug, thiserror::Error)]
#[error("rendered document {index} (from `{source_file}`) is not valid YAML: {message}")]
pub struct ParseError {
    pub index: usize,
    pub source_file: String,
    pub message: String,
}

/// All objects a chart rendered, in order.
#[derive(Debug, Clone, Default)]
pub struct Manifests {
    pub objects: Vec<Object>,
    /// The chart depends on the vitals-common library chart, so fix texts
    /// may name its helpers; for any other chart they name the Kubernetes
    /// field to set. Set by whoever rendered the chart (false by default).
    pub uses_vitals_common: bool,
}

/// What a workload is, read from the manifests, so that each policy is
/// applied only where it means something (a node exporter needs the host's
/// network; a controller that serves nothing needs no Service).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Serves traffic through a Service: every rule applies.
    App,
    /// A DaemonSet, or a pod using the host's network, PIDs or files.
    NodeAgent,
    /// Long-running, serves no traffic (no Service selects it, and it
    /// declares no port or watches the API): an operator, a worker.
    Controller,
    /// Serves traffic from outside the cluster for an IngressClass.
    IngressController,
    /// Runs to completion: a Job, CronJob, bare Pod or helm hook.
    Job,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::App => "app",
            Role::NodeAgent => "node agent",
            Role::Controller => "controller",
            Role::IngressController => "ingress controller",
            Role::Job => "job",
        }
    }

    /// Why the workload has this role, for the verdict.
    pub fn because(self) -> &'static str {
        match self {
            Role::App => "a long-running workload",
            Role::NodeAgent => "a DaemonSet or a pod with host network, PIDs or paths",
            Role::Controller => {
                "long-running, no Service selects it, and it declares no port or watches the API"
            }
            Role::IngressController => {
                "an ingress controller (IngressClass or ingress-class flags)"
            }
            Role::Job => "runs to completion (Job, CronJob, Pod or helm hook)",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Manifests {
    /// Parses `helm template` output: documents separated by `---`, each
    /// preceded by a `# Source: chart/templates/x.yaml` comment. `List`
    /// objects are flattened into their items.
    pub fn parse(text: &str) -> Result<Manifests, ParseError> {
        let mut objects = Vec::new();
        for (index, chunk) in split_documents(text).into_iter().enumerate() {
            let source = chunk
                .lines()
                .find_map(|l| {
                    l.trim()
                        .strip_prefix("# Source:")
                        .map(|s| s.trim().to_string())
                })
                .unwrap_or_default();
            // As the API server will read it (YAML 1.1 scalars): see `yaml`.
            let doc: Value = crate::yaml::from_str(chunk).map_err(|e| ParseError {
                index,
                source_file: source.clone(),
                message: e.to_string(),
            })?;
            if doc.is_null() {
                continue;
            }
            let items = if doc.get("kind").and_then(Value::as_str) == Some("List") {
                doc.get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            } else {
                vec![doc]
            };
            for doc in items {
                let s = |p: &str| {
                    doc.pointer(p)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                objects.push(Object {
                    api_version: s("/apiVersion"),
                    kind: s("/kind"),
                    name: s("/metadata/name"),
                    source: source.clone(),
                    doc,
                });
            }
        }
        Ok(Manifests {
            objects,
            uses_vitals_common: false,
        })
    }

    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Object> + 'a {
        self.objects.iter().filter(move |o| o.kind == kind)
    }

    pub fn get(&self, kind: &str, name: &str) -> Option<&Object> {
        self.objects
            .iter()
            .find(|o| o.kind == kind && o.name == name)
    }

    pub fn workloads(&self) -> impl Iterator<Item = Workload<'_>> {
        self.objects.iter().filter_map(Object::as_workload)
    }

    /// The role of a workload of this release (see [`Role`]), judged in
    /// this one place so every policy agrees.
    pub fn role(&self, w: &Workload<'_>) -> Role {
        if !w.is_long_running() || !w.object.hooks().is_empty() {
            return Role::Job;
        }
        let pod = w.pod_spec().cloned().unwrap_or(Value::Null);
        let host = ["hostNetwork", "hostPID"]
            .iter()
            .any(|k| pod.get(*k).and_then(Value::as_bool) == Some(true))
            || pod
                .get("volumes")
                .and_then(Value::as_array)
                .is_some_and(|vs| vs.iter().any(|v| v.get("hostPath").is_some()));
        if w.object.kind == "DaemonSet" || host {
            return Role::NodeAgent;
        }
        let containers: Vec<Container<'_>> =
            w.containers().into_iter().filter(|c| !c.init).collect();
        let text = |c: &Container<'_>| {
            let mut t = c
                .spec
                .get("image")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            for k in ["args", "command"] {
                for a in c
                    .spec
                    .get(k)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    t.push(' ');
                    t.push_str(a.as_str().unwrap_or_default());
                }
            }
            t
        };
        let ingress_flags = [
            "--ingress-class",
            "--controller-class",
            "ingress-controller",
            "ingress-nginx",
            "--watch-ingress-without-class",
        ];
        if containers
            .iter()
            .any(|c| ingress_flags.iter().any(|f| text(c).contains(f)))
            || (self.of_kind("IngressClass").next().is_some()
                && self.services_selecting(w).any(|s| {
                    matches!(
                        s.doc.pointer("/spec/type").and_then(Value::as_str),
                        Some("LoadBalancer" | "NodePort")
                    )
                }))
        {
            return Role::IngressController;
        }
        if self.services_selecting(w).next().is_none() {
            let no_port = containers.iter().all(|c| c.ports().is_empty());
            if no_port || self.watches_the_api(w) {
                return Role::Controller;
            }
        }
        Role::App
    }

    /// Services (with a selector, not ExternalName) that select the workload's pods.
    pub fn services_selecting<'a>(
        &'a self,
        w: &'a Workload<'_>,
    ) -> impl Iterator<Item = &'a Object> + 'a {
        self.of_kind("Service").filter(move |s| {
            s.doc.pointer("/spec/type").and_then(Value::as_str) != Some("ExternalName")
                && w.selected_by(&string_map(s.doc.pointer("/spec/selector")))
        })
    }

    /// Whether the workload's ServiceAccount is bound, in this release, to
    /// a Role or ClusterRole that may watch or list: what a controller does.
    fn watches_the_api(&self, w: &Workload<'_>) -> bool {
        let sa = w
            .pod_spec()
            .and_then(|p| p.get("serviceAccountName").or(p.get("serviceAccount")))
            .and_then(Value::as_str)
            .unwrap_or("default");
        self.objects
            .iter()
            .filter(|b| b.kind == "RoleBinding" || b.kind == "ClusterRoleBinding")
            .filter(|b| {
                b.doc
                    .get("subjects")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|s| {
                        s.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
                            && s.get("name").and_then(Value::as_str) == Some(sa)
                    })
            })
            .filter_map(|b| {
                let kind = b.doc.pointer("/roleRef/kind").and_then(Value::as_str)?;
                let name = b.doc.pointer("/roleRef/name").and_then(Value::as_str)?;
                self.get(kind, name)
            })
            .any(|role| {
                role.doc
                    .get("rules")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .flat_map(|r| {
                        r.get("verbs")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                    })
                    .any(|v| matches!(v.as_str(), Some("watch" | "list" | "*")))
            })
    }
}

fn split_documents(text: &str) -> Vec<&str> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" {
            docs.push(&text[start..offset]);
            start = offset + line.len();
        }
        offset += line.len();
    }
    docs.push(&text[start..]);
    docs.into_iter()
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RENDERED: &str = "---\n# Source: web/templates/deploy.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      initContainers:\n      - name: wait\n        image: a:1\n      containers:\n      - name: app\n        image: a:1\n        ports: [{name: http, containerPort: 8080}]\n---\n# Source: web/templates/cron.yaml\napiVersion: batch/v1\nkind: CronJob\nmetadata: {name: backup}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers: [{name: dump, image: b:2}]\n";

    #[test]
    fn objects_keep_their_source_template() {
        let m = Manifests::parse(RENDERED).unwrap();
        assert_eq!(m.objects.len(), 2);
        assert_eq!(m.objects[0].source, "web/templates/deploy.yaml");
        assert_eq!(m.objects[1].id().to_string(), "CronJob/backup");
    }

    #[test]
    fn containers_carry_their_field_paths() {
        let m = Manifests::parse(RENDERED).unwrap();
        let w: Vec<_> = m.workloads().collect();
        let paths: Vec<_> = w
            .iter()
            .flat_map(|w| w.containers())
            .map(|c| c.path)
            .collect();
        assert_eq!(
            paths,
            [
                "spec.template.spec.initContainers[0]",
                "spec.template.spec.containers[0]",
                "spec.jobTemplate.spec.template.spec.containers[0]"
            ]
        );
        assert_eq!(w[0].replicas(), 2);
        assert_eq!(
            w[0].containers()[1].ports(),
            vec![(Some("http".to_string()), 8080)]
        );
    }

    #[test]
    fn broken_yaml_names_the_template() {
        let err = Manifests::parse("# Source: x/templates/bad.yaml\nkind: [\n").unwrap_err();
        assert!(err.to_string().contains("x/templates/bad.yaml"), "{err}");
    }

    #[rstest::rstest]
    #[case("kind: DaemonSet\nmetadata: {name: x}\nspec:\n  template:\n    spec: {containers: [{name: a, image: a:1}]}\n", Role::NodeAgent)]
    #[case("kind: Deployment\nmetadata: {name: x}\nspec:\n  template:\n    spec: {hostNetwork: true, containers: [{name: a, image: a:1, ports: [{containerPort: 80}]}]}\n", Role::NodeAgent)]
    #[case("kind: Deployment\nmetadata: {name: x}\nspec:\n  template:\n    metadata: {labels: {a: x}}\n    spec: {containers: [{name: a, image: a:1}]}\n", Role::Controller)]
    #[case("kind: Deployment\nmetadata: {name: x}\nspec:\n  template:\n    metadata: {labels: {a: x}}\n    spec: {containers: [{name: a, image: a:1, ports: [{containerPort: 80}]}]}\n---\nkind: Service\nmetadata: {name: x}\nspec: {selector: {a: x}}\n", Role::App)]
    #[case("kind: Deployment\nmetadata: {name: x}\nspec:\n  template:\n    spec: {containers: [{name: a, image: registry.k8s.io/ingress-nginx/controller:v1, args: [--ingress-class=nginx], ports: [{containerPort: 80}]}]}\n", Role::IngressController)]
    #[case("kind: Job\nmetadata: {name: x}\nspec:\n  template:\n    spec: {containers: [{name: a, image: a:1}]}\n", Role::Job)]
    fn roles_are_read_from_the_manifests(#[case] yaml: &str, #[case] want: Role) {
        let m = Manifests::parse(yaml).unwrap();
        let w = m.workloads().next().unwrap();
        assert_eq!(m.role(&w), want);
    }

    #[test]
    fn a_controller_with_a_port_is_known_by_its_rbac() {
        let m = Manifests::parse("kind: Deployment\nmetadata: {name: op}\nspec:\n  template:\n    spec: {serviceAccountName: op, containers: [{name: a, image: a:1, ports: [{name: metrics, containerPort: 8080}]}]}\n---\nkind: ClusterRole\nmetadata: {name: op}\nrules: [{apiGroups: [''], resources: [pods], verbs: [get, list, watch]}]\n---\nkind: ClusterRoleBinding\nmetadata: {name: op}\nroleRef: {kind: ClusterRole, name: op}\nsubjects: [{kind: ServiceAccount, name: op}]\n").unwrap();
        let w = m.workloads().next().unwrap();
        assert_eq!(m.role(&w), Role::Controller);
    }

    #[test]
    fn selectors_match_expressions() {
        let labels: BTreeMap<_, _> = [("tier".to_string(), "db".to_string())].into();
        let sel: Value = serde_json::json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["db", "cache"]}]});
        assert!(selector_matches(&sel, &labels));
        let sel: Value = serde_json::json!({"matchLabels": {"tier": "web"}});
        assert!(!selector_matches(&sel, &labels));
    }
}
