//! The corpus of user charts (`suites/fixtures/user-charts/<name>/`): small
//! charts of our own that reproduce what real public charts do (octal file
//! modes, CRDs with descriptions, node agents, controllers, per-pod
//! Services, helm-docs, vendored dependencies, packaged charts). Each runs
//! through the render tier as `E2E_CHART` would run it, and must get the
//! verdicts its `expect.yaml` names, with no other trial failing: no false
//! positive, and every true defect planted in it still caught. The chart's
//! folder must be left exactly as it was.
//!
//! Needs helm (`make setup`); without it the test fails saying so.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use e2e::render::{self, Cell};
use serde::Deserialize;
use vitals_checks::{Outcome, Verdict};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    /// What real charts do that this one reproduces.
    #[allow(dead_code)]
    reproduces: String,
    /// Values files (in the chart) that become profiles, as E2E_VALUES.
    #[serde(default)]
    values: Vec<String>,
    /// Directories under the fixture packaged into the chart's `charts/`
    /// first (archives are not committed).
    #[serde(default)]
    vendor: Vec<String>,
    /// Hand the chart over as a packaged `.tgz`.
    #[serde(default)]
    package: bool,
    expect: Vec<Want>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Want {
    /// After `<chart>/`: `default/render/openapi/widget/bad`.
    trial: String,
    /// pass, fail, skip or waived.
    verdict: String,
    #[serde(default)]
    mentions: Vec<String>,
    /// Text that must not be there (vitals' own helpers, for a chart that
    /// does not use vitals-common).
    #[serde(default)]
    absent: Vec<String>,
}

fn outcome_name(o: &Outcome) -> &'static str {
    match o {
        Outcome::Pass => "pass",
        Outcome::Fail => "fail",
        Outcome::Skip(_) => "skip",
        Outcome::Waived(_) => "waived",
    }
}

fn helm_cmd(helm: &vitals_helm::Helm, args: &[&std::ffi::OsStr]) -> Result<(), String> {
    let out = std::process::Command::new(helm.bin())
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// Every file's path and bytes: what "left as it was" compares.
fn snapshot(dir: &Path) -> u64 {
    fn walk(dir: &Path, h: &mut DefaultHasher) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map(|rd| rd.filter_map(Result::ok).collect())
            .unwrap_or_default();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            e.file_name().hash(h);
            if e.path().is_dir() {
                walk(&e.path(), h);
            } else {
                std::fs::read(e.path()).unwrap_or_default().hash(h);
            }
        }
    }
    let mut h = DefaultHasher::new();
    walk(dir, &mut h);
    h.finish()
}

/// Runs one corpus chart; the problems found, as text.
fn run(helm: &Result<vitals_helm::Helm, vitals_helm::Error>, fixture: &Path) -> Vec<String> {
    let name = fixture.file_name().unwrap().to_string_lossy().into_owned();
    let text = std::fs::read_to_string(fixture.join("expect.yaml")).unwrap();
    let want: Expect =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name}/expect.yaml: {e}"));
    let Ok(h) = helm else {
        return vec![format!("{name}: helm is not available (make setup)")];
    };
    // The user's folder: a copy of the fixture, so that what the run might
    // write would show (and not dirty the checkout).
    let tmp = tempfile::tempdir().unwrap();
    let meta = vitals_helm::Chart::open(fixture.join("chart"))
        .unwrap()
        .meta;
    let user = tmp.path().join(&meta.name);
    copy_tree(&fixture.join("chart"), &user);
    for v in &want.vendor {
        let charts = user.join("charts");
        std::fs::create_dir_all(&charts).unwrap();
        helm_cmd(
            h,
            &[
                "package".as_ref(),
                fixture.join("vendor").join(v).as_os_str(),
                "-d".as_ref(),
                charts.as_os_str(),
            ],
        )
        .unwrap_or_else(|e| panic!("{name}: helm package {v}: {e}"));
    }
    let chart = if want.package {
        let dist = tmp.path().join("dist");
        helm_cmd(
            h,
            &[
                "package".as_ref(),
                user.as_os_str(),
                "-d".as_ref(),
                dist.as_os_str(),
            ],
        )
        .unwrap_or_else(|e| panic!("{name}: helm package: {e}"));
        dist.join(format!("{}-{}.tgz", meta.name, meta.version))
    } else {
        user.clone()
    };
    let before = snapshot(tmp.path());
    let values: Vec<PathBuf> = want.values.iter().map(|v| user.join(v)).collect();
    let suite = match e2e::spec::user_suite(&chart, &values, None) {
        Ok(s) => Arc::new(s),
        Err(e) => return vec![format!("{name}: setup error: {e}")],
    };
    let mut got: BTreeMap<String, Verdict> = BTreeMap::new();
    for (label, file) in render::values_files(&suite.chart_dir, "values") {
        got.insert(
            format!("-/render/docs/{label}"),
            vitals_checks::render::docs::check(&file),
        );
    }
    for p in &suite.profiles {
        let cell = Cell::new(suite.clone(), p.clone());
        for c in render::checks(helm, &cell) {
            got.insert(format!("{}/{}", p.name, c.name), (c.run)());
        }
    }
    let mut problems = Vec::new();
    for w in &want.expect {
        match got.get(&w.trial) {
            None => problems.push(format!(
                "{name}: no trial `{}`; trials were:\n    {}",
                w.trial,
                got.keys().cloned().collect::<Vec<_>>().join("\n    ")
            )),
            Some(v) => {
                let text = v.to_string();
                if outcome_name(&v.outcome) != w.verdict {
                    problems.push(format!(
                        "{name}: `{}` is {}, want {}:\n{text}",
                        w.trial,
                        outcome_name(&v.outcome),
                        w.verdict
                    ));
                }
                for m in &w.mentions {
                    if !text.contains(m.as_str()) {
                        problems.push(format!(
                            "{name}: `{}` does not mention {m:?}:\n{text}",
                            w.trial
                        ));
                    }
                }
                for m in &w.absent {
                    if text.contains(m.as_str()) {
                        problems.push(format!("{name}: `{}` mentions {m:?}:\n{text}", w.trial));
                    }
                }
            }
        }
    }
    for (trial, v) in &got {
        if v.failed() && !want.expect.iter().any(|w| &w.trial == trial) {
            problems.push(format!("{name}: false positive `{trial}`:\n{v}"));
        }
    }
    if snapshot(tmp.path()) != before {
        problems.push(format!(
            "{name}: the run wrote into the user's chart folder"
        ));
    }
    problems
}

