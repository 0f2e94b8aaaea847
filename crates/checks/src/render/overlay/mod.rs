//! The test overlay keeps the profile. The cluster tier installs each
//! profile plus `suites/overlays/<chart>.yaml`, so what it proves holds for
//! the profile only if the overlay changed nothing but what one kind node
//! and an air-gapped image store force on it. This compares the two renders
//! object by object: each change an overlay may make is absorbed (and
//! counted for the pass message), then anything still different is a
//! finding naming the object and the field.

use serde_json::{Map, Value};

use crate::manifest::Object;
use crate::render::diff::{diff, Change};
use crate::verdict::{Evidence, Finding, Verdict};
use crate::Manifests;

mod allowed;
mod rules;

use allowed::Allowed;

pub const EXPECTED: &str = "the test overlay keeps every object and field of the profile; \
it may only point images (with their commands and exec probes) at local builds, change resources, \
add env vars, lower replicas and HPA maxReplicas, change HPA behavior, and let checksums, \
generated Secret values and storage classes follow";

/// Findings listed one by one; past this many they are only counted, since
/// an overlay that is wrong wholesale is read from its first lines.
const SHOWN: usize = 20;

/// The field of a finding about a whole object (as `openapi` names it).
const ROOT: &str = "<root>";

/// The values keys an overlay lowers to fit the node. What a chart derives
/// from them is proven by rendering the profile with only these applied.
pub const CAP_KEYS: [&str; 3] = ["maxReplicas", "replicaCount", "replicas"];

const FIX_FIELD: &str = "take this change out of the test overlay: it may scale resources and \
replicas and point at local images, never change what the profile deploys";
const FIX_REMOVED: &str =
    "keep the object: the test overlay must not turn a feature of the profile off";
const FIX_ADDED: &str =
    "take the object out of the test overlay: the trial must install what the profile installs";
/// The renders compared: the profile's, the profile's plus the test
/// overlay, and (when the overlay lowers replica counts) the profile's plus
/// only those caps, see [`caps`].
#[derive(Debug, Clone, Copy)]
pub struct Renders<'a> {
    pub profile: &'a Manifests,
    pub overlaid: &'a Manifests,
    pub capped: Option<&'a Manifests>,
}

/// The replica caps of an overlay's values ([`CAP_KEYS`] with a number),
/// nothing else; `None` when it has none.
pub fn caps(values: &Value) -> Option<Value> {
    let Value::Object(map) = values else {
        return None;
    };
    let kept: Map<String, Value> = map
        .iter()
        .filter_map(|(k, v)| match v {
            Value::Number(_) if CAP_KEYS.contains(&k.as_str()) => Some((k.clone(), v.clone())),
            Value::Object(_) => caps(v).map(|c| (k.clone(), c)),
            _ => None,
        })
        .collect();
    (!kept.is_empty()).then_some(Value::Object(kept))
}

/// One difference inside an object: field path, problem, fix.
struct Problem {
    field: String,
    problem: String,
    fix: &'static str,
}

impl Problem {
    fn new(field: impl Into<String>, problem: impl Into<String>, fix: &'static str) -> Problem {
        Problem {
            field: field.into(),
            problem: problem.into(),
            fix,
        }
    }
}

/// What judging one object accumulates.
struct Cx<'a> {
    object: &'a str,
    allowed: &'a mut Allowed,
    problems: Vec<Problem>,
}

