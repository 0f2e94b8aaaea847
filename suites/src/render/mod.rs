//! The render tier for one cell (chart x profile): render once (cached on
//! disk by content, so the one-process-per-trial model of nextest does not
//! re-run helm for every trial), then one check per fact.

pub mod negatives;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use vitals_checks::render::openapi::{Crds, OpenApi};
use vitals_checks::render::overlay;
use vitals_checks::render::policy::{self, PolicyCx};
use vitals_checks::render::schema;
use vitals_checks::values::ValuesSet;
use vitals_checks::{Evidence, Manifests, Verdict};
use vitals_helm::{Chart, Helm, TemplateOpts};

// `Cell` and `Check` live in `crate::cell`; re-exported so render code
// keeps its names.
pub use crate::cell::{Cell, Check};

fn hash_tree(dir: &Path, h: &mut DefaultHasher) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let name = e.file_name();
        if name.to_string_lossy().ends_with(".tgz") || name == "Chart.lock" {
            continue;
        }
        if p.is_dir() {
            hash_tree(&p, h);
        } else if let Ok(bytes) = std::fs::read(&p) {
            name.hash(h);
            bytes.hash(h);
        }
    }
}

/// Renders a cell, reusing an earlier render of identical inputs.
pub fn render(helm: &Helm, cell: &Cell) -> Result<String, vitals_helm::Error> {
    render_as(helm, cell, "")
}

/// A second, independent render of a cell, cached apart from the first:
/// whatever differs between the two was generated at render time.
pub fn render_again(helm: &Helm, cell: &Cell) -> Result<String, vitals_helm::Error> {
    render_as(helm, cell, "again")
}

/// [`render`], cached under `salt` as well, so two salts are two real renders.
fn render_as(helm: &Helm, cell: &Cell, salt: &str) -> Result<String, vitals_helm::Error> {
    let chart = Chart::open(&cell.suite.chart_dir)?;
    let mut h = DefaultHasher::new();
    // The first render's key stays as it was, so its cache stays warm.
    if !salt.is_empty() {
        salt.hash(&mut h);
    }
    helm.version().raw.hash(&mut h);
    cell.suite.release.hash(&mut h);
    cell.namespace().hash(&mut h);
    for c in chart.local_dependency_order()? {
        hash_tree(&c.dir, &mut h);
    }
    for v in &cell.profile.values {
        std::fs::read(v).unwrap_or_default().hash(&mut h);
    }
    if !cell.suite.api_versions.is_empty() {
        cell.suite.api_versions.hash(&mut h);
    }
    // A user's chart is a working copy named by its whole content, vendored
    // archives included (which the tree hash above leaves out).
    if cell.suite.user {
        cell.suite.chart_dir.hash(&mut h);
    }
    let cache = crate::env::out_dir()
        .join("render-cache")
        .join(format!("{:016x}.yaml", h.finish()));
    if let Ok(text) = std::fs::read_to_string(&cache) {
        return Ok(text);
    }
    helm.dependency_build(&chart)?;
    let opts = cell.suite.api_versions.iter().fold(
        TemplateOpts::default()
            .kube_version(vitals_checks::render::openapi::PINNED_VERSION.trim_start_matches('v')),
        |o, api| o.api_version(api),
    );
    let text = helm.template(
        &chart,
        &cell.suite.release,
        &cell.namespace(),
        &cell.profile.values,
        &opts,
    )?;
    if let Some(dir) = cache.parent() {
        let _ = std::fs::create_dir_all(dir);
        // Write then rename, so a parallel reader never sees half a file.
        let tmp = cache.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, &text).is_ok() {
            let _ = std::fs::rename(&tmp, &cache);
        }
    }
    Ok(text)
}

fn error_verdict(subject: &str, expected: &str, e: &(dyn std::error::Error + 'static)) -> Verdict {
    if let Some(vitals_helm::Error::Exited { argv, code, stderr }) =
        e.downcast_ref::<vitals_helm::Error>()
    {
        return Verdict::fail(subject, expected, format!("helm exited with {code}")).with_evidence(
            Evidence::Command {
                argv: argv.clone(),
                exit: *code,
                stderr: stderr.clone(),
            },
        );
    }
    let mut chain = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        chain.push_str(&format!("\n  caused by: {s}"));
        src = s.source();
    }
    Verdict::fail(subject, expected, chain)
}

