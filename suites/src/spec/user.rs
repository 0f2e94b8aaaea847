//! A user's own chart, named by `E2E_CHART`, `E2E_VALUES` and `E2E_SPEC`
//! rather than by a suite spec: paths are taken as the user wrote them,
//! one profile per values file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vitals_checks::render::policy::Declared;

use super::error::{err, SpecError, SpecErrorKind};
use super::resolve::resolve_shown;
use super::{parse_user, Suite, SuiteSpec};

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
