//! HPA trials: the load planned from the HPA and its target, driven from
//! where a real client would call (or inside a worker's own pod), judged
//! by `checks::runtime::hpa` with deadlines from the HPA's behavior.

use std::sync::OnceLock;
use std::time::Duration;

use kube::{Api, Client};
use vitals_checks::runtime::{exec, hpa, netpol};
use vitals_checks::{Manifests, Verdict};

use super::{first_pod, rt, Plan};
use crate::cell::{Cell, Check};
use crate::cluster::env::ClusterEnv;
use crate::cluster::phases::install::Installed;

pub(super) fn derive(p: &mut Plan, manifests: &Manifests, cell: &Cell) {
    for hpa in manifests.of_kind("HorizontalPodAutoscaler") {
        let name = hpa.name.clone();
        let min = hpa
            .doc
            .pointer("/spec/minReplicas")
            .and_then(|v| v.as_i64())
            .unwrap_or(1) as i32;
        let max = hpa
            .doc
            .pointer("/spec/maxReplicas")
            .and_then(|v| v.as_i64())
            .unwrap_or(1) as i32;
        let target =
            vitals_checks::render::policy::autoscaling::target(manifests, &hpa.doc).cloned();
        let plan = target.as_ref().and_then(|t| {
            let w = t.as_workload()?;
            let agent = w.containers().into_iter().find(|c| {
                !c.init
                    && c.spec
                        .get("image")
                        .and_then(|i| i.as_str())
                        .is_some_and(|i| i.contains("vitals/agent"))
            })?;
            let svc = manifests.of_kind("Service").find(|s| {
                let sel = s.doc.pointer("/spec/selector").cloned().unwrap_or_default();
                s.doc.pointer("/spec/clusterIP").and_then(|v| v.as_str()) != Some("None")
                    && vitals_checks::manifest::selector_matches(
                        &serde_json::json!({"matchLabels": sel}),
                        &w.pod_labels(),
                    )
            });
            let (svc, pod_port) = match svc {
                Some(svc) => {
                    let sp = svc.doc.pointer("/spec/ports/0")?;
                    let port = sp.get("port").and_then(|v| v.as_i64())?;
                    let pod_port = match sp.get("targetPort").unwrap_or(sp.get("port")?) {
                        serde_json::Value::Number(n) => n.as_i64(),
                        serde_json::Value::String(n) => agent
                            .ports()
                            .into_iter()
                            .find(|(name, _)| name.as_deref() == Some(n.as_str()))
                            .map(|(_, p)| p),
                        _ => None,
                    }?;
                    (Some((svc.name.clone(), port)), pod_port)
                }
                // No Service: the port the container's own probes call.
                None => (None, probe_port(agent.spec)?),
            };
            // The HPA averages usage over the requests of every app
            // container in the pod (init containers are done by then).
            let pod_cpu_m: f64 = w
                .containers()
                .iter()
                .filter(|c| !c.init)
                .filter_map(|c| c.spec.pointer("/resources/requests/cpu"))
                .filter_map(|q| match q {
                    serde_json::Value::String(s) => vitals_checks::quantity::parse(s),
                    serde_json::Value::Number(n) => n.as_f64(),
                    _ => None,
                })
                .sum::<f64>()
                * 1000.0;
            Some(LoadPlan {
                svc,
                selector: w.selector(),
                container: agent.name.clone(),
                pod_port,
                burn_m: load_millicores(min, max, pod_cpu_m, cpu_target_percent(&hpa.doc)),
            })
        });
        let exec_load = cell.suite.load.get(&name).cloned();
        let target_selector = target
            .as_ref()
            .and_then(|t| t.doc.pointer("/spec/selector").cloned());
        if plan.is_none() && (exec_load.is_none() || target_selector.is_none()) {
            // Known from the render and the suite spec: nothing can load it.
            p.push(Check::cannot_run(
                format!("cluster/hpa/{name}"),
                format!("HorizontalPodAutoscaler/{name}"),
                "its target is not an HTTP app stand-in the load generator can drive, and the suite spec gives no `load` command for it",
            ));
            continue;
        }
        p.add(
            format!("cluster/hpa/{name}"),
            Box::new(move |env, inst, _| {
                let Some(plan) = plan.clone() else {
                    if let (Some(l), Some(sel)) = (&exec_load, &target_selector) {
                        return rt().block_on(exec_hpa(env, inst, &name, min, max, sel, l));
                    }
                    return Verdict::skip(
                        format!("HorizontalPodAutoscaler/{name}"),
                        "nothing to load it with",
                    );
                };
                rt().block_on(drive_hpa(env, inst, &name, min, max, &plan))
            }),
        );
    }
}

