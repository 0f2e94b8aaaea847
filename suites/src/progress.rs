//! What a person at a terminal sees while a run is in progress: trials done
//! of total, failures so far, what each installing cell is doing, and the
//! slowest trial still running with how long it has been at it. Drawn on
//! stderr only when stderr is a terminal; CI logs stay as libtest prints them.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

#[derive(Default)]
struct State {
    running: HashMap<String, Instant>,
    phases: BTreeMap<String, String>,
    failed: u64,
}

fn state() -> &'static Mutex<State> {
    static S: OnceLock<Mutex<State>> = OnceLock::new();
    S.get_or_init(Default::default)
}

fn bar() -> &'static OnceLock<ProgressBar> {
    static B: OnceLock<ProgressBar> = OnceLock::new();
    &B
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

/// Starts the display for `total` trials, if stderr is a terminal.
pub fn start(total: usize) {
    if !std::io::stderr().is_terminal() || crate::config::get().no_progress {
        return;
    }
    let pb = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} trials, {failed} failed\n  {status}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .with_key(
        "failed",
        |_: &ProgressState, w: &mut dyn std::fmt::Write| {
            let n = state().lock().map(|s| s.failed).unwrap_or(0);
            let _ = write!(w, "{n}");
        },
    )
    .with_key(
        "status",
        |_: &ProgressState, w: &mut dyn std::fmt::Write| {
            let line = state()
                .lock()
                .map(|s| status_line(&s, Instant::now()))
                .unwrap_or_default();
            let _ = write!(w, "{line}");
        },
    );
    pb.set_style(style);
    // Redraws the clock and the slowest wait; nothing is polled.
    pb.enable_steady_tick(Duration::from_millis(500));
    let _ = bar().set(pb);
}

pub fn trial_started(name: &str) {
    if let Ok(mut s) = state().lock() {
        s.running.insert(name.to_string(), Instant::now());
    }
}

pub fn trial_finished(name: &str, failed: bool) {
    if let Ok(mut s) = state().lock() {
        s.running.remove(name);
        s.failed += u64::from(failed);
    }
    if let Some(pb) = bar().get() {
        pb.inc(1);
    }
}

/// What an installing cell is doing now (`None` once it is done).
pub fn phase(cell: &str, what: Option<&str>) {
    if let Ok(mut s) = state().lock() {
        match what {
            Some(w) => s.phases.insert(cell.to_string(), w.to_string()),
            None => s.phases.remove(cell),
        };
    }
}

pub fn finish() {
    if let Some(pb) = bar().get() {
        pb.finish_and_clear();
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
    fn nothing_running_says_nothing() {
        assert_eq!(status_line(&State::default(), Instant::now()), "");
    }
}
