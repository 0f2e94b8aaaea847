//! The report and the bin on the checked-in fixture runs, without a browser.

mod common;

use std::path::Path;
use std::process::Command;

use vitals_checks::Outcome;
use vitals_report::html::failure_anchor;
use vitals_report::{render, write_junit, Inputs};

#[test]
fn two_ci_cells_merge_into_one_report() {
    let inputs = Inputs::load(&common::fixture_dirs()).unwrap();
    let runs: Vec<_> = inputs.runs().into_iter().collect();
    assert_eq!(runs, ["ci-42-medplum-dev", "ci-42-medplum-prod", "local"]);
    // run-a re-ran one probe (fail, then pass): only the pass is kept.
    assert_eq!(inputs.replaced, 1);
    let probe = inputs
        .trials
        .iter()
        .find(|t| t.name == "medplum/dev/cluster/probe/medplum-server/server/readiness")
        .unwrap();
    assert_eq!(probe.verdict.outcome, Outcome::Pass);
    let t = inputs.totals();
    assert_eq!((t.pass, t.fail, t.skip), (14, 4, 1));
    assert_eq!(inputs.cells.len(), 2);

    // run-b has one line cut short by an interrupted write.
    assert_eq!(inputs.malformed.len(), 1);
    let m = inputs.malformed[0].to_string();
    assert!(
        m.contains("run-b/results.jsonl:5: EOF while parsing"),
        "{m}"
    );
}

#[test]
fn bundle_links_reach_the_bundles_from_the_report_directory() {
    let inputs = Inputs::load(&common::fixture_dirs()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let html = render(&inputs, out.path(), "now");
    let hrefs: Vec<&str> = html
        .split("<a class=\"bundle\" href=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect();
    // dev's failure: a relative hint. prod's netpol failure: an absolute
    // path from the CI machine, found again under the download. prod's HPA
    // failure (no hint) and prod's install row: the cell's `bundle`.
    assert_eq!(hrefs.len(), 4, "{hrefs:?}");
    for href in &hrefs {
        let dir = out.path().join(href);
        assert!(dir.join("WHY.txt").is_file(), "{href} -> {}", dir.display());
    }
    assert!(hrefs
        .iter()
        .any(|h| h.ends_with("run-a/bundles/medplum-dev/")));
    assert!(hrefs
        .iter()
        .any(|h| h.ends_with("run-b/bundles/medplum-prod/")));

    for anchor in [
        failure_anchor(
            "ci-42-medplum-dev",
            "medplum/dev/cluster/ready/deployment/medplum-server",
        ),
        failure_anchor(
            "ci-42-medplum-prod",
            "medplum/prod/cluster/hpa/medplum-bot-worker",
        ),
    ] {
        assert!(html.contains(&format!("<details class=\"failure\" id=\"{anchor}\">")));
    }
    assert_eq!(html.matches("<details class=\"overlay\">").count(), 2);
    assert!(html.contains("# &lt;not a tag&gt; &amp; &quot;quoted&quot;"));
}

#[test]
fn junit_of_the_fixtures_counts_failures_and_skips() {
    let inputs = Inputs::load(&common::fixture_dirs()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junit.xml");
    write_junit(&inputs.trials, &path).unwrap();
    let report =
        quick_junit::Report::deserialize_from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap();
    assert_eq!((report.tests, report.failures, report.skipped), (19, 4, 1));
    let suites: Vec<_> = report.test_suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(suites, ["medplum/-", "medplum/dev", "medplum/prod"]);
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vitals-report"))
}

#[test]
fn the_bin_writes_both_files_and_warns_about_the_bad_line() {
    let out = tempfile::tempdir().unwrap();
    let html = out.path().join("report/index.html");
    let junit = out.path().join("junit.xml");
    // The bin on the fixtures, writing both files.
    let run = |extra: &[&str]| {
        bin()
            .args(extra)
            .arg("--out")
            .arg(&html)
            .arg("--junit")
            .arg(&junit)
            .args(common::fixture_dirs())
            .output()
            .unwrap()
    };
    let o = run(&[]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: ") && stderr.contains("run-b/results.jsonl:5: "),
        "{stderr}"
    );
    assert!(html.is_file() && junit.is_file());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("19 trials (14 passed, 4 failed, 1 skipped) from 3 run(s)"),
        "{stdout}"
    );

    // --strict still writes the report, then says why it exits 2.
    let o = run(&["--strict"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("1 unreadable line(s)"));
}

#[test]
fn the_bin_names_a_missing_directory_and_exits_2_without_a_backtrace() {
    let out = tempfile::tempdir().unwrap();
    let o = bin()
        .env("RUST_BACKTRACE", "1")
        .arg("--out")
        .arg(out.path().join("index.html"))
        .arg("--junit")
        .arg(out.path().join("junit.xml"))
        .arg(common::data().join("run-a"))
        .arg("/nonexistent/e2e")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("error: /nonexistent/e2e: no such directory"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("backtrace") && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert!(!Path::new(&out.path().join("index.html")).exists());
}
