//! The cluster a run uses: leased once per process (`vitals_cluster`), its
//! images loaded, a client to it, and the tokio runtime every trial blocks on.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tokio::runtime::Runtime;
use vitals_cluster::{ClusterHandle, Lease, Provider};

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
    pub handle: Handle,
    pub client: Client,
    /// `name=ref` of the locally built images (`scripts/images.sh`).
    pub images: BTreeMap<String, String>,
}

/// The cluster this process uses, and the hold that keeps `cluster.sh
/// down` waiting until the process ends.
#[derive(Debug)]
pub struct Handle {
    pub name: String,
    pub kubeconfig: PathBuf,
    _hold: Hold,
}

/// Either the provider's own handle (it brought the cluster up, or reused
/// it, under its lease) or the shared lease alone (attached to a cluster
/// nextest's setup script brought up). Held, never read: dropping it lets
/// `cluster.sh down` in.
#[derive(Debug)]
enum Hold {
    Ensured(#[allow(dead_code)] ClusterHandle),
    Shared(#[allow(dead_code)] Lease),
}

/// How this process gets its cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bringup {
    /// `cluster.sh up` (creates, or checks and reuses) under the exclusive
    /// lease, then `images.sh load`: ~7-8.5 s even when all is warm.
    Full,
    /// Nextest's setup script did both for this very cluster before any
    /// trial process started (`E2E_CLUSTER_READY`): take the shared lease
    /// and check that the API server answers.
    Attach { name: String },
}

/// Attach only when the setup script's cluster is the one this process
/// selected: a process sent to another cluster (`VITALS_CLUSTER`,
/// `E2E_K8S`, the existing provider) was not prepared by that script.
pub fn bringup(provider: &Provider, ready: Option<&str>) -> Bringup {
    match provider {
        Provider::Kind { name, .. } if ready == Some(name.as_str()) => {
            Bringup::Attach { name: name.clone() }
        }
        _ => Bringup::Full,
    }
}

/// How long the attach check waits for the API server's `/version`: a
/// cluster that is up answers in milliseconds.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Why attaching to the setup script's cluster did not work; the process
/// then brings the cluster up itself.
#[derive(Debug, thiserror::Error)]
enum AttachError {
    #[error("the shared lease")]
    Lease(#[source] vitals_cluster::Error),
    #[error(transparent)]
    Setup(#[from] SetupErrorKind),
    #[error("the API server did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the API server's /version")]
    Version(#[source] kube::Error),
}

/// A [`SetupErrorKind`] shared by every trial of the process (the setup is
/// tried once); printed with its whole cause chain.
#[derive(Debug, Clone)]
pub struct SetupError(pub Arc<SetupErrorKind>);

impl SetupError {
    /// An error and its causes on one line, `a: b: c`.
    fn chain(e: &dyn std::error::Error) -> String {
        let mut out = e.to_string();
        let mut src = e.source();
        while let Some(s) = src {
            out.push_str(&format!(": {s}"));
            src = s.source();
        }
        out
    }
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&SetupError::chain(&*self.0))
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

fn client_for(kubeconfig: &Path) -> Result<Client, SetupErrorKind> {
    use SetupErrorKind as K;
    rt().block_on(async {
        let kc = Kubeconfig::read_from(kubeconfig).map_err(|source| K::Kubeconfig {
            path: kubeconfig.to_path_buf(),
            source,
        })?;
        let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .map_err(|source| K::Kubeconfig {
                path: kubeconfig.to_path_buf(),
                source,
            })?;
        Client::try_from(cfg).map_err(K::Client)
    })
}

/// The shared lease on the cluster (the file `cluster.sh` flocks), its
/// kubeconfig as `cluster.sh up` wrote it, and one `/version` to prove the
/// cluster still answers: no Docker, kind, kubectl or image hashing.
fn attach(name: &str, cache: &Path) -> Result<(Handle, Client), AttachError> {
    let lease = Lease::shared(&cache.join("leases"), name).map_err(AttachError::Lease)?;
    // Where `Provider::ensure` and `cluster.sh` keep it.
    let kubeconfig = cache.join(format!("kubeconfig-{name}"));
    let client = client_for(&kubeconfig)?;
    rt().block_on(async {
        tokio::time::timeout(ATTACH_TIMEOUT, client.apiserver_version())
            .await
            .map_err(|_| AttachError::Timeout(ATTACH_TIMEOUT))?
            .map_err(AttachError::Version)
    })?;
    let handle = Handle {
        name: name.to_string(),
        kubeconfig,
        _hold: Hold::Shared(lease),
    };
    Ok((handle, client))
}

/// `cluster.sh up` through the provider, then `images.sh load` on kind.
fn bring_up(provider: &Provider, root: &Path) -> Result<(Handle, Client), SetupError> {
    use SetupErrorKind as K;
    if let Provider::Kind { .. } = provider {
        let host = provider.preflight();
        if !host.docker {
            return Err(K::NoDocker.into());
        }
    }
    let ensured = provider.ensure().map_err(K::Provider)?;
    if let Provider::Kind { .. } = provider {
        // kind skips images a node already has, so this is cheap when warm.
        let out = std::process::Command::new("bash")
            .arg(root.join("scripts/images.sh"))
            .arg("load")
            .env("VITALS_CLUSTER", &ensured.name)
            .output()
            .map_err(K::LoadSpawn)?;
        if !out.status.success() {
            return Err(K::LoadFailed(String::from_utf8_lossy(&out.stderr).into_owned()).into());
        }
    }
    let client = client_for(&ensured.kubeconfig)?;
    let handle = Handle {
        name: ensured.name.clone(),
        kubeconfig: ensured.kubeconfig.clone(),
        _hold: Hold::Ensured(ensured),
    };
    Ok((handle, client))
}

fn setup_cluster() -> Result<Arc<ClusterEnv>, SetupError> {
    use SetupErrorKind as K;
    let root = crate::env::root();
    let provider = Provider::from_env(&root).map_err(K::Provider)?;
    let (file, images) = crate::env::images();
    if let Provider::Kind { .. } = provider {
        if images.is_empty() {
            return Err(K::NoImages(file).into());
        }
    }
    let attached = match (
        bringup(&provider, crate::config::get().cluster_ready.as_deref()),
        &provider,
    ) {
        (Bringup::Attach { name }, Provider::Kind { cache, .. }) => match attach(&name, cache) {
            Ok(a) => Some(a),
            Err(e) => {
                // Taken down or broken since the setup script ran: the
                // lease is dropped with the error, so bringing it up
                // (exclusive) does not wait on this process's own hold.
                eprintln!(
                    "note: cluster {name} (E2E_CLUSTER_READY) not attached ({}); bringing it up",
                    SetupError::chain(&e)
                );
                None
            }
        },
        _ => None,
    };
    let (handle, client) = match attached {
        Some(a) => a,
        None => bring_up(&provider, &root)?,
    };
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

    fn kind(name: &str) -> Provider {
        Provider::Kind {
            name: name.into(),
            root: "/r".into(),
            cache: "/c".into(),
        }
    }

    #[test]
    fn a_process_attaches_only_to_the_cluster_the_setup_script_brought_up() {
        assert_eq!(
            bringup(&kind("vitals-1-37"), Some("vitals-1-37")),
            Bringup::Attach {
                name: "vitals-1-37".into()
            }
        );
        // Another version's or the availability tier's cluster, selected
        // after the script ran for the default one, is brought up here.
        assert_eq!(
            bringup(&kind("vitals-ha-1-37"), Some("vitals-1-37")),
            Bringup::Full
        );
        // Without nextest's script (cargo test), as always.
        assert_eq!(bringup(&kind("vitals-1-37"), None), Bringup::Full);
        let existing = Provider::Existing {
            kubeconfig: "/k".into(),
        };
        assert_eq!(bringup(&existing, Some("existing")), Bringup::Full);
    }

    #[test]
    fn attaching_without_the_kubeconfig_fails_and_lets_go_of_the_lease() {
        let cache = tempfile::tempdir().unwrap();
        let Err(e) = attach("vitals-x", cache.path()) else {
            panic!("attached with no kubeconfig");
        };
        assert!(
            matches!(e, AttachError::Setup(SetupErrorKind::Kubeconfig { .. })),
            "{e}"
        );
        // Dropped with the error: an exclusive taker (cluster.sh down, or
        // this process bringing it up) gets in at once.
        let _creator = Lease::exclusive(&cache.path().join("leases"), "vitals-x").unwrap();
    }
}
