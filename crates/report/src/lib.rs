//! The report a person reads after a run: every `results.jsonl` and
//! `cells.jsonl` of one or more output directories (CI cells run on separate
//! machines) merged into one static HTML page that works offline, plus a
//! JUnit XML file for CI systems that draw their own.

pub mod escape;
pub mod grid;
pub mod html;
pub mod junit;
pub mod legacy;
pub mod load;
pub mod order;
pub mod svg;

use std::path::PathBuf;

pub use html::{render, write_report};
pub use junit::write_junit;
pub use load::{Inputs, Malformed};

/// What stops a report from being written. Malformed lines are not errors:
/// they are counted in [`Inputs::malformed`] and shown on the page.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: no such directory (expected the runner's output directory, e.g. target/e2e)", .0.display())]
    MissingDir(PathBuf),
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: cannot serialize JUnit XML: {source}", path.display())]
    Junit {
        path: PathBuf,
        source: quick_junit::SerializeError,
    },
}

/// Creates `path`'s parent and writes `bytes`, naming the file on error.
pub(crate) fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<(), Error> {
    let err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    std::fs::write(path, bytes).map_err(err)
}
