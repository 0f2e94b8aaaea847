//! The changes a test overlay may make, rule by rule. Each rule reads the
//! profile's side, absorbs what it allows into the overlay's copy (so the
//! final diff no longer sees it) and counts it in [`Allowed`]; what breaks
//! a rule is a [`Problem`] naming the field.

use serde_json::{Map, Value};

use super::allowed::Allowed;
use super::{absorb, list, show, Cx, Problem};
use crate::render::diff::join;

const FIX_ENV: &str = "keep the profile's env var as it is: the overlay may only add env vars";
const FIX_REPLICAS: &str = "lower replicas in the test overlay, never raise them";
const FIX_REPLICAS_ZERO: &str = "keep at least one replica: 0 turns the workload off";
const FIX_HPA_RAISED: &str = "lower maxReplicas in the test overlay, never raise it";
const FIX_HPA_MIN: &str =
    "keep maxReplicas above minReplicas, so the HPA can still scale on the node";

const PROBES: [&str; 3] = ["livenessProbe", "readinessProbe", "startupProbe"];

pub(super) fn pod_template(
    pt: &Value,
    ot: &mut Value,
    ct: Option<&Value>,
    path: &str,
    cx: &mut Cx<'_>,
) {
    // Charts hash their rendered config into these to roll pods on change;
    // a regenerated password or an added env var changes the hash.
    if let (Some(pa), Some(oa)) = (
        pt.pointer("/metadata/annotations")
            .and_then(Value::as_object),
        ot.pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut),
    ) {
        for (k, pv) in pa.iter().filter(|(k, _)| k.starts_with("checksum/")) {
            if let Some(ov) = oa.get_mut(k) {
                if ov != pv {
                    *ov = pv.clone();
                    cx.allowed.checksums += 1;
                }
            }
        }
    }
    let spec_path = join(path, "spec");
    for field in ["initContainers", "containers"] {
        let ptr = format!("/spec/{field}");
        let (Some(pl), Some(ol)) = (
            pt.pointer(&ptr).and_then(Value::as_array),
            ot.pointer_mut(&ptr).and_then(Value::as_array_mut),
        ) else {
            continue;
        };
        let cl = ct.and_then(|t| t.pointer(&ptr)).and_then(Value::as_array);
        for (i, (pc, oc)) in pl.iter().zip(ol.iter_mut()).enumerate() {
            // A renamed or reordered container is no longer the same one:
            // the plain diff reports it whole.
            if pc.get("name") != oc.get("name") {
                continue;
            }
            let cc = cl
                .and_then(|l| l.get(i))
                .filter(|c| c.get("name") == pc.get("name"))
                .and_then(Value::as_object);
            if let (Some(pc), Some(oc)) = (pc.as_object(), oc.as_object_mut()) {
                container(pc, oc, cc, &format!("{spec_path}.{field}[{i}]"), cx);
            }
        }
    }
}

/// One container; `cc` is the same container in the capped render.
fn container(
    pc: &Map<String, Value>,
    oc: &mut Map<String, Value>,
    cc: Option<&Map<String, Value>>,
    path: &str,
    cx: &mut Cx<'_>,
) {
    let image_changed = absorb(pc, oc, "image");
    if image_changed {
        cx.allowed.images += 1;
    }
    if absorb(pc, oc, "imagePullPolicy") {
        cx.allowed.pull_policies += 1;
    }
    // Both, always: `|` does not stop at the first change.
    if absorb(pc, oc, "command") | absorb(pc, oc, "args") {
        cx.allowed.commands += 1;
    }
    if absorb(pc, oc, "resources") {
        cx.allowed.resources += 1;
    }
    env(pc, oc, cc, path, cx);
    env_from(pc, oc, path, cx);
    // An exec probe runs inside the image: a stand-in image has other
    // binaries. With the profile's image the probe is the profile's check.
    if image_changed {
        for probe in PROBES {
            if let (Some(pe), Some(oe)) = (
                pc.get(probe)
                    .and_then(|p| p.get("exec"))
                    .and_then(Value::as_object),
                oc.get_mut(probe)
                    .and_then(|p| p.get_mut("exec"))
                    .and_then(Value::as_object_mut),
            ) {
                if absorb(pe, oe, "command") {
                    cx.allowed.probe_commands += 1;
                }
            }
        }
    }
}

fn env(
    pc: &Map<String, Value>,
    oc: &mut Map<String, Value>,
    cc: Option<&Map<String, Value>>,
    path: &str,
    cx: &mut Cx<'_>,
) {
    let pe = list(pc.get("env"));
    let oe = list(oc.get("env"));
    let ce = list(cc.and_then(|c| c.get("env")));
    for (i, e) in pe.iter().enumerate() {
        let name = e.get("name").and_then(Value::as_str).unwrap_or("?");
        let Some(j) = oe.iter().position(|x| x.get("name") == e.get("name")) else {
            cx.problems.push(Problem::new(
                format!("{path}.env[{i}]"),
                format!("env var `{name}` removed by the overlay"),
                FIX_ENV,
            ));
            continue;
        };
        if oe[j] == *e {
            continue;
        }
        let change = format!("{} -> {}", show_env(e), show_env(&oe[j]));
        // A chart that sizes, say, a connection pool from the HPA ceiling
        // renders the same value from the caps alone: the chart's own
        // arithmetic, not an overlay edit.
        if ce.iter().any(|x| *x == oe[j]) {
            cx.allowed
                .derived_env
                .push(format!("{} {name} {change}", cx.object));
            continue;
        }
        cx.problems.push(Problem::new(
            format!("{path}.env[{j}]"),
            format!(
                "env var `{name}`: profile {}, overlay {}",
                show_env(e),
                show_env(&oe[j])
            ),
            FIX_ENV,
        ));
    }
    cx.allowed.env_added += oe
        .iter()
        .filter(|x| !pe.iter().any(|e| e.get("name") == x.get("name")))
        .count();
    absorb(pc, oc, "env");
}