/// How to load an HPA's target.
#[derive(Debug, Clone)]
struct LoadPlan {
    /// The Service and port a real client would use; none for a worker
    /// nothing calls (then the load runs inside its own pod).
    svc: Option<(String, i64)>,
    selector: serde_json::Value,
    container: String,
    pod_port: i64,
    /// The CPU the load burns, in millicores (see [`load_millicores`]).
    burn_m: f64,
}

/// The HPA's cpu target (averageUtilization of a Resource metric), if any.
fn cpu_target_percent(hpa: &serde_json::Value) -> Option<f64> {
    hpa.pointer("/spec/metrics")?
        .as_array()?
        .iter()
        .find(|m| m.pointer("/resource/name").and_then(|n| n.as_str()) == Some("cpu"))?
        .pointer("/resource/target/averageUtilization")?
        .as_f64()
}

/// The load, sized from the HPA itself: enough CPU that the HPA wants
/// twice its minimum (capped at its maximum), with a quarter on top for
/// the burn a starved node does not deliver. A fixed load far above that
/// drove every HPA to its maximum: dozens of pod starts at once on one
/// node, whose kubelet then answered metrics-server too late and the HPAs
/// lost their readings. Without a cpu target or requests to size from,
/// the fixed load stays (160m).
fn load_millicores(min: i32, max: i32, pod_cpu_m: f64, target_percent: Option<f64>) -> f64 {
    const FIXED_M: f64 = 160.0;
    match target_percent {
        Some(t) if pod_cpu_m > 0.0 && t > 0.0 => {
            let want = (2 * min.max(1)).min(max).max(min + 1) as f64;
            (want * pod_cpu_m * t / 100.0 * 1.25).clamp(5.0, FIXED_M)
        }
        _ => FIXED_M,
    }
}

/// The CPU a drive burns: the sized load first, then half as much again
/// per drive that left the HPA below its target, never past the fixed
/// load that overloaded the node.
fn drive_millicores(base_m: f64, attempt: usize) -> f64 {
    (base_m * 1.5f64.powi(attempt as i32)).min(160.0_f64.max(base_m))
}

/// Each load request burns this much CPU; the rate makes up the rest.
const BURN_MS: f64 = 10.0;

/// Loads an HPA's target with the suite spec's command, run for the length
/// of the load in one of the target's own pods.
async fn exec_hpa(
    env: &ClusterEnv,
    inst: &Installed,
    hpa: &str,
    min: i32,
    max: i32,
    selector: &serde_json::Value,
    l: &crate::spec::ExecLoad,
) -> Verdict {
    let Some(pod) = first_pod(inst, selector) else {
        return Verdict::fail(hpa, "a target pod to load from inside", "none running");
    };
    let client = env.client.clone();
    let ns = inst.namespace.clone();
    let l = l.clone();
    // The suite's own command is what it is: every drive runs it the same.
    let load = move |_attempt: usize| {
        let (client, ns, pod, l) = (client.clone(), ns.clone(), pod.clone(), l.clone());
        async move {
            let at = exec::InPod {
                client: &client,
                namespace: &ns,
                pod: &pod,
                container: Some(&l.container),
            };
            let out = at
                .exec(&l.command, Duration::from_secs(150))
                .await
                .map_err(|e| e.to_string())?;
            let what = format!("`{}` in {pod}/{}", l.command.join(" "), l.container);
            if out.exit == 0 {
                Ok(format!("{what} ran {:.0}s", out.elapsed.as_secs_f64()))
            } else {
                Err(format!("{what} exited {}: {}", out.exit, out.stderr.trim()))
            }
        }
    };
    hpa_check(env, &inst.namespace, hpa, min, max, load).await
}

