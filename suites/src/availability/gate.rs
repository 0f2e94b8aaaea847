//! One disruption at a time on the shared cluster, and nothing else of
//! the tier while it runs: a cell's plan cordons nodes every cell schedules
//! onto and deletes pods whose only possible node may be cordoned, so
//!
//! - a plan runs alone (another cell's cordon would take a node out of the
//!   list, and a pod deleted while its only node is cordoned stays Pending:
//!   health-platform's six recoveries failed on it);
//! - stage-0 judging (spread, restore) waits while a plan runs, and a plan
//!   waits for the judges in flight; an install does not start while a
//!   plan runs (medplum's and open-health-exchange's installs failed in
//!   their hooks while another cell had a worker cordoned), see
//!   [`after_disruption_blocking`] for what that does not cover yet.
//!
//! A reader-writer gate: plans write, the rest read. A writer that waits
//! holds new readers back (tokio's lock is fair), so a plan is not starved
//! by a stream of judges. Whoever holds the read side must not wait for
//! room on the nodes while holding it: room is returned by cells whose
//! plans need the write side.

use std::future::Future;
use std::sync::OnceLock;

use tokio::sync::RwLock;

fn gate() -> &'static RwLock<()> {
    static G: OnceLock<RwLock<()>> = OnceLock::new();
    G.get_or_init(Default::default)
}

/// Runs `f` as the only disruption, once no install or judge is in flight.
pub async fn disrupting<T>(f: impl Future<Output = T>) -> T {
    let _alone = gate().write().await;
    f.await
}

/// Runs `f` while no disruption plan runs (waiting for one that does).
pub async fn outside_disruption<T>(f: impl Future<Output = T>) -> T {
    let _no_plan = gate().read().await;
    f.await
}

/// Holds off any disruption plan until the guard drops, waiting first for
/// one that runs: the install phase holds it from after its room is
/// granted through its helm install and readiness wait, so a drain never
/// cordons the nodes under an install in flight.
pub async fn hold_off_disruption() -> tokio::sync::RwLockReadGuard<'static, ()> {
    gate().read().await
}

/// Waits for a plan that runs (or waits to run) to end, holding nothing
/// after: for the harness's synchronous install path, which may wait for
/// room on the nodes inside, room that only cells whose plans need the
/// write side return. Holding the read side through that wait would
/// deadlock the two until the room wait timed out. An install that is
/// already past its room wait when a plan starts is held back by
/// [`hold_off_disruption`] in the install phase instead.
pub fn after_disruption_blocking(rt: &tokio::runtime::Runtime) {
    drop(rt.block_on(gate().read()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_install_waits_for_a_running_plan_and_a_plan_for_an_install_in_flight() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let note = |l: &Arc<Mutex<Vec<&'static str>>>, what| l.lock().unwrap().push(what);
        // An install in flight: the plan that asks meanwhile waits for it.
        let (l1, l2) = (log.clone(), log.clone());
        let install = tokio::spawn(outside_disruption(async move {
            note(&l1, "install starts");
            tokio::time::sleep(Duration::from_millis(150)).await;
            note(&l1, "install ends");
        }));
        tokio::time::sleep(Duration::from_millis(20)).await;
        let plan = tokio::spawn(disrupting(async move {
            note(&l2, "plan starts");
            tokio::time::sleep(Duration::from_millis(150)).await;
            note(&l2, "plan ends");
        }));
        tokio::time::sleep(Duration::from_millis(20)).await;
        // An install asked for while the plan waits or runs goes after it.
        let l3 = log.clone();
        let later = tokio::spawn(outside_disruption(async move {
            note(&l3, "second install starts");
        }));
        for t in [install, plan, later] {
            t.await.unwrap();
        }
        // The install path waits for the plan, then holds nothing.
        let l4 = log.clone();
        let plan = tokio::spawn(disrupting(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            note(&l4, "third plan ends");
        }));
        tokio::time::sleep(Duration::from_millis(20)).await;
        let l5 = log.clone();
        tokio::task::spawn_blocking(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            after_disruption_blocking(&rt);
            note(&l5, "third install starts");
        })
        .await
        .unwrap();
        plan.await.unwrap();
        assert_eq!(
            *log.lock().unwrap(),
            [
                "install starts",
                "install ends",
                "plan starts",
                "plan ends",
                "second install starts",
                "third plan ends",
                "third install starts"
            ]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn judges_outside_a_plan_run_side_by_side() {
        let both = async {
            tokio::join!(
                outside_disruption(tokio::time::sleep(Duration::from_millis(100))),
                outside_disruption(tokio::time::sleep(Duration::from_millis(100)))
            )
        };
        tokio::time::timeout(Duration::from_millis(180), both)
            .await
            .expect("two readers ran one after the other");
    }
}
