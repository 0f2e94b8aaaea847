use std::path::PathBuf;

/// Everything that can go wrong while driving helm, named for the step that
/// failed. Messages are lower-case and name the file or command involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("helm not found (tried {tried})\n(hint: run `make setup`, or point E2E_HELM at a helm 3 or 4 binary)")]
    NotFound { tried: String },

    #[error("could not run `{argv}`")]
    Spawn {
        argv: String,
        #[source]
        source: std::io::Error,
    },

    #[error("`{argv}` exited with {code}:\n{stderr}")]
    Exited {
        argv: String,
        code: i32,
        stderr: String,
    },

    #[error("unsupported helm version `{found}` (supported: 3.x, 4.x)")]
    UnsupportedVersion { found: String },

    #[error("chart not found: `{}` has no Chart.yaml", path.display())]
    ChartMissing { path: PathBuf },

    #[error("`{}` is not a valid Chart.yaml: {message}", path.display())]
    ChartInvalid { path: PathBuf, message: String },

    #[error("values file `{}` cannot be read", path.display())]
    ValuesUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("i/o on `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
