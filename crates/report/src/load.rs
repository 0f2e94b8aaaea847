//! Reading and merging the runner's JSON lines.
//!
//! CI cells run on separate machines and are downloaded into separate
//! directories, and a trial re-run in the same run appends a second line, so
//! records are keyed by `(run, name)` and the last one read wins. Lines that
//! do not parse (a write cut short, a record from an incompatible version)
//! are kept as [`Malformed`] so the page can say what it left out.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Error as JsonError;
use vitals_checks::record::{CellRecord, TrialRecord};
use vitals_checks::Outcome;

use crate::error::Error;

/// The run of records written before `run` existed, and of local runs.
pub const LOCAL_RUN: &str = "local";

/// A line that could not be read as a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub file: PathBuf,
    /// 1-based, as editors count.
    pub line: usize,
    pub error: String,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.error)
    }
}

/// Passed, failed and skipped trials.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
    pub waived: usize,
}

impl Totals {
    pub fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Pass => self.pass += 1,
            Outcome::Fail => self.fail += 1,
            Outcome::Skip(_) => self.skip += 1,
            // Counted apart: a waived rule is neither green nor not applicable.
            Outcome::Waived(_) => self.waived += 1,
        }
    }

    pub fn total(&self) -> usize {
        self.pass + self.fail + self.skip + self.waived
    }
}

/// Every record of every input directory, merged.
#[derive(Debug, Default)]
pub struct Inputs {
    /// The directories read, in order.
    pub dirs: Vec<PathBuf>,
    /// One per `(run, name)`, in the order first seen; `run` is never empty.
    pub trials: Vec<TrialRecord>,
    /// One per `(run, chart, profile, namespace)`, in the order first seen.
    pub cells: Vec<CellRecord>,
    pub malformed: Vec<Malformed>,
    /// Records that a later line of the same key replaced.
    pub replaced: usize,
    /// Index into `dirs` of the directory each trial (cell) was read from:
    /// bundle paths are relative to it.
    trial_dir: Vec<usize>,
    cell_dir: Vec<usize>,
    trial_index: HashMap<(String, String), usize>,
    cell_index: HashMap<(String, String, String, String), usize>,
}

impl Inputs {
    /// Reads `results.jsonl` and `cells.jsonl` of each directory, in order.
    /// A missing directory is an error; a directory without those files is
    /// not (a CI cell that stopped before its first trial leaves none).
    pub fn load<P: AsRef<Path>>(dirs: &[P]) -> Result<Inputs, Error> {
        let mut inputs = Inputs::default();
        for dir in dirs {
            inputs.add_dir(dir.as_ref())?;
        }
        Ok(inputs)
    }

