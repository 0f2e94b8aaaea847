//! The Kubernetes minors vitals supports, read from
//! `scripts/kubernetes-versions.tsv` (embedded at compile time, so the
//! scripts that build node images and the Rust that names clusters, trials
//! and records can never disagree on what "1.36" means). The first row is
//! the default: the newest minor.

use std::fmt;

const TABLE: &str = include_str!("../../../scripts/kubernetes-versions.tsv");

/// One supported minor and the patch release vitals pins for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeVersion {
    /// `1.37`
    pub minor: String,
    /// `v1.37.2`
    pub version: String,
}

impl KubeVersion {
    /// The kind cluster that runs this version: `vitals-1-37`, as
    /// `scripts/versions.env` names it, so clusters of several versions
    /// coexist on one machine.
    pub fn cluster_name(&self) -> String {
        format!("vitals-{}", self.minor.replace('.', "-"))
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.version)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("E2E_K8S: Kubernetes `{asked}` is not supported (supported: {supported}; scripts/kubernetes-versions.tsv lists them)")]
pub struct UnsupportedVersion {
    pub asked: String,
    pub supported: String,
}

/// Every supported minor, newest first.
pub fn supported() -> Vec<KubeVersion> {
    TABLE
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let mut cols = l.split('\t');
            Some(KubeVersion {
                minor: cols.next()?.to_string(),
                version: cols.next()?.to_string(),
            })
        })
        .collect()
}

/// The newest supported minor.
pub fn default_version() -> KubeVersion {
    supported()
        .into_iter()
        .next()
        .expect("scripts/kubernetes-versions.tsv has at least one row")
}

/// `1.36`, `v1.36` or `v1.36.3` -> its row; empty -> the default.
pub fn find(asked: &str) -> Result<KubeVersion, UnsupportedVersion> {
    let want = asked.trim().trim_start_matches('v');
    if want.is_empty() {
        return Ok(default_version());
    }
    let all = supported();
    all.iter()
        .find(|v| v.minor == want || v.version.trim_start_matches('v') == want)
        .cloned()
        .ok_or_else(|| UnsupportedVersion {
            asked: asked.to_string(),
            supported: all
                .iter()
                .map(|v| v.minor.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The version this run targets: `E2E_K8S`, else `K8S` (what `make e2e
/// K8S=1.36` exports), else the default.
pub fn selected() -> Result<KubeVersion, UnsupportedVersion> {
    let asked = std::env::var("E2E_K8S")
        .or_else(|_| std::env::var("K8S"))
        .unwrap_or_default();
    find(&asked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_newest_row_and_every_minor_is_unique() {
        let all = supported();
        assert!(all.len() >= 3, "{all:?}");
        assert_eq!(default_version(), all[0]);
        let mut minors: Vec<_> = all.iter().map(|v| v.minor.clone()).collect();
        minors.dedup();
        assert_eq!(minors.len(), all.len());
        for v in &all {
            assert!(
                v.version.starts_with(&format!("v{}.", v.minor)),
                "{v:?}: the pinned patch belongs to its minor"
            );
        }
    }

    #[test]
    fn a_minor_can_be_asked_for_in_three_spellings() {
        let v = &supported()[1];
        assert_eq!(find(&v.minor).unwrap(), *v);
        assert_eq!(find(&format!("v{}", v.minor)).unwrap(), *v);
        assert_eq!(find(&v.version).unwrap(), *v);
        assert_eq!(find("").unwrap(), default_version());
    }

    #[test]
    fn an_unsupported_minor_names_the_supported_ones() {
        let err = find("1.30").unwrap_err();
        assert_eq!(err.asked, "1.30");
        assert!(err.to_string().contains(&default_version().minor), "{err}");
    }

    #[test]
    fn clusters_are_named_by_minor() {
        let v = find("1.36").unwrap();
        assert_eq!(v.cluster_name(), "vitals-1-36");
    }
}
