//! What a run reports, as one typed stream. The runner (`tests/e2e.rs`, the
//! cluster phases) emits [`RunEvent`]s; each [`Sink`] turns them into one
//! output: the JSON lines the report reads (`record`), the terminal's
//! progress display (`progress`), this process's JUnit XML (`junit`). A new
//! output is one more sink, and no emitter changes; the runner needs
//! nothing of the report crate to write its results.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use vitals_checks::record::{CellRecord, TrialRecord};

pub mod junit;
pub mod progress;
pub mod records;

/// One thing that happened in a run.
#[derive(Debug, Clone, Copy)]
pub enum RunEvent<'a> {
    /// The trials start: `total` of them will report (ignored ones not).
    RunStarted { total: usize },
    /// A trial began (it may still wait for its stage or its cell's room).
    TrialStarted { name: &'a str },
    /// A trial ended; its outcome is `record.verdict.outcome`.
    TrialFinished { record: &'a TrialRecord },
    /// A trial known before the run not to be runnable, recorded with its
    /// skip when the run starts (the report and JUnit list it as skipped;
    /// it never starts, so the progress does not count it).
    TrialIgnored { record: &'a TrialRecord },
    /// What an installing cell is doing now; `None` once it is done.
    CellPhase {
        cell: &'a str,
        phase: Option<&'a str>,
    },
    /// A cell was installed here: the phases it went through and how long
    /// each took, and the overlay it was installed with.
    CellInstalled { record: &'a CellRecord },
    /// Every trial of this process has reported.
    RunFinished,
}

/// Why a sink could not write what an event asked of it.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("a record does not serialize as JSON")]
    Json(#[source] serde_json::Error),
    #[error("the JUnit XML for `{}` does not serialize", path.display())]
    Junit {
        path: PathBuf,
        #[source]
        source: vitals_checks::junit::SerializeError,
    },
}

/// One output of the run.
pub trait Sink: Send + Sync {
    /// Its name in a warning when it fails.
    fn name(&self) -> &'static str;
    fn on(&self, event: &RunEvent<'_>) -> Result<(), SinkError>;
}

/// The sinks of this process: the JSON lines under `E2E_OUT`, the progress
/// display (which draws only at a terminal), and the JUnit file (one
/// process's trials; under nextest each process runs one trial, and
/// nextest writes the run's JUnit itself).
fn sinks() -> &'static Vec<Box<dyn Sink>> {
    static SINKS: OnceLock<Vec<Box<dyn Sink>>> = OnceLock::new();
    SINKS.get_or_init(|| {
        let out = crate::env::out_dir();
        let mut s: Vec<Box<dyn Sink>> = vec![
            Box::new(records::Records::new(out.clone())),
            Box::new(progress::Progress::new()),
        ];
        if !crate::env::process_per_trial() {
            s.push(Box::new(junit::Junit::new(out.join("junit-run.xml"))));
        }
        s
    })
}

/// Hands `event` to every sink. A sink that fails says so on stderr and
/// the others still get the event: a record that cannot be written must
/// not turn a verdict into a crash, and must not go unnoticed either.
pub fn emit(event: RunEvent<'_>) {
    dispatch(sinks(), &event);
}

fn dispatch(sinks: &[Box<dyn Sink>], event: &RunEvent<'_>) {
    for s in sinks {
        if let Err(e) = s.on(event) {
            warn(s.name(), &e);
        }
    }
}

/// Once per sink and message: a full disk would otherwise print a line
/// for every trial that ends.
fn warn(sink: &str, e: &SinkError) {
    static SEEN: OnceLock<Mutex<std::collections::HashSet<String>>> = OnceLock::new();
    let mut line = format!("warning: {sink}: {e}");
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        line.push_str(&format!(": {s}"));
        src = s.source();
    }
    let first = SEEN
        .get_or_init(Default::default)
        .lock()
        .map(|mut seen| seen.insert(line.clone()))
        .unwrap_or(true);
    if first {
        eprintln!("{line}");
    }
}

/// What an installing cell is doing now (`None` once it is done): the
/// cluster phases report through this.
pub fn phase(cell: &str, what: Option<&str>) {
    emit(RunEvent::CellPhase { cell, phase: what });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Counts what it was given, and fails on trial ends.
    struct Counting(Arc<Mutex<Vec<String>>>, bool);

    impl Sink for Counting {
        fn name(&self) -> &'static str {
            "counting"
        }
        fn on(&self, event: &RunEvent<'_>) -> Result<(), SinkError> {
            let what = match event {
                RunEvent::TrialStarted { name } => format!("start {name}"),
                RunEvent::TrialFinished { record } => format!("end {}", record.name),
                other => format!("{other:?}").split(' ').next().unwrap_or("").into(),
            };
            self.0.lock().unwrap().push(what);
            match (self.1, event) {
                (true, RunEvent::TrialFinished { .. }) => Err(SinkError::Write {
                    path: "/full".into(),
                    source: std::io::Error::other("no space"),
                }),
                _ => Ok(()),
            }
        }
    }

    #[test]
    fn every_sink_gets_every_event_even_after_another_failed() {
        let (a, b) = (Arc::default(), Arc::default());
        let sinks: Vec<Box<dyn Sink>> = vec![
            Box::new(Counting(Arc::clone(&a), true)),
            Box::new(Counting(Arc::clone(&b), false)),
        ];
        let rec = junit::tests::rec(
            "m/dev/render/lint",
            vitals_checks::Verdict::pass("m", "", ""),
        );
        dispatch(&sinks, &RunEvent::TrialStarted { name: &rec.name });
        dispatch(&sinks, &RunEvent::TrialFinished { record: &rec });
        dispatch(&sinks, &RunEvent::RunFinished);
        let want = [
            "start m/dev/render/lint",
            "end m/dev/render/lint",
            "RunFinished",
        ];
        assert_eq!(*a.lock().unwrap(), want);
        assert_eq!(*b.lock().unwrap(), want);
    }
}