fn env_from(pc: &Map<String, Value>, oc: &mut Map<String, Value>, path: &str, cx: &mut Cx<'_>) {
    let pe = list(pc.get("envFrom"));
    let oe = list(oc.get("envFrom"));
    for (i, e) in pe.iter().enumerate().filter(|(_, e)| !oe.contains(e)) {
        cx.problems.push(Problem::new(
            format!("{path}.envFrom[{i}]"),
            format!("removed by the overlay (profile: {})", show(e)),
            FIX_ENV,
        ));
    }
    cx.allowed.env_added += oe.iter().filter(|x| !pe.contains(x)).count();
    absorb(pc, oc, "envFrom");
}

pub(super) fn replicas(ps: &Map<String, Value>, os: &mut Map<String, Value>, cx: &mut Cx<'_>) {
    let count = |v: Option<&Value>| match v {
        None => Some(1),
        Some(v) => v.as_i64(),
    };
    // Anything but an integer is left to the plain diff.
    let (Some(p), Some(o)) = (count(ps.get("replicas")), count(os.get("replicas"))) else {
        return;
    };
    if o > p {
        cx.problems.push(Problem::new(
            "spec.replicas",
            format!("raised from {p} to {o} by the overlay"),
            FIX_REPLICAS,
        ));
    } else if o == 0 && p != 0 {
        cx.problems.push(Problem::new(
            "spec.replicas",
            format!("lowered from {p} to 0: the overlay turns the workload off"),
            FIX_REPLICAS_ZERO,
        ));
    } else if o < p {
        cx.allowed
            .replicas
            .push(format!("{} {p} -> {o}", cx.object));
    }
    absorb(ps, os, "replicas");
}

pub(super) fn claim_templates(
    ps: &Map<String, Value>,
    os: &mut Map<String, Value>,
    allowed: &mut Allowed,
) {
    let (Some(pl), Some(ol)) = (
        ps.get("volumeClaimTemplates").and_then(Value::as_array),
        os.get_mut("volumeClaimTemplates")
            .and_then(Value::as_array_mut),
    ) else {
        return;
    };
    for (pc, oc) in pl.iter().zip(ol.iter_mut()) {
        if let (Some(pspec), Some(ospec)) = (
            pc.get("spec").and_then(Value::as_object),
            oc.get_mut("spec").and_then(Value::as_object_mut),
        ) {
            // The class is the cluster's (kind has `standard`), not a
            // feature of the chart; the size and access modes stay.
            if absorb(pspec, ospec, "storageClassName") {
                allowed.storage_classes += 1;
            }
        }
    }
}

pub(super) fn hpa(ps: &Map<String, Value>, os: &mut Map<String, Value>, cx: &mut Cx<'_>) {
    // The overlay shortens the scale-down window so the trial sees the way
    // back down within its deadline.
    if absorb(ps, os, "behavior") {
        cx.allowed.hpa_behavior += 1;
    }
    let (Some(p), Some(o)) = (
        ps.get("maxReplicas").and_then(Value::as_i64),
        os.get("maxReplicas").and_then(Value::as_i64),
    ) else {
        return;
    };
    if p == o {
        return;
    }
    let min = os.get("minReplicas").and_then(Value::as_i64).unwrap_or(1);
    if o > p {
        cx.problems.push(Problem::new(
            "spec.maxReplicas",
            format!("raised from {p} to {o} by the overlay"),
            FIX_HPA_RAISED,
        ));
    } else if o <= min {
        cx.problems.push(Problem::new(
            "spec.maxReplicas",
            format!("lowered from {p} to {o}, not above minReplicas {min}: the HPA cannot scale"),
            FIX_HPA_MIN,
        ));
    } else {
        cx.allowed.hpa_max.push(format!("{} {p} -> {o}", cx.object));
    }
    absorb(ps, os, "maxReplicas");
}

/// Charts generate passwords per render: the values differ, the keys stay.
pub(super) fn secret_values(p: &Value, o: &mut Value, allowed: &mut Allowed) {
    for field in ["data", "stringData"] {
        let (Some(pm), Some(om)) = (
            p.get(field).and_then(Value::as_object),
            o.get_mut(field).and_then(Value::as_object_mut),
        ) else {
            continue;
        };
        for (k, pv) in pm {
            if let Some(ov) = om.get_mut(k) {
                if ov != pv {
                    *ov = pv.clone();
                    allowed.secret_values += 1;
                }
            }
        }
    }
}

/// An env var without its name; just the value when that is all it has.
fn show_env(e: &Value) -> String {
    let mut rest = e.as_object().cloned().unwrap_or_default();
    rest.remove("name");
    match (rest.len(), rest.get("value")) {
        (1, Some(v)) => show(v),
        _ => show(&Value::Object(rest)),
    }
}
