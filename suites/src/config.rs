//! One typed configuration, read once from every `E2E_*` / `VITALS_*`
//! variable the runner uses. `docs/variables.md` has the table (name,
//! default, meaning); `tests::every_variable_the_code_reads_has_a_row`
//! fails when code reads a variable that the table does not name.
//!
//! Library crates that are also used on their own (`vitals-cluster`,
//! `vitals-helm`, `vitals-images`) read their few variables themselves;
//! the table covers them too, and the test scans their sources.

use std::path::PathBuf;
use std::sync::OnceLock;

/// What the variables say, parsed, with defaults applied once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `E2E_TIERS`: the raw comma list (parsed by `env::tiers`); None = all.
    pub tiers: Option<String>,
    /// `E2E_OUT`: results, caches and cell files (default `<root>/target/e2e`).
    pub out: Option<PathBuf>,
    /// `E2E_RUN`: the run a result belongs to (default `local`).
    pub run: String,
    /// `E2E_HELM`: the helm binary to use (else `.bin/helm`, else PATH).
    pub helm: Option<PathBuf>,
    /// `VITALS_CACHE`: the shared cache (default `~/.cache/vitals`).
    pub cache: PathBuf,
    /// `E2E_KEEP`: keep every cell's namespace, running, after the run.
    pub keep: bool,
    /// `E2E_PARALLEL`: judges running at once (default 32).
    pub parallel: usize,
    /// `E2E_HPA_PARALLEL`: HPA trials loading the node at once (default 4).
    pub hpa_parallel: usize,
    /// `E2E_NO_PROGRESS`: no progress display even at a terminal.
    pub no_progress: bool,
    /// `E2E_UPGRADE_FROM`: a packaged chart or chart directory to upgrade from.
    pub upgrade_from: Option<PathBuf>,
    /// `NEXTEST_RUN_ID` set: one process per trial.
    pub process_per_trial: bool,
    /// `E2E_CLUSTER_READY`: the kind cluster nextest's setup script brought
    /// up and loaded the images into (`.config/nextest.toml`); a trial
    /// process selecting that cluster attaches to it instead of running
    /// `cluster.sh up` and `images.sh load` again.
    pub cluster_ready: Option<String>,
}

/// Every variable the runner and its crates read, as `docs/variables.md`
/// names them. Kept here so the test can tell a missing row from a stale one.
pub const VARIABLES: &[&str] = &[
    "E2E_TIERS",
    "E2E_OUT",
    "E2E_RUN",
    "E2E_HELM",
    "E2E_KEEP",
    "E2E_PARALLEL",
    "E2E_HPA_PARALLEL",
    "E2E_NO_PROGRESS",
    "E2E_UPGRADE_FROM",
    "E2E_DISRUPT",
    "E2E_CHART",
    "E2E_VALUES",
    "E2E_SPEC",
    "E2E_CLUSTER",
    "E2E_KUBECONFIG",
    "E2E_K8S",
    "VITALS_CACHE",
    "VITALS_CLUSTER",
    "VITALS_LEASE_HELD",
    "E2E_CLUSTER_READY",
];

fn positive(v: Option<String>, default: usize) -> usize {
    v.and_then(|v| v.trim().parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

impl Config {
    /// Built from any lookup (the process environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Config {
        let nonempty = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        Config {
            tiers: get("E2E_TIERS"),
            out: nonempty("E2E_OUT").map(PathBuf::from),
            run: nonempty("E2E_RUN").unwrap_or_else(|| "local".into()),
            helm: nonempty("E2E_HELM").map(PathBuf::from),
            cache: nonempty("VITALS_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(get("HOME").unwrap_or_else(|| "/root".into()))
                        .join(".cache/vitals")
                }),
            keep: get("E2E_KEEP").is_some_and(|v| v != "0"),
            parallel: positive(get("E2E_PARALLEL"), 32),
            hpa_parallel: positive(get("E2E_HPA_PARALLEL"), 4),
            no_progress: get("E2E_NO_PROGRESS").is_some(),
            upgrade_from: nonempty("E2E_UPGRADE_FROM").map(PathBuf::from),
            process_per_trial: get("NEXTEST_RUN_ID").is_some(),
            cluster_ready: nonempty("E2E_CLUSTER_READY").map(|v| v.trim().to_string()),
        }
    }

    pub fn from_env() -> Config {
        Config::from_lookup(|k| std::env::var(k).ok())
    }
}

