//! Render-time policies, one module per family. Each turns the manifests of
//! one chart x profile into verdicts keyed by a subject slug, so every
//! workload (or HPA, PDB, policy, values file) is its own trial.

use crate::values::ValuesSet;
use crate::{Manifests, Verdict};

pub mod autoscaling;
pub mod declared;
pub mod disruption;
pub mod images;
pub mod ingress_exposure;
pub mod liveness;
pub mod lookup;
pub mod migrations;
pub mod network;
pub mod probes;
pub mod release_tags;
pub mod resources;
pub mod schema_nonsense;
pub mod secrets;
pub mod security;
pub mod services;
pub mod shared_state;
pub mod shipped_images;
pub mod stable_secrets;

pub use declared::{Declared, DeclaredPaths};

/// What a policy sees.
pub struct PolicyCx<'a> {
    pub manifests: &'a Manifests,
    pub values: &'a ValuesSet,
    /// Production rules (default-deny, no plaintext secrets) apply.
    pub prod: bool,
    /// A second render of the same chart and values (prod cells): whatever
    /// differs from `manifests` was generated at render time.
    pub rerender: Option<&'a Manifests>,
    /// The chart's `values.schema.json`, when it has one that parses.
    pub schema: Option<&'a serde_json::Value>,
    /// What the suite spec declares about workloads' paths.
    pub declared: &'a Declared,
}

/// One verdict of one policy about one subject.
#[derive(Debug, Clone)]
pub struct PolicyVerdict {
    pub policy: &'static str,
    /// `deployment/medplum-server`, `values-prod.yaml`, ...
    pub subject: String,
    pub verdict: Verdict,
}

type PolicyFn = fn(&PolicyCx<'_>) -> Vec<(String, Verdict)>;

/// Every policy family, by the name used in trial names.
pub const ALL: &[(&str, PolicyFn)] = &[
    ("resources", resources::check),
    ("probes", probes::check),
    ("security", security::check),
    ("images", images::check),
    ("autoscaling", autoscaling::check),
    ("disruption", disruption::check),
    ("services", services::check),
    ("network", network::check),
    ("secrets", secrets::check),
    ("shipped-images", shipped_images::check),
    ("release-tags", release_tags::check),
    ("ingress-exposure", ingress_exposure::check),
    ("migrations", migrations::check),
    ("shared-state", shared_state::check),
    ("stable-secrets", stable_secrets::check),
    ("schema-nonsense", schema_nonsense::check),
    ("liveness", liveness::check),
];

pub fn run_all(cx: &PolicyCx<'_>) -> Vec<PolicyVerdict> {
    ALL.iter()
        .flat_map(|(policy, f)| {
            f(cx)
                .into_iter()
                .map(move |(subject, verdict)| PolicyVerdict {
                    policy,
                    subject,
                    verdict,
                })
        })
        .collect()
}

/// One verdict per workload over its containers' images: `judge` names
/// what is wrong with an image reference (None: fine), `problem` words the
/// finding from the image and that reason, `fix` is the same for every
/// finding. The image families (`images`, `shipped-images`,
/// `release-tags`) differ only in these.
pub(crate) fn per_workload_image(
    cx: &PolicyCx<'_>,
    expected: &'static str,
    judge: impl Fn(&str) -> Option<String>,
    problem: impl Fn(&str, &str) -> String,
    fix: &str,
) -> Vec<(String, Verdict)> {
    per_workload(
        cx,
        |_| true,
        |w| {
            let findings = w
                .containers()
                .into_iter()
                .filter_map(|c| {
                    let image = c
                        .spec
                        .get("image")
                        .and_then(|v| v.as_str())
                        .unwrap_or_default();
                    judge(image).map(|why| crate::verdict::Finding {
                        object: c.label(),
                        field: format!("{}.image", c.path),
                        problem: problem(image, &why),
                        fix: fix.to_string(),
                    })
                })
                .collect();
            Verdict::from_findings(w.object.id().to_string(), expected, findings)
        },
    )
}

/// Runs one check per workload, named by the workload's slug.
pub(crate) fn per_workload<'a>(
    cx: &PolicyCx<'a>,
    filter: impl Fn(&crate::Workload<'a>) -> bool,
    f: impl Fn(&crate::Workload<'a>) -> Verdict,
) -> Vec<(String, Verdict)> {
    cx.manifests
        .workloads()
        .filter(|w| filter(w))
        .map(|w| (w.object.id().slug(), f(&w)))
        .collect()
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use std::path::PathBuf;

    /// Runs one policy on a YAML snippet (prod rules on), returning verdicts.
    pub fn run(f: PolicyFn, yaml: &str) -> Vec<(String, Verdict)> {
        run_with(f, yaml, &Declared::default())
    }

    /// [`run`] with what a suite spec declares about the workloads' paths.
    pub fn run_with(f: PolicyFn, yaml: &str, declared: &Declared) -> Vec<(String, Verdict)> {
        let m = Manifests::parse(yaml).unwrap();
        let values = ValuesSet {
            files: vec![(PathBuf::from("values.yaml"), serde_json::json!({}))],
        };
        f(&PolicyCx {
            manifests: &m,
            values: &values,
            prod: true,
            rerender: None,
            schema: None,
            declared,
        })
    }

    pub fn only(f: PolicyFn, yaml: &str) -> Verdict {
        let mut v = run(f, yaml);
        assert_eq!(v.len(), 1, "expected one verdict, got {v:?}");
        v.remove(0).1
    }

    /// A Deployment whose single container is given as YAML (indented 6).
    pub fn deployment(container: &str) -> String {
        format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n{container}")
    }
}
