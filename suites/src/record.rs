//! JSON lines of results under the output directory: `results.jsonl` (one
//! line per trial) and `cells.jsonl` (one line per cluster install), read by
//! the report and merged across CI cells. Appends are one write per line, so
//! parallel trial processes (nextest) interleave whole lines only.

use std::io::Write;

use serde::Serialize;
use vitals_checks::record::{CellRecord, TrialRecord};

fn append_line(file: &str, rec: &impl Serialize) {
    let dir = crate::env::out_dir();
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let Ok(mut line) = serde_json::to_string(rec) else {
        return;
    };
    line.push('\n');
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(file))
    {
        let _ = f.write_all(line.as_bytes());
    }
}

fn this_run() -> &'static std::sync::Mutex<Vec<TrialRecord>> {
    static R: std::sync::OnceLock<std::sync::Mutex<Vec<TrialRecord>>> = std::sync::OnceLock::new();
    R.get_or_init(Default::default)
}

pub fn append(rec: &TrialRecord) {
    append_line("results.jsonl", rec);
    if let Ok(mut r) = this_run().lock() {
        r.push(rec.clone());
    }
}

/// JUnit XML of this process's trials, for CI systems that read it
/// (`target/e2e/junit-run.xml`; `make report` writes the merged one).
pub fn write_junit() -> Result<std::path::PathBuf, String> {
    let records = this_run().lock().map(|r| r.clone()).unwrap_or_default();
    let path = crate::env::out_dir().join("junit-run.xml");
    vitals_report::junit::write_junit(&records, &path).map_err(|e| e.to_string())?;
    Ok(path)
}

pub fn append_cell(rec: &CellRecord) {
    append_line("cells.jsonl", rec);
}
