//! Driving an HPA trial: the load generator from where a real client would
//! call (the namespace the charts admit traffic from, through the app's
//! Service), or inside one of the target's own pods, then [`super::check`]
//! judges the reaction with deadlines from the live HPA's `behavior`.

use std::time::Duration;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::{Api, Client};

use super::behavior::{Pipeline, ScaleDown};
use super::plan::{Drive, ExecLoad, HpaSpec, LoadPlan, FIXED_M};
use super::Target;
use crate::runtime::agent_pod::ensure_agent_pod;
use crate::runtime::cx::CheckCx;
use crate::runtime::exec::{self, ExecError, InPod};
use crate::runtime::netpol;
use crate::verdict::Verdict;

/// Why one drive of the load did not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("running the load")]
    Exec(#[from] ExecError),
    #[error("{what} exited {exit}: {stderr}")]
    Exited {
        what: String,
        exit: i32,
        stderr: String,
    },
    #[error("no load report (exit {exit}): {stderr}")]
    NoReport { exit: i32, stderr: String },
}

/// Each load request burns this much CPU; the rate makes up the rest.
const BURN_MS: f64 = 10.0;

/// The namespace the charts' NetworkPolicies admit clients from.
const LOAD_NS: &str = "ingress-nginx";

/// Runs the trial. `slots` bounds the HPAs under load at once: the load
/// and the scale-ups it causes are the heaviest thing a trial does to the
/// node; with every HPA of the matrix at once on 2 cores the kubelet's
/// resource metrics time out and HPAs lose their readings.
pub async fn judge(s: &HpaSpec, cx: &CheckCx<'_>, slots: &tokio::sync::Semaphore) -> Verdict {
    match &s.drive {
        Some(Drive::Http(plan)) => drive_http(cx, s, plan, slots).await,
        Some(Drive::Exec { load, selector }) => drive_exec(cx, s, load, selector, slots).await,
        // Listed as ignored before the run; run anyway, it is the skip.
        None => Verdict::skip(
            format!("HorizontalPodAutoscaler/{}", s.name),
            "nothing to load it with",
        ),
    }
}

/// The CPU a drive burns: the sized load first, then half as much again
/// per drive that left the HPA below its target, never past the fixed
/// load that overloaded the node.
fn drive_millicores(base_m: f64, attempt: usize) -> f64 {
    (base_m * 1.5f64.powi(attempt as i32)).min(FIXED_M.max(base_m))
}

/// Loads an HPA's target with the suite spec's command, run for the length
/// of the load in one of the target's own pods.
async fn drive_exec(
    cx: &CheckCx<'_>,
    s: &HpaSpec,
    l: &ExecLoad,
    selector: &serde_json::Value,
    slots: &tokio::sync::Semaphore,
) -> Verdict {
    let Some(pod) = cx.running_pod(selector) else {
        return Verdict::fail(&s.name, "a target pod to load from inside", "none running");
    };
    let client = cx.client.clone();
    let ns = cx.namespace.to_string();
    let l = l.clone();
    // The suite's own command is what it is: every drive runs it the same.
    let load = move |_attempt: usize| {
        let (client, ns, pod, l) = (client.clone(), ns.clone(), pod.clone(), l.clone());
        async move {
            let at = InPod {
                client: &client,
                namespace: &ns,
                pod: &pod,
                container: Some(&l.container),
            };
            let out = at.exec(&l.command, Duration::from_secs(150)).await?;
            let what = format!("`{}` in {pod}/{}", l.command.join(" "), l.container);
            if out.exit == 0 {
                Ok(format!("{what} ran {:.0}s", out.elapsed.as_secs_f64()))
            } else {
                Err(LoadError::Exited {
                    what,
                    exit: out.exit,
                    stderr: out.stderr.trim().into(),
                })
            }
        }
    };
    check_live(cx, s, slots, load).await
}

