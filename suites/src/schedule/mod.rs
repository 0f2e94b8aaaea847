//! Where and when cells run on the one cluster: `need` (what a cell and the
//! nodes request), `capacity` (the in-process pool, ordered by work),
//! `room` (one process per trial: take idle cells down), `stages` (the
//! order of a cell's trials, and their exclusion across processes).

pub mod capacity;
pub mod need;
pub mod room;
pub mod stages;

use need::Need;

/// Why a cell got no room on the nodes: the cluster could not be read, or
/// the room did not come in time (and what held it).
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    #[error(transparent)]
    Listing(#[from] need::ListError),
    /// The in-process pool had no room by the deadline.
    #[error("{cell} needs {need}; only {free} free after {}s (held: {})", waited.as_secs(), held.join(", "))]
    PoolFull {
        cell: String,
        need: Need,
        free: Need,
        waited: std::time::Duration,
        held: Vec<String>,
    },
    /// One process per trial: nothing else of this runner can make room.
    #[error("the cell needs {need}, {free} is free, and no other cell of this runner has pods to take down")]
    NothingToTakeDown { need: Need, free: Need },
    /// The cells holding the room are installing themselves: waiting on
    /// them could deadlock two installers.
    #[error("the cell needs {need}, {free} is free, and the cells holding the rest are installing: {}", cells.join(", "))]
    OthersInstalling {
        need: Need,
        free: Need,
        cells: Vec<String>,
    },
    #[error("the cell needs {need}, {free} is free: waiting for {cell}: {source}")]
    WaitingFor {
        need: Need,
        free: Need,
        cell: String,
        source: stages::StageError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_for_a_cell_says_why_its_lock_did_not_come() {
        let need = Need {
            cpu_m: 600.0,
            mem_mi: 512.0,
        };
        let e = RoomError::WaitingFor {
            need,
            free: Need::default(),
            cell: "medplum-prod".into(),
            source: stages::StageError::HeldElsewhere {
                exclusive_holder: false,
                waited: std::time::Duration::from_secs(5),
                path: "cells/medplum-prod.stages.lock".into(),
            },
        };
        assert_eq!(
            e.to_string(),
            format!(
                "the cell needs {need}, {} is free: waiting for medplum-prod: other trials of the \
                 cell in other processes still running after 5s (lock cells/medplum-prod.stages.lock)",
                Need::default()
            )
        );
    }
}