/// The cell as the cluster tier installs it, and the overlay file that
/// makes the difference.
#[derive(Clone)]
pub struct Overlaid {
    pub file: PathBuf,
    pub cell: Cell,
}

/// The chart's test overlay (`suites/overlays/<chart>.yaml.in`, filled
/// with this machine's image references), when it has one.
pub fn overlaid(cell: &Cell) -> Option<Overlaid> {
    // The overlays are the five charts' own: a user's chart that happens
    // to share a name (`medplum`) must not pick one up.
    if cell.suite.user {
        return None;
    }
    let file = crate::cell::overlay::overlay(&cell.suite.name).0?;
    Some(Overlaid {
        file,
        cell: crate::cell::overlay::cluster_cell(cell),
    })
}

/// Every render-tier check of one cell. Rendering happens now (the checks'
/// names come from the manifests); the checks themselves run later.
pub fn checks(helm: &Result<Helm, vitals_helm::Error>, cell: &Cell) -> Vec<Check> {
    let mut checks = checks_with_overlay(helm, cell, overlaid(cell));
    // The chart's schema negatives (`render/refuses/<case>`), run beside the rest.
    checks.extend(negatives::checks(helm, cell));
    waive(cell, checks)
}

/// Waivers some check of this process matched: `(file, field)`.
fn used_waivers() -> &'static std::sync::Mutex<std::collections::HashSet<(PathBuf, String)>> {
    static USED: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashSet<(PathBuf, String)>>,
    > = std::sync::OnceLock::new();
    USED.get_or_init(Default::default)
}

/// The suites' waivers that matched no check derived in this process.
pub fn unused_waivers(suites: &[crate::spec::Suite]) -> Vec<crate::spec::SpecError> {
    let used = used_waivers().lock().map(|u| u.clone()).unwrap_or_default();
    crate::spec::unused_waivers(suites, &used)
}

/// Each check a waiver names reports as waived, with the waiver's reason.
fn waive(cell: &Cell, checks: Vec<Check>) -> Vec<Check> {
    if cell.suite.waivers.is_empty() {
        return checks;
    }
    checks
        .into_iter()
        .map(|mut c| {
            let Some(w) = cell
                .suite
                .waivers
                .iter()
                .find(|w| w.matches(&cell.profile.name, &c.name))
            else {
                return c;
            };
            if let Ok(mut used) = used_waivers().lock() {
                used.insert((w.file.clone(), w.field.clone()));
            }
            let because = format!(
                "{} (waiver {} in {})",
                w.spec.because,
                w.field,
                w.file.display()
            );
            let run = std::mem::replace(&mut c.run, Box::new(|| Verdict::skip("", "")));
            c.run = Box::new(move || run().waived(because.clone()));
            c
        })
        .collect()
}