    pub fn add_dir(&mut self, dir: &Path) -> Result<(), Error> {
        if !dir.is_dir() {
            return Err(Error::MissingDir(dir.to_path_buf()));
        }
        for (file, is_trials) in [("results.jsonl", true), ("cells.jsonl", false)] {
            let path = dir.join(file);
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(Error::Read { path, source }),
            };
            if is_trials {
                self.add_trial_lines(dir, &path, &bytes);
            } else {
                self.add_cell_lines(dir, &path, &bytes);
            }
        }
        Ok(())
    }

    /// Merges the lines of `file`, a `results.jsonl` of the output
    /// directory `dir`.
    pub fn add_trial_lines(&mut self, dir: &Path, file: &Path, bytes: &[u8]) {
        let dir = self.dir_index(dir);
        for mut rec in self.parse_lines::<TrialRecord>(file, bytes) {
            if rec.run.trim().is_empty() {
                rec.run = LOCAL_RUN.into();
            }
            let key = (rec.run.clone(), rec.name.clone());
            match self.trial_index.get(&key) {
                Some(&i) => {
                    self.trials[i] = rec;
                    self.trial_dir[i] = dir;
                    self.replaced += 1;
                }
                None => {
                    self.trial_index.insert(key, self.trials.len());
                    self.trials.push(rec);
                    self.trial_dir.push(dir);
                }
            }
        }
    }

    /// Merges the lines of `file`, a `cells.jsonl` of the output directory
    /// `dir`.
    pub fn add_cell_lines(&mut self, dir: &Path, file: &Path, bytes: &[u8]) {
        let dir = self.dir_index(dir);
        for mut rec in self.parse_lines::<CellRecord>(file, bytes) {
            if rec.run.trim().is_empty() {
                rec.run = LOCAL_RUN.into();
            }
            let key = (
                rec.run.clone(),
                rec.chart.clone(),
                rec.profile.clone(),
                rec.namespace.clone(),
            );
            match self.cell_index.get(&key) {
                Some(&i) => {
                    self.cells[i] = rec;
                    self.cell_dir[i] = dir;
                    self.replaced += 1;
                }
                None => {
                    self.cell_index.insert(key, self.cells.len());
                    self.cells.push(rec);
                    self.cell_dir.push(dir);
                }
            }
        }
    }

    fn dir_index(&mut self, dir: &Path) -> usize {
        match self.dirs.iter().position(|d| d == dir) {
            Some(i) => i,
            None => {
                self.dirs.push(dir.to_path_buf());
                self.dirs.len() - 1
            }
        }
    }

    /// The records of the non-blank lines, in order; each line that is not
    /// one is recorded as [`Malformed`]. Bytes, not a `String`, so one bad
    /// byte costs one line rather than the file.
    fn parse_lines<T: serde::de::DeserializeOwned>(&mut self, file: &Path, bytes: &[u8]) -> Vec<T> {
        let mut out = Vec::new();
        for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            if raw.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let parsed = match std::str::from_utf8(raw) {
                Ok(text) => serde_json::from_str::<T>(text).map_err(|e| describe(&e)),
                Err(e) => Err(format!("not UTF-8: {e}")),
            };
            match parsed {
                Ok(rec) => out.push(rec),
                Err(error) => self.malformed.push(Malformed {
                    file: file.to_path_buf(),
                    line: i + 1,
                    error,
                }),
            }
        }
        out
    }

    /// The directory trial `i` was read from.
    pub fn trial_dir(&self, i: usize) -> &Path {
        &self.dirs[self.trial_dir[i]]
    }

    /// The directory cell `i` was read from.
    pub fn cell_dir(&self, i: usize) -> &Path {
        &self.dirs[self.cell_dir[i]]
    }

    /// The runs merged, sorted.
    pub fn runs(&self) -> BTreeSet<&str> {
        self.trials
            .iter()
            .map(|t| t.run.as_str())
            .chain(self.cells.iter().map(|c| c.run.as_str()))
            .collect()
    }

    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for r in &self.trials {
            t.add(&r.verdict.outcome);
        }
        t
    }

    /// The cells installed for a chart x profile in a run (usually one; the
    /// upgrade tier installs a second time).
    pub fn cells_of<'a>(
        &'a self,
        run: &'a str,
        chart: &'a str,
        profile: &'a str,
    ) -> impl Iterator<Item = usize> + 'a {
        self.cells
            .iter()
            .enumerate()
            .filter(move |(_, c)| c.run == run && c.chart == chart && c.profile == profile)
            .map(|(i, _)| i)
    }
}

