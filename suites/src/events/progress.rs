//! What a person at a terminal sees while a run is in progress: trials done
//! of total, failures so far, what each installing cell is doing, and the
//! slowest trial still running with how long it has been at it. Drawn on
//! stderr only when stderr is a terminal; CI logs stay as libtest prints them.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::{RunEvent, Sink, SinkError};

#[derive(Default)]
struct State {
    running: HashMap<String, Instant>,
    phases: BTreeMap<String, String>,
    failed: u64,
}

/// The console sink: keeps what is running and installing, and draws it
/// once the run starts, if stderr is a terminal (and `E2E_NO_PROGRESS` is
/// unset). The bar's template reads the state on each redraw.
pub struct Progress {
    state: Arc<Mutex<State>>,
    bar: OnceLock<ProgressBar>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

/// The line under the bar: phases of installing cells, else the slowest trial.
fn status_line(s: &State, now: Instant) -> String {
    let slowest = s
        .running
        .iter()
        .max_by_key(|(_, t)| now - **t)
        .map(|(n, t)| format!("slowest: {n} ({}s)", (now - *t).as_secs()));
    let phases = s
        .phases
        .iter()
        .map(|(cell, p)| format!("{cell}: {p}"))
        .collect::<Vec<_>>()
        .join(", ");
    match (phases.is_empty(), slowest) {
        (true, Some(w)) => w,
        (true, None) => String::new(),
        (false, Some(w)) => format!("{phases} | {w}"),
        (false, None) => phases,
    }
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            state: Arc::default(),
            bar: OnceLock::new(),
        }
    }

    /// Starts the display for `total` trials, if stderr is a terminal.
    fn start(&self, total: usize) {
        if !std::io::stderr().is_terminal() || crate::config::get().no_progress {
            return;
        }
        let pb = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        let (failed, status) = (Arc::clone(&self.state), Arc::clone(&self.state));
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} trials, {failed} failed\n  {status}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "failed",
            move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                let n = failed.lock().map(|s| s.failed).unwrap_or(0);
                let _ = write!(w, "{n}");
            },
        )
        .with_key(
            "status",
            move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                let line = status
                    .lock()
                    .map(|s| status_line(&s, Instant::now()))
                    .unwrap_or_default();
                let _ = write!(w, "{line}");
            },
        );
        pb.set_style(style);
        // Redraws the clock and the slowest wait; nothing is polled.
        pb.enable_steady_tick(Duration::from_millis(500));
        let _ = self.bar.set(pb);
    }
}

impl Sink for Progress {
    fn name(&self) -> &'static str {
        "progress"
    }

    fn on(&self, event: &RunEvent<'_>) -> Result<(), SinkError> {
        match event {
            RunEvent::RunStarted { total } => self.start(*total),
            RunEvent::TrialStarted { name } => {
                if let Ok(mut s) = self.state.lock() {
                    s.running.insert(name.to_string(), Instant::now());
                }
            }
            RunEvent::TrialFinished { record } => {
                if let Ok(mut s) = self.state.lock() {
                    s.running.remove(&record.name);
                    s.failed += u64::from(record.verdict.failed());
                }
                if let Some(pb) = self.bar.get() {
                    pb.inc(1);
                }
            }
            RunEvent::CellPhase { cell, phase } => {
                if let Ok(mut s) = self.state.lock() {
                    match phase {
                        Some(w) => s.phases.insert(cell.to_string(), w.to_string()),
                        None => s.phases.remove(*cell),
                    };
                }
            }
            RunEvent::RunFinished => {
                if let Some(pb) = self.bar.get() {
                    pb.finish_and_clear();
                }
            }
            RunEvent::TrialIgnored { .. } | RunEvent::CellInstalled { .. } => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_names_installing_cells_and_the_slowest_trial() {
        let now = Instant::now();
        let mut s = State::default();
        s.running
            .insert("a/dev/cluster/dns/x".into(), now - Duration::from_secs(3));
        s.running.insert(
            "a/dev/cluster/hpa/web".into(),
            now - Duration::from_secs(42),
        );
        s.phases.insert("b-prod".into(), "install".into());
        assert_eq!(
            status_line(&s, now),
            "b-prod: install | slowest: a/dev/cluster/hpa/web (42s)"
        );
    }

    #[test]
    fn trials_and_phases_come_and_go_with_their_events() {
        let p = Progress::new();
        let ok = super::super::junit::tests::rec(
            "a/dev/render/x",
            vitals_checks::Verdict::pass("a", "", ""),
        );
        let bad = super::super::junit::tests::rec(
            "a/dev/render/y",
            vitals_checks::Verdict::fail("a", "", ""),
        );
        for name in [&ok.name, &bad.name] {
            p.on(&RunEvent::TrialStarted { name }).unwrap();
        }
        p.on(&RunEvent::CellPhase {
            cell: "a-dev",
            phase: Some("install"),
        })
        .unwrap();
        p.on(&RunEvent::TrialFinished { record: &ok }).unwrap();
        p.on(&RunEvent::TrialFinished { record: &bad }).unwrap();
        {
            let s = p.state.lock().unwrap();
            assert!(s.running.is_empty());
            assert_eq!(s.failed, 1);
            assert_eq!(s.phases.get("a-dev").map(String::as_str), Some("install"));
        }
        p.on(&RunEvent::CellPhase {
            cell: "a-dev",
            phase: None,
        })
        .unwrap();
        assert!(p.state.lock().unwrap().phases.is_empty());
    }

    #[test]
    fn nothing_running_says_nothing() {
        assert_eq!(status_line(&State::default(), Instant::now()), "");
    }
}