/// [`checks`] with the test overlay given rather than looked up: the
/// fixtures' sample chart has none under `suites/overlays`.
pub fn checks_with_overlay(
    helm: &Result<Helm, vitals_helm::Error>,
    cell: &Cell,
    overlay: Option<Overlaid>,
) -> Vec<Check> {
    let mut out = Vec::new();
    let subject = cell.prefix();
    let helm = match helm {
        Ok(h) => h.clone(),
        Err(e) => {
            let v = error_verdict(&subject, "helm is available to render the chart", e);
            out.push(Check::ready("render/lint", v.clone()));
            out.push(Check::ready("render/template", v));
            return out;
        }
    };

    // lint runs in its trial: it is the slowest call and needs no listing.
    {
        let helm = helm.clone();
        let cell = cell.clone();
        out.push(Check::new("render/lint", move || lint(&helm, &cell)));
    }

    let values = match ValuesSet::load(&cell.profile.all_values(&cell.suite.chart_dir)) {
        Ok(v) => v,
        Err(e) => {
            out.push(Check::ready(
                "render/template",
                error_verdict(&subject, "the values files load", &e),
            ));
            return out;
        }
    };
    {
        let dir = cell.suite.chart_dir.clone();
        let values = values.clone();
        out.push(Check::new("render/schema/values", move || {
            schema::check(&dir, &values)
        }));
    }

    let manifests = match render(&helm, cell)
        .map_err(|e| {
            Box::new(error_verdict(
                &subject,
                "helm template renders the chart",
                &e,
            ))
        })
        .and_then(|text| {
            Manifests::parse(&text).map_err(|e| {
                Box::new(Verdict::fail(
                    &subject,
                    "the rendered output parses as YAML",
                    e.to_string(),
                ))
            })
        }) {
        Ok(mut m) => {
            m.uses_vitals_common = uses_vitals_common(&cell.suite.chart_dir);
            Arc::new(m)
        }
        Err(v) => {
            out.push(Check::ready("render/template", *v));
            return out;
        }
    };
    let mut rendered = Verdict::pass(
        &subject,
        "helm template renders the chart",
        format!("{} objects", manifests.objects.len()),
    );
    for (file, api) in gated_apis(&cell.suite.chart_dir) {
        if !OpenApi::pinned().serves(&api) && !cell.suite.api_versions.contains(&api) {
            rendered = rendered.with_evidence(Evidence::Note {
                text: format!(
                    "`{file}` renders only where `{api}` is served, which this render leaves out (add it under `apiVersions:` in vitals.yaml or the suite spec to check those objects)"
                ),
            });
        }
    }
    out.push(Check::ready("render/template", rendered));
    // The README's seed-promise table names objects this render must have
    // (the five charts' convention; a user's chart has no seed).
    if !cell.suite.user {
        let (readme, m, profile) = (
            cell.suite.chart_dir.join("README.md"),
            manifests.clone(),
            cell.profile.name.clone(),
        );
        out.push(Check::new("render/promises", move || {
            vitals_checks::render::promises::check(&readme, &m, &profile)
        }));
    }

    // Every object against the default (newest) Kubernetes API, custom
    // resources against the chart's own CRDs; built-in kinds also against
    // every other supported version (`render/openapi@1.35/...`), so an API
    // one of them lacks fails naming it. The render itself is the default
    // version's (`--kube-version`).
    let crds = Arc::new(Crds::from_manifests(&manifests));
    for api in OpenApi::all() {
        let check = if api.is_default() {
            "openapi".to_string()
        } else {
            format!("openapi@{}", api.minor())
        };
        for (i, obj) in manifests.objects.iter().enumerate() {
            if !api.is_default() && !OpenApi::is_builtin(obj) {
                continue;
            }
            let name = format!("render/{check}/{}", obj.id().slug());
            // A custom resource whose CRD is installed elsewhere cannot be
            // validated here: known now, so listed as ignored, not "ok".
            if !OpenApi::is_builtin(obj) && !crds.has(&obj.api_version, &obj.kind) {
                out.push(Check::cannot_run(
                    name,
                    obj.id().to_string(),
                    format!(
                        "{} {} is a custom resource whose CRD the chart does not render; its CRD validates it at install time",
                        obj.api_version, obj.kind
                    ),
                ));
                continue;
            }
            let (m, crds) = (manifests.clone(), crds.clone());
            out.push(Check::new(name, move || {
                api.validate_in(&m.objects[i], &crds)
            }));
        }
    }

    // The chart's schema with its directory subcharts' (`schema-nonsense`).
    let schema_doc = policy::schema_nonsense::chart_schema(&cell.suite.chart_dir);
    // Prod cells render twice (cached too): a Secret that differs between
    // the two was generated at render time (`stable-secrets`).
    let rerender = if cell.profile.prod {
        render_again(&helm, cell)
            .ok()
            .and_then(|t| Manifests::parse(&t).ok())
    } else {
        None
    };
    let cx = PolicyCx {
        manifests: &manifests,
        values: &values,
        prod: cell.profile.prod,
        rerender: rerender.as_ref(),
        schema: schema_doc.as_ref(),
        declared: &cell.suite.paths,
    };
    // Each workload's role, said in every verdict about it.
    let roles: std::collections::HashMap<String, vitals_checks::Role> = manifests
        .workloads()
        .map(|w| (w.object.id().slug(), manifests.role(&w)))
        .collect();
    for pv in policy::run_all(&cx)
        .into_iter()
        .filter(|pv| cell.suite.policies.runs(pv.policy))
    {
        let mut v = pv.verdict;
        if let Some(role) = roles.get(&pv.subject) {
            v = v.with_evidence(Evidence::Note {
                text: format!("role: {role} ({})", role.because()),
            });
        }
        if v.failed() {
            if let Some(src) = source_of(&manifests, &pv.subject) {
                v = v.with_evidence(Evidence::Note {
                    text: format!("rendered from {src}"),
                });
            }
        }
        out.push(Check::ready(
            format!("render/{}/{}", pv.policy, pv.subject),
            v,
        ));
    }

    if let Some(overlay) = overlay {
        let base = manifests.clone();
        let (helm, cell) = (helm.clone(), cell.clone());
        out.push(Check::new("render/overlay", move || {
            overlay_keeps_profile(&helm, &cell, &base, &overlay)
        }));
    }

    for inv in cell
        .suite
        .invariants
        .iter()
        .filter(|i| i.applies_to(&cell.profile.name))
    {
        let m = manifests.clone();
        let inv = inv.clone();
        out.push(Check::new(
            format!("render/invariant/{}", inv.name),
            move || inv.check(&m),
        ));
    }
    out
}

