//! Runtime tier: checks against a live cluster, over kube-rs watches.
//!
//! One module per check kind, each owning its `derive` (which objects get
//! a trial, its name and parameters: a pure function of the rendered
//! manifests and the suite spec) and its judge (`judge(&Spec, &CheckCx)`,
//! or `check` for the older kinds). [`ALL`] lists every kind the cluster
//! tier reports, with its stage; adding a kind is one module and one row
//! (crates/checks/README.md has the recipe).

pub mod agent_pod;
pub mod availability;
pub mod create;
pub mod cronjobs;
pub mod cx;
pub mod dns;
pub mod exec;
pub mod explain;
pub mod helm_test;
pub mod hpa;
pub mod install;
pub mod logs;
pub mod netpol;
pub mod persistence;
pub mod probes;
pub mod pvcs;
pub mod rbac;
pub mod ready;
pub mod restarts;
pub mod view;
pub mod wait;

use crate::check::Stage;

pub use cx::{CheckCx, ClientPod};

/// An error with its causes, `what: cause: cause`, for a verdict's
/// observed text: `Display` of a typed error names only its own step.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        out.push_str(&format!(": {c}"));
        src = c.source();
    }
    out
}

/// One runtime check kind: the `<kind>` of `cluster/<kind>/<object>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub name: &'static str,
    pub stage: Stage,
    /// The module here that derives its trials and judges them
    /// (`runtime/<module>.rs` or a folder).
    pub module: &'static str,
    /// The function its trials are derived by: `<module>::derive`.
    pub derived_in: &'static str,
    /// What a pass proves, in one line.
    pub proves: &'static str,
}

const fn kind(
    name: &'static str,
    stage: Stage,
    module: &'static str,
    derived_in: &'static str,
    proves: &'static str,
) -> Kind {
    Kind {
        name,
        stage,
        module,
        derived_in,
        proves,
    }
}

/// Every runtime check kind of the cluster (and upgrade) tier.
#[rustfmt::skip] // one row per kind reads as the table it is
pub const ALL: &[Kind] = &[
    kind("install", Stage::Beside, "install", "install::derive", "helm upgrade --install succeeds, hooks included"),
    kind("ready", Stage::Beside, "ready", "ready::derive", "every workload becomes ready, or its terminal cause is named"),
    kind("pvc", Stage::Beside, "pvcs", "pvcs::derive", "every claim binds at its size and access mode"),
    kind("dns", Stage::Beside, "dns", "dns::derive", "every Service resolves by its three name forms"),
    kind("probe", Stage::Beside, "probes", "probes::derive", "every probe answers within its timeoutSeconds"),
    kind("rbac", Stage::Beside, "rbac", "rbac::derive", "each ServiceAccount may do what its Roles grant and no more"),
    kind("netpol", Stage::Beside, "netpol", "netpol::derive", "the CNI enforces policy; denied flows refused, allowed flows and DNS egress open"),
    kind("hpa", Stage::Beside, "hpa", "hpa::derive", "up under load, never past max, back down within its behavior's time"),
    kind("cronjob", Stage::Beside, "cronjobs", "cronjobs::derive", "a run triggered by hand completes (a backup leaves a readable dump)"),
    kind("data-kept", Stage::Beside, "persistence", "persistence::derive", "data written before an upgrade is there after it"),
    kind("persistence", Stage::Disrupts, "persistence", "persistence::derive", "data survives the delete of its pod"),
    kind("restarts", Stage::Whole, "restarts", "restarts::derive", "no container restarted during the run"),
    kind("helm-test", Stage::Beside, "helm_test", "helm_test::derive", "every helm test hook pod succeeds"),
];

/// The kind a trial name (`cluster/<kind>/...`) reports under.
pub fn kind_of(check_name: &str) -> Option<&'static Kind> {
    let id = crate::check::CheckId::parse(check_name)?;
    ALL.iter().find(|k| k.name == id.kind)
}

#[cfg(test)]
mod registry_tests {
    use super::*;

    #[test]
    fn every_kind_names_a_module_that_judges_it_and_each_name_once() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/runtime");
        let mut seen = std::collections::BTreeSet::new();
        for k in ALL {
            assert!(seen.insert(k.name), "{} listed twice", k.name);
            assert!(
                dir.join(format!("{}.rs", k.module)).is_file() || dir.join(k.module).is_dir(),
                "{}: no runtime/{}.rs",
                k.name,
                k.module
            );
        }
    }

    /// The table says where to look, and it is always the kind's own
    /// module: no kind is derived in the runner.
    #[test]
    fn every_kind_is_derived_by_its_own_module() {
        for k in ALL {
            assert_eq!(k.derived_in, format!("{}::derive", k.module), "{}", k.name);
        }
    }

    #[test]
    fn a_chain_names_every_cause() {
        #[derive(Debug, thiserror::Error)]
        #[error("reading the claim")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::other("disk gone"));
        assert_eq!(chain(&e), "reading the claim: disk gone");
    }

    #[test]
    fn a_trial_name_finds_its_kind_and_stage() {
        assert_eq!(
            kind_of("cluster/persistence/medplum-postgresql").map(|k| k.stage),
            Some(Stage::Disrupts)
        );
        assert_eq!(
            kind_of("cluster/restarts/deployment/x").map(|k| k.stage),
            Some(Stage::Whole)
        );
        assert_eq!(
            kind_of("cluster/helm-test").map(|k| k.name),
            Some("helm-test")
        );
        assert!(kind_of("cluster/nonsense/x").is_none());
    }
}
