//! Runtime tier: checks against a live cluster, over kube-rs watches.
//!
//! One module per check kind, each owning its judge (`check`/`judge`)
//! and, where it is pure, its `derive` from the rendered manifests.
//! [`ALL`] lists every kind the cluster tier reports, with its stage and
//! where its trials are derived; adding a kind is one module and one row
//! (crates/checks/README.md has the recipe).

pub mod agent_pod;
pub mod availability;
pub mod create;
pub mod cronjobs;
pub mod dns;
pub mod exec;
pub mod explain;
pub mod hpa;
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

/// One runtime check kind: the `<kind>` of `cluster/<kind>/<object>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub name: &'static str,
    pub stage: Stage,
    /// The module here that judges it (`runtime/<module>.rs` or a folder).
    pub module: &'static str,
    /// Where its trials are derived from the manifests today.
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
    kind("install", Stage::Beside, "ready", "suites/src/cluster/plan/workloads.rs", "helm upgrade --install succeeds, hooks included"),
    kind("ready", Stage::Beside, "ready", "suites/src/cluster/plan/workloads.rs", "every workload becomes ready, or its terminal cause is named"),
    kind("pvc", Stage::Beside, "pvcs", "pvcs::derive", "every claim binds at its size and access mode"),
    kind("dns", Stage::Beside, "dns", "suites/src/cluster/plan/workloads.rs", "every Service resolves by its three name forms"),
    kind("probe", Stage::Beside, "probes", "suites/src/cluster/plan/workloads.rs", "every probe answers within its timeoutSeconds"),
    kind("rbac", Stage::Beside, "rbac", "rbac::derive", "each ServiceAccount may do what its Roles grant and no more"),
    kind("netpol", Stage::Beside, "netpol", "suites/src/cluster/plan/netpol.rs", "the CNI enforces policy; denied flows refused, allowed flows and DNS egress open"),
    kind("hpa", Stage::Beside, "hpa", "suites/src/cluster/plan/hpa.rs", "up under load, never past max, back down within its behavior's time"),
    kind("cronjob", Stage::Beside, "cronjobs", "cronjobs::derive", "a run triggered by hand completes (a backup leaves a readable dump)"),
    kind("data-kept", Stage::Beside, "persistence", "persistence::derive", "data written before an upgrade is there after it"),
    kind("persistence", Stage::Disrupts, "persistence", "persistence::derive", "data survives the delete of its pod"),
    kind("restarts", Stage::Whole, "restarts", "suites/src/cluster/plan/workloads.rs", "no container restarted during the run"),
    kind("helm-test", Stage::Beside, "ready", "suites/src/cluster/plan/workloads.rs", "every helm test hook pod succeeds"),
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
