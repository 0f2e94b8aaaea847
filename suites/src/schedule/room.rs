//! Room for a cell's install when every trial is its own process (nextest).
//!
//! In one process the capacity pool ([`crate::capacity`]) knows when a
//! cell's trials are all done and returns its room. Under nextest no
//! process knows that: it runs one trial and exits, so cells would pile up
//! on the nodes until a later install's pods sat Pending on `Insufficient
//! cpu`. Instead, an installing process takes down other cells that no
//! trial is using at that moment (their stage lock, see
//! [`crate::stages::try_exclusive`], is free), oldest install first, until
//! its cell fits. Only when none is idle does it wait for an installed cell
//! to fall idle. A cell taken down with trials still to come is installed
//! again by the next of them: correct, only slower, and rare because
//! nextest runs the trials of one cell together (they sort by name).
//!
//! No two installers can wait on each other: a process waits only for a
//! cell that has a stamp (installed), and an installer removes its own
//! cell's stamp before it looks for room.

use crate::cell::state::CellState;
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use kube::Client;

use super::RoomError;
use crate::capacity::{self, Need};

/// Makes room for `need` on the nodes for the cell in namespace `own`;
/// returns the cells it took down, in order.
///
/// `take_down(ns, failed)` takes a cell off the nodes (the teardown phase:
/// delete a passed cell, scale a failed one to zero); it is passed in so
/// the scheduler does not depend on the cluster tier that uses it.
pub async fn make<F, Fut>(
    client: &Client,
    own: &str,
    need: Need,
    deadline: Duration,
    take_down: F,
) -> Result<Vec<String>, RoomError>
where
    F: Fn(String, bool) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let end = Instant::now() + deadline;
    let mut gone = Vec::new();
    loop {
        let used = capacity::used_by_namespace(client).await?;
        let cells = capacity::cell_namespaces(client).await?;
        let free = free_for(
            capacity::allocatable(client).await?,
            own,
            &used,
            &cells,
            recorded_need,
        );
        if need.fits(&free) {
            return Ok(gone);
        }
        let others = candidates(own, &cells, &used, installed_at);
        if others.is_empty() {
            return Err(RoomError::NothingToTakeDown { need, free });
        }
        // An idle cell first: nothing waits.
        let mut taken = None;
        for ns in &others {
            if let Some(lock) = crate::stages::try_exclusive(ns) {
                taken = Some((ns.clone(), lock));
                break;
            }
        }
        // Else the oldest installed one, once its running trials end.
        let (ns, lock) = match taken {
            Some(t) => t,
            None => {
                let Some(ns) = others.iter().find(|ns| installed_at(ns).is_some()) else {
                    return Err(RoomError::OthersInstalling {
                        need,
                        free,
                        cells: others,
                    });
                };
                let left = end.saturating_duration_since(Instant::now());
                let lock =
                    crate::stages::exclusive(ns, left).map_err(|source| RoomError::WaitingFor {
                        need,
                        free,
                        cell: ns.clone(),
                        source,
                    })?;
                (ns.clone(), lock)
            }
        };
        let failed = CellState::of(&ns).failed();
        take_down(ns.clone(), failed).await;
        drop(lock);
        gone.push(if failed {
            format!("{ns} (failed: scaled to zero, kept)")
        } else {
            ns
        });
    }
}

/// What is left for the cell in `own`: each other cell holds the larger of
/// what its pods request now and what it needs at its peak (recorded at
/// its install: HPA targets at max, CronJob and test pods), as the pool of
/// one process reserves it; anything else holds what its pods request.
fn free_for(
    allocatable: Need,
    own: &str,
    used: &HashMap<String, Need>,
    cells: &std::collections::HashSet<String>,
    recorded: impl Fn(&str) -> Option<Need>,
) -> Need {
    let mut free = allocatable;
    for (ns, u) in used.iter().filter(|(ns, _)| ns.as_str() != own) {
        let held = match cells.contains(ns) {
            true => recorded(ns).map_or(*u, |r| r.max(*u)),
            false => *u,
        };
        free.cpu_m -= held.cpu_m;
        free.mem_mi -= held.mem_mi;
    }
    free
}

/// Records what the cell in `ns` needs at its peak, for other processes.
pub fn record_need(ns: &str, need: Need) {
    CellState::of(ns).set_need(&format!("{} {}", need.cpu_m, need.mem_mi));
}

fn recorded_need(ns: &str) -> Option<Need> {
    let text = CellState::of(ns).need()?;
    let mut it = text.split_whitespace().map(str::parse::<f64>);
    Some(Need {
        cpu_m: it.next()?.ok()?,
        mem_mi: it.next()?.ok()?,
    })
}

/// When the cell in `ns` was installed (its stamp's time), if it is.
fn installed_at(ns: &str) -> Option<SystemTime> {
    CellState::of(ns).installed_at()
}

/// The other cells whose pods request anything, oldest install first; a
/// cell with no stamp (a run killed while installing, a failed cell's
/// shell) goes before any installed one.
fn candidates(
    own: &str,
    cells: &std::collections::HashSet<String>,
    used: &HashMap<String, Need>,
    installed_at: impl Fn(&str) -> Option<SystemTime>,
) -> Vec<String> {
    let mut v: Vec<(Option<SystemTime>, String)> = cells
        .iter()
        .filter(|ns| ns.as_str() != own)
        .filter(|ns| {
            used.get(ns.as_str())
                .is_some_and(|n| n.cpu_m > 0.0 || n.mem_mi > 0.0)
        })
        .map(|ns| (installed_at(ns), ns.clone()))
        .collect();
    v.sort();
    v.into_iter().map(|(_, ns)| ns).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn need(cpu_m: f64) -> Need {
        Need {
            cpu_m,
            mem_mi: 64.0,
        }
    }

    #[test]
    fn other_cells_hold_their_recorded_peak_not_only_what_runs_now() {
        let cells: HashSet<String> = ["idle-now", "unrecorded", "own"].map(String::from).into();
        let used: HashMap<String, Need> = [
            ("idle-now", need(100.0)),
            ("unrecorded", need(150.0)),
            ("own", need(400.0)),
            ("kube-system", need(250.0)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let recorded = |ns: &str| (ns == "idle-now").then(|| need(300.0));
        let free = free_for(need(1000.0), "own", &used, &cells, recorded);
        assert_eq!(
            free.cpu_m,
            1000.0 - 300.0 - 150.0 - 250.0,
            "the idle cell holds its 300m peak; the own namespace is replaced, so it holds nothing"
        );
    }

    #[test]
    fn cells_are_taken_down_oldest_first_never_the_own_one_nor_one_without_pods() {
        let cells: HashSet<String> = ["a", "b", "c", "own", "empty"].map(String::from).into();
        let used: HashMap<String, Need> = [
            ("a", need(100.0)),
            ("b", need(200.0)),
            ("c", need(50.0)),
            ("own", need(300.0)),
            ("empty", Need::default()),
            ("kube-system", need(500.0)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let t = |s: u64| Some(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        let stamps = |ns: &str| match ns {
            "a" => t(30),
            "b" => t(10),
            _ => None,
        };
        assert_eq!(
            candidates("own", &cells, &used, stamps),
            ["c", "b", "a"],
            "the stamp-less leftover first, then by install time"
        );
    }
}
