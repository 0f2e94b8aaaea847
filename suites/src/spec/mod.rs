//! Suite specs (`suites/specs/<chart>.yaml`): which chart, which values
//! profiles, and the invariants the manifests cannot state themselves.
//! Unknown keys are rejected and every error names the file and the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use vitals_checks::render::invariants::Invariant;
use vitals_checks::render::policy::Declared;

mod error;
mod resolve;
mod user;

use error::err;
pub use error::{SpecError, SpecErrorKind};
use resolve::resolve;
pub use resolve::unused_waivers;
pub use user::{from_env, invoking_dir, profile_name, user_path, user_suite};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SuiteSpec {
    /// Chart directory, relative to the spec file (optional with E2E_CHART).
    #[serde(default)]
    pub chart: Option<PathBuf>,
    /// Release name (default: the chart's name). Service names, and so the
    /// DNS names the seeds promise, derive from it.
    #[serde(default)]
    pub release: Option<String>,
    /// Profile name -> values files, relative to the chart directory
    /// (optional with E2E_CHART: E2E_VALUES, or the chart's values.yaml).
    #[serde(default)]
    pub profiles: BTreeMap<String, Vec<PathBuf>>,
    /// Profiles held to production rules (default: names containing `prod`).
    #[serde(default)]
    pub prod_profiles: Option<Vec<String>>,
    #[serde(default)]
    pub invariants: Vec<Invariant>,
    /// Upgrade cells known to be refused, profile -> why: the upgrade into
    /// that profile changes a field Kubernetes keeps immutable (a
    /// StatefulSet's volumeClaimTemplates, when the profiles size storage
    /// differently). The trial then passes only if the upgrade is refused for
    /// exactly such a change, and fails once it would apply (a stale entry).
    #[serde(default)]
    pub refused_upgrades: BTreeMap<String, String>,
    /// How to load an HPA's target that is not an HTTP stand-in the load
    /// generator can drive (a Redis StatefulSet): HPA name -> a command run
    /// in one of the target's own pods for the length of the load.
    #[serde(default)]
    pub load: BTreeMap<String, ExecLoad>,
    /// What the manifests cannot say about a workload's paths, by workload
    /// name: admin HTTP paths no Ingress may route, container paths that
    /// hold data, health paths that check dependencies (see `Declared`).
    #[serde(default)]
    pub paths: Declared,
    /// Which policy families run (default: all).
    #[serde(default)]
    pub policies: Option<Policies>,
    /// Extra `helm template --api-versions` (what `.Capabilities.APIVersions`
    /// reports), so objects gated on an API render on purpose.
    #[serde(default)]
    pub api_versions: Vec<String>,
    /// One rule waived for one object, each with its reason.
    #[serde(default)]
    pub waivers: Vec<WaiverSpec>,
}

/// The same choices as a file beside the chart's Chart.yaml (`vitals.yaml`),
/// so a user needs no env var and no suite spec.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChartConfig {
    #[serde(default)]
    pub prod_profiles: Option<Vec<String>>,
    #[serde(default)]
    pub policies: Option<Policies>,
    #[serde(default)]
    pub api_versions: Vec<String>,
    #[serde(default)]
    pub waivers: Vec<WaiverSpec>,
}

/// The file name of [`ChartConfig`] in a chart's directory.
pub const CHART_CONFIG: &str = "vitals.yaml";

/// `only: [..]` or `skip: [..]` policy families (names as in trial names).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policies {
    #[serde(default)]
    pub only: Option<Vec<String>>,
    #[serde(default)]
    pub skip: Vec<String>,
}

impl Policies {
    pub fn runs(&self, family: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|f| f == family))
            && !self.skip.iter().any(|f| f == family)
    }
}

/// `{rule: security, object: daemonset/node-exporter, because: ...}`: the
/// trial `render/<rule>/<object>` is reported as waived, with the reason.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaiverSpec {
    /// A check as it reads in trial names: a policy family (`security`),
    /// `openapi`, `openapi@1.35`, `schema`, `lint`, ...
    pub rule: String,
    /// The subject as it reads in trial names: `daemonset/node-exporter`,
    /// `explicit/<policy>`, `values`.
    pub object: String,
    /// Only these profiles (default: every profile).
    #[serde(default)]
    pub profiles: Option<Vec<String>>,
    /// Why the rule does not apply here. Mandatory.
    pub because: String,
}

