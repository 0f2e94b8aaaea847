//! Capacity-aware cell scheduling. Cells install in parallel only while
//! their CPU and memory requests fit what the cluster's nodes have left, so
//! no pod sits Pending on `Insufficient cpu` because two cells happened to
//! start together. A cell reserves, in one piece, what its pods request at
//! most (see [`cell_need`]): at install, its workloads and largest hook pod;
//! during its trials, HPA targets at maxReplicas (the HPA trial drives them
//! there), CronJob and test pods, its client pod. Reserving HPA headroom later, per
//! trial, could leave two half-installed cells waiting on each other. A
//! reservation is returned when the cell's trials are done and its namespace
//! is gone. A failed cell keeps its namespace for inspection (objects,
//! claims, events, the bundle) with its workloads scaled to zero, then
//! returns its room; with `E2E_KEEP` it keeps its pods and its room.
//!
//! The pool is per runner process; `make e2e` runs the whole matrix in one.
//! What other processes run is seen once, at start, as already requested.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use kube::Client;

use super::RoomError;

pub use super::need::{
    allocatable, cell_namespaces, cell_need, free_outside, used_by_namespace, Need, CELL_LABEL,
};

struct Pool {
    free: Need,
    /// Reservations this process holds, by key.
    held: HashMap<String, Need>,
    /// Cells waiting for room, by key: when room frees, the one with the
    /// most work that fits goes first (see [`Pool::work`]): the long, big
    /// prod cells start early and the small ones fill the gaps, instead of
    /// a long cell starting last and running alone at the end.
    waiting: HashMap<String, Need>,
    /// How long each cell held its room in its last runs (mean seconds,
    /// from [`HISTORY`]); a cell never measured counts [`UNMEASURED_SECS`].
    seconds: HashMap<String, f64>,
    /// When each reservation was granted, to measure it at release.
    granted_at: HashMap<String, std::time::Instant>,
    /// Cells the run will install that have not asked yet (see [`expect`]):
    /// for the first moments they count as waiting, so those with the most work start
    /// first even when a small cell's thread asks a moment earlier.
    expected: HashMap<String, Need>,
    /// Until when `expected` counts: a cell that never asks (its trials
    /// failed before installing) must not hold the others back.
    grace_until: std::time::Instant,
}

/// The seconds a cell with no measurement is assumed to hold its room.
const UNMEASURED_SECS: f64 = 120.0;

/// Where the cells' measured hold times are kept between runs: in the
/// shared cache, so a fresh checkout or CI on the same machine orders its
/// first run by what the last one measured.
const HISTORY: &str = "e2e/cell-seconds.json";

fn history_path() -> std::path::PathBuf {
    crate::env::cache_dir().join(HISTORY)
}

impl Pool {
    /// A cell's work: its cpu times how long it held it (the mean of its
    /// last runs). Ordering by cpu alone started the largest cell
    /// (healthcare-backend prod) first and left a longer, smaller one
    /// (open-health-exchange prod, 290 s) waiting for it, to run alone at
    /// the end: 631 s. By work the same cells fit in about 550 s (replayed
    /// from that run's capacity.log).
    fn work(&self, key: &str, need: &Need) -> f64 {
        need.cpu_m * self.seconds.get(key).copied().unwrap_or(UNMEASURED_SECS)
    }

    /// Whether `key` may take its room now: it fits and no waiting cell
    /// with more work fits too. With nothing held, the one with the most
    /// work goes even when it is larger than the pool: it then runs alone
    /// instead of never.
    fn grants(&self, key: &str, need: &Need) -> bool {
        let idle = self.held.is_empty();
        let early = std::time::Instant::now() < self.grace_until;
        let expected = self.expected.iter().filter(|_| early);
        let mine = self.work(key, need);
        let more_work_goes_first = self.waiting.iter().chain(expected).any(|(k, w)| {
            k.as_str() != key && self.work(k, w) > mine && (idle || w.fits(&self.free))
        });
        !more_work_goes_first && (idle || need.fits(&self.free))
    }
}

