//! A cell's install as ordered phases, one file each, like kind's create
//! actions: `prepare` (namespace, Secrets, client pod), `previous` (an
//! upgrade's starting release), `install` (queue for room, helm, ready),
//! `collect` (the bundle on failure), `teardown` (delete or scale down).

pub mod collect;
pub mod install;
pub mod prepare;
pub mod previous;
pub mod teardown;
pub mod timer;
