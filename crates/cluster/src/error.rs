use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Version(#[from] crate::kubernetes::UnsupportedVersion),

    #[error("E2E_CLUSTER: unknown provider `{0}` (known: kind, existing)")]
    UnknownProvider(String),

    #[error("the existing provider needs a kubeconfig: set E2E_KUBECONFIG (or KUBECONFIG) to a readable file")]
    NoKubeconfig,

    #[error("kubeconfig `{}` cannot be read", .0.display())]
    KubeconfigUnreadable(PathBuf, #[source] std::io::Error),

    #[error("host not ready for kind: {0}\n(hint: run `make setup-cluster`; images/README.md lists what the host needs)")]
    Preflight(String),

    #[error("`{argv}` failed (exit {code}); last lines:\n{tail}")]
    Command {
        argv: String,
        code: i32,
        tail: String,
    },

    #[error("could not run `{argv}`")]
    Spawn {
        argv: String,
        #[source]
        source: std::io::Error,
    },

    #[error("lease `{}`", path.display())]
    Lease {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
