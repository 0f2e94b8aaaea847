//! The report a person reads after a run: every `results.jsonl` and
//! `cells.jsonl` of one or more output directories (CI cells run on separate
//! machines) merged into one static HTML page that works offline, plus a
//! JUnit XML file for CI systems that draw their own.

pub mod error;
pub mod escape;
pub mod grid;
pub mod html;
pub mod junit;
pub mod legacy;
pub mod load;
pub mod order;
pub mod svg;
pub mod traffic;

pub use error::Error;
pub use html::{render, write_report};
pub use junit::write_junit;
pub use load::{Inputs, Malformed};
