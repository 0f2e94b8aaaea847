//! Trial stages within a cell. Most trials of a cell run side by side; a few
//! must not: deleting a database pod to prove its data persists would break
//! the probes and flows judged at the same moment, and "no container
//! restarted" means something only once everything else has run. Stage 1
//! waits for the cell's stage-0 trials of this process to finish, stage 2
//! for stages 0 and 1. Under nextest every trial is its own process, so a
//! stage has nothing to wait for there.
//!
//! Deadlock-free because the runner queues trials stage by stage: when a
//! waiting trial holds a thread, everything it waits for has already started.
//!
//! Across processes (nextest) the order cannot be kept, since no process
//! knows which trials the others run, but the exclusion can: a stage-0
//! trial holds the cell's stage lock shared, a later-stage trial holds it
//! exclusive ([`hold_across_processes`]). A pod delete then never lands
//! under a probe, a flow or a DNS lookup of another process, and the
//! restart count is read while nothing of the cell is being deleted.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Condvar, Mutex, OnceLock};
use std::time::Duration;

pub const STAGES: usize = 3;

/// Why a trial's stage did not come: its earlier trials kept running past
/// the deadline, or the cell's stage lock could not be had.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("{running} earlier trial(s) of {cell} still running after {}s", waited.as_secs())]
    EarlierRunning {
        running: usize,
        cell: String,
        waited: Duration,
    },
    #[error("{}: {source}", path.display())]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Another process's trials of the cell held the lock to the deadline.
    #[error("{} of the cell in other processes still running after {}s (lock {})",
        if *exclusive_holder { "a pod-deleting or restart-counting trial" } else { "other trials" },
        waited.as_secs(), path.display())]
    HeldElsewhere {
        /// True when this trial wanted it shared: then only an exclusive
        /// (later-stage) trial can have held it.
        exclusive_holder: bool,
        waited: Duration,
        path: PathBuf,
    },
}

impl StageError {
    fn lock(path: &Path) -> impl FnOnce(std::io::Error) -> StageError + '_ {
        move |source| StageError::Lock {
            path: path.to_path_buf(),
            source,
        }
    }
}

#[derive(Default)]
struct Pending(HashMap<String, [usize; STAGES]>);

fn state() -> &'static (Mutex<Pending>, Condvar) {
    static S: OnceLock<(Mutex<Pending>, Condvar)> = OnceLock::new();
    S.get_or_init(Default::default)
}

/// Counts a trial that will run (call once per selected trial, before the run).
pub fn register(cell: &str, stage: usize) {
    let (m, _) = state();
    let mut p = m.lock().unwrap_or_else(|e| e.into_inner());
    p.0.entry(cell.to_string()).or_default()[stage.min(STAGES - 1)] += 1;
}

/// Marks a trial finished and wakes the waiting later stages. True when it
/// was the cell's last trial in this process.
pub fn done(cell: &str, stage: usize) -> bool {
    let (m, cv) = state();
    let mut p = m.lock().unwrap_or_else(|e| e.into_inner());
    let mut last = false;
    if let Some(c) = p.0.get_mut(cell) {
        let s = &mut c[stage.min(STAGES - 1)];
        *s = s.saturating_sub(1);
        last = c.iter().all(|n| *n == 0);
    }
    cv.notify_all();
    last
}

/// Blocks until the cell's earlier stages are done, or the deadline passes
/// (then says how many trials are still running).
pub fn wait_for_earlier(cell: &str, stage: usize, deadline: Duration) -> Result<(), StageError> {
    let (m, cv) = state();
    let guard = m.lock().unwrap_or_else(|e| e.into_inner());
    let earlier = |p: &Pending| -> usize {
        p.0.get(cell)
            .map(|c| c[..stage.min(STAGES)].iter().sum())
            .unwrap_or(0)
    };
    let (guard, res) = cv
        .wait_timeout_while(guard, deadline, |p| earlier(p) > 0)
        .unwrap_or_else(|e| e.into_inner());
    if res.timed_out() {
        return Err(StageError::EarlierRunning {
            running: earlier(&guard),
            cell: cell.to_string(),
            waited: deadline,
        });
    }
    Ok(())
}

/// Under nextest, takes the stage lock of the cell installed in namespace
/// `ns` (a file lock next to its install lease): shared for stage 0,
/// exclusive for later stages. The guard is held for the trial; `None` in
/// one process, where [`wait_for_earlier`] already orders the stages.
pub fn hold_across_processes(
    ns: &str,
    stage: usize,
    deadline: Duration,
) -> Result<Option<File>, StageError> {
    if !crate::env::process_per_trial() {
        return Ok(None);
    }
    lock_stage(&lock_path(ns)?, stage, deadline).map(Some)
}

/// The cell's stage lock taken exclusive at once, or `None` while any of
/// its trials runs: held, no trial of the cell can start (it would find
/// its install gone and install again).
pub fn try_exclusive(ns: &str) -> Option<File> {
    let file = open_lock(&lock_path(ns).ok()?).ok()?;
    file.try_lock().ok().map(|()| file)
}