/// The local port an exec probe calls (`http://127.0.0.1:<port>/...`), or
/// the first declared container port: where a worker's agent listens.
fn probe_port(container: &serde_json::Value) -> Option<i64> {
    let text = container.to_string();
    let from_probe = text.split("http://127.0.0.1:").nth(1).and_then(|rest| {
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    });
    from_probe.or_else(|| container.pointer("/ports/0/containerPort")?.as_i64())
}

/// Load comes from the namespace the charts admit traffic from
/// (ingress-nginx), as a real client would, through the app's Service. A
/// target no ingress may reach (an internal worker) is loaded from inside
/// one of its own pods instead; the evidence says which.
async fn drive_hpa(
    env: &ClusterEnv,
    inst: &Installed,
    hpa: &str,
    min: i32,
    max: i32,
    plan: &LoadPlan,
) -> Verdict {
    let ns = inst.namespace.as_str();
    let Some(img) = env.images.get("agent") else {
        return Verdict::fail(hpa, "an agent image to load from", "none");
    };
    let load_ns = "ingress-nginx";
    let load_pod = format!("vitals-load-{ns}");
    if let Err(e) = vitals_checks::runtime::agent_pod::ensure_agent_pod(
        &env.client,
        load_ns,
        &load_pod,
        img,
        serde_json::json!({"app": "vitals-load"}),
    )
    .await
    {
        return Verdict::fail(hpa, "a load generator pod", e);
    }
    let via_service = match &plan.svc {
        Some((svc, port)) => {
            let fqdn = format!("{svc}.{ns}.svc.cluster.local");
            let loader = exec::InPod {
                client: &env.client,
                namespace: load_ns,
                pod: &load_pod,
                container: None,
            };
            let reachable = netpol::connect(&loader, &fqdn, *port as u16).await;
            (reachable.kind == Some(vitals_agent::report::ConnectKind::Connected))
                .then(|| format!("http://{fqdn}:{port}/burn?ms={BURN_MS}"))
        }
        None => None,
    };
    let (from_ns, from_pod, container, url) = if let Some(url) = via_service {
        (load_ns.to_string(), load_pod, None, url)
    } else {
        let Some(pod) = first_pod(inst, &plan.selector) else {
            return Verdict::fail(hpa, "a target pod to load from inside", "none running");
        };
        (
            ns.to_string(),
            pod,
            Some(plan.container.clone()),
            format!("http://127.0.0.1:{}/burn?ms={BURN_MS}", plan.pod_port),
        )
    };
    let client = env.client.clone();
    let origin = format!("from pod {from_ns}/{from_pod}");
    let base_m = plan.burn_m;
    let load = move |attempt: usize| {
        // A drive that left the HPA below its target (a slower node serves
        // less of the same rate) is driven again, harder.
        let burn_m = drive_millicores(base_m, attempt);
        let rate = format!("{:.2}", burn_m / BURN_MS);
        let argv: Vec<String> = [
            "agent",
            "load",
            "--url",
            &url,
            "--rate",
            &rate,
            "--duration",
            "60s",
            "--concurrency",
            "4",
            "--timeout",
            "5s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (client, from_ns, from_pod, container, url, origin) = (
            client.clone(),
            from_ns.clone(),
            from_pod.clone(),
            container.clone(),
            url.clone(),
            origin.clone(),
        );
        async move {
            let at = exec::InPod {
                client: &client,
                namespace: &from_ns,
                pod: &from_pod,
                container: container.as_deref(),
            };
            let out = at
                .exec(&argv, Duration::from_secs(120))
                .await
                .map_err(|e| e.to_string())?;
            match exec::agent_report(&out) {
            Some(vitals_agent::report::Report::Load(r)) => Ok(format!(
                "{} requests to {url} {origin} ({rate}/s x {BURN_MS}ms: {burn_m:.0}m of cpu), {} ok, {} errors, p50 {:.0}ms, p99 {:.0}ms",
                r.count, r.ok, r.errors, r.latency_ms.p50, r.latency_ms.p99
            )),
            _ => Err(format!(
                "no load report (exit {}): {}",
                out.exit,
                out.stderr.trim()
            )),
        }
        }
    };
    hpa_check(env, ns, hpa, min, max, load).await
}

