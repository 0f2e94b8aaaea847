//! A typed driver over the real `helm` CLI.
//!
//! vitals never re-implements helm: rendering, linting and installing go
//! through the binary the user would run, so a chart that passes here passes
//! for them. This crate only makes the calls typed (values files, releases,
//! lint findings) and the failures explicit (`Error::Exited` carries argv,
//! exit code and stderr). Both helm 3 and helm 4 are supported.

mod chart;
mod cli;
mod error;
mod lint;

pub use chart::{Chart, ChartMeta, Dependency};
pub use cli::{Helm, HelmVersion, InstallOpts, TemplateOpts, TestRun};
pub use error::{Error, Result};
pub use lint::{LintFinding, LintReport, Severity};
