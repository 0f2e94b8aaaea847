//! What a suite spec says about a workload's paths that its manifests cannot
//! say themselves: which HTTP paths are admin-only, which container paths
//! hold state, which health paths check the app's dependencies. Keyed by
//! workload name (`metadata.name` of the Deployment or StatefulSet).

use std::collections::BTreeMap;

use serde::Deserialize;

/// The declared paths of one workload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeclaredPaths {
    /// HTTP paths that must never be routed from outside (admin consoles,
    /// queue dashboards, log endpoints): `ingress-exposure` fails an Ingress
    /// whose rules cover one.
    #[serde(default)]
    pub admin: Vec<String>,
    /// Container paths that hold state (uploads, binary storage):
    /// `shared-state` fails a multi-replica workload that keeps one on an
    /// emptyDir.
    #[serde(default)]
    pub data: Vec<String>,
    /// HTTP paths whose handler checks the app's dependencies (database,
    /// cache): `liveness` fails a liveness probe on one.
    #[serde(default)]
    pub checks_dependencies: Vec<String>,
}

/// Workload name -> its declared paths.
pub type Declared = BTreeMap<String, DeclaredPaths>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_declares_paths_per_workload_in_camel_case() {
        let d: Declared = serde_yaml::from_str(
            "api: {admin: [/queues], data: [/data/uploads], checksDependencies: [/health]}\n",
        )
        .unwrap();
        assert_eq!(d["api"].checks_dependencies, ["/health"]);
        assert_eq!(d["api"].data, ["/data/uploads"]);
    }

    #[test]
    fn a_typo_is_refused() {
        let e = serde_yaml::from_str::<Declared>("api: {admins: [/x]}\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `admins`"), "{e}");
    }
}
