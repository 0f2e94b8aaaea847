//! Where and when cells run on the one cluster: `need` (what a cell and the
//! nodes request), `capacity` (the in-process pool, ordered by work),
//! `room` (one process per trial: take idle cells down), `stages` (the
//! order of a cell's trials, and their exclusion across processes).

pub mod capacity;
pub mod need;
pub mod room;
pub mod stages;
