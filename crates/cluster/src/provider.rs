use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, Lease, Result};

/// What the host offers, checked before anything is created so a gap is
/// named up front instead of surfacing as a node that never gets Ready.
#[derive(Debug, Clone)]
pub struct HostInfo {
    pub docker: bool,
    pub cgroup_v2: bool,
    pub kind: Option<PathBuf>,
}

/// A cluster ready for use, held through a shared lease.
#[derive(Debug)]
pub struct ClusterHandle {
    pub name: String,
    pub provider: &'static str,
    pub kubeconfig: PathBuf,
    _lease: Option<Lease>,
}

#[derive(Debug, Clone)]
pub enum Provider {
    /// A kind cluster made (or reused) by `scripts/cluster.sh` from images
    /// built on this machine.
    Kind {
        name: String,
        root: PathBuf,
        cache: PathBuf,
    },
    /// Any cluster behind a kubeconfig: release gating against staging.
    Existing { kubeconfig: PathBuf },
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn run(cmd: &mut Command) -> Result<String> {
    let argv = format!("{cmd:?}").replace('"', "");
    let out = cmd.output().map_err(|source| Error::Spawn {
        argv: argv.clone(),
        source,
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        Err(Error::Command {
            argv,
            code: out.status.code().unwrap_or(-1),
            tail: tail(&all, 30),
        })
    }
}

impl Provider {
    /// `E2E_CLUSTER=kind` (default) or `existing` (with `E2E_KUBECONFIG` or
    /// `KUBECONFIG`); `VITALS_CLUSTER` names the kind cluster (default
    /// `vitals-<minor>` of `E2E_K8S`, which `scripts/cluster.sh` inherits).
    pub fn from_env(root: &Path) -> Result<Provider> {
        let cache = std::env::var_os("VITALS_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
                    .join(".cache/vitals")
            });
        match std::env::var("E2E_CLUSTER").as_deref().unwrap_or("kind") {
            "kind" => Ok(Provider::Kind {
                name: match std::env::var("VITALS_CLUSTER") {
                    Ok(name) => name,
                    Err(_) => crate::kubernetes::selected()?.cluster_name(),
                },
                root: root.to_path_buf(),
                cache,
            }),
            "existing" => {
                let kc = std::env::var_os("E2E_KUBECONFIG")
                    .or_else(|| std::env::var_os("KUBECONFIG"))
                    .ok_or(Error::NoKubeconfig)?;
                let kubeconfig = PathBuf::from(kc);
                std::fs::metadata(&kubeconfig)
                    .map_err(|e| Error::KubeconfigUnreadable(kubeconfig.clone(), e))?;
                Ok(Provider::Existing { kubeconfig })
            }
            other => Err(Error::UnknownProvider(other.to_string())),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Provider::Kind { .. } => "kind",
            Provider::Existing { .. } => "existing",
        }
    }

    pub fn preflight(&self) -> HostInfo {
        let docker = Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .output()
            .is_ok_and(|o| o.status.success());
        let kind = match self {
            Provider::Kind { root, .. } => Some(root.join(".bin/kind")).filter(|p| p.exists()),
            Provider::Existing { .. } => None,
        };
        HostInfo {
            docker,
            cgroup_v2: Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
            kind,
        }
    }

    /// Creates or reuses the cluster and returns it under a shared lease.
    /// Only one process creates; the others wait on the lease, then find
    /// the cluster up (`cluster.sh up` returns in seconds when it is).
    pub fn ensure(&self) -> Result<ClusterHandle> {
        match self {
            Provider::Existing { kubeconfig } => Ok(ClusterHandle {
                name: "existing".into(),
                provider: "existing",
                kubeconfig: kubeconfig.clone(),
                _lease: None,
            }),
            Provider::Kind { name, root, cache } => {
                let leases = cache.join("leases");
                let lease = Lease::exclusive(&leases, name)?;
                let script = root.join("scripts/cluster.sh");
                run(Command::new("bash")
                    .arg(&script)
                    .arg("up")
                    .env("VITALS_CLUSTER", name)
                    // cluster.sh flocks the same lease file; we hold it.
                    .env("VITALS_LEASE_HELD", "1"))?;
                let lease = lease.downgrade()?;
                Ok(ClusterHandle {
                    name: name.clone(),
                    provider: "kind",
                    kubeconfig: cache.join(format!("kubeconfig-{name}")),
                    _lease: Some(lease),
                })
            }
        }
    }

    /// Makes locally built images available to the nodes (kind only; an
    /// existing cluster pulls from wherever its overlay points).
    pub fn load_images(&self, refs: &[String]) -> Result<()> {
        let Provider::Kind { name, root, .. } = self else {
            return Ok(());
        };
        if refs.is_empty() {
            return Ok(());
        }
        let kind = root.join(".bin/kind");
        run(Command::new(kind)
            .args(["load", "docker-image", "--name", name])
            .args(refs))
        .map(drop)
    }

    /// Node logs for the diagnostics bundle.
    pub fn export_logs(&self, dir: &Path) -> Result<()> {
        let Provider::Kind { name, root, .. } = self else {
            return Ok(());
        };
        run(Command::new(root.join(".bin/kind"))
            .args(["export", "logs", "--name", name])
            .arg(dir))
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_of_a_failed_command_is_kept() {
        let text: String = (1..=50).map(|i| format!("line {i}\n")).collect();
        let t = tail(&text, 3);
        assert_eq!(t, "line 48\nline 49\nline 50");
    }

    #[test]
    fn a_failing_command_names_its_argv_and_exit() {
        let e = run(Command::new("sh").args(["-c", "echo boom >&2; exit 3"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("exit 3") && e.contains("boom"), "{e}");
    }
}