/// Compares the profile's render with the render of the profile plus the
/// test overlay. `subject` names the overlay (its file).
pub fn check(subject: &str, renders: Renders<'_>) -> Verdict {
    let mut allowed = Allowed::default();
    let mut findings = Vec::new();
    let mut used = vec![false; renders.overlaid.objects.len()];
    for p in &renders.profile.objects {
        // Pairs by kind + name; a name rendered twice pairs in order.
        let found = renders
            .overlaid
            .objects
            .iter()
            .enumerate()
            .find(|(i, o)| !used[*i] && o.kind == p.kind && o.name == p.name);
        match found {
            Some((i, o)) => {
                used[i] = true;
                let id = p.id().to_string();
                let capped = renders.capped.and_then(|m| m.get(&p.kind, &p.name));
                let mut cx = Cx {
                    object: &p.name,
                    allowed: &mut allowed,
                    problems: Vec::new(),
                };
                compare(p, o, capped, &mut cx);
                findings.extend(cx.problems.into_iter().map(|x| Finding {
                    object: id.clone(),
                    field: x.field,
                    problem: x.problem,
                    fix: x.fix.into(),
                }));
            }
            None => findings.push(Finding {
                object: p.id().to_string(),
                field: ROOT.into(),
                problem: "removed by the overlay".into(),
                fix: FIX_REMOVED.into(),
            }),
        }
    }
    for (o, _) in renders
        .overlaid
        .objects
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
    {
        findings.push(Finding {
            object: o.id().to_string(),
            field: ROOT.into(),
            problem: "added by the overlay".into(),
            fix: FIX_ADDED.into(),
        });
    }

    let summary = allowed.summary();
    if findings.is_empty() {
        let observed =
            summary.unwrap_or_else(|| "the overlay changes nothing in the render".into());
        return Verdict::pass(subject, EXPECTED, observed);
    }
    let total = findings.len();
    let mut v = Verdict::fail(
        subject,
        EXPECTED,
        format!(
            "{total} difference{} an overlay may not make",
            if total == 1 { "" } else { "s" }
        ),
    );
    v.evidence = findings
        .into_iter()
        .take(SHOWN)
        .map(Evidence::Finding)
        .collect();
    if total > SHOWN {
        v = v.with_evidence(Evidence::Note {
            text: format!("and {} more", total - SHOWN),
        });
    }
    match summary {
        Some(s) => v.with_evidence(Evidence::Note {
            text: format!("changes within the rules: {s}"),
        }),
        None => v,
    }
}

/// Absorbs every allowed change into a copy of the overlay's side, then
/// reports whatever still differs.
fn compare(p: &Object, o: &Object, capped: Option<&Object>, cx: &mut Cx<'_>) {
    let mut doc = o.doc.clone();
    if let Some(ptr) = p.pod_template_pointer() {
        if let (Some(pt), Some(ot)) = (p.doc.pointer(ptr), doc.pointer_mut(ptr)) {
            let path = ptr.trim_start_matches('/').replace('/', ".");
            let ct = capped.and_then(|c| c.doc.pointer(ptr));
            rules::pod_template(pt, ot, ct, &path, cx);
        }
    }
    // Kind-specific rules read the profile's spec and absorb into the
    // overlay's; both must be maps for a rule to apply at all.
    if let (Some(ps), Some(os)) = (
        p.doc.get("spec").and_then(Value::as_object),
        doc.get_mut("spec").and_then(Value::as_object_mut),
    ) {
        match p.kind.as_str() {
            "Deployment" | "ReplicaSet" => rules::replicas(ps, os, cx),
            "StatefulSet" => {
                rules::replicas(ps, os, cx);
                rules::claim_templates(ps, os, cx.allowed);
            }
            "HorizontalPodAutoscaler" => rules::hpa(ps, os, cx),
            "PersistentVolumeClaim" if absorb(ps, os, "storageClassName") => {
                cx.allowed.storage_classes += 1;
            }
            _ => {}
        }
    }
    if p.kind == "Secret" {
        rules::secret_values(&p.doc, &mut doc, cx.allowed);
    }
    cx.problems
        .extend(diff("", &p.doc, &doc).into_iter().map(|d| {
            let problem = match d.change {
                Change::Removed(v) => format!("removed by the overlay (profile: {})", show(v)),
                Change::Added(v) => format!("added by the overlay: {}", show(v)),
                Change::Changed { from, to } => {
                    format!("profile {}, overlay {}", show(from), show(to))
                }
            };
            // A whole object replaced by a value of another type has no path.
            let field = if d.path.is_empty() {
                ROOT.into()
            } else {
                d.path
            };
            Problem::new(field, problem, FIX_FIELD)
        }));
}

/// Makes `o[key]` the profile's (or absent, as in the profile); true when
/// they differed.
fn absorb(p: &Map<String, Value>, o: &mut Map<String, Value>, key: &str) -> bool {
    if p.get(key) == o.get(key) {
        return false;
    }
    match p.get(key) {
        Some(v) => o.insert(key.to_string(), v.clone()),
        None => o.remove(key),
    };
    true
}

fn list(v: Option<&Value>) -> Vec<Value> {
    v.and_then(Value::as_array).cloned().unwrap_or_default()
}

