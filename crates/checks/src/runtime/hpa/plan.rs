//! Which HPAs get a trial and how each is loaded, from the render and the
//! suite spec: an HTTP app stand-in (the agent) is loaded through its
//! Service, or inside its own pod when nothing calls it; any other target
//! needs a `load` command from the suite spec, else the trial cannot run.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::manifest::selector_matches;
use crate::Manifests;

/// A suite spec's own load for an HPA whose target is no app stand-in: a
/// command run in one of the target's pods (about 60 s, exit 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecLoad {
    pub container: String,
    pub command: Vec<String>,
}

/// One HPA trial: the HPA's bounds as rendered, and how to load it.
#[derive(Debug, Clone, PartialEq)]
pub struct HpaSpec {
    pub name: String,
    pub min: i32,
    pub max: i32,
    /// None: nothing can load it (known from the render and the spec).
    pub drive: Option<Drive>,
}

impl HpaSpec {
    /// The `<object>` of `cluster/hpa/<object>`: the HPA's name.
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// Known from the render and the suite spec: the trial cannot run.
    pub fn cannot_run(&self) -> Option<(String, &'static str)> {
        self.drive.is_none().then(|| {
            (
                format!("HorizontalPodAutoscaler/{}", self.name),
                "its target is not an HTTP app stand-in the load generator can drive, and the suite spec gives no `load` command for it",
            )
        })
    }
}

/// How a trial loads its HPA's target.
#[derive(Debug, Clone, PartialEq)]
pub enum Drive {
    /// The agent's own load generator, sized from the HPA.
    Http(LoadPlan),
    /// The suite spec's command, in one of the pods `selector` matches.
    Exec { load: ExecLoad, selector: Value },
}

/// How to load an HTTP app stand-in.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadPlan {
    /// The Service and port a real client would use; none for a worker
    /// nothing calls (then the load runs inside its own pod).
    pub svc: Option<(String, i64)>,
    pub selector: Value,
    pub container: String,
    pub pod_port: i64,
    /// The CPU the load burns, in millicores (see [`load_millicores`]).
    pub burn_m: f64,
}

/// Every HPA the render holds, with `loads` the suite spec's commands by
/// HPA name.
pub fn derive(m: &Manifests, loads: &BTreeMap<String, ExecLoad>) -> Vec<HpaSpec> {
    let mut out = Vec::new();
    for hpa in m.of_kind("HorizontalPodAutoscaler") {
        let name = hpa.name.clone();
        let int = |p: &str| hpa.doc.pointer(p).and_then(|v| v.as_i64()).unwrap_or(1) as i32;
        let (min, max) = (int("/spec/minReplicas"), int("/spec/maxReplicas"));
        let target = crate::render::policy::autoscaling::target(m, &hpa.doc);
        let plan = target.and_then(|t| load_plan(m, t, &hpa.doc, min, max));
        let exec = loads.get(&name).cloned().and_then(|load| {
            let selector = target?.doc.pointer("/spec/selector").cloned()?;
            Some(Drive::Exec { load, selector })
        });
        out.push(HpaSpec {
            name,
            min,
            max,
            drive: plan.map(Drive::Http).or(exec),
        });
    }
    out
}