#[test]
fn every_user_chart_gets_the_verdicts_it_must() {
    let helm = e2e::env::helm();
    let dir = e2e::fixtures::dir().join("user-charts");
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("expect.yaml").is_file())
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 8, "the corpus is in {}", dir.display());
    let problems: Vec<String> = fixtures.iter().flat_map(|f| run(&helm, f)).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// Setup problems of a user's chart are one error naming the file (exit 2
/// in the runner), not red trials.
#[test]
fn setup_problems_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let chart = tmp.path().join("c");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: c\nversion: [0.1.0\n",
    )
    .unwrap();
    let e = e2e::spec::user_suite(&chart, &[], None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("Chart.yaml") && e.contains("line"), "{e}");

    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: c\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(chart.join("values.yaml"), "a: 1\n").unwrap();
    std::fs::write(chart.join("bad.yaml"), "- a list\n").unwrap();
    let e = e2e::spec::user_suite(&chart, &[chart.join("bad.yaml")], None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad.yaml") && e.contains("must be a map"), "{e}");

    std::fs::create_dir_all(chart.join("ci")).unwrap();
    std::fs::write(chart.join("ci/default-values.yaml"), "a: 2\n").unwrap();
    let e = e2e::spec::user_suite(
        &chart,
        &[
            chart.join("values.yaml"),
            chart.join("ci/default-values.yaml"),
        ],
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("both make profile `default`"), "{e}");

    std::fs::write(
        chart.join("vitals.yaml"),
        "waivers:\n- {rule: security, object: deployment/x}\n",
    )
    .unwrap();
    let e = e2e::spec::user_suite(&chart, &[], None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("vitals.yaml") && e.contains("because"), "{e}");
    std::fs::write(
        chart.join("vitals.yaml"),
        "waivers:\n- {rule: securty, object: deployment/x, because: x}\n",
    )
    .unwrap();
    let e = e2e::spec::user_suite(&chart, &[], None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown rule `securty`"), "{e}");

    std::fs::remove_file(chart.join("vitals.yaml")).unwrap();
    let spec = tmp.path().join("spec.yaml");
    std::fs::write(&spec, "profiles: {dev: [values.yaml]}\n").unwrap();
    let e = e2e::spec::user_suite(&chart, &[chart.join("values.yaml")], Some(&spec))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("spec.yaml") && e.contains("conflicts with E2E_VALUES"),
        "{e}"
    );
    // Without E2E_VALUES the spec's profiles are used; no `chart:` needed.
    let s = e2e::spec::user_suite(&chart, &[], Some(&spec)).unwrap();
    assert_eq!(s.profiles[0].name, "dev");
}
