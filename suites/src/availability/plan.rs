//! The cell's disruption plan, run once by whichever of its stage-1
//! trials comes first, alone on the cluster (see [`super::gate`]): drain
//! every schedulable node, roll every Deployment, stop one pod of each HA
//! workload under a stream, delete and time one pod of every workload.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;
use vitals_checks::runtime::availability::drain::{self, DrainRecord};
use vitals_checks::runtime::availability::graceful::{self, StopRecord};
use vitals_checks::runtime::availability::recovery::{self, RecoveryRecord};
use vitals_checks::runtime::availability::rollout::{self, RolloutError, RolloutRecord, Via};
use vitals_checks::runtime::availability::traffic::{self, Span, Window};
use vitals_checks::runtime::availability::{
    self as av, healthy, healthy_count, live_pods, spread, HaWorkload, Recorder,
};
use vitals_checks::runtime::view::NamespaceView;
use vitals_cluster::Provider;

use super::gate;
use super::upgrade::{self, Release};
use crate::cluster::{rt, ClusterEnv, Installed};

const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);
const ROLLOUT_TIMEOUT: Duration = Duration::from_secs(300);
/// The namespace the charts admit client traffic from (their ingress
/// controller's), where the HPA loads come from too.
const STREAM_NS: &str = "ingress-nginx";

