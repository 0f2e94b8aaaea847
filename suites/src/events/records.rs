//! The JSON-lines sink: results under the output directory,
//! `results.jsonl` (one line per trial) and `cells.jsonl` (one line per
//! cluster install), read by the report and merged across CI cells. A line
//! is `serde_json::to_string` of the record and a newline, exactly what the
//! report's loader parses. Appends are one write per line, so parallel trial
//! processes (nextest) interleave whole lines only.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;
use vitals_checks::record::CellRecord;

use super::{RunEvent, Sink, SinkError};

pub const RESULTS: &str = "results.jsonl";
pub const CELLS: &str = "cells.jsonl";

/// Appends each ended (or ignored) trial and each install to its file.
pub struct Records {
    dir: PathBuf,
}

impl Records {
    pub fn new(dir: PathBuf) -> Records {
        Records { dir }
    }

    fn append(&self, file: &str, rec: &impl Serialize) -> Result<(), SinkError> {
        let mut line = serde_json::to_string(rec).map_err(SinkError::Json)?;
        line.push('\n');
        let path = self.dir.join(file);
        let write = |source| SinkError::Write {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(write)?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .map_err(write)
    }
}

impl Sink for Records {
    fn name(&self) -> &'static str {
        "results"
    }

    fn on(&self, event: &RunEvent<'_>) -> Result<(), SinkError> {
        match event {
            RunEvent::TrialFinished { record } | RunEvent::TrialIgnored { record } => {
                self.append(RESULTS, record)
            }
            RunEvent::CellInstalled { record } => self.append(CELLS, record),
            _ => Ok(()),
        }
    }
}

/// Reports an install: its phases' timings and its overlay (the cluster
/// phases call this once per install).
pub fn append_cell(rec: &CellRecord) {
    super::emit(RunEvent::CellInstalled { record: rec });
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitals_checks::record::TrialRecord;

    fn sample(file: &str) -> String {
        let p = crate::env::root()
            .join("crates/report/tests/data/run-a")
            .join(file);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// The report reads these lines: what the sink writes is what serde
    /// writes for the record, byte for byte, one line each, and a sample of
    /// the report's own reads back to the same record.
    #[test]
    fn lines_are_the_records_as_serde_writes_them_and_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let sink = Records::new(dir.path().join("e2e"));
        let trials: Vec<TrialRecord> = sample(RESULTS)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let cells: Vec<CellRecord> = sample(CELLS)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(!trials.is_empty() && !cells.is_empty());
        let (first, rest) = trials.split_first().unwrap();
        sink.on(&RunEvent::TrialIgnored { record: first }).unwrap();
        for t in rest {
            sink.on(&RunEvent::TrialFinished { record: t }).unwrap();
        }
        for c in &cells {
            sink.on(&RunEvent::CellInstalled { record: c }).unwrap();
        }
        // Events no file records leave the files alone.
        sink.on(&RunEvent::TrialStarted { name: "x" }).unwrap();
        sink.on(&RunEvent::RunFinished).unwrap();

        let written = std::fs::read_to_string(dir.path().join("e2e").join(RESULTS)).unwrap();
        let want: String = trials
            .iter()
            .map(|t| serde_json::to_string(t).unwrap() + "\n")
            .collect();
        assert_eq!(written, want);
        let back: Vec<TrialRecord> = written
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&trials).unwrap()
        );
        let written = std::fs::read_to_string(dir.path().join("e2e").join(CELLS)).unwrap();
        let back: Vec<CellRecord> = written
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(back, cells);
    }
}
