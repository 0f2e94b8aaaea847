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

pub fn append(rec: &TrialRecord) {
    append_line("results.jsonl", rec);
}

pub fn append_cell(rec: &CellRecord) {
    append_line("cells.jsonl", rec);
}
