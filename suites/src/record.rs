//! JSON lines of trial results (`target/e2e/results.jsonl`), read by the
//! report and merged across CI cells. Appends are one write per line, so
//! parallel trial processes (nextest) interleave whole lines only.

use std::io::Write;

use vitals_checks::record::TrialRecord;

pub fn append(rec: &TrialRecord) {
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
        .open(dir.join("results.jsonl"))
    {
        let _ = f.write_all(line.as_bytes());
    }
}
