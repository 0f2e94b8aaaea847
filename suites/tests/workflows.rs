//! The CI workflows and the chart version gate: `.github/workflows/*.yml`
//! pass actionlint (and the lint can fail), the nightly matrix covers every
//! chart x profile of `suites/specs`, and `scripts/chart-version-check.sh`
//! refuses a chart changed without a version bump.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_yaml::Value;

const WORKFLOWS: [&str; 2] = [
    ".github/workflows/nightly.yml",
    ".github/workflows/release.yml",
];

fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn yaml(path: &Path) -> Value {
    let s = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&s).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// --- actionlint ---------------------------------------------------------------

/// The pinned build from `make setup`; a missing one is a failure, never a skip.
fn actionlint() -> PathBuf {
    let bin = root().join(".bin/actionlint");
    assert!(bin.exists(), "actionlint not built: run `make setup`");
    bin
}

fn run_actionlint(dir: &Path, files: &[&str]) -> Output {
    Command::new(actionlint())
        .arg("-no-color")
        .args(files)
        .current_dir(dir)
        .output()
        .expect("run actionlint")
}

#[test]
fn nightly_and_release_workflows_pass_actionlint() {
    let out = run_actionlint(&root(), &WORKFLOWS);
    assert!(
        out.status.success(),
        "actionlint found problems ({}):\n{}",
        out.status,
        text(&out)
    );
}

#[test]
fn actionlint_catches_a_broken_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let wf = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::write(
        wf.join("broken.yml"),
        "name: broken\non: push\njobs:\n  e2e:\n    runs-on: ubuntu-24.04\n    strategy:\n      matrix:\n        chart: [medplum]\n    steps:\n      - run: make e2e CHART=${{ matrix.chrt }}\n",
    )
    .unwrap();
    let out = run_actionlint(dir.path(), &[".github/workflows/broken.yml"]);
    let msg = text(&out);
    assert!(
        !out.status.success(),
        "actionlint passed a typo'd matrix key:\n{msg}"
    );
    assert!(
        msg.contains("broken.yml:10:") && msg.contains(r#"property "chrt" is not defined"#),
        "actionlint failed without naming the line and the undefined key:\n{msg}"
    );
}

// --- the nightly matrix vs suites/specs ---------------------------------------