/// How many of a cell's last hold times its expected time averages.
const RUNS_KEPT: usize = 5;

/// Each cell's last hold times, oldest first.
fn read_history() -> HashMap<String, Vec<f64>> {
    if cfg!(test) {
        return HashMap::new();
    }
    std::fs::read_to_string(history_path())
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// A cell's expected hold time: the mean of its last runs. One run alone
/// was too noisy an order: a cell slowed by its neighbours in one run went
/// first in the next, with the neighbours that had slowed it (616 s where
/// the same cells took 559 s twice).
fn expected_seconds(h: &HashMap<String, Vec<f64>>) -> HashMap<String, f64> {
    h.iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.clone(), v.iter().sum::<f64>() / v.len() as f64))
        .collect()
}

/// The measured defaults shipped with the repository
/// (`suit../../capacity-defaults.json`, refreshed by `make bench`): a machine
/// with no history of its own schedules like the bench machine's twelfth
/// run, not as if every cell took [`UNMEASURED_SECS`] (a fresh clone's
/// first run took 689 s where warm runs took ~550 s).
fn shipped_seconds() -> HashMap<String, f64> {
    #[derive(serde::Deserialize)]
    struct Defaults {
        cells: HashMap<String, f64>,
    }
    serde_json::from_str::<Defaults>(include_str!("../../capacity-defaults.json"))
        .map(|d| d.cells)
        .unwrap_or_default()
}

/// This machine's own measurements, and the shipped ones for cells it has
/// not measured yet.
fn with_defaults(
    mut measured: HashMap<String, f64>,
    shipped: &HashMap<String, f64>,
) -> HashMap<String, f64> {
    for (k, v) in shipped {
        measured.entry(k.clone()).or_insert(*v);
    }
    measured
}

fn partials() -> &'static Mutex<std::collections::HashSet<String>> {
    static P: OnceLock<Mutex<std::collections::HashSet<String>>> = OnceLock::new();
    P.get_or_init(Default::default)
}

/// Marks a cell whose trials this run selects only in part: its hold time
/// is not what the whole cell takes, so it is not remembered.
pub fn partial(key: &str) {
    partials()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key.to_string());
}

/// Records how long `key` held its room, for the next run's order. A hint
/// only: a write that fails, or races another process, costs nothing but
/// order.
fn remember(key: &str, secs: f64) {
    if cfg!(test)
        || partials()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key)
    {
        return;
    }
    let mut h = read_history();
    let runs = h.entry(key.to_string()).or_default();
    runs.push((secs * 10.0).round() / 10.0);
    let extra = runs.len().saturating_sub(RUNS_KEPT);
    runs.drain(..extra);
    let path = history_path();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let tmp = path.with_extension(format!("json.{}", std::process::id()));
    if let Ok(text) = serde_json::to_string_pretty(&h) {
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
}

/// One line per pool event in `target/e2e/capacity.log`, seconds since the
/// pool was read: the record of who waited for whom, which the bench and a
/// slow run's post-mortem read.
fn trace(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if cfg!(test) {
        return;
    }
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    let t = START.get_or_init(std::time::Instant::now).elapsed();
    let path = crate::env::out_dir().join("capacity.log");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{:7.1}s {line}", t.as_secs_f64());
    }
}

fn pool() -> &'static (Mutex<Option<Pool>>, Condvar) {
    static P: OnceLock<(Mutex<Option<Pool>>, Condvar)> = OnceLock::new();
    P.get_or_init(Default::default)
}

fn expected() -> &'static Mutex<HashMap<String, Need>> {
    static E: OnceLock<Mutex<HashMap<String, Need>>> = OnceLock::new();
    E.get_or_init(Default::default)
}

fn planned() -> &'static Mutex<HashMap<String, Need>> {
    static P: OnceLock<Mutex<HashMap<String, Need>>> = OnceLock::new();
    P.get_or_init(Default::default)
}

