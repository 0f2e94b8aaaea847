//! Suite specs (`suites/specs/<chart>.yaml`): which chart, which values
//! profiles, and the invariants the manifests cannot state themselves.
//! Unknown keys are rejected and every error names the file and the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use vitals_checks::render::invariants::Invariant;
use vitals_checks::render::policy::Declared;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SuiteSpec {
    /// Chart directory, relative to the spec file.
    pub chart: PathBuf,
    /// Release name (default: the chart's name). Service names, and so the
    /// DNS names the seeds promise, derive from it.
    #[serde(default)]
    pub release: Option<String>,
    /// Profile name -> values files, relative to the chart directory.
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
#[derive(Debug, Clone)]
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

#[derive(Debug, thiserror::Error)]
pub enum SpecErrorKind {
    #[error("cannot be read: {0}")]
    Unreadable(#[source] std::io::Error),
    #[error("field `{path}`: {message}")]
    Invalid { path: String, message: String },
    #[error("chart `{}` not found (no Chart.yaml there)", .0.display())]
    ChartMissing(PathBuf),
    #[error("profile `{profile}`: values file `{}` not found", file.display())]
    ValuesMissing { profile: String, file: PathBuf },
    #[error("no profiles: list at least one under `profiles` (e.g. dev: [values-dev.yaml])")]
    NoProfiles,
}

/// A suite spec that cannot be used, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("suite spec `{}`: {kind}", spec_file.display())]
pub struct SpecError {
    pub spec_file: PathBuf,
    #[source]
    pub kind: SpecErrorKind,
}

fn err(spec_file: &Path, kind: SpecErrorKind) -> SpecError {
    SpecError {
        spec_file: spec_file.to_path_buf(),
        kind,
    }
}

/// Parses a spec's text; errors carry the path of the offending field.
pub fn parse(spec_file: &Path, text: &str) -> Result<SuiteSpec, SpecError> {
    let de = serde_yaml::Deserializer::from_str(text);
    let spec: SuiteSpec = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        // serde_yaml appends " at line L column C"; keep it, it helps.
        err(spec_file, SpecErrorKind::Invalid { path, message })
    })?;
    for (i, inv) in spec.invariants.iter().enumerate() {
        inv.validate().map_err(|message| {
            err(
                spec_file,
                SpecErrorKind::Invalid {
                    path: format!("invariants[{i}]"),
                    message,
                },
            )
        })?;
    }
    if spec.profiles.is_empty() {
        return Err(err(spec_file, SpecErrorKind::NoProfiles));
    }
    Ok(spec)
}

pub fn load(spec_file: &Path) -> Result<Suite, SpecError> {
    let text = std::fs::read_to_string(spec_file)
        .map_err(|e| err(spec_file, SpecErrorKind::Unreadable(e)))?;
    let spec = parse(spec_file, &text)?;
    let base = spec_file.parent().unwrap_or(Path::new("."));
    resolve(Some(spec_file), &base.join(&spec.chart), spec)
}

fn resolve(
    spec_file: Option<&Path>,
    chart_dir: &Path,
    spec: SuiteSpec,
) -> Result<Suite, SpecError> {
    let label = spec_file
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("E2E_CHART"));
    let chart = vitals_helm::Chart::open(chart_dir)
        .map_err(|_| err(&label, SpecErrorKind::ChartMissing(chart_dir.to_path_buf())))?;
    let prod_names = spec.prod_profiles.clone();
    let mut profiles = Vec::new();
    for (name, files) in &spec.profiles {
        let values: Vec<PathBuf> = files
            .iter()
            .map(|f| {
                if f.is_absolute() {
                    f.clone()
                } else {
                    chart_dir.join(f)
                }
            })
            .collect();
        if let Some(missing) = values.iter().find(|f| !f.is_file()) {
            return Err(err(
                &label,
                SpecErrorKind::ValuesMissing {
                    profile: name.clone(),
                    file: missing.clone(),
                },
            ));
        }
        let prod = match &prod_names {
            Some(list) => list.contains(name),
            None => name.contains("prod"),
        };
        profiles.push(Profile {
            name: name.clone(),
            values,
            prod,
        });
    }
    Ok(Suite {
        spec_file: spec_file.map(Path::to_path_buf),
        chart_dir: chart_dir.to_path_buf(),
        name: chart.meta.name.clone(),
        release: spec.release.unwrap_or_else(|| chart.meta.name.clone()),
        profiles,
        invariants: spec.invariants,
        refused_upgrades: spec.refused_upgrades,
        load: spec.load,
        paths: spec.paths,
    })
}

/// A profile name from a values file name: `values-prod.yaml` -> `prod`.
pub fn profile_name(file: &Path) -> String {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = stem
        .strip_prefix("values-")
        .or_else(|| stem.strip_prefix("values."))
        .unwrap_or(&stem);
    let stem = stem.strip_suffix("-values").unwrap_or(stem);
    if stem.is_empty() || stem == "values" {
        "default".into()
    } else {
        stem.to_string()
    }
}

/// The suite a user points at with `E2E_CHART` (+ `E2E_VALUES`, a comma
/// list, one profile per file; + optional `E2E_SPEC` for invariants).
pub fn from_env() -> Option<Result<Suite, SpecError>> {
    let chart = std::env::var_os("E2E_CHART")?;
    let chart_dir = PathBuf::from(chart);
    let values: Vec<PathBuf> = std::env::var("E2E_VALUES")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .collect();
    let spec = match std::env::var_os("E2E_SPEC") {
        Some(spec_file) => {
            let spec_file = PathBuf::from(spec_file);
            match std::fs::read_to_string(&spec_file) {
                Err(e) => return Some(Err(err(&spec_file, SpecErrorKind::Unreadable(e)))),
                Ok(text) => match parse(&spec_file, &text) {
                    Ok(mut s) => {
                        if !values.is_empty() {
                            s.profiles.clear();
                        }
                        s
                    }
                    Err(e) => return Some(Err(e)),
                },
            }
        }
        None => SuiteSpec {
            chart: chart_dir.clone(),
            release: None,
            profiles: BTreeMap::new(),
            prod_profiles: None,
            invariants: Vec::new(),
            refused_upgrades: BTreeMap::new(),
            load: BTreeMap::new(),
            paths: Declared::default(),
        },
    };
    let mut spec = spec;
    for v in &values {
        // Files given on the command line are taken as the user wrote them
        // (relative to where they ran), not relative to the chart.
        let abs = std::env::current_dir()
            .map(|d| d.join(v))
            .unwrap_or_else(|_| v.clone());
        spec.profiles.insert(profile_name(v), vec![abs]);
    }
    if spec.profiles.is_empty() {
        spec.profiles.insert("default".into(), Vec::new());
    }
    Some(resolve(None, &chart_dir, spec))
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

    #[rstest]
    #[case("values-prod.yaml", "prod")]
    #[case("ci/dev-values.yaml", "dev")]
    #[case("staging.yaml", "staging")]
    #[case("values.yaml", "default")]
    fn profiles_are_named_after_values_files(#[case] file: &str, #[case] name: &str) {
        assert_eq!(profile_name(Path::new(file)), name);
    }
}