/// A value as compact JSON, cut short: a finding names the field, it does
/// not reprint the object.
fn show(v: &Value) -> String {
    const MAX: usize = 80;
    let s = v.to_string();
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    const PROFILE: &str = r#"
# Source: web/templates/web.yaml
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    metadata:
      annotations: {checksum/secret: aaa}
    spec:
      containers:
        - name: app
          image: registry.example/web:1.0
          env: [{name: DATABASE_HOST, value: db}]
          resources: {requests: {cpu: 500m, memory: 1Gi}}
          readinessProbe: {httpGet: {path: /healthcheck, port: http}}
          livenessProbe: {exec: {command: [web, health]}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 10
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
---
apiVersion: v1
kind: Secret
metadata: {name: db}
data: {password: cmFuZG9tMQ==}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 3
  template:
    spec:
      containers: [{name: db, image: registry.example/postgres:15}]
  volumeClaimTemplates:
    - metadata: {name: data}
      spec: {storageClassName: oci-bv, resources: {requests: {storage: 50Gi}}}
"#;

    type Edit = fn(&mut Manifests);

    fn profile() -> Manifests {
        Manifests::parse(PROFILE).unwrap()
    }

    fn doc<'a>(m: &'a mut Manifests, kind: &str, name: &str) -> &'a mut Value {
        &mut m
            .objects
            .iter_mut()
            .find(|o| o.kind == kind && o.name == name)
            .unwrap()
            .doc
    }

    fn set(m: &mut Manifests, kind: &str, name: &str, ptr: &str, v: Value) {
        *doc(m, kind, name).pointer_mut(ptr).unwrap() = v;
    }

    const APP: &str = "/spec/template/spec/containers/0";

    fn run(edit: Edit) -> Verdict {
        let mut overlaid = profile();
        edit(&mut overlaid);
        check(
            "overlay",
            Renders {
                profile: &profile(),
                overlaid: &overlaid,
                capped: None,
            },
        )
    }

    #[rstest]
    #[case::identical(|_: &mut Manifests| {})]
    #[case::image_and_command(|m: &mut Manifests| {
        set(m, "Deployment", "web", &format!("{APP}/image"), json!("vitals/agent:0.1.0-abc"));
        let c = doc(m, "Deployment", "web").pointer_mut(APP).unwrap();
        c["command"] = json!(["agent"]);
        c["args"] = json!(["serve", "--port=8080"]);
    })]
    #[case::exec_probe_follows_a_new_image(|m: &mut Manifests| {
        set(m, "Deployment", "web", &format!("{APP}/image"), json!("vitals/agent:0.1.0-abc"));
        set(m, "Deployment", "web", &format!("{APP}/livenessProbe/exec/command"), json!(["agent", "http-get"]));
    })]
    #[case::resources(|m: &mut Manifests| set(m, "Deployment", "web", &format!("{APP}/resources"), json!({"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "2"}})))]
    #[case::env_added(|m: &mut Manifests| {
        let env = doc(m, "Deployment", "web").pointer_mut(&format!("{APP}/env")).unwrap();
        env.as_array_mut().unwrap().insert(0, json!({"name": "AGENT_PORTS", "value": "8080"}));
    })]
    #[case::replicas_down(|m: &mut Manifests| set(m, "StatefulSet", "db", "/spec/replicas", json!(1)))]
    #[case::hpa_max_down_and_behavior(|m: &mut Manifests| {
        set(m, "HorizontalPodAutoscaler", "web", "/spec/maxReplicas", json!(4));
        doc(m, "HorizontalPodAutoscaler", "web")["spec"]["behavior"] =
            json!({"scaleDown": {"stabilizationWindowSeconds": 20}});
    })]
    #[case::generated_secret_and_checksum(|m: &mut Manifests| {
        set(m, "Secret", "db", "/data/password", json!("cmFuZG9tMg=="));
        set(m, "Deployment", "web", "/spec/template/metadata/annotations/checksum~1secret", json!("bbb"));
    })]
    #[case::storage_class(|m: &mut Manifests| set(m, "StatefulSet", "db", "/spec/volumeClaimTemplates/0/spec/storageClassName", json!("standard")))]
    fn allowed_changes_pass(#[case] edit: Edit) {
        let v = run(edit);
        assert!(!v.failed(), "{v}");
    }

    #[rstest]
    #[case::netpol_removed(
        |m: &mut Manifests| m.objects.retain(|o| o.kind != "NetworkPolicy"),
        &["NetworkPolicy/web `<root>`: removed by the overlay", "fix: keep the object"]
    )]
    #[case::object_added(
        |m: &mut Manifests| {
            let mut extra = m.objects[2].clone();
            extra.name = "web-extra".into();
            m.objects.push(extra);
        },
        &["NetworkPolicy/web-extra `<root>`: added by the overlay"]
    )]
    #[case::probe_path(
        |m: &mut Manifests| set(m, "Deployment", "web", &format!("{APP}/readinessProbe/httpGet/path"), json!("/")),
        &[r#"Deployment/web `spec.template.spec.containers[0].readinessProbe.httpGet.path`: profile "/healthcheck", overlay "/""#]
    )]
    #[case::exec_probe_with_the_same_image(
        |m: &mut Manifests| set(m, "Deployment", "web", &format!("{APP}/livenessProbe/exec/command"), json!(["true"])),
        &["`spec.template.spec.containers[0].livenessProbe.exec.command[0]`: profile \"web\", overlay \"true\""]
    )]
    #[case::replicas_raised(
        |m: &mut Manifests| set(m, "StatefulSet", "db", "/spec/replicas", json!(5)),
        &["StatefulSet/db `spec.replicas`: raised from 3 to 5 by the overlay"]
    )]
    #[case::replicas_to_zero(
        |m: &mut Manifests| set(m, "StatefulSet", "db", "/spec/replicas", json!(0)),
        &["lowered from 3 to 0"]
    )]
    #[case::hpa_max_raised(
        |m: &mut Manifests| set(m, "HorizontalPodAutoscaler", "web", "/spec/maxReplicas", json!(20)),
        &["`spec.maxReplicas`: raised from 10 to 20"]
    )]
    #[case::hpa_max_down_to_min(
        |m: &mut Manifests| set(m, "HorizontalPodAutoscaler", "web", "/spec/maxReplicas", json!(2)),
        &["HorizontalPodAutoscaler/web `spec.maxReplicas`: lowered from 10 to 2, not above minReplicas 2"]
    )]
    #[case::hpa_min_changed(
        |m: &mut Manifests| set(m, "HorizontalPodAutoscaler", "web", "/spec/minReplicas", json!(1)),
        &["`spec.minReplicas`: profile 2, overlay 1"]
    )]
    #[case::hpa_metrics_changed(
        |m: &mut Manifests| set(m, "HorizontalPodAutoscaler", "web", "/spec/metrics/0/resource/target/averageUtilization", json!(50)),
        &["`spec.metrics[0].resource.target.averageUtilization`: profile 80, overlay 50"]
    )]
    #[case::env_value_changed(
        |m: &mut Manifests| set(m, "Deployment", "web", &format!("{APP}/env/0/value"), json!("elsewhere")),
        &["`spec.template.spec.containers[0].env[0]`: env var `DATABASE_HOST`: profile \"db\", overlay \"elsewhere\""]
    )]
    #[case::env_removed(
        |m: &mut Manifests| set(m, "Deployment", "web", &format!("{APP}/env"), json!([])),
        &["env var `DATABASE_HOST` removed by the overlay"]
    )]
    #[case::secret_key_removed(
        |m: &mut Manifests| set(m, "Secret", "db", "/data", json!({})),
        &["Secret/db `data.password`: removed by the overlay"]
    )]
    #[case::claim_size(
        |m: &mut Manifests| set(m, "StatefulSet", "db", "/spec/volumeClaimTemplates/0/spec/resources/requests/storage", json!("1Gi")),
        &["`spec.volumeClaimTemplates[0].spec.resources.requests.storage`: profile \"50Gi\", overlay \"1Gi\""]
    )]
    #[case::other_annotation(
        |m: &mut Manifests| doc(m, "Deployment", "web")["spec"]["template"]["metadata"]["annotations"]["example.com/mode"] = json!("test"),
        &[r#"`spec.template.metadata.annotations["example.com/mode"]`: added by the overlay: "test""#]
    )]
    fn other_changes_fail(#[case] edit: Edit, #[case] mentions: &[&str]) {
        let v = run(edit);
        assert!(v.failed(), "{v}");
        let text = v.to_string();
        for m in mentions {
            assert!(text.contains(m), "missing {m:?} in:\n{text}");
        }
    }

    #[test]
    fn the_pass_names_what_the_overlay_changed() {
        let v = run(|m: &mut Manifests| {
            set(
                m,
                "Deployment",
                "web",
                &format!("{APP}/image"),
                json!("vitals/agent:1"),
            );
            set(
                m,
                "HorizontalPodAutoscaler",
                "web",
                "/spec/maxReplicas",
                json!(4),
            );
            set(m, "StatefulSet", "db", "/spec/replicas", json!(2));
        });
        assert!(!v.failed(), "{v}");
        assert_eq!(
            v.observed,
            "images: 1, replicas: db 3 -> 2, HPA maxReplicas: web 10 -> 4"
        );
        assert_eq!(
            run(|_: &mut Manifests| {}).observed,
            "the overlay changes nothing in the render"
        );
    }

    #[test]
    fn many_differences_are_counted_past_the_first_twenty() {
        let v = run(|m: &mut Manifests| {
            let env: Vec<Value> = (0..30)
                .map(|i| json!({"name": format!("V{i}"), "value": "x"}))
                .collect();
            let profile_env = doc(m, "Deployment", "web")
                .pointer_mut(&format!("{APP}/env"))
                .unwrap();
            // Removing the profile's only var and renaming the container
            // makes the diff report the containers field by field.
            *profile_env = Value::Array(env);
            set(
                m,
                "Deployment",
                "web",
                &format!("{APP}/name"),
                json!("renamed"),
            );
        });
        assert!(v.failed());
        assert_eq!(v.findings().count(), SHOWN, "{v}");
        let text = v.to_string();
        assert!(text.contains("observed: 32 differences"), "{text}");
        assert!(text.contains("note: and 12 more"), "{text}");
    }

    /// The overlay lowers the HPA ceiling, and the chart sizes a pool from it.
    fn pool_follows_the_ceiling(m: &mut Manifests) {
        set(
            m,
            "HorizontalPodAutoscaler",
            "web",
            "/spec/maxReplicas",
            json!(4),
        );
        set(
            m,
            "Deployment",
            "web",
            &format!("{APP}/env/1/value"),
            json!("9"),
        );
    }

    #[rstest]
    #[case::the_caps_alone_render_it("9", false)]
    #[case::the_caps_alone_render_another_value("1", true)]
    fn env_the_chart_derives_from_the_caps(#[case] capped_pool: &str, #[case] fails: bool) {
        let mut profile = profile();
        let env = doc(&mut profile, "Deployment", "web")
            .pointer_mut(&format!("{APP}/env"))
            .unwrap();
        env.as_array_mut()
            .unwrap()
            .push(json!({"name": "POOL_SIZE", "value": "1"}));
        let mut overlaid = profile.clone();
        pool_follows_the_ceiling(&mut overlaid);
        let mut capped = profile.clone();
        set(
            &mut capped,
            "HorizontalPodAutoscaler",
            "web",
            "/spec/maxReplicas",
            json!(4),
        );
        set(
            &mut capped,
            "Deployment",
            "web",
            &format!("{APP}/env/1/value"),
            json!(capped_pool),
        );
        let v = check(
            "overlay",
            Renders {
                profile: &profile,
                overlaid: &overlaid,
                capped: Some(&capped),
            },
        );
        assert_eq!(v.failed(), fails, "{v}");
        if fails {
            assert!(
                v.to_string()
                    .contains("env var `POOL_SIZE`: profile \"1\", overlay \"9\""),
                "{v}"
            );
        } else {
            assert!(
                v.observed
                    .contains("env the chart derives from the caps: web POOL_SIZE \"1\" -> \"9\""),
                "{v}"
            );
        }
        // Without the capped render nothing proves where the value came from.
        let v = check(
            "overlay",
            Renders {
                profile: &profile,
                overlaid: &overlaid,
                capped: None,
            },
        );
        assert!(v.failed(), "{v}");
    }

    #[test]
    fn caps_keep_only_replica_counts() {
        let overlay = json!({
            "api": {
                "autoscaling": {"maxReplicas": 20, "behavior": {"scaleDown": {"stabilizationWindowSeconds": 20}}},
                "image": {"repository": "vitals/agent", "tag": "1"},
                "extraEnv": [{"name": "replicas", "value": "3"}],
                "replicaCount": 2
            },
            "worker": {"replicas": {"nested": 1}},
            "redis": {"resources": {"requests": {"cpu": "10m"}}}
        });
        assert_eq!(
            caps(&overlay),
            Some(json!({"api": {"autoscaling": {"maxReplicas": 20}, "replicaCount": 2}}))
        );
        assert_eq!(caps(&json!({"web": {"image": "x"}})), None);
    }
}
