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
    #[error("{0}")]
    Chart(#[source] vitals_helm::Error),
    // The values error is the whole message (file, line): not repeated as a cause.
    #[error("profile `{profile}`: {error}")]
    Values {
        profile: String,
        error: vitals_checks::values::ValuesError,
    },
    #[error("values files `{}` and `{}` both make profile `{profile}` (rename one, or name the profiles in a suite spec)", first.display(), second.display())]
    ProfileClash {
        profile: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("field `{field}` conflicts with {env}: {why}")]
    ConflictsWithEnv {
        field: String,
        env: &'static str,
        why: String,
    },
    #[error("field `{field}.because`: a waiver needs its reason")]
    WaiverWithoutReason { field: String },
    #[error("field `{field}`: unknown policy family `{name}` (known: {known})")]
    UnknownFamily {
        field: String,
        name: String,
        known: String,
    },
    #[error("field `{field}`: the waiver of `render/{rule}/{object}` matches no trial of any profile\n(hint: write the rule and object as they read in trial names: `cargo test -p e2e --test e2e -- --list`)")]
    WaiverUnused {
        field: String,
        rule: String,
        object: String,
    },
    #[error("cannot prepare the chart: {0}")]
    Prepare(String),
}

/// A suite spec (or `vitals.yaml`, or the env a user set) that cannot be
/// used, naming the file.
#[derive(Debug)]
pub struct SpecError {
    pub spec_file: PathBuf,
    pub kind: SpecErrorKind,
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let file = self.spec_file.display().to_string();
        let what = if file.starts_with("E2E_") {
            ""
        } else if self
            .spec_file
            .file_name()
            .is_some_and(|n| n == CHART_CONFIG)
        {
            "chart config "
        } else if self
            .spec_file
            .file_name()
            .is_some_and(|n| n == "Chart.yaml")
        {
            ""
        } else {
            "suite spec "
        };
        write!(f, "{what}`{file}`: {}", self.kind)
    }
}

/// The kind is already in the message; the chain goes on from its cause.
impl std::error::Error for SpecError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

fn err(spec_file: &Path, kind: SpecErrorKind) -> SpecError {
    SpecError {
        spec_file: spec_file.to_path_buf(),
        kind,
    }
}

