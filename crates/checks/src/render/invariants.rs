//! Invariants a suite spec adds: promises of the seed the manifests cannot
//! state about themselves (resource budgets, exact HPA ranges, PDB floors,
//! objects that must exist). Each is one trial.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::manifest::selector_matches;
use crate::quantity::{self, format_bytes, format_cpu};
use crate::verdict::{Finding, Verdict};
use crate::Manifests;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Invariant {
    /// Trial name segment, e.g. `data-services-fit-free-tier`.
    pub name: String,
    /// Profiles it applies to; empty means all.
    #[serde(default)]
    pub profiles: Vec<String>,
    /// Why it holds: the seed sentence it comes from.
    #[serde(default)]
    pub because: Option<String>,
    #[serde(default)]
    pub requests: Option<RequestsRule>,
    #[serde(default)]
    pub hpa: Option<HpaRule>,
    #[serde(default)]
    pub pdb: Option<PdbRule>,
    #[serde(default)]
    pub exists: Option<ObjectName>,
}

/// Sum of requests (x replicas) and storage over the selected workloads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestsRule {
    /// Pod-template labels that select the workloads to add up.
    pub select: BTreeMap<String, String>,
    #[serde(default)]
    pub cpu: Option<Bound>,
    #[serde(default)]
    pub memory: Option<Bound>,
    /// PVC storage: volumeClaimTemplates x replicas, plus PVC objects whose
    /// labels match `select`.
    #[serde(default)]
    pub storage: Option<Bound>,
}

