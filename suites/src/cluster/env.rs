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

fn setup_cluster() -> Result<Arc<ClusterEnv>, String> {
    let root = crate::env::root();
    let provider = Provider::from_env(&root).map_err(|e| e.to_string())?;
    if let Provider::Kind { .. } = provider {
        let host = provider.preflight();
        if !host.docker {
            return Err("no Docker daemon answers (hint: `make setup-cluster` starts one; or E2E_CLUSTER=existing with a kubeconfig)".into());
        }
    }
    let handle = provider.ensure().map_err(|e| e.to_string())?;
    let (file, images) = crate::env::images();
    if let Provider::Kind { .. } = provider {
        if images.is_empty() {
            return Err(format!(
                "no local images listed in `{}` (hint: `scripts/images.sh build`)",
                file.display()
            ));
        }
        // kind skips images a node already has, so this is cheap when warm.
        let out = std::process::Command::new("bash")
            .arg(root.join("scripts/images.sh"))
            .arg("load")
            .env("VITALS_CLUSTER", &handle.name)
            .output()
            .map_err(|e| format!("scripts/images.sh load: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "scripts/images.sh load failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let kubeconfig = handle.kubeconfig.clone();
    let client = rt().block_on(async {
        let kc = Kubeconfig::read_from(&kubeconfig)
            .map_err(|e| format!("kubeconfig `{}`: {e}", kubeconfig.display()))?;
        let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .map_err(|e| e.to_string())?;
        Client::try_from(cfg).map_err(|e| e.to_string())
    })?;
    Ok(Arc::new(ClusterEnv {
        provider,
        handle,
        client,
        images,
    }))
}

pub fn cluster() -> Result<Arc<ClusterEnv>, String> {
    static ENV: OnceLock<Result<Arc<ClusterEnv>, String>> = OnceLock::new();
    ENV.get_or_init(setup_cluster).clone()
}

