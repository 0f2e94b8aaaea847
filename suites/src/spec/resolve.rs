//! From a parsed spec to a [`Suite`]: the chart opened, its `vitals.yaml`
//! merged in, policy names and waivers checked against the checks that
//! exist, every profile's values files found and loaded once.

use std::path::{Path, PathBuf};

use super::error::{err, SpecError, SpecErrorKind};
use super::{
    parse_as, ChartConfig, Policies, Profile, Suite, SuiteSpec, Waiver, WaiverSpec, CHART_CONFIG,
};

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

pub(super) fn check_policies(file: &Path, field: &str, p: &Policies) -> Result<(), SpecError> {
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

pub(super) fn resolve(
    spec_file: Option<&Path>,
    chart_dir: &Path,
    spec: SuiteSpec,
    user: bool,
) -> Result<Suite, SpecError> {
    resolve_shown(spec_file, chart_dir, None, spec, user)
}

/// `shown`: the user's own chart directory when `chart_dir` is a working
/// copy of it, so that messages name the files the user edits.
pub(super) fn resolve_shown(
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