/// serde_json's message already ends in "at line 1 column N"; the line is
/// ours to give, the column is what helps.
fn describe(e: &JsonError) -> String {
    let msg = e.to_string();
    match msg.rfind(" at line ") {
        Some(at) => format!("{} (column {})", &msg[..at], e.column()),
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(run: Option<&str>, name: &str, outcome: &str) -> String {
        let run = run.map(|r| format!(r#""run":"{r}","#)).unwrap_or_default();
        let (chart, rest) = name.split_once('/').unwrap();
        let (profile, rest) = rest.split_once('/').unwrap();
        let (tier, check) = rest.split_once('/').unwrap();
        format!(
            r#"{{{run}"name":"{name}","chart":"{chart}","profile":"{profile}","tier":"{tier}","check":"{check}","object":"","duration_ms":3,"verdict":{{"subject":"s","outcome":"{outcome}","expected":"e","observed":"o"}}}}"#
        )
    }

    #[test]
    fn a_later_record_of_the_same_run_and_name_replaces_the_earlier() {
        let mut inputs = Inputs::default();
        let a = [
            line(Some("r1"), "c/dev/render/lint", "fail"),
            line(Some("r1"), "c/dev/render/schema", "pass"),
        ]
        .join("\n");
        let b = [
            line(Some("r1"), "c/dev/render/lint", "pass"),
            line(Some("r2"), "c/dev/render/lint", "fail"),
        ]
        .join("\n");
        inputs.add_trial_lines(Path::new("a"), Path::new("a/results.jsonl"), a.as_bytes());
        inputs.add_trial_lines(Path::new("b"), Path::new("b/results.jsonl"), b.as_bytes());

        assert_eq!(inputs.trials.len(), 3);
        assert_eq!(inputs.replaced, 1);
        // The replacement keeps the first position and takes the later dir.
        assert_eq!(inputs.trials[0].name, "c/dev/render/lint");
        assert_eq!(inputs.trials[0].verdict.outcome, Outcome::Pass);
        assert_eq!(inputs.trial_dir(0), Path::new("b"));
        assert_eq!(inputs.trial_dir(1), Path::new("a"));
        let t = inputs.totals();
        assert_eq!((t.pass, t.fail, t.skip), (2, 1, 0));
        assert_eq!(inputs.runs().into_iter().collect::<Vec<_>>(), ["r1", "r2"]);
    }

    #[test]
    fn records_without_a_run_are_local_and_merge_with_local_ones() {
        let mut inputs = Inputs::default();
        let text = [
            line(None, "c/dev/render/lint", "fail"),
            line(Some(""), "c/dev/render/lint", "fail"),
            line(Some("local"), "c/dev/render/lint", "pass"),
        ]
        .join("\n");
        inputs.add_trial_lines(
            Path::new("a"),
            Path::new("a/results.jsonl"),
            text.as_bytes(),
        );
        assert_eq!(inputs.trials.len(), 1);
        assert_eq!(inputs.trials[0].run, "local");
        assert_eq!(inputs.trials[0].verdict.outcome, Outcome::Pass);
        assert_eq!(inputs.replaced, 2);
    }

    #[test]
    fn a_malformed_line_is_counted_with_file_and_line_and_the_rest_still_loads() {
        let mut inputs = Inputs::default();
        let good = line(Some("r"), "c/dev/render/lint", "pass");
        let cut = &good[..good.len() / 2];
        let mut bytes = format!("{good}\n\n{cut}\n{{\"name\":1}}\n").into_bytes();
        bytes.extend_from_slice(b"\xff\xfe\n");
        bytes.extend_from_slice(line(Some("r"), "c/dev/render/schema", "pass").as_bytes());
        inputs.add_trial_lines(Path::new("out"), Path::new("out/results.jsonl"), &bytes);

        assert_eq!(inputs.trials.len(), 2);
        let lines: Vec<_> = inputs.malformed.iter().map(|m| m.line).collect();
        assert_eq!(lines, [3, 4, 5]);
        let first = inputs.malformed[0].to_string();
        assert!(first.starts_with("out/results.jsonl:3: EOF"), "{first}");
        assert!(inputs.malformed[2].error.contains("UTF-8"));
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_it() {
        let err = Inputs::load(&["/nonexistent/e2e"]).unwrap_err();
        assert!(matches!(err, Error::MissingDir(_)));
        assert!(err
            .to_string()
            .starts_with("/nonexistent/e2e: no such directory"));
    }

    #[test]
    fn a_directory_without_results_loads_empty() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = Inputs::load(&[dir.path()]).unwrap();
        assert!(inputs.trials.is_empty() && inputs.malformed.is_empty());
    }
}
