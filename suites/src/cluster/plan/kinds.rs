//! The wiring of each row of `checks::runtime::ALL`: call the kind's
//! `derive` (pure, in crates/checks) and wrap each spec's judge so it runs
//! against the installed cell. Nothing here decides which objects get a
//! trial or what a trial is named; that is the kind's own module.

use std::sync::OnceLock;
use std::time::Duration;

use vitals_checks::check::CheckId;
use vitals_checks::runtime::{
    cronjobs, dns, helm_test, hpa, install, netpol, persistence, probes, pvcs, rbac, ready,
    restarts, Kind,
};
use vitals_checks::Manifests;

use super::{rt, Plan};
use crate::cell::{Cell, Check};
use crate::cluster::env::READY_TIMEOUT;

/// Adds one kind's trials to the plan.
pub(super) type Wire = fn(&mut Plan, &Kind, &Manifests, &Cell);

/// The wiring of a row of `runtime::ALL`, by its kind's name.
pub(super) fn wiring(kind: &str) -> Option<Wire> {
    Some(match kind {
        "install" => wire_install,
        "ready" => wire_ready,
        "pvc" => wire_pvc,
        "dns" => wire_dns,
        "probe" => wire_probe,
        "rbac" => wire_rbac,
        "netpol" => wire_netpol,
        "hpa" => wire_hpa,
        "cronjob" => wire_cronjob,
        "data-kept" => |p, _, m, cell| super::upgrade::data_kept(p, m, cell),
        "persistence" => wire_persistence,
        "restarts" => wire_restarts,
        "helm-test" => wire_helm_test,
        _ => return None,
    })
}

/// `cluster/<kind>/<object>` (`cluster/<kind>` for a per-cell kind).
fn trial(k: &Kind, object: String) -> String {
    CheckId::new("cluster", k.name, object).to_string()
}

/// The common wiring: one trial per spec the kind derives, at the kind's
/// stage, named by `$name` and judged by the kind's `judge` against the
/// installed cell.
macro_rules! one_trial_per_spec {
    ($(#[$doc:meta])* $wire:ident, $kind:ident, |$s:ident| $name:expr) => {
        $(#[$doc])*
        fn $wire(p: &mut Plan, k: &Kind, m: &Manifests, _: &Cell) {
            for $s in $kind::derive(m) {
                let name = trial(k, $name);
                p.add_at(
                    k.stage.index(),
                    name,
                    Box::new(move |env, inst, _| rt().block_on($kind::judge(&$s, &inst.cx(env)))),
                );
            }
        }
    };
}

one_trial_per_spec!(wire_dns, dns, |s| s.name());
one_trial_per_spec!(wire_probe, probes, |s| s.name());
one_trial_per_spec!(wire_rbac, rbac, |s| s.name());
one_trial_per_spec!(wire_cronjob, cronjobs, |s| s.name.clone());
one_trial_per_spec!(
    /// Whole run: restarts are judged over every other trial, so last.
    wire_restarts,
    restarts,
    |s| s.name()
);

fn wire_install(p: &mut Plan, k: &Kind, m: &Manifests, _: &Cell) {
    for s in install::derive(m) {
        p.add_at(
            k.stage.index(),
            trial(k, s.name()),
            Box::new(|_, inst, _| inst.install.clone()),
        );
    }
}

fn wire_ready(p: &mut Plan, k: &Kind, m: &Manifests, _: &Cell) {
    for s in ready::derive(m) {
        let slug = s.name();
        p.add_at(
            k.stage.index(),
            trial(k, slug.clone()),
            Box::new(move |env, inst, _| {
                // The install phase already waited for the workloads.
                if let Some(v) = inst.ready.get(&slug) {
                    return v.clone();
                }
                rt().block_on(ready::check(&s, &inst.cx(env), Duration::from_secs(180)))
            }),
        );
    }
}

fn wire_pvc(p: &mut Plan, k: &Kind, m: &Manifests, _: &Cell) {
    for claim in pvcs::derive(m) {
        p.add_at(
            claim.stage.index(),
            trial(k, claim.name.clone()),
            Box::new(move |env, inst, _| rt().block_on(pvcs::judge(&claim, &inst.cx(env)))),
        );
    }
}

fn wire_netpol(p: &mut Plan, k: &Kind, m: &Manifests, _: &Cell) {
    for s in netpol::derive(m) {
        let name = trial(k, s.name());
        if let Some((subject, why)) = s.cannot_run() {
            p.push(Check::cannot_run(name, subject, why));
            continue;
        }
        p.add_at(
            k.stage.index(),
            name,
            Box::new(move |env, inst, _| rt().block_on(netpol::judge(&s, &inst.cx(env)))),
        );
    }
}

fn wire_hpa(p: &mut Plan, k: &Kind, m: &Manifests, cell: &Cell) {
    let loads = cell
        .suite
        .load
        .iter()
        .map(|(name, l)| {
            let load = hpa::ExecLoad {
                container: l.container.clone(),
                command: l.command.clone(),
            };
            (name.clone(), load)
        })
        .collect();
    for s in hpa::derive(m, &loads) {
        let name = trial(k, s.name());
        if let Some((subject, why)) = s.cannot_run() {
            p.push(Check::cannot_run(name, subject, why));
            continue;
        }
        p.add_at(
            k.stage.index(),
            name,
            Box::new(move |env, inst, _| rt().block_on(hpa::judge(&s, &inst.cx(env), hpa_slots()))),
        );
    }
}

/// HPA trials that load the cluster at once (`E2E_HPA_PARALLEL`, default 4).
fn hpa_slots() -> &'static tokio::sync::Semaphore {
    static S: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    S.get_or_init(|| tokio::sync::Semaphore::new(crate::config::get().hpa_parallel))
}

/// Disruptive: deleting a data pod would break the trials judged beside it.
fn wire_persistence(p: &mut Plan, k: &Kind, m: &Manifests, _: &Cell) {
    for st in persistence::derive(m) {
        p.add_at(
            k.stage.index(),
            trial(k, st.statefulset.clone()),
            Box::new(move |env, inst, _| {
                rt().block_on(persistence::judge(&st, &inst.cx(env), READY_TIMEOUT))
            }),
        );
    }
}

/// `helm test`'s own deadline for the hook pods (helm's default is 5m too).
const HELM_TEST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(300);

fn wire_helm_test(p: &mut Plan, k: &Kind, m: &Manifests, _: &Cell) {
    for s in helm_test::derive(m) {
        p.add_at(
            k.stage.index(),
            trial(k, s.name()),
            Box::new(|env, inst, _| {
                helm_test::judge(crate::env::helm().and_then(|helm| {
                    helm.test(
                        &inst.release,
                        &inst.namespace,
                        Some(&env.handle.kubeconfig),
                        HELM_TEST_DEADLINE,
                    )
                }))
            }),
        );
    }
}
