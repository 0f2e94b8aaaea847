//! The availability tier: a prod cell installed on a multi-node cluster
//! (`make e2e-availability`: `kind-config/multi-node.yaml`), then its HA
//! promises proved as trials `<chart>/<profile>/availability/<check>/<object>`,
//! every check derived from the rendered manifests
//! (`vitals_checks::runtime::availability::derive`).
//!
//! Stage 0 judges without disturbing the cell: `spread` (where the
//! replicas landed) and `restore` (a backup round trip). Stage 1 is one
//! disruption plan per cell, run once by whichever of its trials comes
//! first, the others reading their part of it:
//!
//! 1. every schedulable node drained in turn (`drain/nodes`, and
//!    `drain/<workload>` for each replicated workload: its PDB held at
//!    every moment);
//! 2. every RollingUpdate Deployment rolled (`rollout/<deployment>`);
//!    through 1 and 2 a request stream runs to every HA Service
//!    (`traffic/service/<name>`);
//! 3. one pod of each HA workload deleted under a stream (`graceful-stop`);
//! 4. one pod of every workload deleted and timed (`recovery`).
//!
//! Drains cordon nodes every cell schedules onto, so one drain runs at a
//! time in the process. On the `existing` provider the nodes are not the
//! harness's: drains and pod deletes run only with `E2E_DISRUPT=1`, and the
//! trials they would judge are skipped with that reason.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;
use vitals_checks::runtime::availability::drain::{self, DrainRecord};
use vitals_checks::runtime::availability::graceful::{self, StopRecord};
use vitals_checks::runtime::availability::recovery::{self, RecoveryRecord};
use vitals_checks::runtime::availability::rollout::{self, RolloutRecord};
use vitals_checks::runtime::availability::traffic::{self, Span, Window};
use vitals_checks::runtime::availability::{
    self as av, healthy, healthy_count, live_pods, restore, spread, HaWorkload, Recorder,
};
use vitals_checks::runtime::cronjobs;
use vitals_checks::{Manifests, Verdict};
use vitals_cluster::Provider;
use vitals_helm::Helm;

use crate::cluster::{self, rt, ClusterEnv, Installed};
use crate::render::{self, Cell, Check};

/// The tier's name in trial names and `E2E_TIERS`.
pub const TIER: &str = "availability";
const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);
const ROLLOUT_TIMEOUT: Duration = Duration::from_secs(300);
const SPREAD_TIMEOUT: Duration = Duration::from_secs(120);
/// The namespace the charts admit client traffic from (their ingress
/// controller's), where the HPA loads come from too.
const STREAM_NS: &str = "ingress-nginx";

/// Why the plan may not drain nodes or delete pods here, if so.
fn no_disruption(env: &ClusterEnv) -> Option<String> {
    match env.provider {
        Provider::Kind { .. } => None,
        Provider::Existing { .. } if std::env::var("E2E_DISRUPT").as_deref() == Ok("1") => None,
        Provider::Existing { .. } => Some(
            "the `existing` provider's nodes are not the harness's to cordon, drain or delete pods on (set E2E_DISRUPT=1 to allow it)"
                .into(),
        ),
    }
}

/// Everything the cell's disruption plan did, in one clock.
#[derive(Default)]
pub struct Plan {
    pub no_disruption: Option<String>,
    pub nodes: Vec<String>,
    /// Why no drain ran although allowed (fewer than two nodes).
    pub no_drain: Option<String>,
    pub drains: Vec<DrainRecord>,
    /// Healthy pods of each replicated workload through the drains.
    pub during_drains: BTreeMap<String, Vec<(u64, i32)>>,
    /// Service -> (url, windows) through the drains and rollouts.
    pub streams: BTreeMap<String, (String, Vec<Window>)>,
    pub stream_error: Option<String>,
    pub spans: Vec<Span>,
    pub rollouts: BTreeMap<String, RolloutRecord>,
    pub graceful: BTreeMap<String, (StopRecord, String, Vec<Window>)>,
    pub recovery: BTreeMap<String, RecoveryRecord>,
    /// Wall time of each step kind (bench: each check kind's share).
    pub timings: Vec<(&'static str, Duration)>,
}

fn drain_lock() -> &'static tokio::sync::Mutex<()> {
    static L: OnceLock<tokio::sync::Mutex<()>> = OnceLock::new();
    L.get_or_init(Default::default)
}