/// `(chart, profile)` cells the specs declare; the chart is its Chart.yaml
/// `name` (what trial names and `make e2e CHART=` use).
fn spec_cells() -> BTreeSet<(String, String)> {
    let dir = root().join("suites/specs");
    let mut cells = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let spec = yaml(&path);
        let chart_dir = spec["chart"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no `chart:`", path.display()));
        let chart_yaml = yaml(&path.parent().unwrap().join(chart_dir).join("Chart.yaml"));
        let chart = chart_yaml["name"]
            .as_str()
            .expect("Chart.yaml name")
            .to_string();
        // release.yml finds a chart's cells by the spec's file name.
        assert_eq!(
            path.file_stem().and_then(|s| s.to_str()),
            Some(chart.as_str()),
            "{} specifies chart `{chart}`: name the file suites/specs/{chart}.yaml",
            path.display()
        );
        let profiles = spec["profiles"]
            .as_mapping()
            .unwrap_or_else(|| panic!("{}: `profiles:` is not a mapping", path.display()));
        for p in profiles.keys() {
            cells.insert((chart.clone(), p.as_str().expect("profile name").to_string()));
        }
    }
    assert!(!cells.is_empty(), "no specs under {}", dir.display());
    cells
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn nightly_matrix() -> Value {
    let wf = yaml(&root().join(".github/workflows/nightly.yml"));
    let m = wf["jobs"]["e2e"]["strategy"]["matrix"].clone();
    assert!(m.is_mapping(), "nightly.yml: no jobs.e2e.strategy.matrix");
    m
}

/// chart x profile, less `exclude`, plus `include` (other axes such as k8s
/// multiply cells, they do not add chart/profile pairs).
fn matrix_cells(m: &Value) -> BTreeSet<(String, String)> {
    let pair = |v: &Value| -> Option<(String, String)> {
        Some((
            v["chart"].as_str()?.to_string(),
            v["profile"].as_str()?.to_string(),
        ))
    };
    let mut cells = BTreeSet::new();
    for c in strings(&m["chart"]) {
        for p in strings(&m["profile"]) {
            cells.insert((c.clone(), p));
        }
    }
    for ex in m["exclude"].as_sequence().into_iter().flatten() {
        cells.retain(|(c, p)| {
            let hit_c = ex["chart"].as_str().is_none_or(|x| x == c);
            let hit_p = ex["profile"].as_str().is_none_or(|x| x == p);
            !(hit_c && hit_p)
        });
    }
    cells.extend(
        m["include"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(pair),
    );
    cells
}

#[test]
fn the_nightly_matrix_covers_every_chart_and_profile() {
    let want = spec_cells();
    let have = matrix_cells(&nightly_matrix());
    let missing: Vec<_> = want
        .difference(&have)
        .map(|(c, p)| format!("{c}/{p}"))
        .collect();
    let extra: Vec<_> = have
        .difference(&want)
        .map(|(c, p)| format!("{c}/{p}"))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "nightly.yml jobs.e2e.strategy.matrix disagrees with suites/specs/*.yaml:\n  \
         cells no nightly job runs: {missing:?}\n  \
         nightly cells no spec declares (they would run no trial): {extra:?}"
    );
}

#[test]
fn the_nightly_matrix_runs_every_supported_kubernetes_minor_and_no_other() {
    let supported: Vec<String> = vitals_cluster::kubernetes::supported()
        .into_iter()
        .map(|v| v.minor)
        .collect();
    let k8s = strings(&nightly_matrix()["k8s"]);
    assert_eq!(
        k8s, supported,
        "nightly.yml jobs.e2e.strategy.matrix.k8s disagrees with scripts/kubernetes-versions.tsv (newest first)"
    );
}

#[test]
fn the_release_gate_runs_every_cell_on_every_supported_minor() {
    let release = std::fs::read_to_string(root().join(".github/workflows/release.yml")).unwrap();
    assert!(
        release.contains("scripts/kubernetes-versions.tsv") && release.contains("K8S: ${{ matrix.k8s }}"),
        "release.yml must build its matrix from scripts/kubernetes-versions.tsv and pass K8S to make"
    );
}

// --- the availability tier in the nightly and the release gate ---------------

/// The charts whose specs declare a prod profile: the availability tier's
/// cells (it runs prod only).
fn prod_charts() -> BTreeSet<String> {
    spec_cells()
        .into_iter()
        .filter(|(_, p)| p == "prod")
        .map(|(c, _)| c)
        .collect()
}

/// Every `run:` of a job's steps, joined.
fn runs(job: &Value) -> String {
    job["steps"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|s| s["run"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

fn needs(job: &Value) -> Vec<String> {
    match &job["needs"] {
        Value::String(s) => vec![s.clone()],
        v => strings(v),
    }
}

#[test]
fn the_nightly_runs_the_availability_tier_for_every_prod_cell_on_every_supported_minor() {
    let wf = yaml(&root().join(".github/workflows/nightly.yml"));
    let job = &wf["jobs"]["availability"];
    assert!(
        job.is_mapping(),
        "nightly.yml: no jobs.availability (the availability tier is not run nightly)"
    );
    let m = &job["strategy"]["matrix"];
    let charts: BTreeSet<String> = strings(&m["chart"]).into_iter().collect();
    assert_eq!(
        charts,
        prod_charts(),
        "nightly.yml jobs.availability.strategy.matrix.chart must be the charts with a prod profile in suites/specs"
    );
    let supported: Vec<String> = vitals_cluster::kubernetes::supported()
        .into_iter()
        .map(|v| v.minor)
        .collect();
    assert_eq!(
        strings(&m["k8s"]),
        supported,
        "nightly.yml jobs.availability.strategy.matrix.k8s disagrees with scripts/kubernetes-versions.tsv (newest first)"
    );
    let fixtures = m["include"]
        .as_sequence()
        .into_iter()
        .flatten()
        .any(|i| i["chart"].as_str() == Some("harness"));
    assert!(fixtures, "nightly.yml jobs.availability: no `include: [{{chart: harness}}]`, so the tier's fixtures never run");
    assert!(
        runs(job).contains("make e2e-availability CHART=\"$CHART\""),
        "nightly.yml jobs.availability does not run `make e2e-availability CHART=\"$CHART\"`:\n{}",
        runs(job)
    );
    assert!(
        needs(&wf["jobs"]["report"]).iter().any(|n| n == "availability"),
        "nightly.yml: the report job does not wait for (and so does not draw) the availability results"
    );
}

#[test]
fn the_release_gate_requires_the_availability_tier_of_every_prod_cell() {
    let wf = yaml(&root().join(".github/workflows/release.yml"));
    let jobs = &wf["jobs"];
    let job = &jobs["availability"];
    assert!(
        job.is_mapping(),
        "release.yml: no jobs.availability: the gate does not run the availability tier"
    );
    assert_eq!(
        job["strategy"]["matrix"].as_str(),
        Some("${{ fromJSON(needs.tag.outputs.availability) }}"),
        "release.yml jobs.availability must take its cells from the tag job's `availability` output"
    );
    let cells = runs(&jobs["tag"]);
    assert!(
        cells.contains("select(.profile == \"prod\")") && cells.contains("availability=$availability"),
        "release.yml: the tag job must derive the availability cells (prod) from the same matrix, which reads scripts/kubernetes-versions.tsv"
    );
    let gate = runs(job);
    assert!(
        gate.contains("make e2e-availability CHART=\"$CHART\""),
        "{gate}"
    );
    assert!(
        gate.contains(".tier == \"availability\" and .verdict.outcome == \"skip\""),
        "release.yml jobs.availability must refuse skipped availability trials:\n{gate}"
    );
    assert!(
        needs(&jobs["package"]).iter().any(|n| n == "availability"),
        "release.yml: package does not need the availability job, so a release can ship with its HA promises unproven"
    );
}

// --- scripts/chart-version-check.sh -------------------------------------------

/// A throwaway repository with one committed chart, `charts/a` at 0.1.0.
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Self {
        let repo = Repo {
            dir: tempfile::tempdir().unwrap(),
        };
        repo.git(&["init", "-q"]);
        repo.write("charts/a/Chart.yaml", &chart_yaml("a", "0.1.0"));
        repo.write("charts/a/templates/x.yaml", "kind: ConfigMap\n");
        repo.write(
            "charts/a/charts/sub/Chart.yaml",
            &chart_yaml("sub", "1.0.0"),
        );
        repo.git(&["add", "-A"]);
        repo.git(&["commit", "-q", "-m", "charts"]);
        repo
    }

    fn write(&self, rel: &str, body: &str) {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }

    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.current_dir(self.dir.path())
            // This repository only: no user or system git configuration.
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "vitals test")
            .env("GIT_AUTHOR_EMAIL", "test@vitals.invalid")
            .env("GIT_COMMITTER_NAME", "vitals test")
            .env("GIT_COMMITTER_EMAIL", "test@vitals.invalid")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE");
        c
    }

    fn git(&self, args: &[&str]) {
        let out = self.cmd("git").args(args).output().expect("run git");
        assert!(out.status.success(), "git {args:?}: {}", text(&out));
    }

    /// The script, by absolute path, against the last commit.
    fn check(&self) -> (bool, String) {
        let script = root().join("scripts/chart-version-check.sh");
        let out = self
            .cmd("bash")
            .arg(script)
            .env("BASE_REF", "HEAD")
            .output()
            .expect("run chart-version-check.sh");
        (out.status.success(), text(&out))
    }
}

fn chart_yaml(name: &str, version: &str) -> String {
    format!("apiVersion: v2\nname: {name}\nversion: {version}\ndependencies:\n  - name: dep\n    version: 9.9.9\n")
}

#[test]
fn a_chart_changed_without_a_version_bump_fails_naming_the_chart_and_the_file() {
    let repo = Repo::new();
    repo.write("charts/a/templates/x.yaml", "kind: Secret\n");
    let (ok, msg) = repo.check();
    assert!(!ok, "an unbumped change passed:\n{msg}");
    assert!(
        msg.contains("charts/a: files changed (templates/x.yaml) but Chart.yaml version stayed 0.1.0; bump it"),
        "the message does not name the chart, the file and the version:\n{msg}"
    );
}

#[test]
fn a_chart_changed_with_a_version_bump_passes() {
    let repo = Repo::new();
    repo.write("charts/a/templates/x.yaml", "kind: Secret\n");
    repo.write("charts/a/Chart.yaml", &chart_yaml("a", "0.1.1"));
    let (ok, msg) = repo.check();
    assert!(ok, "a bumped chart failed:\n{msg}");
    assert!(msg.contains("charts/a 0.1.0 -> 0.1.1"), "{msg}");
}

#[test]
fn a_lowered_version_fails() {
    let repo = Repo::new();
    repo.write("charts/a/Chart.yaml", &chart_yaml("a", "0.0.9"));
    let (ok, msg) = repo.check();
    assert!(!ok, "a lowered version passed:\n{msg}");
    assert!(
        msg.contains("charts/a: Chart.yaml version went down from 0.1.0 to 0.0.9"),
        "{msg}"
    );
}

#[test]
fn a_version_that_is_not_semver_fails() {
    let repo = Repo::new();
    repo.write("charts/a/Chart.yaml", &chart_yaml("a", "0.2"));
    let (ok, msg) = repo.check();
    assert!(!ok, "version 0.2 passed:\n{msg}");
    assert!(
        msg.contains(r#"charts/a: Chart.yaml version "0.2" is not semver"#),
        "{msg}"
    );
}

#[test]
fn a_new_chart_needs_no_bump() {
    let repo = Repo::new();
    repo.write("charts/b/Chart.yaml", &chart_yaml("b", "0.1.0"));
    repo.write("charts/b/templates/y.yaml", "kind: ConfigMap\n");
    let (ok, msg) = repo.check();
    assert!(ok, "a new chart failed:\n{msg}");
    assert!(msg.contains("charts/b new at 0.1.0"), "{msg}");
}

#[test]
fn a_subchart_change_needs_the_subchart_and_its_parent_bumped() {
    let repo = Repo::new();
    repo.write("charts/a/charts/sub/values.yaml", "replicas: 2\n");
    let (ok, msg) = repo.check();
    assert!(!ok, "an unbumped subchart change passed:\n{msg}");
    assert!(
        msg.contains("charts/a/charts/sub: files changed (values.yaml)"),
        "{msg}"
    );
    assert!(
        msg.contains("charts/a: files changed (charts/sub/values.yaml)"),
        "{msg}"
    );

    repo.write(
        "charts/a/charts/sub/Chart.yaml",
        &chart_yaml("sub", "1.1.0"),
    );
    repo.write("charts/a/Chart.yaml", &chart_yaml("a", "0.2.0"));
    let (ok, msg) = repo.check();
    assert!(ok, "both bumped, still failing:\n{msg}");
}
