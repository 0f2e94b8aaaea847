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

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::ListParams;
use kube::{Api, Client};
use serde_json::Value;
use vitals_checks::{quantity, Manifests};

/// Millicores and mebibytes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Need {
    pub cpu_m: f64,
    pub mem_mi: f64,
}

impl Need {
    pub fn fits(&self, free: &Need) -> bool {
        self.cpu_m <= free.cpu_m && self.mem_mi <= free.mem_mi
    }

    fn add(&mut self, per: Need, n: i64) {
        self.cpu_m += per.cpu_m * n as f64;
        self.mem_mi += per.mem_mi * n as f64;
    }

    /// Each resource at the larger of the two.
    pub fn max(self, other: Need) -> Need {
        Need {
            cpu_m: self.cpu_m.max(other.cpu_m),
            mem_mi: self.mem_mi.max(other.mem_mi),
        }
    }
}

impl std::fmt::Display for Need {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.0}m cpu, {:.0}Mi memory", self.cpu_m, self.mem_mi)
    }
}

/// What the scheduler counts for a pod: the larger of its containers' sum
/// and its biggest init container (they run one at a time, before).
fn requests(pod_spec: Option<&Value>) -> Need {
    let one = |c: &Value| {
        let r = c.pointer("/resources/requests");
        let q = |k: &str| {
            r.and_then(|r| r.get(k))
                .and_then(quantity::from_value)
                .unwrap_or(0.0)
        };
        Need {
            cpu_m: q("cpu") * 1000.0,
            mem_mi: q("memory") / 1_048_576.0,
        }
    };
    let list = |k: &str| {
        pod_spec
            .and_then(|s| s.get(k))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut n = Need::default();
    for c in list("containers") {
        let r = one(&c);
        n.cpu_m += r.cpu_m;
        n.mem_mi += r.mem_mi;
    }
    for c in list("initContainers") {
        let r = one(&c);
        n.cpu_m = n.cpu_m.max(r.cpu_m);
        n.mem_mi = n.mem_mi.max(r.mem_mi);
    }
    n
}

/// What a cell's pods request at most, at the busier of its two moments:
/// - install: the workloads at their rendered replicas, plus the largest
///   hook pod (Helm runs hooks one at a time and waits for each);
/// - the trials: each long-running workload at its HPA's maxReplicas (the
///   HPA trial drives it there), the CronJob runs and `helm test` pods
///   beside them, and the harness's client and load pods.
///
/// Counting every hook beside the HPA peak would reserve room for pods that
/// never coexist (a 250m migration Job is long gone when the HPA scales).
pub fn cell_need(m: &Manifests) -> Need {
    let hpa_max = |kind: &str, name: &str| {
        m.of_kind("HorizontalPodAutoscaler")
            .filter(|h| {
                let target = |f: &str| {
                    h.doc
                        .pointer(&format!("/spec/scaleTargetRef/{f}"))
                        .and_then(Value::as_str)
                };
                target("kind") == Some(kind) && target("name") == Some(name)
            })
            .filter_map(|h| h.doc.pointer("/spec/maxReplicas").and_then(Value::as_i64))
            .max()
            .unwrap_or(0)
    };
    let mut install = CLIENT_PODS;
    let mut largest_hook = Need::default();
    let mut trials = CLIENT_PODS;
    for w in m.workloads() {
        let per = requests(w.pod_spec());
        let kind = w.object.kind.as_str();
        let hooks = w.object.hooks();
        if w.object.is_test_hook() {
            trials.add(per, 1);
        } else if !hooks.is_empty() {
            largest_hook = largest_hook.max(per);
        } else {
            match kind {
                "Deployment" | "StatefulSet" | "ReplicaSet" => {
                    let n = w.replicas();
                    install.add(per, n);
                    trials.add(per, n.max(hpa_max(kind, &w.object.name)));
                }
                // Triggered by its trial, beside the others.
                "CronJob" => trials.add(per, 1),
                // DaemonSets, plain Jobs and Pods run from install on.
                _ => {
                    install.add(per, 1);
                    trials.add(per, 1);
                }
            }
        }
    }
    install.add(largest_hook, 1);
    install.max(trials)
}

/// The label every cell namespace carries (suites/src/cluster.rs).
pub const CELL_LABEL: &str = "vitals.dev/cell";

/// The agent pod every cell gets, and its load generator.
const CLIENT_PODS: Need = Need {
    cpu_m: 10.0,
    mem_mi: 32.0,
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
/// (`suites/capacity-defaults.json`, refreshed by `make bench`): a machine
/// with no history of its own schedules like the bench machine's twelfth
/// run, not as if every cell took [`UNMEASURED_SECS`] (a fresh clone's
/// first run took 689 s where warm runs took ~550 s).
fn shipped_seconds() -> HashMap<String, f64> {
    #[derive(serde::Deserialize)]
    struct Defaults {
        cells: HashMap<String, f64>,
    }
    serde_json::from_str::<Defaults>(include_str!("../capacity-defaults.json"))
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

/// The namespaces of this runner's cells (labelled [`CELL_LABEL`]).
pub async fn cell_namespaces(client: &Client) -> Result<std::collections::HashSet<String>, String> {
    Ok(Api::<Namespace>::all(client.clone())
        .list(&ListParams::default().labels(CELL_LABEL))
        .await
        .map_err(|e| format!("listing namespaces: {e}"))?
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect())
}

/// The nodes' allocatable minus what the running pods request, pods in the
/// namespaces `skip` names aside.
pub async fn free_outside(client: &Client, skip: impl Fn(&str) -> bool) -> Result<Need, String> {
    let mut free = allocatable(client).await?;
    for (ns, n) in used_by_namespace(client).await? {
        if !skip(&ns) {
            free.cpu_m -= n.cpu_m;
            free.mem_mi -= n.mem_mi;
        }
    }
    Ok(free)
}

/// What the nodes offer pods, summed.
pub async fn allocatable(client: &Client) -> Result<Need, String> {
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| format!("listing nodes: {e}"))?;
    let mut all = Need::default();
    for n in &nodes.items {
        let a = n.status.as_ref().and_then(|s| s.allocatable.as_ref());
        let q = |k: &str| {
            a.and_then(|a| a.get(k))
                .and_then(|v| quantity::parse(&v.0))
                .unwrap_or(0.0)
        };
        all.cpu_m += q("cpu") * 1000.0;
        all.mem_mi += q("memory") / 1_048_576.0;
    }
    Ok(all)
}

/// What the pods that are not done request, per namespace.
pub async fn used_by_namespace(client: &Client) -> Result<HashMap<String, Need>, String> {
    let pods = Api::<Pod>::all(client.clone())
        .list(&ListParams::default().fields("status.phase!=Succeeded,status.phase!=Failed"))
        .await
        .map_err(|e| format!("listing pods: {e}"))?;
    let mut used: HashMap<String, Need> = HashMap::new();
    for p in &pods.items {
        let spec = serde_json::to_value(&p.spec).unwrap_or_default();
        let r = requests(Some(&spec));
        let n = used
            .entry(p.metadata.namespace.clone().unwrap_or_default())
            .or_default();
        n.cpu_m += r.cpu_m;
        n.mem_mi += r.mem_mi;
    }
    Ok(used)
}

/// Reads the nodes' allocatable minus what running pods already request.
pub async fn init(client: &Client) -> Result<Need, String> {
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
pub fn reserve(key: &str, need: Need, deadline: Duration) -> Result<Duration, String> {
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
        return Err(format!(
            "{key} needs {need}; only {} free after {}s (held: {})",
            p.free,
            deadline.as_secs(),
            p.held.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
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
        let err = reserve("b", small, Duration::from_millis(10)).unwrap_err();
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
        for ns in ["medplum-dev", "medplum-prod", "healthcare-backend-prod", "open-health-exchange-prod"] {
            assert!(shipped.contains_key(ns), "{ns} missing from capacity-defaults.json");
        }
        assert!(shipped["healthcare-backend-prod"] > 2.0 * UNMEASURED_SECS);
        // The machine's own history wins where it has one.
        let mine = HashMap::from([("medplum-prod".to_string(), 99.0)]);
        let s = with_defaults(mine, &shipped);
        assert_eq!(s["medplum-prod"], 99.0);
        assert_eq!(s["healthcare-backend-prod"], shipped["healthcare-backend-prod"]);
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

    #[test]
    fn an_init_container_larger_than_the_app_sets_the_pod_request() {
        let spec = serde_json::json!({
            "initContainers": [{"resources": {"requests": {"cpu": "250m", "memory": "8Mi"}}}],
            "containers": [{"resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}}]
        });
        assert_eq!(
            requests(Some(&spec)),
            Need {
                cpu_m: 250.0,
                mem_mi: 64.0
            }
        );
    }

    #[test]
    fn a_cell_needs_its_requests_times_replicas() {
        let m = Manifests::parse(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n        - {name: a, image: x, resources: {requests: {cpu: 100m, memory: 64Mi}}}\n        - {name: b, image: x, resources: {requests: {cpu: \"0.05\", memory: 16Mi}}}\n",
        )
        .unwrap();
        assert_eq!(
            cell_need(&m),
            Need {
                cpu_m: 460.0,
                mem_mi: 272.0
            }
        );
    }

    #[test]
    fn an_install_hook_counts_at_install_not_beside_the_hpa_peak() {
        let m = Manifests::parse(concat!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers: [{name: a, image: x, resources: {requests: {cpu: 10m, memory: 10Mi}}}]\n",
            "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: api}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}\n  minReplicas: 2\n  maxReplicas: 10\n",
            "---\napiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate, annotations: {helm.sh/hook: pre-install}}\nspec:\n  template:\n    spec:\n      containers: [{name: m, image: x, resources: {requests: {cpu: 250m, memory: 256Mi}}}]\n",
            "---\napiVersion: batch/v1\nkind: Job\nmetadata: {name: seed, annotations: {helm.sh/hook: post-install}}\nspec:\n  template:\n    spec:\n      containers: [{name: s, image: x, resources: {requests: {cpu: 100m, memory: 16Mi}}}]\n",
            "---\napiVersion: v1\nkind: Pod\nmetadata: {name: t, annotations: {helm.sh/hook: test}}\nspec:\n  containers: [{name: t, image: x, resources: {requests: {cpu: 50m, memory: 8Mi}}}]\n",
        ))
        .unwrap();
        // Install: 2 x 10m + the larger hook (250m) + client 10m = 280m;
        // trials: 10 x 10m + the test pod 50m + client 10m = 160m.
        // Memory: install 20 + 256 + 32 = 308Mi; trials 100 + 8 + 32 = 140Mi.
        assert_eq!(
            cell_need(&m),
            Need {
                cpu_m: 280.0,
                mem_mi: 308.0
            }
        );
    }

    #[test]
    fn an_hpa_target_counts_at_its_max_replicas() {
        let m = Manifests::parse(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: x, resources: {requests: {cpu: 100m, memory: 10Mi}}}]\n---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: api}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}\n  minReplicas: 2\n  maxReplicas: 5\n",
        )
        .unwrap();
        assert_eq!(
            cell_need(&m),
            Need {
                cpu_m: 510.0,
                mem_mi: 82.0
            }
        );
    }
}