/// The render with the test overlay against the profile's own. The
/// overlaid render runs in the trial, not at listing, and is the same
/// cached render the cluster tier installs. When the overlay lowers replica
/// counts, a third render (the profile plus only those caps) tells what the
/// chart itself derives from them.
fn overlay_keeps_profile(
    helm: &Helm,
    cell: &Cell,
    profile: &Manifests,
    overlay: &Overlaid,
) -> Verdict {
    // Named by what a person edits: the committed template, not the copy
    // the runner filled with this machine's image references.
    let source = crate::cell::overlay::template_of(&overlay.file);
    let named = source.as_deref().unwrap_or(&overlay.file);
    let subject = named
        .strip_prefix(crate::env::root())
        .unwrap_or(named)
        .display()
        .to_string();
    let overlaid = match rendered(helm, &overlay.cell, &subject, "with the test overlay") {
        Ok(m) => m,
        Err(v) => return *v,
    };
    let capped = match caps_file(&overlay.file) {
        Ok(None) => None,
        Ok(Some(file)) => {
            let mut capped = cell.clone();
            capped.profile.values.push(file);
            match rendered(
                helm,
                &capped,
                &subject,
                "with only the overlay's replica caps",
            ) {
                Ok(m) => Some(m),
                Err(v) => return *v,
            }
        }
        Err(e) => {
            return Verdict::fail(
                &subject,
                "the test overlay reads as YAML values",
                e.to_string(),
            )
        }
    };
    let v = overlay::check(
        &subject,
        overlay::Renders {
            profile,
            overlaid: &overlaid,
            capped: capped.as_ref(),
        },
    );
    if v.failed() {
        v.with_hint(format!(
            "the prod trial tests prod: an overlay only scales and points at local images \
             (suites/overlays/README.md); fix {subject}"
        ))
    } else {
        v
    }
}

/// Renders and parses a cell; the failure is the trial's verdict.
fn rendered(
    helm: &Helm,
    cell: &Cell,
    subject: &str,
    with: &str,
) -> Result<Manifests, Box<Verdict>> {
    let text = render(helm, cell).map_err(|e| {
        Box::new(error_verdict(
            subject,
            &format!("helm template renders the chart {with}"),
            &e,
        ))
    })?;
    Manifests::parse(&text).map_err(|e| {
        Box::new(Verdict::fail(
            subject,
            format!("the render {with} parses as YAML"),
            e.to_string(),
        ))
    })
}

/// The overlay's replica caps as a values file of their own (named by
/// content, so cells and processes rendering at once share it safely), or
/// `None` when the overlay lowers no replica count.
fn caps_file(overlay: &Path) -> Result<Option<PathBuf>, CapsError> {
    let text = std::fs::read_to_string(overlay).map_err(|e| CapsError::Read {
        path: overlay.to_path_buf(),
        source: e,
    })?;
    let values: serde_json::Value = serde_yaml::from_str(&text).map_err(|e| CapsError::Parse {
        path: overlay.to_path_buf(),
        source: e,
    })?;
    let Some(caps) = overlay::caps(&values) else {
        return Ok(None);
    };
    let text = serde_yaml::to_string(&caps).map_err(|e| CapsError::Parse {
        path: overlay.to_path_buf(),
        source: e,
    })?;
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    let dir = crate::env::out_dir().join("overlay-caps");
    let path = dir.join(format!("{:016x}.yaml", h.finish()));
    if path.is_file() {
        return Ok(Some(path));
    }
    let write = |e| CapsError::Write {
        path: path.clone(),
        source: e,
    };
    std::fs::create_dir_all(&dir).map_err(write)?;
    // Write then rename, so a parallel reader never sees half a file.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(write)?;
    std::fs::rename(&tmp, &path).map_err(write)?;
    Ok(Some(path))
}