fn stamp() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}", t.as_millis())
}

fn stream_pod(ns: &str) -> String {
    let name = format!("vitals-stream-{ns}");
    name.chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

fn url(ns: &str, f: &av::Front) -> String {
    format!(
        "http://{}.{ns}.svc.cluster.local:{}{}",
        f.service, f.port, f.path
    )
}

/// Streams to `fronts` until the returned sender says stop.
fn start_streams(
    env: &ClusterEnv,
    ns: &str,
    pod: &str,
    fronts: &[av::Front],
    clock: tokio::time::Instant,
) -> (
    tokio::sync::watch::Sender<bool>,
    Vec<(String, String, tokio::task::JoinHandle<Vec<Window>>)>,
) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let tasks = fronts
        .iter()
        .map(|f| {
            let u = url(ns, f);
            let task = tokio::spawn(traffic::stream(
                env.client.clone(),
                STREAM_NS.into(),
                pod.into(),
                u.clone(),
                clock,
                rx.clone(),
            ));
            (f.service.clone(), u, task)
        })
        .collect();
    (tx, tasks)
}

async fn run_plan(env: &ClusterEnv, inst: &Installed, ws: &[HaWorkload]) -> Plan {
    let client = &env.client;
    let view = &inst.view;
    let ns = inst.namespace.as_str();
    let clock = tokio::time::Instant::now();
    let mut plan = Plan {
        no_disruption: no_disruption(env),
        ..Plan::default()
    };
    let mut fronts: Vec<av::Front> = Vec::new();
    for f in ws
        .iter()
        .filter(|w| w.is_ha())
        .flat_map(|w| w.fronts.iter())
    {
        if !fronts.iter().any(|x| x.service == f.service) {
            fronts.push(f.clone());
        }
    }
    let pod = stream_pod(ns);
    let mut streams = None;
    if !fronts.is_empty() {
        let img = env.images.get("agent").cloned().unwrap_or_default();
        match vitals_checks::runtime::agent_pod::ensure_agent_pod(
            client,
            STREAM_NS,
            &pod,
            &img,
            serde_json::json!({"app": "vitals-stream"}),
        )
        .await
        {
            Ok(_) => streams = Some(start_streams(env, ns, &pod, &fronts, clock)),
            Err(e) => {
                plan.stream_error = Some(format!("the stream's client pod {STREAM_NS}/{pod}: {e}"))
            }
        }
    }

    // Held for the whole plan: another cell's cordon would take a node out
    // of the list, and a pod deleted or rolled (recovery, graceful stop,
    // rollout) while its only possible node is cordoned by another cell
    // stays Pending (health-platform's six recoveries failed on it).
    let _one_plan_at_a_time = drain_lock().lock().await;
    let t = Instant::now();
    if plan.no_disruption.is_none() {
        match spread::schedulable_nodes(client).await {
            Ok(nodes) if nodes.len() >= 2 => {
                plan.nodes = nodes.iter().map(|n| n.name.clone()).collect();
                let replicated: Vec<&HaWorkload> = ws.iter().filter(|w| w.replicas >= 2).collect();
                let sels: Vec<serde_json::Value> = replicated.iter().map(|w| w.selector.clone()).collect();
                let v2 = view.clone();
                let rec = Recorder::start(view, clock, move || {
                    sels.iter().map(|s| healthy_count(&v2, s)).collect()
                });
                for node in plan.nodes.clone() {
                    crate::progress::phase(ns, Some(&format!("draining {node}")));
                    let r = drain::drain_node(client, view, &node, ws, clock, DRAIN_TIMEOUT).await;
                    plan.spans.push(Span {
                        label: format!("drain {node}"),
                        from_ms: r.started_ms,
                        to_ms: r.ended_ms,
                    });
                    plan.drains.push(r);
                }
                let samples = rec.stop().await;
                for (i, w) in replicated.iter().enumerate() {
                    plan.during_drains.insert(w.name.clone(), drain::column(&samples, i));
                }
            }
            Ok(nodes) => {
                plan.no_drain = Some(format!(
                    "{} schedulable node(s) ({}): a drain needs another node to move to (run on the multi-node cluster: make e2e-availability)",
                    nodes.len(),
                    nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(", ")
                ))
            }
            Err(e) => plan.no_drain = Some(format!("listing nodes: {e}")),
        }
    }
    plan.timings.push(("drain", t.elapsed()));

    let t = Instant::now();
    for w in ws.iter().filter(|w| w.rolling.is_some()) {
        crate::progress::phase(ns, Some(&format!("rolling {}", w.name)));
        let sel = w.selector.clone();
        let v2 = view.clone();
        let rec = Recorder::start(view, clock, move || {
            let live = live_pods(&v2, &sel);
            vec![
                live.iter().filter(|p| healthy(p)).count() as i32,
                live.len() as i32,
            ]
        });
        let replicas = rollout::live_replicas(client, ns, &w.name)
            .await
            .unwrap_or(w.replicas);
        let started_ms = clock.elapsed().as_millis() as u64;
        let value = stamp();
        let result = match rollout::bump(client, ns, &w.name, &value).await {
            Ok(()) => rollout::wait_rolled(client, view, w, &value, ROLLOUT_TIMEOUT).await,
            Err(e) => Err(e),
        };
        let ended_ms = clock.elapsed().as_millis() as u64;
        let samples = rec.stop().await;
        plan.spans.push(Span {
            label: format!("rollout {}", w.name),
            from_ms: started_ms,
            to_ms: ended_ms,
        });
        plan.rollouts.insert(
            w.name.clone(),
            RolloutRecord {
                replicas,
                started_ms,
                ended_ms,
                samples: samples
                    .iter()
                    .map(|s| (s.t_ms, s.values[0], s.values[1]))
                    .collect(),
                result,
            },
        );
    }
    plan.timings.push(("rollout", t.elapsed()));

    if let Some((stop, tasks)) = streams {
        let _ = stop.send(true);
        for (svc, u, task) in tasks {
            plan.streams
                .insert(svc, (u, task.await.unwrap_or_default()));
        }
    }

    let t = Instant::now();
    if plan.no_disruption.is_none() && plan.stream_error.is_none() {
        for w in ws.iter().filter(|w| w.is_ha() && !w.fronts.is_empty()) {
            crate::progress::phase(ns, Some(&format!("stopping a {} pod", w.name)));
            let (stop, mut tasks) = start_streams(env, ns, &pod, &w.fronts[..1], clock);
            // A window of traffic before the stop and one after, so the
            // stream is in flight across it: the span of the measurement,
            // not a wait for a state.
            tokio::time::sleep(traffic::WINDOW).await;
            let rec = graceful::stop_one(client, view, w, clock).await;
            tokio::time::sleep(traffic::WINDOW).await;
            let _ = stop.send(true);
            let (_, u, task) = tasks.remove(0);
            let windows = task.await.unwrap_or_default();
            plan.graceful.insert(w.name.clone(), (rec, u, windows));
        }
    }
    plan.timings.push(("graceful-stop", t.elapsed()));

    let t = Instant::now();
    if plan.no_disruption.is_none() {
        for w in ws {
            crate::progress::phase(ns, Some(&format!("recovering {}", w.name)));
            plan.recovery.insert(
                w.name.clone(),
                recovery::run(client, view, w, recovery::BOUND).await,
            );
        }
    }
    plan.timings.push(("recovery", t.elapsed()));
    crate::progress::phase(ns, None);
    let _ = kube::Api::<k8s_openapi::api::core::v1::Pod>::namespaced(client.clone(), STREAM_NS)
        .delete(&pod, &Default::default())
        .await;
    write_timings(ns, &plan.timings);
    plan
}