/// A waiver as loaded: where it was written, so an unused one is named.
#[derive(Debug, Clone)]
pub struct Waiver {
    pub file: PathBuf,
    /// `waivers[2]`
    pub field: String,
    pub spec: WaiverSpec,
}

impl Waiver {
    /// Whether it waives the check `render/<rule>/<object>` in a profile.
    pub fn matches(&self, profile: &str, check: &str) -> bool {
        self.spec
            .profiles
            .as_ref()
            .is_none_or(|ps| ps.iter().any(|p| p == profile))
            && check == format!("render/{}/{}", self.spec.rule, self.spec.object)
    }
}

/// A load command run inside a target pod (`kubectl exec` style).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecLoad {
    /// The container to run it in.
    pub container: String,
    /// argv; it should run about 60 s and exit 0.
    pub command: Vec<String>,
}

/// A loaded, checked suite: paths resolved, files known to exist.
#[derive(Debug, Clone, Default)]
pub struct Suite {
    pub spec_file: Option<PathBuf>,
    pub chart_dir: PathBuf,
    /// The chart's name (trial names start with it).
    pub name: String,
    pub release: String,
    pub profiles: Vec<Profile>,
    pub invariants: Vec<Invariant>,
    /// See `SuiteSpec::refused_upgrades`.
    pub refused_upgrades: BTreeMap<String, String>,
    /// See `SuiteSpec::load`.
    pub load: BTreeMap<String, ExecLoad>,
    /// See `SuiteSpec::paths`.
    pub paths: Declared,
    /// Policy families that run (the spec's choice, else `vitals.yaml`'s).
    pub policies: Policies,
    /// See `SuiteSpec::api_versions`, with `vitals.yaml`'s.
    pub api_versions: Vec<String>,
    /// The spec's and `vitals.yaml`'s waivers.
    pub waivers: Vec<Waiver>,
    /// A chart of the user's own (`E2E_CHART`), not one of the five.
    pub user: bool,
}

#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    /// The `-f` files, in order (the chart's own values.yaml is implied).
    pub values: Vec<PathBuf>,
    pub prod: bool,
}

impl Profile {
    /// values.yaml then the profile's files: what helm merges.
    pub fn all_values(&self, chart_dir: &Path) -> Vec<PathBuf> {
        let mut v = vec![chart_dir.join("values.yaml")];
        v.extend(self.values.iter().cloned());
        v
    }
}

/// Parses YAML into `T`; errors carry the path of the offending field.
pub(super) fn parse_as<T: serde::de::DeserializeOwned>(
    file: &Path,
    text: &str,
) -> Result<T, SpecError> {
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        // serde_yaml appends " at line L column C"; keep it, it helps.
        err(file, SpecErrorKind::Invalid { path, message })
    })
}

/// Parses a spec's text; errors carry the path of the offending field.
/// `chart` and `profiles` may be left out only when E2E_CHART gives them.
pub fn parse(spec_file: &Path, text: &str) -> Result<SuiteSpec, SpecError> {
    let spec = parse_user(spec_file, text)?;
    if spec.chart.is_none() {
        return Err(err(
            spec_file,
            SpecErrorKind::Invalid {
                path: "chart".into(),
                message: "missing (the chart directory, relative to this file)".into(),
            },
        ));
    }
    if spec.profiles.is_empty() {
        return Err(err(spec_file, SpecErrorKind::NoProfiles));
    }
    Ok(spec)
}

pub(super) fn parse_user(spec_file: &Path, text: &str) -> Result<SuiteSpec, SpecError> {
    let spec: SuiteSpec = parse_as(spec_file, text)?;
    for (i, inv) in spec.invariants.iter().enumerate() {
        inv.validate().map_err(|e| {
            err(
                spec_file,
                SpecErrorKind::Invalid {
                    path: format!("invariants[{i}]"),
                    message: e.to_string(),
                },
            )
        })?;
    }
    Ok(spec)
}