/// Drives the load `load(attempt)` starts at the HPA and judges its
/// reaction, with deadlines from the live HPA's own `behavior` and the
/// cluster's metrics resolution (`hpa::behavior`).
async fn hpa_check<F>(
    env: &ClusterEnv,
    ns: &str,
    hpa: &str,
    min: i32,
    max: i32,
    load: impl FnMut(usize) -> F,
) -> Verdict
where
    F: std::future::Future<Output = Result<String, String>>,
{
    let live = match Api::<k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler>::namespaced(
        env.client.clone(),
        ns,
    )
    .get(hpa)
    .await
    {
        Ok(h) => h,
        Err(e) => {
            return Verdict::fail(
                format!("HorizontalPodAutoscaler/{hpa}"),
                "the HPA exists in the cell",
                e.to_string(),
            )
        }
    };
    let spec = live.spec.as_ref();
    let target_cpu_percent = spec.and_then(|s| {
        s.metrics.iter().flatten().find_map(|m| {
            let r = m.resource.as_ref()?;
            (r.name == "cpu")
                .then_some(r.target.average_utilization)
                .flatten()
        })
    });
    let target = hpa::Target {
        namespace: ns.into(),
        name: hpa.into(),
        min,
        max,
        target_cpu_percent,
        scale_down: hpa::behavior::ScaleDown::from_behavior(spec.and_then(|s| s.behavior.as_ref())),
        pipeline: metrics_pipeline(&env.client).await,
    };
    // The load and the scale-ups it causes are the heaviest thing a trial
    // does to the node; with every HPA of the matrix at once on 2 cores the
    // kubelet's resource metrics time out and HPAs lose their readings.
    let _slot = hpa_slots().acquire().await;
    hpa::check(&env.client, &target, load).await
}

/// The cluster's metrics pipeline, read once per process.
async fn metrics_pipeline(client: &Client) -> hpa::behavior::Pipeline {
    static P: tokio::sync::OnceCell<hpa::behavior::Pipeline> = tokio::sync::OnceCell::const_new();
    *P.get_or_init(|| hpa::pipeline(client)).await
}

/// HPA trials that load the cluster at once (`E2E_HPA_PARALLEL`, default 4).
fn hpa_slots() -> &'static tokio::sync::Semaphore {
    static S: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    S.get_or_init(|| tokio::sync::Semaphore::new(crate::config::get().hpa_parallel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_load_asks_for_twice_the_minimum_at_the_target() {
        // developer-mesh edge-mcp under the overlay: 2..10 pods of 5m at 70%.
        let m = load_millicores(2, 10, 5.0, Some(70.0));
        assert_eq!(m, 4.0 * 5.0 * 0.7 * 1.25);
    }

    #[test]
    fn the_load_stops_at_the_maximum_yet_always_asks_for_one_more_than_the_minimum() {
        assert_eq!(
            load_millicores(3, 4, 10.0, Some(50.0)),
            4.0 * 10.0 * 0.5 * 1.25
        );
        assert_eq!(
            load_millicores(2, 2, 10.0, Some(50.0)),
            3.0 * 10.0 * 0.5 * 1.25
        );
    }

    #[test]
    fn without_a_cpu_target_or_requests_the_fixed_load_stays() {
        assert_eq!(load_millicores(2, 10, 5.0, None), 160.0);
        assert_eq!(load_millicores(2, 10, 0.0, Some(70.0)), 160.0);
        assert_eq!(load_millicores(10, 40, 100.0, Some(90.0)), 160.0);
    }

    #[test]
    fn a_drive_that_left_the_hpa_below_its_target_is_driven_harder_but_bounded() {
        assert_eq!(drive_millicores(20.0, 0), 20.0);
        assert_eq!(drive_millicores(20.0, 1), 30.0);
        assert_eq!(drive_millicores(100.0, 2), 160.0);
        // The fixed load (no target to size from) is not raised.
        assert_eq!(drive_millicores(160.0, 1), 160.0);
    }

    #[test]
    fn the_cpu_target_is_read_from_the_resource_metric() {
        let hpa = serde_json::json!({"spec": {"metrics": [
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 85}}},
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}
        ]}});
        assert_eq!(cpu_target_percent(&hpa), Some(80.0));
        assert_eq!(cpu_target_percent(&serde_json::json!({"spec": {}})), None);
    }
}