/// One line per step kind in `<out>/availability-timings.jsonl`, read by
/// the bench.
fn write_timings(ns: &str, timings: &[(&'static str, Duration)]) {
    let dir = crate::env::out_dir();
    let _ = std::fs::create_dir_all(&dir);
    let line = serde_json::json!({
        "run": crate::env::run_id(),
        "namespace": ns,
        "steps": timings.iter().map(|(k, d)| (k.to_string(), d.as_millis() as u64)).collect::<BTreeMap<_, _>>(),
    });
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("availability-timings.jsonl"))
    {
        let _ = writeln!(f, "{line}");
    }
}

type Plans = Mutex<HashMap<String, Arc<OnceCell<Arc<Plan>>>>>;

/// The cell's plan, run once per process by the first trial that asks.
fn plan_for(env: &ClusterEnv, inst: &Installed, ws: &[HaWorkload]) -> Arc<Plan> {
    static PLANS: OnceLock<Plans> = OnceLock::new();
    let once = PLANS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(inst.namespace.clone())
        .or_default()
        .clone();
    rt().block_on(once.get_or_init(|| async { Arc::new(run_plan(env, inst, ws).await) }))
        .clone()
}

/// One availability judge, given the cluster, the installed cell and the
/// derived workloads.
type Judge = Box<dyn Fn(&Arc<ClusterEnv>, &Installed, &[HaWorkload]) -> Verdict + Send + Sync>;

/// The availability trials of one cell: prod profiles only (the HA
/// promises are prod's), none for upgrade cells.
pub fn checks(helm: &Arc<Result<Helm, vitals_helm::Error>>, cell: &Cell) -> Vec<Check> {
    if !cell.profile.prod || cell.upgrade.is_some() {
        return Vec::new();
    }
    let ccell = cluster::cluster_cell(cell);
    let helm_ok = match helm.as_ref() {
        Ok(h) => h.clone(),
        Err(e) => {
            return vec![Check::ready(
                "availability/install",
                Verdict::fail(cell.prefix(), "helm is available", e.to_string()),
            )]
        }
    };
    let manifests = match render::render(&helm_ok, &ccell)
        .map_err(|e| e.to_string())
        .and_then(|t| Manifests::parse(&t).map_err(|e| e.to_string()))
    {
        Ok(m) => Arc::new(m),
        Err(e) => {
            return vec![Check::ready(
                "availability/install",
                Verdict::fail(cell.prefix(), "the chart renders with the test overlay", e),
            )]
        }
    };
    crate::capacity::plan(&ccell.namespace(), crate::capacity::cell_need(&manifests));
    let ws = Arc::new(av::derive(&manifests));
    let ctx = Arc::new((helm_ok, ccell, manifests.clone(), ws.clone()));
    let with = |name: String, f: Judge| {
        let ctx = ctx.clone();
        Check::new(name.clone(), move || {
            let (helm, cell, m, ws) = &*ctx;
            let env = match cluster::cluster() {
                Ok(e) => e,
                Err(e) => return Verdict::fail(cell.prefix(), "a cluster to run on", e),
            };
            let inst = cluster::installed(&env, helm, cell, m);
            let mut v = f(&env, &inst, ws);
            let mut failed = cluster::failed_cells()
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let entry = failed.entry(inst.namespace.clone()).or_insert(false);
            if v.failed() {
                *entry = true;
                drop(failed);
                let dir = cluster::bundle(&env, cell, &inst, &format!("{name}: {}", v.observed));
                let diag = format!("diagnostics: {}", dir.display());
                v.hint = Some(match v.hint.take() {
                    Some(h) => format!("{h}; {diag}"),
                    None => diag,
                });
            }
            v
        })
    };
    let mut out = vec![with(
        "availability/install".into(),
        Box::new(|_, inst, _| inst.install.clone()),
    )];
    // Stage 0: nothing disturbed.
    for (i, w) in ws.iter().enumerate() {
        if w.replicas < 2 && w.spread.is_empty() {
            continue;
        }
        out.push(with(
            format!("availability/spread/{}", w.slug()),
            Box::new(move |env, inst, ws| {
                rt().block_on(async {
                    // Not while another cell drains: a cordoned node is
                    // not a domain the scheduler can use, and the verdict
                    // would count it out.
                    let _no_drain_now = drain_lock().lock().await;
                    spread::check(&env.client, &inst.view, &ws[i], SPREAD_TIMEOUT).await
                })
            }),
        ));
    }
    for c in cronjobs::derive(&manifests)
        .into_iter()
        .filter(|c| c.backup.is_some())
    {
        out.push(with(
            format!("availability/restore/{}", c.name),
            Box::new(move |env, inst, _| {
                rt().block_on(restore::check(&env.client, &inst.view, &c))
            }),
        ));
    }
    // Stage 1: the disruption plan.
    let mut late = Vec::new();
    late.push(with(
        "availability/drain/nodes".into(),
        Box::new(|env, inst, ws| {
            let plan = plan_for(env, inst, ws);
            drains_verdict(&plan)
        }),
    ));
    for (i, w) in ws.iter().enumerate().filter(|(_, w)| w.replicas >= 2) {
        late.push(with(
            format!("availability/drain/{}", w.slug()),
            Box::new(move |env, inst, ws| {
                let plan = plan_for(env, inst, ws);
                let w = &ws[i];
                if let Some(why) = plan.no_disruption.as_ref().or(plan.no_drain.as_ref()) {
                    return Verdict::skip(w.id(), why.clone());
                }
                let samples = plan.during_drains.get(&w.name).cloned().unwrap_or_default();
                match &w.pdb {
                    Some(pdb) => drain::judge_pdb(pdb, w.replicas, &samples, &plan.drains),
                    None => no_pdb(w, &samples, &plan.drains),
                }
            }),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for f in ws
        .iter()
        .filter(|w| w.is_ha())
        .flat_map(|w| w.fronts.iter())
    {
        if !seen.insert(f.service.clone()) {
            continue;
        }
        let svc = f.service.clone();
        late.push(with(
            format!("availability/traffic/service/{svc}"),
            Box::new(move |env, inst, ws| {
                let plan = plan_for(env, inst, ws);
                if let Some(e) = &plan.stream_error {
                    return Verdict::fail(
                        format!("Service/{svc}"),
                        "a client pod to stream from",
                        e.clone(),
                    );
                }
                match plan.streams.get(&svc) {
                    Some((u, windows)) => traffic::judge(&svc, u, windows, &plan.spans),
                    None => Verdict::fail(format!("Service/{svc}"), "a request stream", "none ran"),
                }
            }),
        ));
    }
    for (i, w) in ws.iter().enumerate().filter(|(_, w)| w.rolling.is_some()) {
        late.push(with(
            format!("availability/rollout/{}", w.slug()),
            Box::new(move |env, inst, ws| {
                let plan = plan_for(env, inst, ws);
                let w = &ws[i];
                match plan.rollouts.get(&w.name) {
                    Some(r) => rollout::judge(w, r),
                    None => Verdict::fail(w.id(), "a rollout", "none ran"),
                }
            }),
        ));
    }
    for (i, w) in ws
        .iter()
        .enumerate()
        .filter(|(_, w)| w.is_ha() && !w.fronts.is_empty())
    {
        late.push(with(
            format!("availability/graceful-stop/{}", w.slug()),
            Box::new(move |env, inst, ws| {
                let plan = plan_for(env, inst, ws);
                let w = &ws[i];
                if let Some(why) = &plan.no_disruption {
                    return Verdict::skip(w.id(), why.clone());
                }
                if let Some(e) = &plan.stream_error {
                    return Verdict::fail(w.id(), "a client pod to stream from", e.clone());
                }
                match plan.graceful.get(&w.name) {
                    Some((rec, u, windows)) => graceful::judge(w, rec, u, windows),
                    None => Verdict::fail(w.id(), "a pod stopped under a stream", "none was"),
                }
            }),
        ));
    }
    for (i, w) in ws.iter().enumerate() {
        late.push(with(
            format!("availability/recovery/{}", w.slug()),
            Box::new(move |env, inst, ws| {
                let plan = plan_for(env, inst, ws);
                let w = &ws[i];
                if let Some(why) = &plan.no_disruption {
                    return Verdict::skip(w.id(), why.clone());
                }
                match plan.recovery.get(&w.name) {
                    Some(r) => recovery::judge(w, r, recovery::BOUND),
                    None => Verdict::fail(w.id(), "a pod deleted and replaced", "none was"),
                }
            }),
        ));
    }
    out.extend(late.into_iter().map(|c| c.at_stage(1)));
    out
}

/// Every drain completed.
fn drains_verdict(plan: &Plan) -> Verdict {
    let subject = "the cell's nodes";
    if let Some(why) = plan.no_disruption.as_ref() {
        return Verdict::skip(subject, why.clone());
    }
    if let Some(why) = &plan.no_drain {
        return Verdict::fail(
            subject,
            "every schedulable node drained in turn",
            why.clone(),
        );
    }
    let verdicts: Vec<Verdict> = plan.drains.iter().map(drain::judge_drain).collect();
    let expected = format!(
        "{} drained in turn through the Eviction API, each completing with replacements Ready elsewhere",
        plan.nodes.join(" then ")
    );
    let observed = verdicts
        .iter()
        .map(|v| format!("{}: {}", v.subject, v.observed))
        .collect::<Vec<_>>()
        .join("; ");
    let failed: Vec<&Verdict> = verdicts.iter().filter(|v| v.failed()).collect();
    let mut out = if failed.is_empty() {
        Verdict::pass(subject, expected, observed)
    } else {
        Verdict::fail(subject, expected, observed)
    };
    for v in verdicts {
        for e in v.evidence {
            out = out.with_evidence(e);
        }
    }
    out
}

/// A replicated workload no PDB guards: a drain may take every replica at
/// once. Failed whatever the drains happened to do, with what they did.
fn no_pdb(w: &HaWorkload, samples: &[(u64, i32)], drains: &[DrainRecord]) -> Verdict {
    let min = samples.iter().map(|(_, n)| *n).min().unwrap_or(0);
    Verdict::from_findings(
        w.id(),
        format!("a PodDisruptionBudget keeps some of its {} replicas through a drain", w.replicas),
        vec![vitals_checks::Finding {
            object: w.id(),
            field: "(no PodDisruptionBudget selects its pods)".into(),
            problem: format!(
                "{} replicas and no PDB: nothing stops a drain from evicting all of them at once (through the drains of {} healthy pods fell to {min})",
                w.replicas,
                drains.iter().map(|d| d.node.as_str()).collect::<Vec<_>>().join(" and ")
            ),
            fix: "add a PodDisruptionBudget with minAvailable: 1 (or maxUnavailable: 1) selecting the workload's pods".into(),
        }],
    )
}

// ---------------------------------------------------------------- fixtures

/// Availability fixtures: `suites/fixtures/broken-cluster/availability/*.yaml`,
/// each breaking one HA promise of `fixtures/cluster-sample` (its `web` and
/// `db` parts, enabled through values) and naming the trial that must
/// catch it. In a folder of their own: the cluster tier's fixture list is
/// the folder above.
pub fn fixtures() -> Vec<PathBuf> {
    let dir = crate::fixtures::dir().join("broken-cluster/availability");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The cluster-sample cell a fixture installs (a prod cell of its own).
fn fixture_cell(name: &str, values: &serde_json::Value) -> Result<Cell, String> {
    let env = cluster::cluster()?;
    let mut values = values.clone();
    values["image"] = env
        .images
        .get("agent")
        .cloned()
        .ok_or("no agent image in images.env")?
        .into();
    for (key, image) in [("baseImage", "base"), ("postgresImage", "postgres")] {
        if let Some(img) = env.images.get(image) {
            values[key] = img.clone().into();
        }
    }
    let file = render::write_values(&format!("availability-{name}"), &values)
        .map_err(|e| e.to_string())?;
    Ok(Cell::new(
        Arc::new(crate::spec::Suite {
            spec_file: None,
            chart_dir: crate::fixtures::dir().join("cluster-sample"),
            name: "cluster-sample".into(),
            release: "cluster-sample".into(),
            profiles: Vec::new(),
            invariants: Vec::new(),
            refused_upgrades: Default::default(),
            load: Default::default(),
            ..Default::default()
        }),
        crate::spec::Profile {
            name: name.into(),
            values: vec![file],
            prod: true,
        },
    ))
}

/// The fixture is caught by the trial it names, the message carrying every
/// expected mention.
pub fn caught(helm: &Arc<Result<Helm, vitals_helm::Error>>, path: &Path) -> Result<(), String> {
    let name = crate::fixtures::name(path);
    let fx = crate::fixtures::load(path)?;
    let cell = fixture_cell(&name, &fx.values)?;
    let checks = checks(helm, &cell);
    let Some(check) = checks.iter().find(|c| c.name == fx.catches.trial) else {
        crate::cluster::forget(&cell);
        return Err(format!(
            "fixture `{name}` ({}) expected trial `{}`, which was not derived; trials were:\n  {}",
            fx.breaks,
            fx.catches.trial,
            checks
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join("\n  ")
        ));
    };
    let v = (check.run)();
    crate::cluster::forget(&cell);
    if !v.failed() {
        return Err(format!(
            "fixture `{name}` breaks: {}\nbut `{}` passed:\n{v}",
            fx.breaks, fx.catches.trial
        ));
    }
    let text = v.to_string();
    let missing: Vec<_> = fx
        .catches
        .mentions
        .iter()
        .filter(|m| !text.contains(m.as_str()))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "fixture `{name}`: `{}` failed, but its message lacks {missing:?}:\n{text}",
            fx.catches.trial
        ));
    }
    Ok(())
}

/// The correct sample (HA web tier and a database with a backup) passes
/// every availability trial: no check of the tier cries wolf.
pub fn clean_sample_passes(helm: &Arc<Result<Helm, vitals_helm::Error>>) -> Result<(), String> {
    let cell = fixture_cell("availability-clean", &clean_values())?;
    let checks = checks(helm, &cell);
    let started = Instant::now();
    // Stage 0 first, then the plan, as the runner orders a cell.
    let mut failed = Vec::new();
    let mut stages: Vec<&Check> = checks.iter().collect();
    stages.sort_by_key(|c| c.stage);
    for c in stages {
        let v = (c.run)();
        if v.failed() {
            failed.push(format!("{}:\n{v}", c.name));
        }
    }
    crate::cluster::forget(&cell);
    if failed.is_empty() {
        eprintln!(
            "availability clean sample: {} trials green in {:.0}s",
            checks.len(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    } else {
        Err(format!(
            "the clean availability sample fails trials it should pass:\n{}",
            failed.join("\n")
        ))
    }
}

/// The cluster-sample's HA parts, as a correct chart would set them.
pub fn clean_values() -> serde_json::Value {
    serde_json::json!({
        "web": {"enabled": true},
        "db": {"enabled": true},
        "backup": {"enabled": true, "script": "pg_dump --format=custom --file=/backups/db-`date +%s`.dump; echo wrote a dump"}
    })
}
