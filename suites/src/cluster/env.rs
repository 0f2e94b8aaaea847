//! The cluster a run uses: leased once per process (`vitals_cluster`), its
//! images loaded, a client to it, and the tokio runtime every trial blocks on.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tokio::runtime::Runtime;
use vitals_cluster::{ClusterHandle, Provider};

/// The client pod every cell gets (the "unlabelled pod" of denied flows).
pub const CLIENT_POD: &str = "vitals-client";
/// How long a cell's workloads may take to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(360);
/// How long a cell may queue for room on the nodes: the whole matrix.
pub const CAPACITY_WAIT: Duration = Duration::from_secs(60 * 60);

pub fn rt() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// The leased cluster and a client to it, shared by every trial of a process.
pub struct ClusterEnv {
    pub provider: Provider,
    pub handle: ClusterHandle,
    pub client: Client,
    /// `name=ref` of the locally built images (`scripts/images.sh`).
    pub images: BTreeMap<String, String>,
}

/// Why no cluster is available to this process: each step of
/// [`setup_cluster`] that can fail, with its cause kept as the source.
#[derive(Debug, thiserror::Error)]
pub enum SetupErrorKind {
    #[error("the cluster provider")]
    Provider(#[source] vitals_cluster::Error),
    #[error("no Docker daemon answers (hint: `make setup-cluster` starts one; or E2E_CLUSTER=existing with a kubeconfig)")]
    NoDocker,
    #[error("no local images listed in `{}` (hint: `scripts/images.sh build`)", .0.display())]
    NoImages(std::path::PathBuf),
    #[error("scripts/images.sh load: cannot start")]
    LoadSpawn(#[source] std::io::Error),
    #[error("scripts/images.sh load failed:\n{0}")]
    LoadFailed(String),
    #[error("kubeconfig `{}`", path.display())]
    Kubeconfig {
        path: std::path::PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("a client for the cluster")]
    Client(#[source] kube::Error),
}

/// A [`SetupErrorKind`] shared by every trial of the process (the setup is
/// tried once); printed with its whole cause chain.
#[derive(Debug, Clone)]
pub struct SetupError(pub Arc<SetupErrorKind>);

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut src = std::error::Error::source(&*self.0);
        while let Some(e) = src {
            write!(f, ": {e}")?;
            src = e.source();
        }
        Ok(())
    }
}

impl std::error::Error for SetupError {}

impl From<SetupErrorKind> for SetupError {
    fn from(k: SetupErrorKind) -> Self {
        SetupError(Arc::new(k))
    }
}

/// Trials and fixtures report a missing cluster as their verdict's text.
impl From<SetupError> for String {
    fn from(e: SetupError) -> String {
        e.to_string()
    }
}

fn setup_cluster() -> Result<Arc<ClusterEnv>, SetupError> {
    use SetupErrorKind as K;
    let root = crate::env::root();
    let provider = Provider::from_env(&root).map_err(K::Provider)?;
    if let Provider::Kind { .. } = provider {
        let host = provider.preflight();
        if !host.docker {
            return Err(K::NoDocker.into());
        }
    }
    let handle = provider.ensure().map_err(K::Provider)?;
    let (file, images) = crate::env::images();
    if let Provider::Kind { .. } = provider {
        if images.is_empty() {
            return Err(K::NoImages(file).into());
        }
        // kind skips images a node already has, so this is cheap when warm.
        let out = std::process::Command::new("bash")
            .arg(root.join("scripts/images.sh"))
            .arg("load")
            .env("VITALS_CLUSTER", &handle.name)
            .output()
            .map_err(K::LoadSpawn)?;
        if !out.status.success() {
            return Err(K::LoadFailed(String::from_utf8_lossy(&out.stderr).into_owned()).into());
        }
    }
    let kubeconfig = handle.kubeconfig.clone();
    let client = rt().block_on(async {
        let kc = Kubeconfig::read_from(&kubeconfig).map_err(|source| K::Kubeconfig {
            path: kubeconfig.clone(),
            source,
        })?;
        let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .map_err(|source| K::Kubeconfig {
                path: kubeconfig.clone(),
                source,
            })?;
        Client::try_from(cfg).map_err(K::Client)
    })?;
    Ok(Arc::new(ClusterEnv {
        provider,
        handle,
        client,
        images,
    }))
}

/// The process's cluster, set up on first use (the lease, images, client).
pub fn cluster() -> Result<Arc<ClusterEnv>, SetupError> {
    static ENV: OnceLock<Result<Arc<ClusterEnv>, SetupError>> = OnceLock::new();
    ENV.get_or_init(setup_cluster).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setup_error_prints_its_whole_cause_chain() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "bash: not found");
        let e: SetupError = SetupErrorKind::LoadSpawn(io).into();
        assert_eq!(
            e.to_string(),
            "scripts/images.sh load: cannot start: bash: not found"
        );
        let s: String = e.into();
        assert!(s.ends_with("bash: not found"));
    }
}
