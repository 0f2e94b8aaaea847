//! Where the cluster tier runs: a provider that creates or reuses a kind
//! cluster (built air-gapped by `scripts/cluster.sh`) or points at any
//! kubeconfig, and a lease so that many test processes (one per trial under
//! nextest) share one warm cluster and none deletes it under another.

mod error;
pub mod kubernetes;
mod lease;
mod provider;

pub use error::{Error, Result};
pub use lease::Lease;
pub use provider::{ClusterHandle, HostInfo, Provider};