/// The cell's stage lock taken exclusive, waiting for its running trials.
pub fn exclusive(ns: &str, deadline: Duration) -> Result<File, StageError> {
    lock_stage(&lock_path(ns)?, STAGES - 1, deadline)
}

fn lock_path(ns: &str) -> Result<PathBuf, StageError> {
    let path = crate::cell::state::CellState::of(ns).path(crate::cell::state::CellFile::StagesLock);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(StageError::lock(dir))?;
    }
    Ok(path)
}

/// Opened without truncating: the file is only a lock, shared by processes.
fn open_lock(path: &Path) -> Result<File, StageError> {
    crate::cell::state::open_lock(path).map_err(StageError::lock(path))
}

/// The file lock with a deadline: a blocking `flock` on a helper thread,
/// given up on at the deadline (a lock it takes later is dropped with the
/// unread message, which releases it).
fn lock_stage(path: &Path, stage: usize, deadline: Duration) -> Result<File, StageError> {
    let file = open_lock(path)?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = if stage == 0 {
            file.lock_shared()
        } else {
            file.lock()
        };
        let _ = tx.send(r.map(|()| file));
    });
    match rx.recv_timeout(deadline) {
        Ok(Ok(f)) => Ok(f),
        Ok(Err(e)) => Err(StageError::lock(path)(e)),
        Err(_) => Err(StageError::HeldElsewhere {
            exclusive_holder: stage == 0,
            waited: deadline,
            path: path.to_path_buf(),
        }),
    }
}

/// How many judges run at once (`E2E_PARALLEL`, default 32). Trials wait
/// for their stage and their cell's install without a permit, so a cell
/// queued for room on the nodes never holds up the cells that have it.
fn limit() -> usize {
    crate::config::get().parallel
}

fn permits() -> &'static (Mutex<usize>, Condvar) {
    static P: OnceLock<(Mutex<usize>, Condvar)> = OnceLock::new();
    P.get_or_init(|| (Mutex::new(limit()), Condvar::new()))
}

/// A running judge's permit; returned on drop.
pub struct Permit(());

impl Drop for Permit {
    fn drop(&mut self) {
        let (m, cv) = permits();
        *m.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        cv.notify_one();
    }
}

/// Blocks until fewer than the limit of judges run.
pub fn permit() -> Permit {
    let (m, cv) = permits();
    let g = m.lock().unwrap_or_else(|e| e.into_inner());
    let mut g = cv
        .wait_while(g, |n| *n == 0)
        .unwrap_or_else(|e| e.into_inner());
    *g -= 1;
    Permit(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_stage_starts_only_when_the_earlier_trials_are_done() {
        let cell = "stages-test/a";
        register(cell, 0);
        register(cell, 1);
        register(cell, 2);
        done(cell, 0);
        let err = wait_for_earlier(cell, 2, Duration::from_millis(10)).unwrap_err();
        assert!(
            matches!(err, StageError::EarlierRunning { running: 1, .. }),
            "stage 1 still runs: {err}"
        );
        let waiter = std::thread::spawn(move || wait_for_earlier(cell, 2, Duration::from_secs(60)));
        done(cell, 1);
        assert!(waiter.join().unwrap().is_ok());
    }

    #[test]
    fn a_stuck_earlier_trial_times_out_with_a_count() {
        let cell = "stages-test/b";
        register(cell, 0);
        let err = wait_for_earlier(cell, 1, Duration::from_millis(10)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "1 earlier trial(s) of stages-test/b still running after 0s"
        );
    }

    #[test]
    fn across_processes_a_later_stage_excludes_the_first_and_the_first_shares() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cell.stages.lock");
        let short = Duration::from_millis(50);
        // flock conflicts between open file descriptions, so two opens in
        // one process stand in for two trial processes.
        let probe = lock_stage(&path, 0, short).expect("a first stage-0 trial");
        let flow = lock_stage(&path, 0, short).expect("stage-0 trials share");
        let err = lock_stage(&path, 1, short).unwrap_err().to_string();
        assert!(
            err.starts_with("other trials of the cell in other processes still running"),
            "{err}"
        );
        drop((probe, flow));
        let delete =
            lock_stage(&path, 1, Duration::from_secs(10)).expect("free once stage 0 is done");
        let err = lock_stage(&path, 0, short).unwrap_err().to_string();
        assert!(
            err.starts_with("a pod-deleting or restart-counting trial"),
            "{err}"
        );
        drop(delete);
        lock_stage(&path, 0, Duration::from_secs(10)).expect("free again");
    }

    #[test]
    fn other_cells_and_later_stages_do_not_hold_a_stage_up() {
        register("stages-test/c", 0);
        register("stages-test/d", 2);
        assert!(wait_for_earlier("stages-test/d", 1, Duration::from_millis(10)).is_ok());
    }
}
