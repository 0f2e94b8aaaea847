//! What stops a report from being written, and the one write that names
//! its file. A leaf module: the page, the JUnit writer and the loader use
//! it, and the crate root only re-exports it.

use std::path::PathBuf;

/// What stops a report from being written. Malformed lines are not errors:
/// they are counted in [`crate::Inputs::malformed`] and shown on the page.
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
        source: vitals_checks::junit::SerializeError,
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