/// Parses YAML into `T`; errors carry the path of the offending field.
fn parse_as<T: serde::de::DeserializeOwned>(file: &Path, text: &str) -> Result<T, SpecError> {
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

fn parse_user(spec_file: &Path, text: &str) -> Result<SuiteSpec, SpecError> {
    let spec: SuiteSpec = parse_as(spec_file, text)?;
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

/// The names checks have in trial names, for validating `policies` and
/// waivers: every policy family, and the render checks that are not one.
fn known_rules() -> Vec<String> {
    let mut v: Vec<String> = vitals_checks::render::policy::ALL
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    v.extend(
        [
            "openapi",
            "schema",
            "lint",
            "template",
            "overlay",
            "invariant",
            "network",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    v.extend(
        vitals_checks::render::openapi::OpenApi::all()
            .filter(|a| !a.is_default())
            .map(|a| format!("openapi@{}", a.minor())),
    );
    v.sort();
    v.dedup();
    v
}

fn check_policies(file: &Path, field: &str, p: &Policies) -> Result<(), SpecError> {
    let families: Vec<&str> = vitals_checks::render::policy::ALL
        .iter()
        .map(|(n, _)| *n)
        .collect();
    let names = p
        .only
        .iter()
        .flatten()
        .map(|n| ("only", n))
        .chain(p.skip.iter().map(|n| ("skip", n)));
    for (list, name) in names {
        if !families.contains(&name.as_str()) {
            return Err(err(
                file,
                SpecErrorKind::UnknownFamily {
                    field: format!("{field}.{list}"),
                    name: name.clone(),
                    known: families.join(", "),
                },
            ));
        }
    }
    Ok(())
}

fn waivers_of(file: &Path, specs: &[WaiverSpec]) -> Result<Vec<Waiver>, SpecError> {
    let known = known_rules();
    specs
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let field = format!("waivers[{i}]");
            if w.because.trim().is_empty() {
                return Err(err(file, SpecErrorKind::WaiverWithoutReason { field }));
            }
            if !known.contains(&w.rule) {
                return Err(err(
                    file,
                    SpecErrorKind::Invalid {
                        path: format!("{field}.rule"),
                        message: format!("unknown rule `{}` (known: {})", w.rule, known.join(", ")),
                    },
                ));
            }
            Ok(Waiver {
                file: file.to_path_buf(),
                field,
                spec: w.clone(),
            })
        })
        .collect()
}

/// `vitals.yaml` beside Chart.yaml, when the chart has one.
fn chart_config(
    chart_dir: &Path,
    label: Option<&Path>,
) -> Result<Option<(PathBuf, ChartConfig)>, SpecError> {
    let file = chart_dir.join(CHART_CONFIG);
    let Ok(text) = std::fs::read_to_string(&file) else {
        return Ok(None);
    };
    // Errors name the file the user edits, not a working copy of it.
    let shown = label
        .map(|l| l.join(CHART_CONFIG))
        .unwrap_or_else(|| file.clone());
    let cfg: ChartConfig = parse_as(&shown, &text)?;
    Ok(Some((shown, cfg)))
}

fn resolve(
    spec_file: Option<&Path>,
    chart_dir: &Path,
    spec: SuiteSpec,
    user: bool,
) -> Result<Suite, SpecError> {
    resolve_shown(spec_file, chart_dir, None, spec, user)
}

/// `shown`: the user's own chart directory when `chart_dir` is a working
/// copy of it, so that messages name the files the user edits.
fn resolve_shown(
    spec_file: Option<&Path>,
    chart_dir: &Path,
    shown: Option<&Path>,
    spec: SuiteSpec,
    user: bool,
) -> Result<Suite, SpecError> {
    let label = spec_file
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("E2E_CHART"));
    let chart = vitals_helm::Chart::open(chart_dir).map_err(|e| match e {
        vitals_helm::Error::ChartMissing { .. } => err(
            &label,
            SpecErrorKind::ChartMissing(shown.unwrap_or(chart_dir).to_path_buf()),
        ),
        vitals_helm::Error::ChartInvalid { message, .. } => err(
            &shown.unwrap_or(chart_dir).join("Chart.yaml"),
            SpecErrorKind::Invalid {
                path: "<root>".into(),
                message,
            },
        ),
        other => err(&label, SpecErrorKind::Chart(other)),
    })?;
    let config = chart_config(chart_dir, shown)?;
    let mut waivers = match spec_file {
        Some(f) => waivers_of(f, &spec.waivers)?,
        None => Vec::new(),
    };
    let mut api_versions = spec.api_versions.clone();
    let mut policies = spec.policies.clone();
    if let Some(p) = &policies {
        check_policies(&label, "policies", p)?;
    }
    let mut prod_names = spec.prod_profiles.clone();
    if let Some((file, cfg)) = &config {
        waivers.extend(waivers_of(file, &cfg.waivers)?);
        if let Some(p) = &cfg.policies {
            check_policies(file, "policies", p)?;
        }
        // The suite spec, being more specific, wins over the chart's file.
        policies = policies.or(cfg.policies.clone());
        prod_names = prod_names.or(cfg.prod_profiles.clone());
        api_versions.extend(cfg.api_versions.iter().cloned());
    }
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
        let profile = Profile {
            name: name.clone(),
            values,
            prod,
        };
        // Values that are not YAML, or not a map, stop the run here: one
        // error naming the file, not a red trial per check.
        vitals_checks::values::ValuesSet::load(&profile.all_values(chart_dir)).map_err(
            |source| {
                err(
                    &label,
                    SpecErrorKind::Values {
                        profile: name.clone(),
                        error: source,
                    },
                )
            },
        )?;
        profiles.push(profile);
    }
    // A suite spec names all its profiles, so a production profile it does
    // not have is a typo; `vitals.yaml` may name profiles this run leaves out.
    if let Some(unknown) = spec
        .prod_profiles
        .iter()
        .flatten()
        .find(|p| !spec.profiles.contains_key(*p))
    {
        return Err(err(
            &label,
            SpecErrorKind::Invalid {
                path: "prodProfiles".into(),
                message: format!(
                    "unknown profile `{unknown}` (profiles: {})",
                    spec.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            },
        ));
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
        policies: policies.unwrap_or_default(),
        api_versions,
        waivers,
        user,
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

/// The directory the user ran the command in: `E2E_INVOKED_FROM` (the
/// Makefile passes it), else `PWD` as the shell set it (cargo runs test
/// binaries in the package's directory, `suites/`, but leaves `PWD` as it
/// was), else the process's own working directory.
pub fn invoking_dir() -> PathBuf {
    let from = |k: &str| {
        std::env::var_os(k)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute() && p.is_dir())
    };
    from("E2E_INVOKED_FROM")
        .or_else(|| from("PWD"))
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A path as the user wrote it, resolved against where they ran the command.
pub fn user_path(p: impl AsRef<Path>) -> PathBuf {
    let p = p.as_ref();
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        invoking_dir().join(p)
    }
}

/// The suite a user points at with `E2E_CHART` (a chart directory or a
/// packaged `.tgz`; + `E2E_VALUES`, a comma list, one profile per file; +
/// optional `E2E_SPEC` for invariants, waivers and the rest). Relative paths
/// are the user's (see [`invoking_dir`]). The chart is rendered from a copy
/// under the output directory, so nothing is written into the user's folder.
pub fn from_env() -> Option<Result<Suite, SpecError>> {
    let chart = std::env::var_os("E2E_CHART")?;
    let shown = user_path(PathBuf::from(chart));
    let values: Vec<PathBuf> = std::env::var("E2E_VALUES")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(user_path)
        .collect();
    let spec = std::env::var_os("E2E_SPEC").map(|s| user_path(PathBuf::from(s)));
    Some(user_suite(&shown, &values, spec.as_deref()))
}

/// A user's chart (a directory or `.tgz`) with its values files (one
/// profile each) and an optional suite spec: what `E2E_CHART`,
/// `E2E_VALUES` and `E2E_SPEC` give, with paths already resolved.
pub fn user_suite(
    shown: &Path,
    values: &[PathBuf],
    spec: Option<&Path>,
) -> Result<Suite, SpecError> {
    let label = PathBuf::from("E2E_CHART");
    let copy = crate::userchart::working_copy(shown)
        .map_err(|e| err(&label, SpecErrorKind::Prepare(e.to_string())))?;
    let chart_dir = copy.dir;
    let shown_dir = copy.shown;
    let (spec_file, mut spec) = match spec {
        Some(spec_file) => {
            let spec_file = spec_file.to_path_buf();
            let text = std::fs::read_to_string(&spec_file)
                .map_err(|e| err(&spec_file, SpecErrorKind::Unreadable(e)))?;
            let spec = parse_user(&spec_file, &text)?;
            if let Some(c) = &spec.chart {
                let theirs = spec_file.parent().unwrap_or(Path::new(".")).join(c);
                let same = std::fs::canonicalize(&theirs).ok() == std::fs::canonicalize(shown).ok();
                if !same {
                    return Err(err(
                        &spec_file,
                        SpecErrorKind::ConflictsWithEnv {
                            field: "chart".into(),
                            env: "E2E_CHART",
                            why: format!(
                                "the spec names `{}`, E2E_CHART `{}`; drop `chart:` from the spec",
                                theirs.display(),
                                shown.display()
                            ),
                        },
                    ));
                }
            }
            if !spec.profiles.is_empty() && !values.is_empty() {
                return Err(err(
                    &spec_file,
                    SpecErrorKind::ConflictsWithEnv {
                        field: "profiles".into(),
                        env: "E2E_VALUES",
                        why: "both name the profiles; keep one of them".into(),
                    },
                ));
            }
            (Some(spec_file), spec)
        }
        None => (
            None,
            SuiteSpec {
                chart: None,
                release: None,
                profiles: BTreeMap::new(),
                prod_profiles: None,
                invariants: Vec::new(),
                refused_upgrades: BTreeMap::new(),
                load: BTreeMap::new(),
                paths: Declared::default(),
                policies: None,
                api_versions: Vec::new(),
                waivers: Vec::new(),
            },
        ),
    };
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for v in values {
        // Files given on the command line are taken as the user wrote them
        // (relative to where they ran), not relative to the chart.
        let abs = user_path(v);
        let name = profile_name(v);
        if let Some(first) = seen.get(&name) {
            return Err(err(
                &PathBuf::from("E2E_VALUES"),
                SpecErrorKind::ProfileClash {
                    profile: name,
                    first: first.clone(),
                    second: abs,
                },
            ));
        }
        seen.insert(name.clone(), abs.clone());
        // The chart's own values.yaml is implied: as a profile it adds nothing.
        let own = std::fs::canonicalize(&abs).ok()
            == std::fs::canonicalize(shown_dir.join("values.yaml")).ok();
        spec.profiles
            .insert(name, if own { Vec::new() } else { vec![abs] });
    }
    if spec.profiles.is_empty() {
        spec.profiles.insert("default".into(), Vec::new());
    }
    resolve_shown(
        spec_file.as_deref(),
        &chart_dir,
        Some(&shown_dir),
        spec,
        true,
    )
}

/// The waivers no trial used: each is an error naming its file.
pub fn unused_waivers(
    suites: &[Suite],
    used: &std::collections::HashSet<(PathBuf, String)>,
) -> Vec<SpecError> {
    suites
        .iter()
        .flat_map(|s| s.waivers.iter())
        .filter(|w| !used.contains(&(w.file.clone(), w.field.clone())))
        .map(|w| {
            err(
                &w.file,
                SpecErrorKind::WaiverUnused {
                    field: w.field.clone(),
                    rule: w.spec.rule.clone(),
                    object: w.spec.object.clone(),
                },
            )
        })
        .collect()
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