/// Why the plan may not drain nodes or delete pods here, if so: kind's
/// nodes are the harness's; an `existing` cluster's only with
/// `E2E_DISRUPT=1` (`disrupt` is that variable's value).
pub fn no_disruption(provider: &Provider, disrupt: Option<&str>) -> Option<String> {
    match provider {
        Provider::Kind { .. } => None,
        Provider::Existing { .. } if disrupt == Some("1") => None,
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

/// One running stream: its Service, its URL, and the windows it returns.
type StreamTask = (String, String, tokio::task::JoinHandle<Vec<Window>>);

/// Streams to `fronts` until the returned sender says stop.
fn start_streams(
    env: &ClusterEnv,
    ns: &str,
    pod: &str,
    fronts: &[av::Front],
    clock: tokio::time::Instant,
) -> (tokio::sync::watch::Sender<bool>, Vec<StreamTask>) {
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

/// Runs blocking work (helm is a process) where the plan runs, telling
/// the runtime so: in place rather than spawned, because the closure
/// borrows the plan's release; the recorder and the streams are tasks of
/// their own and go on meanwhile.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// Records (healthy, live) of every workload in `ws`, two values each.
fn pairs_recorder(
    view: &NamespaceView,
    clock: tokio::time::Instant,
    ws: &[&HaWorkload],
) -> Recorder {
    let sels: Vec<serde_json::Value> = ws.iter().map(|w| w.selector.clone()).collect();
    let v2 = view.clone();
    Recorder::start(view, clock, move || {
        sels.iter()
            .flat_map(|sel| {
                let live = live_pods(&v2, sel);
                [
                    live.iter().filter(|p| healthy(p)).count() as i32,
                    live.len() as i32,
                ]
            })
            .collect()
    })
}

/// One `helm upgrade` of the release with a new token, which rolls every
/// Deployment in `ws` at once (a release upgrade does not roll them one by
/// one); each is watched until rolled, all under one recorder.
async fn upgrade_release(
    env: &ClusterEnv,
    inst: &Installed,
    rel: &Release<'_>,
    ws: &[&HaWorkload],
    token: &str,
    clock: tokio::time::Instant,
    plan: &mut Plan,
) {
    let (client, view, ns) = (&env.client, &inst.view, inst.namespace.as_str());
    let mut replicas = Vec::new();
    for w in ws {
        replicas.push(
            rollout::live_replicas(client, ns, &w.name)
                .await
                .unwrap_or(w.replicas),
        );
    }
    let rec = pairs_recorder(view, clock, ws);
    let started_ms = clock.elapsed().as_millis() as u64;
    let helm_started = Instant::now();
    let upgraded = blocking(|| rel.upgrade(&env.handle.kubeconfig, token));
    let helm_ms = helm_started.elapsed().as_millis() as u64;
    let results: Vec<(Result<String, RolloutError>, u64)> = match upgraded {
        Ok(()) => {
            futures::future::join_all(ws.iter().map(|w| async {
                let r = rollout::wait_rolled(client, view, w, token, ROLLOUT_TIMEOUT).await;
                (r, clock.elapsed().as_millis() as u64)
            }))
            .await
        }
        Err(e) => {
            let err = RolloutError::Upgrade {
                release: rel.cell.suite.release.clone(),
                message: vitals_checks::runtime::chain(&e),
            };
            let now = clock.elapsed().as_millis() as u64;
            ws.iter().map(|_| (Err(err.clone()), now)).collect()
        }
    };
    let samples = rec.stop().await;
    let ended = results.iter().map(|r| r.1).max().unwrap_or(started_ms);
    plan.spans.push(Span {
        label: format!("helm upgrade {}", rel.cell.suite.release),
        from_ms: started_ms,
        to_ms: ended,
    });
    let together: Vec<String> = ws.iter().map(|w| w.name.clone()).collect();
    for (i, ((w, result), n)) in ws.iter().zip(results).zip(replicas).enumerate() {
        let (result, ended_ms) = result;
        plan.rollouts.insert(
            w.name.clone(),
            RolloutRecord {
                replicas: n,
                started_ms,
                ended_ms,
                samples: rollout::pair_column(&samples, i),
                via: Via::HelmUpgrade {
                    release: rel.cell.suite.release.clone(),
                    token: token.to_string(),
                    helm_ms,
                    together: together.clone(),
                },
                result,
            },
        );
    }
}

/// A Deployment the chart offers no token for: its live pod template
/// patched, as `kubectl rollout restart` does, one at a time.
async fn patch_one(
    env: &ClusterEnv,
    inst: &Installed,
    w: &HaWorkload,
    why: String,
    clock: tokio::time::Instant,
    plan: &mut Plan,
) {
    let (client, view, ns) = (&env.client, &inst.view, inst.namespace.as_str());
    crate::events::phase(ns, Some(&format!("rolling {}", w.name)));
    let rec = pairs_recorder(view, clock, &[w]);
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
            samples: rollout::pair_column(&samples, 0),
            via: Via::Patch { why },
            result,
        },
    );
}

async fn run_plan(
    env: &ClusterEnv,
    inst: &Installed,
    ws: &[HaWorkload],
    rel: &Release<'_>,
) -> Plan {
    let client = &env.client;
    let view = &inst.view;
    let ns = inst.namespace.as_str();
    let clock = tokio::time::Instant::now();
    let mut plan = Plan {
        no_disruption: no_disruption(&env.provider, std::env::var("E2E_DISRUPT").ok().as_deref()),
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
                    crate::events::phase(ns, Some(&format!("draining {node}")));
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
    let rolling: Vec<&HaWorkload> = ws.iter().filter(|w| w.rolling.is_some()).collect();
    if !rolling.is_empty() {
        crate::events::phase(ns, Some("helm upgrade"));
        let token = stamp();
        let offer = blocking(|| rel.offered(&token));
        let (through_helm, patched): (Vec<&HaWorkload>, Vec<&HaWorkload>) = rolling
            .iter()
            .partition(|w| offer.as_ref().is_ok_and(|o| o.contains(&w.name)));
        if !through_helm.is_empty() {
            upgrade_release(env, inst, rel, &through_helm, &token, clock, &mut plan).await;
        }
        for w in patched {
            let why = upgrade::not_offered(&offer, &w.name);
            patch_one(env, inst, w, why, clock, &mut plan).await;
        }
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
            crate::events::phase(ns, Some(&format!("stopping a {} pod", w.name)));
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
            crate::events::phase(ns, Some(&format!("recovering {}", w.name)));
            plan.recovery.insert(
                w.name.clone(),
                recovery::run(client, view, w, recovery::BOUND).await,
            );
        }
    }
    plan.timings.push(("recovery", t.elapsed()));
    crate::events::phase(ns, None);
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
pub(super) fn plan_for(
    env: &ClusterEnv,
    inst: &Installed,
    ws: &[HaWorkload],
    rel: &Release<'_>,
) -> Arc<Plan> {
    static PLANS: OnceLock<Plans> = OnceLock::new();
    let once = PLANS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(inst.namespace.clone())
        .or_default()
        .clone();
    // Alone from before the stream pod starts: a plan that waited for
    // another would otherwise stream through that one's disruption.
    rt().block_on(
        once.get_or_init(|| async {
            Arc::new(gate::disrupting(run_plan(env, inst, ws, rel)).await)
        }),
    )
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_kind_or_e2e_disrupt_1_lets_the_plan_disrupt_and_the_reason_names_the_switch() {
        let kind = Provider::Kind {
            name: "vitals-ha-1-37".into(),
            root: "/work".into(),
            cache: "/cache".into(),
        };
        assert_eq!(no_disruption(&kind, None), None);
        let existing = Provider::Existing {
            kubeconfig: "/staging/kubeconfig".into(),
        };
        assert_eq!(no_disruption(&existing, Some("1")), None);
        for off in [None, Some("0"), Some("yes")] {
            let why = no_disruption(&existing, off).expect("refused");
            assert!(
                why.contains("E2E_DISRUPT=1") && why.contains("`existing`"),
                "{why}"
            );
        }
    }
}