/// The process's configuration, read on first use.
pub fn get() -> &'static Config {
    static C: OnceLock<Config> = OnceLock::new();
    C.get_or_init(Config::from_env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let c = cfg(&[("HOME", "/home/u")]);
        assert_eq!(c.run, "local");
        assert_eq!(c.cache, Path::new("/home/u/.cache/vitals"));
        assert_eq!((c.parallel, c.hpa_parallel), (32, 4));
        assert!(!c.keep && !c.process_per_trial && c.upgrade_from.is_none());
        assert_eq!(c.cluster_ready, None);
    }

    #[test]
    fn the_ready_cluster_is_read_trimmed_and_an_empty_one_is_none() {
        let c = cfg(&[("E2E_CLUSTER_READY", "vitals-1-37\n")]);
        assert_eq!(c.cluster_ready.as_deref(), Some("vitals-1-37"));
        assert_eq!(cfg(&[("E2E_CLUSTER_READY", " ")]).cluster_ready, None);
    }

    #[test]
    fn a_bad_or_zero_bound_falls_back_to_its_default_and_keep_0_means_no() {
        let c = cfg(&[
            ("E2E_PARALLEL", "0"),
            ("E2E_HPA_PARALLEL", "two"),
            ("E2E_KEEP", "0"),
        ]);
        assert_eq!((c.parallel, c.hpa_parallel, c.keep), (32, 4, false));
        assert!(cfg(&[("E2E_KEEP", "1")]).keep);
    }

    /// Every `E2E_*`/`VITALS_*` name read by `env::var`/`var_os` in the
    /// runner and its crates (`quoted`: every such name in quotes at all,
    /// read through a helper or not).
    fn read_in_code() -> BTreeMap<String, String> {
        names_in_code(&["var(\"", "var_os(\""])
    }

    fn quoted_in_code() -> BTreeMap<String, String> {
        names_in_code(&["\""])
    }

    fn names_in_code(calls: &[&str]) -> BTreeMap<String, String> {
        let root = crate::env::root();
        let mut found = BTreeMap::new();
        let mut stack: Vec<PathBuf> = ["suites/src", "suites/tests", "crates"]
            .iter()
            .map(|d| root.join(d))
            .collect();
        while let Some(p) = stack.pop() {
            if p.is_dir() {
                if p.ends_with("target") {
                    continue;
                }
                for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
                    stack.push(e.path());
                }
                continue;
            }
            if p.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            for call in calls {
                for (i, _) in text.match_indices(call) {
                    let rest = &text[i + call.len()..];
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                        .collect();
                    if (name.starts_with("E2E_") || name.starts_with("VITALS_"))
                        && rest[name.len()..].starts_with('"')
                    {
                        found.insert(
                            name,
                            p.strip_prefix(&root).unwrap_or(&p).display().to_string(),
                        );
                    }
                }
            }
        }
        found
    }

    fn rows_in_table() -> BTreeSet<String> {
        let text = std::fs::read_to_string(crate::env::root().join("docs/variables.md"))
            .expect("docs/variables.md");
        text.lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split('`').next())
            .map(String::from)
            .collect()
    }

    #[test]
    fn every_variable_the_code_reads_has_a_row() {
        let rows = rows_in_table();
        let missing: Vec<_> = read_in_code()
            .into_iter()
            .filter(|(name, _)| !rows.contains(name))
            .map(|(name, file)| format!("{name} (read in {file})"))
            .collect();
        assert!(
            missing.is_empty(),
            "add a row (name, default, meaning) to docs/variables.md for: {}",
            missing.join(", ")
        );
    }

    #[test]
    fn every_variable_listed_here_has_a_row_and_the_table_lists_nothing_unknown() {
        let rows = rows_in_table();
        for v in VARIABLES {
            assert!(rows.contains(*v), "docs/variables.md has no row for {v}");
        }
        let known: BTreeSet<String> = VARIABLES
            .iter()
            .map(|s| s.to_string())
            .chain(quoted_in_code().into_keys())
            .collect();
        let stale: Vec<_> = rows
            .iter()
            .filter(|r| (r.starts_with("E2E_") || r.starts_with("VITALS_")) && !known.contains(*r))
            .collect();
        // Variables only the scripts read are documented there too.
        let scripts_only = ["VITALS_KEEP", "VITALS_MIN_FREE_GIB"];
        let stale: Vec<_> = stale
            .into_iter()
            .filter(|r| !scripts_only.contains(&r.as_str()))
            .collect();
        assert!(
            stale.is_empty(),
            "rows for variables nothing reads: {stale:?}"
        );
    }
}