/// Records what a cell will need, when its trials are listed (the runner
/// announces it with [`expect_planned`] once it knows its trials run).
pub fn plan(key: &str, need: Need) {
    planned()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key.to_string(), need);
}

/// [`expect`] with the need recorded by [`plan`].
pub fn expect_planned(key: &str) {
    let need = planned()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(key)
        .copied();
    if let Some(need) = need {
        expect(key, need);
    }
}

/// How long cells announced by [`expect`] may hold smaller ones back.
const ARRIVAL_GRACE: Duration = Duration::from_secs(30);

/// Announces a cell this run will install (its trials are selected), before
/// any trial starts: the pool then lets those with the most work go first from the very
/// beginning. Trial threads start together, and without this the small dev
/// cells, a moment earlier, took the room a large prod cell then waited
/// minutes for.
pub fn expect(key: &str, need: Need) {
    expected()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key.to_string(), need);
}

/// Reads the nodes' allocatable minus what running pods already request.
pub async fn init(client: &Client) -> Result<Need, RoomError> {
    {
        let (m, _) = pool();
        if let Some(p) = m.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            return Ok(p.free);
        }
    }
    // Cell namespaces (this runner's own, from a run that was killed or
    // failed) are replaced before their cell installs, so their pods are
    // not room taken for good; counting them would shrink the pool for the
    // whole run.
    let cells = cell_namespaces(client).await?;
    let free = free_outside(client, |ns| cells.contains(ns)).await?;
    let (m, _) = pool();
    let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
    if g.is_none() {
        trace(format_args!("run {}: pool {free}", crate::env::run_id()));
    }
    Ok(g.get_or_insert(Pool {
        free,
        held: HashMap::new(),
        waiting: HashMap::new(),
        expected: expected().lock().unwrap_or_else(|e| e.into_inner()).clone(),
        grace_until: std::time::Instant::now() + ARRIVAL_GRACE,
        seconds: with_defaults(expected_seconds(&read_history()), &shipped_seconds()),
        granted_at: HashMap::new(),
    })
    .free)
}