/// The load plan of a target running the agent: through the Service in
/// front of its pods, or the port its probes call when none is.
fn load_plan(
    m: &Manifests,
    target: &crate::Object,
    hpa: &Value,
    min: i32,
    max: i32,
) -> Option<LoadPlan> {
    let w = target.as_workload()?;
    let agent = w.containers().into_iter().find(|c| {
        !c.init
            && c.spec
                .get("image")
                .and_then(|i| i.as_str())
                .is_some_and(|i| i.contains("vitals/agent"))
    })?;
    let svc = m.of_kind("Service").find(|s| {
        let sel = s.doc.pointer("/spec/selector").cloned().unwrap_or_default();
        s.doc.pointer("/spec/clusterIP").and_then(|v| v.as_str()) != Some("None")
            && selector_matches(&serde_json::json!({ "matchLabels": sel }), &w.pod_labels())
    });
    let (svc, pod_port) = match svc {
        Some(svc) => {
            let sp = svc.doc.pointer("/spec/ports/0")?;
            let port = sp.get("port").and_then(|v| v.as_i64())?;
            let pod_port = match sp.get("targetPort").unwrap_or(sp.get("port")?) {
                Value::Number(n) => n.as_i64(),
                Value::String(n) => agent
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
    // The HPA averages usage over the requests of every app container in
    // the pod (init containers are done by then).
    let pod_cpu_m: f64 = w
        .containers()
        .iter()
        .filter(|c| !c.init)
        .filter_map(|c| c.spec.pointer("/resources/requests/cpu"))
        .filter_map(|q| match q {
            Value::String(s) => crate::quantity::parse(s),
            Value::Number(n) => n.as_f64(),
            _ => None,
        })
        .sum::<f64>()
        * 1000.0;
    Some(LoadPlan {
        svc,
        selector: w.selector(),
        container: agent.name.clone(),
        pod_port,
        burn_m: load_millicores(min, max, pod_cpu_m, cpu_target_percent(hpa)),
    })
}

/// The HPA's cpu target (averageUtilization of a Resource metric), if any.
fn cpu_target_percent(hpa: &Value) -> Option<f64> {
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
pub fn load_millicores(min: i32, max: i32, pod_cpu_m: f64, target_percent: Option<f64>) -> f64 {
    match target_percent {
        Some(t) if pod_cpu_m > 0.0 && t > 0.0 => {
            let want = (2 * min.max(1)).min(max).max(min + 1) as f64;
            (want * pod_cpu_m * t / 100.0 * 1.25).clamp(5.0, FIXED_M)
        }
        _ => FIXED_M,
    }
}

/// The load that overloaded the node when every HPA got it.
pub(super) const FIXED_M: f64 = 160.0;

/// The local port an exec probe calls (`http://127.0.0.1:<port>/...`), or
/// the first declared container port: where a worker's agent listens.
fn probe_port(container: &Value) -> Option<i64> {
    let text = container.to_string();
    let from_probe = text.split("http://127.0.0.1:").nth(1).and_then(|rest| {
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    });
    from_probe.or_else(|| container.pointer("/ports/0/containerPort")?.as_i64())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An HPA on `image`, 2..10 pods of 5m at 70%, with a Service in front
    /// when `service`.
    fn render(image: &str, service: bool) -> Manifests {
        let svc = if service {
            "---\napiVersion: v1\nkind: Service\nmetadata: {name: edge}\nspec: {selector: {app: edge}, ports: [{port: 80, targetPort: http}]}\n"
        } else {
            ""
        };
        Manifests::parse(&format!(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: edge}}
spec:
  selector: {{matchLabels: {{app: edge}}}}
  template:
    metadata: {{labels: {{app: edge}}}}
    spec:
      containers:
        - name: edge
          image: {image}
          ports: [{{name: http, containerPort: 8080}}]
          resources: {{requests: {{cpu: 5m}}}}
          readinessProbe: {{exec: {{command: [agent, get, "http://127.0.0.1:9000/ready"]}}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: edge}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: edge}}
  minReplicas: 2
  maxReplicas: 10
  metrics: [{{type: Resource, resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 70}}}}}}]
{svc}"#
        ))
        .unwrap()
    }

    #[test]
    fn an_agent_behind_a_service_is_loaded_through_it_at_a_load_sized_from_the_hpa() {
        let specs = derive(&render("vitals/agent:dev", true), &BTreeMap::new());
        assert_eq!(specs.len(), 1);
        assert_eq!(
            (specs[0].name(), specs[0].min, specs[0].max),
            ("edge".into(), 2, 10)
        );
        let Some(Drive::Http(p)) = &specs[0].drive else {
            panic!("{:?}", specs[0].drive)
        };
        assert_eq!(p.svc, Some(("edge".into(), 80)));
        assert_eq!(p.pod_port, 8080, "the Service's named targetPort");
        assert_eq!(p.container, "edge");
        assert_eq!(p.burn_m, 4.0 * 5.0 * 0.7 * 1.25);
    }

    #[test]
    fn a_worker_nothing_calls_is_loaded_inside_its_pod_on_the_port_its_probe_calls() {
        let specs = derive(&render("vitals/agent:dev", false), &BTreeMap::new());
        let Some(Drive::Http(p)) = &specs[0].drive else {
            panic!("{:?}", specs[0].drive)
        };
        assert_eq!((p.svc.clone(), p.pod_port), (None, 9000));
    }

    #[test]
    fn another_target_needs_the_suite_specs_load_or_cannot_run() {
        let m = render("ghcr.io/acme/edge:1", true);
        let none = derive(&m, &BTreeMap::new());
        let (subject, why) = none[0].cannot_run().expect("cannot run");
        assert_eq!(subject, "HorizontalPodAutoscaler/edge");
        assert!(why.contains("no `load` command"), "{why}");
        let load = ExecLoad {
            container: "edge".into(),
            command: vec!["stress".into()],
        };
        let given = derive(&m, &BTreeMap::from([("edge".to_string(), load.clone())]));
        assert_eq!(
            given[0].drive,
            Some(Drive::Exec {
                load,
                selector: serde_json::json!({"matchLabels": {"app": "edge"}})
            })
        );
    }

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
    fn the_cpu_target_is_read_from_the_resource_metric() {
        let hpa = serde_json::json!({"spec": {"metrics": [
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 85}}},
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}
        ]}});
        assert_eq!(cpu_target_percent(&hpa), Some(80.0));
        assert_eq!(cpu_target_percent(&serde_json::json!({"spec": {}})), None);
    }
}
