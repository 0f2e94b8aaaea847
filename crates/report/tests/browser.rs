//! The report as a person gets it: rendered from the fixture runs and opened
//! in Debian's headless chromium. Proves the page's script runs (a failure
//! named in the address opens), the grid and the HPA charts are in the DOM
//! a browser builds, and keeps a screenshot at
//! `target/e2e/report-test/screenshot.png` to look at.

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vitals_report::html::failure_anchor;
use vitals_report::{write_report, Inputs};

/// Generous: a cold chromium start on a loaded 2-core CI machine.
const DEADLINE: Duration = Duration::from_secs(90);

fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.is_file(),
        "no chromium at {} (set CHROMIUM to another): install Debian's chromium: make setup-browser",
        path.display()
    );
    path
}

/// Runs chromium headless on `url` with `args`, killed (with every process
/// it started) when it outlives the deadline. Returns its stdout.
fn run_chromium(args: &[String], url: &str, work: &Path, label: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out_path = work.join(format!("{label}.stdout"));
    let err_path = work.join(format!("{label}.stderr"));
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--no-first-run",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(args)
    .arg(url)
    .stdin(Stdio::null())
    // Files, not pipes: a DOM larger than a pipe buffer would block
    // chromium while this waits for it to exit.
    .stdout(File::create(&out_path).unwrap())
    .stderr(File::create(&err_path).unwrap());
    // Its own process group, so a timeout can end the renderer and the
    // zygote too, not only the browser process.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!("cannot start chromium ({e}): install Debian's chromium: make setup-browser")
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium ({label}) did not finish within {DEADLINE:?}; its stderr:\n{}",
                tail(&err_path)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.success(),
        "chromium ({label}) exited with {status}; its stderr:\n{}",
        tail(&err_path)
    );
    std::fs::read_to_string(&out_path).unwrap()
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// The start tag of the element with `id`, as serialized.
fn start_tag<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element with id {id} in the DOM"));
    let open = dom[..at].rfind('<').unwrap();
    let close = at + dom[at..].find('>').unwrap();
    &dom[open..=close]
}

#[test]
fn the_report_opens_in_chromium_with_the_named_failure_expanded() {
    // Fail first, with the install hint, before doing anything else.
    chromium();
    let dir = common::report_test_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let dir = dir.canonicalize().unwrap();
    let index = dir.join("index.html");
    let inputs = Inputs::load(&common::fixture_dirs()).unwrap();
    write_report(&inputs, &index).unwrap();

    let target = failure_anchor(
        "ci-42-medplum-dev",
        "medplum/dev/cluster/ready/deployment/medplum-server",
    );
    let other = failure_anchor(
        "ci-42-medplum-prod",
        "medplum/prod/cluster/netpol/medplum-server",
    );
    let url = format!("{}#{target}", file_url(&index));
    let dom = run_chromium(&["--dump-dom".into()], &url, &dir, "dump-dom");

    assert!(dom.contains("<table id=\"grid\">"), "no grid in:\n{dom}");
    assert!(dom.contains("class=\"cell pass"), "no passing cell");
    assert!(dom.contains("class=\"cell fail"), "no failing cell");
    // Only the page's script can have set `open`: the file has none.
    let tag = start_tag(&dom, &target);
    assert!(tag.starts_with("<details class=\"failure\""), "{tag}");
    assert!(
        tag.contains(" open"),
        "the named failure is not open: {tag}"
    );
    let tag = start_tag(&dom, &other);
    assert!(!tag.contains(" open"), "another failure opened too: {tag}");
    let html = std::fs::read_to_string(&index).unwrap();
    assert!(
        !start_tag(&html, &target).contains(" open"),
        "open in the file already"
    );

    let svg = dom
        .find("<svg class=\"hpa-chart\"")
        .map(|at| &dom[at..at + dom[at..].find("</svg>").unwrap()])
        .expect("no svg.hpa-chart in the DOM");
    assert!(svg.contains("<polyline") || svg.contains("<path"), "{svg}");

    let shot = dir.join("screenshot.png");
    let _ = std::fs::remove_file(&shot);
    run_chromium(
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1400,2000".into(),
        ],
        &file_url(&index),
        &dir,
        "screenshot",
    );
    let size = std::fs::metadata(&shot)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", shot.display()))
        .len();
    assert!(size > 20_000, "{} is only {size} bytes", shot.display());
}