/// A bound on a quantity: exactly (within `tolerance`, a percentage), at most, at least.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bound {
    #[serde(default)]
    pub equals: Option<String>,
    #[serde(default)]
    pub max: Option<String>,
    #[serde(default)]
    pub min: Option<String>,
    /// e.g. `5%` (default exact).
    #[serde(default)]
    pub tolerance: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectName {
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HpaRule {
    /// The workload the HPA must scale (`kind` + `name`).
    pub target: ObjectName,
    pub min: i64,
    pub max: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PdbRule {
    pub target: ObjectName,
    #[serde(default)]
    pub min_available: Option<Value>,
    #[serde(default)]
    pub max_unavailable: Option<Value>,
}

/// An invariant must state exactly one rule: with none it proves nothing,
/// with several its one verdict could not say which failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInvariant {
    #[error("invariant `{0}` states no rule (one of: requests, hpa, pdb, exists)")]
    NoRule(String),
    #[error("invariant `{name}` states {rules} rules; give each its own invariant")]
    SeveralRules { name: String, rules: usize },
}

impl Invariant {
    /// The one rule it states; a spec with none or several is rejected at
    /// parse time by [`Invariant::validate`].
    pub fn validate(&self) -> Result<(), InvalidInvariant> {
        let n = [
            self.requests.is_some(),
            self.hpa.is_some(),
            self.pdb.is_some(),
            self.exists.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        match n {
            1 => Ok(()),
            0 => Err(InvalidInvariant::NoRule(self.name.clone())),
            rules => Err(InvalidInvariant::SeveralRules {
                name: self.name.clone(),
                rules,
            }),
        }
    }

    pub fn applies_to(&self, profile: &str) -> bool {
        self.profiles.is_empty() || self.profiles.iter().any(|p| p == profile)
    }

    pub fn check(&self, m: &Manifests) -> Verdict {
        let v = if let Some(r) = &self.requests {
            requests(r, m)
        } else if let Some(r) = &self.hpa {
            hpa(r, m)
        } else if let Some(r) = &self.pdb {
            pdb(r, m)
        } else if let Some(o) = &self.exists {
            match m.get(&o.kind, &o.name) {
                Some(_) => Verdict::pass(format!("{}/{}", o.kind, o.name), "rendered", "rendered"),
                None => Verdict::fail(
                    format!("{}/{}", o.kind, o.name),
                    "rendered",
                    "absent from the rendered manifests",
                ),
            }
        } else {
            Verdict::fail(&self.name, "one rule", "none")
        };
        match &self.because {
            Some(b) => v.with_hint(format!("promised by the seed: {b}")),
            None => v,
        }
    }
}

fn check_bound(what: &str, have: f64, b: &Bound, fmt: fn(f64) -> String) -> Option<Finding> {
    let q = |s: &String| quantity::parse(s);
    let tol = b
        .tolerance
        .as_deref()
        .and_then(|t| t.strip_suffix('%'))
        .and_then(|t| t.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 100.0;
    let problem = if let Some(want) = b.equals.as_ref().and_then(q) {
        ((have - want).abs() > want * tol + 1e-9).then(|| {
            format!(
                "totals {}, expected {}{}",
                fmt(have),
                fmt(want),
                if tol > 0.0 {
                    format!(" ±{}%", tol * 100.0)
                } else {
                    String::new()
                }
            )
        })
    } else {
        None
    }
    .or_else(|| {
        b.max
            .as_ref()
            .and_then(q)
            .filter(|m| have > *m)
            .map(|m| format!("totals {}, above the budget of {}", fmt(have), fmt(m)))
    })
    .or_else(|| {
        b.min
            .as_ref()
            .and_then(q)
            .filter(|m| have < *m)
            .map(|m| format!("totals {}, below the minimum of {}", fmt(have), fmt(m)))
    })?;
    Some(Finding {
        object: "selected workloads".into(),
        field: what.into(),
        problem,
        fix: "change the per-service requests or sizes in the profile's values".into(),
    })
}

fn requests(r: &RequestsRule, m: &Manifests) -> Verdict {
    let sel = serde_json::json!({ "matchLabels": r.select });
    let (mut cpu, mut mem, mut storage) = (0.0, 0.0, 0.0);
    let mut names = Vec::new();
    for w in m
        .workloads()
        .filter(|w| w.is_long_running() && selector_matches(&sel, &w.pod_labels()))
    {
        let n = w.replicas() as f64;
        names.push(w.object.id().to_string());
        for c in w.containers().into_iter().filter(|c| !c.init) {
            cpu += n * c
                .spec
                .pointer("/resources/requests/cpu")
                .and_then(quantity::from_value)
                .unwrap_or(0.0);
            mem += n * c
                .spec
                .pointer("/resources/requests/memory")
                .and_then(quantity::from_value)
                .unwrap_or(0.0);
        }
        for t in w
            .object
            .doc
            .pointer("/spec/volumeClaimTemplates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            storage += n * t
                .pointer("/spec/resources/requests/storage")
                .and_then(quantity::from_value)
                .unwrap_or(0.0);
        }
    }
    for pvc in m.of_kind("PersistentVolumeClaim") {
        if selector_matches(
            &sel,
            &crate::manifest::string_map(pvc.doc.pointer("/metadata/labels")),
        ) {
            storage += pvc
                .doc
                .pointer("/spec/resources/requests/storage")
                .and_then(quantity::from_value)
                .unwrap_or(0.0);
            names.push(pvc.id().to_string());
        }
    }
    let mut findings = Vec::new();
    if names.is_empty() {
        findings.push(Finding {
            object: "selector".into(),
            field: "select".into(),
            problem: format!("{:?} selects no workload", r.select),
            fix: "use labels the pod templates carry".into(),
        });
    }
    findings.extend(
        r.cpu
            .as_ref()
            .and_then(|b| check_bound("requests.cpu", cpu, b, format_cpu)),
    );
    findings.extend(
        r.memory
            .as_ref()
            .and_then(|b| check_bound("requests.memory", mem, b, format_bytes)),
    );
    findings.extend(
        r.storage
            .as_ref()
            .and_then(|b| check_bound("storage", storage, b, format_bytes)),
    );
    let observed = format!(
        "cpu {}, memory {}, storage {} over {}",
        format_cpu(cpu),
        format_bytes(mem),
        format_bytes(storage),
        names.join(", ")
    );
    let mut v = Verdict::from_findings("requests", "totals within the stated budget", findings);
    v.observed = if v.failed() {
        format!("{} ({observed})", v.observed)
    } else {
        observed
    };
    v
}

fn hpa(r: &HpaRule, m: &Manifests) -> Verdict {
    let subject = format!("HPA of {}/{}", r.target.kind, r.target.name);
    let expected = format!("minReplicas {} and maxReplicas {}", r.min, r.max);
    let found = m.of_kind("HorizontalPodAutoscaler").find(|h| {
        h.doc
            .pointer("/spec/scaleTargetRef/kind")
            .and_then(Value::as_str)
            == Some(&r.target.kind)
            && h.doc
                .pointer("/spec/scaleTargetRef/name")
                .and_then(Value::as_str)
                == Some(&r.target.name)
    });
    match found {
        None => Verdict::fail(subject, expected, "no HPA targets it"),
        Some(h) => {
            let min = h
                .doc
                .pointer("/spec/minReplicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let max = h
                .doc
                .pointer("/spec/maxReplicas")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let observed = format!("{}: minReplicas {min}, maxReplicas {max}", h.id());
            if (min, max) == (r.min, r.max) {
                Verdict::pass(subject, expected, observed)
            } else {
                Verdict::fail(subject, expected, observed)
            }
        }
    }
}

fn pdb(r: &PdbRule, m: &Manifests) -> Verdict {
    let subject = format!("PDB of {}/{}", r.target.kind, r.target.name);
    let expected = format!(
        "minAvailable {:?}, maxUnavailable {:?}",
        r.min_available, r.max_unavailable
    );
    let Some(w) = m
        .get(&r.target.kind, &r.target.name)
        .and_then(|o| o.as_workload())
    else {
        return Verdict::fail(
            subject,
            expected,
            format!("{}/{} is not rendered", r.target.kind, r.target.name),
        );
    };
    let labels = w.pod_labels();
    let found = m.of_kind("PodDisruptionBudget").find(|p| {
        p.doc
            .pointer("/spec/selector")
            .is_some_and(|s| selector_matches(s, &labels))
    });
    match found {
        None => Verdict::fail(subject, expected, "no PDB selects its pods"),
        Some(p) => {
            let ma = p.doc.pointer("/spec/minAvailable").cloned();
            let mu = p.doc.pointer("/spec/maxUnavailable").cloned();
            let observed = format!("{}: minAvailable {:?}, maxUnavailable {:?}", p.id(), ma, mu);
            let ok = r
                .min_available
                .as_ref()
                .is_none_or(|want| ma.as_ref() == Some(want))
                && r.max_unavailable
                    .as_ref()
                    .is_none_or(|want| mu.as_ref() == Some(want));
            if ok {
                Verdict::pass(subject, expected, observed)
            } else {
                Verdict::fail(subject, expected, observed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: pg}\nspec:\n  replicas: 1\n  template:\n    metadata: {labels: {tier: data}}\n    spec:\n      containers: [{name: pg, image: pg:16, resources: {requests: {cpu: 500m, memory: 1Gi}}}]\n  volumeClaimTemplates:\n  - spec: {resources: {requests: {storage: 60Gi}}}\n---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: redis}\nspec:\n  replicas: 1\n  template:\n    metadata: {labels: {tier: data}}\n    spec:\n      containers: [{name: r, image: r:7, resources: {requests: {cpu: 150m, memory: 512Mi}}}]\n  volumeClaimTemplates:\n  - spec: {resources: {requests: {storage: 5Gi}}}\n";

    fn inv(yaml: &str) -> Invariant {
        let i: Invariant = serde_yaml::from_str(yaml).unwrap();
        i.validate().unwrap();
        i
    }

    #[test]
    fn budgets_add_up_requests_and_claims() {
        let m = Manifests::parse(YAML).unwrap();
        let ok = inv("name: budget\nrequests: {select: {tier: data}, cpu: {equals: 650m}, memory: {max: 2Gi}, storage: {equals: 65Gi}}\n");
        let v = ok.check(&m);
        assert!(!v.failed(), "{v}");
        assert!(v.observed.contains("cpu 650m"), "{v}");
        let over = inv("name: budget\nrequests: {select: {tier: data}, storage: {max: 50Gi}}\n");
        let v = over.check(&m);
        assert!(
            v.failed()
                && v.to_string()
                    .contains("totals 65Gi, above the budget of 50Gi"),
            "{v}"
        );
    }

    #[test]
    fn a_spec_with_two_rules_is_rejected() {
        let i: Invariant = serde_yaml::from_str("name: x\nexists: {kind: A, name: b}\nhpa: {target: {kind: Deployment, name: d}, min: 1, max: 2}\n").unwrap();
        let e = i.validate().unwrap_err();
        assert!(
            matches!(e, InvalidInvariant::SeveralRules { rules: 2, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("states 2 rules"), "{e}");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let e =
            serde_yaml::from_str::<Invariant>("name: x\nexist: {kind: A, name: b}\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `exist`"), "{e}");
    }
}