/// Load comes from the namespace the charts admit traffic from
/// (ingress-nginx), as a real client would, through the app's Service. A
/// target no ingress may reach (an internal worker) is loaded from inside
/// one of its own pods instead; the evidence says which.
async fn drive_http(
    cx: &CheckCx<'_>,
    s: &HpaSpec,
    plan: &LoadPlan,
    slots: &tokio::sync::Semaphore,
) -> Verdict {
    let hpa = s.name.as_str();
    let ns = cx.namespace;
    let Some(img) = cx.agent_image() else {
        return Verdict::fail(hpa, "an agent image to load from", "none");
    };
    let load_pod = format!("vitals-load-{ns}");
    if let Err(e) = ensure_agent_pod(
        cx.client,
        LOAD_NS,
        &load_pod,
        img,
        serde_json::json!({"app": "vitals-load"}),
    )
    .await
    {
        return Verdict::fail(hpa, "a load generator pod", String::from(e));
    }
    let via_service = match &plan.svc {
        Some((svc, port)) => {
            let fqdn = format!("{svc}.{ns}.svc.cluster.local");
            let loader = InPod {
                client: cx.client,
                namespace: LOAD_NS,
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
        (LOAD_NS.to_string(), load_pod, None, url)
    } else {
        let Some(pod) = cx.running_pod(&plan.selector) else {
            return Verdict::fail(hpa, "a target pod to load from inside", "none running");
        };
        (
            ns.to_string(),
            pod,
            Some(plan.container.clone()),
            format!("http://127.0.0.1:{}/burn?ms={BURN_MS}", plan.pod_port),
        )
    };
    let client = cx.client.clone();
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
            let at = InPod {
                client: &client,
                namespace: &from_ns,
                pod: &from_pod,
                container: container.as_deref(),
            };
            let out = at.exec(&argv, Duration::from_secs(120)).await?;
            match exec::agent_report(&out) {
                Some(vitals_agent::report::Report::Load(r)) => Ok(format!(
                    "{} requests to {url} {origin} ({rate}/s x {BURN_MS}ms: {burn_m:.0}m of cpu), {} ok, {} errors, p50 {:.0}ms, p99 {:.0}ms",
                    r.count, r.ok, r.errors, r.latency_ms.p50, r.latency_ms.p99
                )),
                _ => Err(LoadError::NoReport {
                    exit: out.exit,
                    stderr: out.stderr.trim().into(),
                }),
            }
        }
    };
    check_live(cx, s, slots, load).await
}

/// Drives the load `load(attempt)` starts at the HPA and judges its
/// reaction, with deadlines from the live HPA's own `behavior` and the
/// cluster's metrics resolution (`hpa::behavior`).
async fn check_live<F>(
    cx: &CheckCx<'_>,
    s: &HpaSpec,
    slots: &tokio::sync::Semaphore,
    load: impl FnMut(usize) -> F,
) -> Verdict
where
    F: std::future::Future<Output = Result<String, LoadError>>,
{
    let hpa = s.name.as_str();
    let live = match Api::<HorizontalPodAutoscaler>::namespaced(cx.client.clone(), cx.namespace)
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
    let target = Target {
        namespace: cx.namespace.into(),
        name: hpa.into(),
        min: s.min,
        max: s.max,
        target_cpu_percent,
        scale_down: ScaleDown::from_behavior(spec.and_then(|s| s.behavior.as_ref())),
        pipeline: metrics_pipeline(cx.client).await,
    };
    let _slot = slots.acquire().await;
    super::check(cx.client, &target, load).await
}

/// The cluster's metrics pipeline, read once per process.
async fn metrics_pipeline(client: &Client) -> Pipeline {
    static P: tokio::sync::OnceCell<Pipeline> = tokio::sync::OnceCell::const_new();
    *P.get_or_init(|| super::pipeline(client)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drive_that_left_the_hpa_below_its_target_is_driven_harder_but_bounded() {
        assert_eq!(drive_millicores(20.0, 0), 20.0);
        assert_eq!(drive_millicores(20.0, 1), 30.0);
        assert_eq!(drive_millicores(100.0, 2), 160.0);
        // The fixed load (no target to size from) is not raised.
        assert_eq!(drive_millicores(160.0, 1), 160.0);
    }

    #[test]
    fn a_failed_command_names_itself_its_exit_and_its_words() {
        let e = LoadError::Exited {
            what: "`stress -c 1` in w-0/worker".into(),
            exit: 2,
            stderr: "no such file".into(),
        };
        assert_eq!(
            crate::runtime::chain(&e),
            "`stress -c 1` in w-0/worker exited 2: no such file"
        );
    }
}