#[derive(Debug, thiserror::Error)]
enum CapsError {
    #[error("cannot read the test overlay `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the test overlay `{}` is not YAML values: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    #[error("cannot write the overlay's replica caps to `{}`: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Whether the chart (or a chart it depends on through `file://`) uses the
/// vitals-common library, whose helpers fix texts may then name.
fn uses_vitals_common(chart_dir: &Path) -> bool {
    Chart::open(chart_dir)
        .and_then(|c| c.local_dependency_order())
        .map(|cs| {
            cs.iter().any(|c| {
                c.meta
                    .dependencies
                    .iter()
                    .any(|d| d.name == "vitals-common")
            })
        })
        .unwrap_or(false)
}

/// `(template, api)` for each `.Capabilities.APIVersions.Has "api"` in the
/// chart's templates (its directory subcharts' too): objects that render
/// only where that API is, so a render without it says so instead of
/// checking nothing silently.
fn gated_apis(chart_dir: &Path) -> Vec<(String, String)> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, String)>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, base, out);
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            for part in text.split("APIVersions.Has").skip(1) {
                let Some(api) = part
                    .trim_start()
                    .strip_prefix('"')
                    .and_then(|r| r.split('"').next())
                else {
                    continue;
                };
                let file = p.strip_prefix(base).unwrap_or(&p).display().to_string();
                if !out.iter().any(|(f, a)| *f == file && a == api) {
                    out.push((file, api.to_string()));
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&chart_dir.join("templates"), chart_dir, &mut out);
    walk(&chart_dir.join("charts"), chart_dir, &mut out);
    out
}

fn source_of(m: &Manifests, slug: &str) -> Option<String> {
    m.objects
        .iter()
        .find(|o| o.id().slug() == slug)
        .map(|o| o.source.clone())
        .filter(|s| !s.is_empty())
}

fn lint(helm: &Helm, cell: &Cell) -> Verdict {
    let subject = cell.prefix();
    let expected = "helm lint --strict reports no error or warning";
    let chart = match Chart::open(&cell.suite.chart_dir) {
        Ok(c) => c,
        Err(e) => return error_verdict(&subject, expected, &e),
    };
    if let Err(e) = helm.dependency_build(&chart) {
        return error_verdict(&subject, "helm dependency build succeeds", &e);
    }
    match helm.lint(&chart, &cell.profile.values, true) {
        Err(e) => error_verdict(&subject, expected, &e),
        Ok(report) => {
            let failures: Vec<_> = report.failures().cloned().collect();
            if report.passed && failures.is_empty() {
                return Verdict::pass(
                    subject,
                    expected,
                    format!("{} info message(s)", report.findings.len()),
                );
            }
            let findings = failures
                .iter()
                .map(|f| vitals_checks::Finding {
                    object: format!("{:?}", f.severity).to_lowercase(),
                    field: if f.path.is_empty() {
                        "chart".into()
                    } else {
                        f.path.clone()
                    },
                    problem: f.message.clone(),
                    fix: "see the message; `helm lint --strict` fails on warnings too".into(),
                })
                .collect();
            let mut v = Verdict::from_findings(subject, expected, findings);
            if !v.failed() {
                v = Verdict::fail(
                    &v.subject,
                    expected,
                    "helm lint failed without a parsable finding",
                );
            }
            v
        }
    }
}

/// Values of a fixture written where helm can read them; the file name
/// carries the fixture's name so messages that name the file are readable.
pub fn write_values(name: &str, values: &serde_json::Value) -> std::io::Result<PathBuf> {
    let dir = crate::env::out_dir().join("fixtures");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.values.yaml"));
    let text = serde_yaml::to_string(values).map_err(std::io::Error::other)?;
    std::fs::write(&path, text)?;
    Ok(path)
}

/// The chart's values.yaml and those of its directory subcharts (packaged
/// `.tgz` dependencies are someone else's), labelled for trial names:
/// `values` for the chart's own, the subchart's name for the others.
pub fn values_files(chart_dir: &Path, label: &str) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let own = chart_dir.join("values.yaml");
    if own.is_file() {
        out.push((label.to_string(), own));
    }
    if let Ok(rd) = std::fs::read_dir(chart_dir.join("charts")) {
        let mut subs: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        subs.sort();
        for s in subs {
            let name = s
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.extend(values_files(&s, &name));
        }
    }
    out
}
