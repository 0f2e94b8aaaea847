//! The tier's trials of one cell, derived from its render: stage 0
//! (install, spread, restore) beside each other, stage 1 judging the
//! cell's disruption plan ([`super::plan`]).

use std::sync::Arc;
use std::time::Duration;

use vitals_checks::runtime::availability::drain::{self, DrainRecord};
use vitals_checks::runtime::availability::{
    self as av, graceful, recovery, restore, rollout, spread, traffic, HaWorkload,
};
use vitals_checks::runtime::cronjobs;
use vitals_checks::{Manifests, Verdict};
use vitals_helm::Helm;

use super::gate;
use super::plan::{plan_for, Plan};
use super::upgrade::Release;
use crate::cluster::{self, rt, ClusterEnv, Installed};
use crate::render::{self, Cell, Check};

const SPREAD_TIMEOUT: Duration = Duration::from_secs(120);

/// One availability judge, given the cluster, the installed cell, the
/// derived workloads and the release as installed (what a rollout upgrades).
type Judge =
    Box<dyn Fn(&Arc<ClusterEnv>, &Installed, &[HaWorkload], &Release<'_>) -> Verdict + Send + Sync>;

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
            // Not while another cell's plan has nodes cordoned (waited for, not
            // held: the install may wait for room inside, see the gate).
            gate::after_disruption_blocking(rt());
            let inst = cluster::installed(&env, helm, cell, m);
            let mut v = f(&env, &inst, ws, &Release { helm, cell });
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
        Box::new(|_, inst, _, _| inst.install.clone()),
    )];
    // Stage 0: nothing disturbed.
    for (i, w) in ws.iter().enumerate() {
        if w.replicas < 2 && w.spread.is_empty() {
            continue;
        }
        out.push(with(
            format!("availability/spread/{}", w.slug()),
            Box::new(move |env, inst, ws, _| {
                // Not while another cell drains: a cordoned node is not a
                // domain the scheduler can use, and the verdict would count
                // it out.
                rt().block_on(gate::outside_disruption(spread::check(
                    &env.client,
                    &inst.view,
                    &ws[i],
                    SPREAD_TIMEOUT,
                )))
            }),
        ));
    }
    for c in cronjobs::derive(&manifests)
        .into_iter()
        .filter(|c| c.backup.is_some())
    {
        out.push(with(
            format!("availability/restore/{}", c.name),
            Box::new(move |env, inst, _, _| {
                // Its helper pods and the backup Job must schedule.
                rt().block_on(gate::outside_disruption(restore::check(
                    &env.client,
                    &inst.view,
                    &c,
                )))
            }),
        ));
    }
    // Stage 1: the disruption plan.
    let mut late = Vec::new();
    late.push(with(
        "availability/drain/nodes".into(),
        Box::new(|env, inst, ws, rel| {
            let plan = plan_for(env, inst, ws, rel);
            drains_verdict(&plan)
        }),
    ));
    for (i, w) in ws.iter().enumerate().filter(|(_, w)| w.replicas >= 2) {
        late.push(with(
            format!("availability/drain/{}", w.slug()),
            Box::new(move |env, inst, ws, rel| {
                drain_verdict(&plan_for(env, inst, ws, rel), &ws[i])
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
            Box::new(move |env, inst, ws, rel| {
                let plan = plan_for(env, inst, ws, rel);
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
            Box::new(move |env, inst, ws, rel| {
                let plan = plan_for(env, inst, ws, rel);
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
            Box::new(move |env, inst, ws, rel| {
                graceful_verdict(&plan_for(env, inst, ws, rel), &ws[i])
            }),
        ));
    }
    for (i, w) in ws.iter().enumerate() {
        late.push(with(
            format!("availability/recovery/{}", w.slug()),
            Box::new(move |env, inst, ws, rel| {
                recovery_verdict(&plan_for(env, inst, ws, rel), &ws[i])
            }),
        ));
    }
    out.extend(late.into_iter().map(|c| c.at_stage(1)));
    out
}

/// A replicated workload's PDB through the drains.
fn drain_verdict(plan: &Plan, w: &HaWorkload) -> Verdict {
    if let Some(why) = plan.no_disruption.as_ref().or(plan.no_drain.as_ref()) {
        return Verdict::skip(w.id(), why.clone());
    }
    let samples = plan.during_drains.get(&w.name).cloned().unwrap_or_default();
    match &w.pdb {
        Some(pdb) => drain::judge_pdb(pdb, w.replicas, &samples, &plan.drains),
        None => no_pdb(w, &samples, &plan.drains),
    }
}

/// One HA pod stopped under a stream.
fn graceful_verdict(plan: &Plan, w: &HaWorkload) -> Verdict {
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
}

/// One pod deleted and timed back to Ready.
fn recovery_verdict(plan: &Plan, w: &HaWorkload) -> Verdict {
    if let Some(why) = &plan.no_disruption {
        return Verdict::skip(w.id(), why.clone());
    }
    match plan.recovery.get(&w.name) {
        Some(r) => recovery::judge(w, r, recovery::BOUND),
        None => Verdict::fail(w.id(), "a pod deleted and replaced", "none was"),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn web() -> HaWorkload {
        HaWorkload {
            kind: "Deployment".into(),
            name: "web".into(),
            selector: serde_json::Value::Null,
            replicas: 2,
            pdb: None,
            rolling: None,
            spread: vec![],
            readiness: true,
            grace_seconds: 30,
            pre_stop: true,
            claims: false,
            fronts: vec![],
        }
    }

    /// On an `existing` cluster without E2E_DISRUPT=1 every disruptive
    /// trial is a skip with the reason (libtest: ignored), never a pass
    /// and never a failure for what did not run.
    #[test]
    fn without_leave_to_disrupt_every_disruptive_trial_is_skipped_with_why() {
        let why = "the `existing` provider's nodes are not the harness's to cordon, drain or delete pods on (set E2E_DISRUPT=1 to allow it)";
        let plan = Plan {
            no_disruption: Some(why.into()),
            ..Plan::default()
        };
        let w = web();
        for v in [
            drains_verdict(&plan),
            drain_verdict(&plan, &w),
            graceful_verdict(&plan, &w),
            recovery_verdict(&plan, &w),
        ] {
            assert_eq!(v.outcome, vitals_checks::Outcome::Skip(why.into()), "{v}");
        }
    }

    #[test]
    fn a_plan_that_should_have_run_but_recorded_nothing_fails_rather_than_passes() {
        let plan = Plan::default();
        let w = web();
        assert!(graceful_verdict(&plan, &w).failed());
        assert!(recovery_verdict(&plan, &w).failed());
        let v = drain_verdict(&plan, &w);
        assert!(
            v.failed() && v.to_string().contains("2 replicas and no PDB"),
            "{v}"
        );
    }
}