/// Blocks until `need` fits (the waiting cell with the most work first,
/// see [`Pool::work`]), then holds it
/// under `key`. A need larger than the whole pool is granted once nothing
/// else of this process holds any, so it runs alone instead of never.
/// Returns how long it waited.
pub fn reserve(key: &str, need: Need, deadline: Duration) -> Result<Duration, RoomError> {
    let (m, cv) = pool();
    let start = std::time::Instant::now();
    let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = g.as_mut() {
        p.expected.remove(key);
        p.waiting.insert(key.to_string(), need);
    }
    let end = start + deadline;
    let mut timed_out = false;
    loop {
        let now = std::time::Instant::now();
        let (ok, grace) = match g.as_ref() {
            None => (true, None),
            Some(p) => (p.grants(key, &need), Some(p.grace_until)),
        };
        if ok {
            break;
        }
        if now >= end {
            timed_out = true;
            break;
        }
        // Wake when room is returned, or when the announced cells stop
        // counting (nobody notifies then).
        let wake = match grace {
            Some(t) if t > now => t.min(end),
            _ => end,
        };
        g = cv
            .wait_timeout(g, wake - now)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    let Some(p) = g.as_mut() else {
        return Ok(Duration::ZERO);
    };
    p.waiting.remove(key);
    // The cells passed over for this one look again (a smaller one may
    // still fit), and so do those that were waiting for it to go first.
    cv.notify_all();
    if timed_out {
        return Err(RoomError::PoolFull {
            cell: key.to_string(),
            need,
            free: p.free,
            waited: deadline,
            held: p.held.keys().cloned().collect(),
        });
    }
    p.free.cpu_m -= need.cpu_m;
    p.free.mem_mi -= need.mem_mi;
    *p.held.entry(key.to_string()).or_default() = need;
    p.granted_at
        .insert(key.to_string(), std::time::Instant::now());
    trace(format_args!(
        "granted {key} ({need}) after {:.1}s; free {}; {} held, {} waiting",
        start.elapsed().as_secs_f64(),
        p.free,
        p.held.len(),
        p.waiting.len()
    ));
    Ok(start.elapsed())
}

/// Holds `need` under `key` at once, room or not: for a cell whose install
/// is already on the nodes (reused from an earlier process), so its pods
/// are counted while they run. Pods of cell namespaces are not in the pool
/// read at start (see [`init`]).
pub fn hold(key: &str, need: Need) {
    let (m, _) = pool();
    let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = g.as_mut() {
        p.expected.remove(key);
        if p.held.contains_key(key) {
            return;
        }
        p.free.cpu_m -= need.cpu_m;
        p.free.mem_mi -= need.mem_mi;
        p.held.insert(key.to_string(), need);
        trace(format_args!(
            "holding {key} ({need}), installed already; free {}; {} held, {} waiting",
            p.free,
            p.held.len(),
            p.waiting.len()
        ));
    }
}

/// Returns what `key` holds to the pool and wakes the waiting cells.
pub fn release(key: &str) {
    let (m, cv) = pool();
    let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = g.as_mut() {
        if let Some(n) = p.held.remove(key) {
            p.free.cpu_m += n.cpu_m;
            p.free.mem_mi += n.mem_mi;
            // Only reservations granted here are measured: a reused install
            // (held) skipped most of its cell's time.
            if let Some(t) = p.granted_at.remove(key) {
                remember(key, t.elapsed().as_secs_f64());
            }
            trace(format_args!(
                "released {key} ({n}); free {}; {} held, {} waiting",
                p.free,
                p.held.len(),
                p.waiting.len()
            ));
        }
    }
    cv.notify_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_pool(cpu_m: f64) {
        let (m, _) = pool();
        *m.lock().unwrap() = Some(Pool {
            free: Need { cpu_m, mem_mi: 1e6 },
            held: HashMap::new(),
            waiting: HashMap::new(),
            expected: HashMap::new(),
            grace_until: std::time::Instant::now(),
            seconds: HashMap::new(),
            granted_at: HashMap::new(),
        });
    }

    // One test: the pool is process-global.
    #[test]
    fn cells_wait_for_room_and_an_oversized_cell_runs_alone() {
        set_pool(1000.0);
        let small = Need {
            cpu_m: 600.0,
            mem_mi: 10.0,
        };
        reserve("a", small, Duration::from_secs(1)).unwrap();
        let err = reserve("b", small, Duration::from_millis(10))
            .unwrap_err()
            .to_string();
        assert!(err.contains("b needs 600m cpu"), "{err}");
        assert!(err.contains("held: a"), "{err}");
        let waiter = std::thread::spawn(move || reserve("b", small, Duration::from_secs(60)));
        release("a");
        assert!(waiter.join().unwrap().is_ok());
        release("b");
        let huge = Need {
            cpu_m: 5000.0,
            mem_mi: 10.0,
        };
        assert!(reserve("huge", huge, Duration::from_millis(10)).is_ok());
        release("huge");
    }

    /// A need of `cpu_m` millicores (memory is never the limit here).
    fn cpu(cpu_m: f64) -> Need {
        Need { cpu_m, mem_mi: 1.0 }
    }

    fn pool_of(free: f64, held: &[(&str, f64)], waiting: &[(&str, f64)]) -> Pool {
        let need = |cpu_m| Need { cpu_m, mem_mi: 1.0 };
        Pool {
            free: need(free),
            held: held
                .iter()
                .map(|(k, c)| (k.to_string(), need(*c)))
                .collect(),
            waiting: waiting
                .iter()
                .map(|(k, c)| (k.to_string(), need(*c)))
                .collect(),
            expected: HashMap::new(),
            grace_until: std::time::Instant::now(),
            seconds: HashMap::new(),
            granted_at: HashMap::new(),
        }
    }

    #[test]
    fn the_largest_waiting_cell_that_fits_goes_first() {
        let small = cpu(100.0);
        let big = cpu(800.0);
        let p = pool_of(
            900.0,
            &[("dev", 100.0)],
            &[("small", 100.0), ("big", 800.0)],
        );
        assert!(p.grants("big", &big));
        assert!(
            !p.grants("small", &small),
            "small jumped ahead of a big cell that fits"
        );
        // A bigger cell that does not fit does not hold the small one back.
        let p = pool_of(
            150.0,
            &[("dev", 850.0)],
            &[("small", 100.0), ("big", 800.0)],
        );
        assert!(p.grants("small", &small));
        assert!(!p.grants("big", &big));
    }

    #[test]
    fn a_longer_cell_goes_before_a_larger_short_one() {
        // The run this replays: healthcare-backend prod (515m, 339 s) took
        // the room first and open-health-exchange prod (245m, 292 s) waited
        // for it, then ran alone at the end.
        let hb = cpu(515.0);
        let ohe = cpu(245.0);
        let mut p = pool_of(
            600.0,
            &[("medplum-prod", 405.0)],
            &[("hb", 515.0), ("ohe", 245.0), ("dev", 90.0)],
        );
        p.seconds.insert("hb".into(), 90.0);
        p.seconds.insert("ohe".into(), 292.0);
        assert!(p.grants("ohe", &ohe), "ohe has more work (245m x 292 s)");
        assert!(!p.grants("hb", &hb), "hb's work is 515m x 90 s");
        assert!(
            !p.grants("dev", &cpu(90.0)),
            "the unmeasured dev cell counts 120 s"
        );
    }

    #[test]
    fn a_cell_this_machine_never_ran_is_scheduled_by_the_shipped_measurement() {
        let shipped = shipped_seconds();
        // Every cell of the matrix has a measured default, and the long
        // prod cells count as long on a fresh machine.
        for ns in [
            "medplum-dev",
            "medplum-prod",
            "healthcare-backend-prod",
            "open-health-exchange-prod",
        ] {
            assert!(
                shipped.contains_key(ns),
                "{ns} missing from capacity-defaults.json"
            );
        }
        assert!(shipped["healthcare-backend-prod"] > 2.0 * UNMEASURED_SECS);
        // The machine's own history wins where it has one.
        let mine = HashMap::from([("medplum-prod".to_string(), 99.0)]);
        let s = with_defaults(mine, &shipped);
        assert_eq!(s["medplum-prod"], 99.0);
        assert_eq!(
            s["healthcare-backend-prod"],
            shipped["healthcare-backend-prod"]
        );
    }

    #[test]
    fn a_cell_is_expected_to_take_the_mean_of_its_last_runs() {
        let h = HashMap::from([
            ("ohe".to_string(), vec![253.0, 213.0, 246.0, 381.0]),
            ("never".to_string(), vec![]),
        ]);
        let e = expected_seconds(&h);
        assert_eq!(e["ohe"], 273.25);
        assert!(!e.contains_key("never"));
    }

    #[test]
    fn an_announced_cell_goes_first_but_only_for_the_grace() {
        let small = cpu(100.0);
        let mut p = pool_of(1000.0, &[], &[("small", 100.0)]);
        p.expected.insert("big".into(), cpu(800.0));
        p.grace_until = std::time::Instant::now() + Duration::from_secs(60);
        assert!(!p.grants("small", &small), "a larger cell is about to ask");
        // It never asked: after the grace the small one goes.
        p.grace_until = std::time::Instant::now();
        assert!(p.grants("small", &small));
    }

    #[test]
    fn with_nothing_held_the_largest_waiter_goes_even_when_oversized() {
        let small = cpu(100.0);
        let huge = cpu(5000.0);
        let p = pool_of(1000.0, &[], &[("small", 100.0), ("huge", 5000.0)]);
        assert!(p.grants("huge", &huge));
        assert!(
            !p.grants("small", &small),
            "the oversized cell would wait for ever"
        );
        // Once it runs, nothing else fits beside it.
        let p = pool_of(-4000.0, &[("huge", 5000.0)], &[("small", 100.0)]);
        assert!(!p.grants("small", &small));
    }
}