pub fn load(spec_file: &Path) -> Result<Suite, SpecError> {
    let text = std::fs::read_to_string(spec_file)
        .map_err(|e| err(spec_file, SpecErrorKind::Unreadable(e)))?;
    let spec = parse(spec_file, &text)?;
    let base = spec_file.parent().unwrap_or(Path::new("."));
    let chart = base.join(spec.chart.clone().unwrap_or_default());
    resolve(Some(spec_file), &chart, spec, false)
}

/// Every `*.yaml` spec in a directory, sorted by name.
pub fn discover(dir: &Path) -> Result<Vec<Suite>, SpecError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| err(dir, SpecErrorKind::Unreadable(e)))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files.iter().map(|f| load(f)).collect()
}

#[cfg(test)]
mod tests {
    use super::resolve::check_policies;
    use super::*;
    use rstest::rstest;

    #[test]
    fn an_unknown_key_is_named_with_its_path() {
        let e = parse(Path::new("suites/specs/x.yaml"), "chart: ../c\nprofiles: {dev: [a.yaml]}\ninvariants:\n- name: a\n  hpa: {target: {kind: Deployment, name: d}, min: 1, maxx: 2}\n").unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("suite spec `suites/specs/x.yaml`: field `invariants[0].hpa"),
            "{text}"
        );
        assert!(text.contains("unknown field `maxx`"), "{text}");
    }

    #[test]
    fn a_wrong_type_is_named_with_its_path() {
        let e = parse(
            Path::new("s.yaml"),
            "chart: ../c\nprofiles: {dev: values-dev.yaml}\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("field `profiles.dev`"), "{e}");
    }

    #[test]
    fn a_missing_chart_is_one_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let spec = tmp.path().join("s.yaml");
        std::fs::write(&spec, "chart: nowhere\nprofiles: {dev: []}\n").unwrap();
        let e = load(&spec).unwrap_err().to_string();
        assert!(
            e.contains("s.yaml") && e.contains("chart `") && e.contains("nowhere` not found"),
            "{e}"
        );
    }

    #[test]
    fn paths_are_declared_per_workload() {
        let s = parse(
            Path::new("s.yaml"),
            "chart: ../c\nprofiles: {dev: []}\npaths:\n  api: {admin: [/queues], checksDependencies: [/health]}\n",
        )
        .unwrap();
        assert_eq!(s.paths["api"].admin, ["/queues"]);
        assert_eq!(s.paths["api"].checks_dependencies, ["/health"]);
    }

    #[test]
    fn policy_families_are_chosen_by_name_and_checked() {
        let p = Policies {
            only: None,
            skip: vec!["network".into()],
        };
        assert!(p.runs("security") && !p.runs("network"));
        let e = check_policies(
            Path::new("vitals.yaml"),
            "policies",
            &Policies {
                only: Some(vec!["securty".into()]),
                skip: vec![],
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("policies.only")
                && e.contains("unknown policy family `securty`")
                && e.contains("security"),
            "{e}"
        );
    }

    #[test]
    fn a_waiver_matches_one_check_in_its_profiles() {
        let w = Waiver {
            file: PathBuf::from("vitals.yaml"),
            field: "waivers[0]".into(),
            spec: WaiverSpec {
                rule: "security".into(),
                object: "daemonset/agent".into(),
                profiles: Some(vec!["prod".into()]),
                because: "reads the host".into(),
            },
        };
        assert!(w.matches("prod", "render/security/daemonset/agent"));
        assert!(!w.matches("dev", "render/security/daemonset/agent"));
        assert!(!w.matches("prod", "render/security/daemonset/other"));
        let unused = unused_waivers(
            &[Suite {
                waivers: vec![w],
                ..Default::default()
            }],
            &Default::default(),
        );
        let e = unused[0].to_string();
        assert!(
            e.starts_with("chart config `vitals.yaml`: field `waivers[0]`"),
            "{e}"
        );
    }

    #[rstest]
    #[case("values-prod.yaml", "prod")]
    #[case("ci/dev-values.yaml", "dev")]
    #[case("staging.yaml", "staging")]
    #[case("values.yaml", "default")]
    fn profiles_are_named_after_values_files(#[case] file: &str, #[case] name: &str) {
        assert_eq!(profile_name(Path::new(file)), name);
    }
}
