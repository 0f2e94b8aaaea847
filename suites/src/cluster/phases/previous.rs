//! Phase `previous` (upgrade cells): install where the upgrade starts,
//! wait for its stateful pods, and write a marker onto each claim.

use std::collections::BTreeMap;
use std::time::Duration;

use vitals_checks::runtime::view::NamespaceView;
use vitals_checks::runtime::{chain, persistence};
use vitals_checks::{Evidence, Manifests, Verdict};
use vitals_helm::{Chart, Helm, InstallOpts};

use super::timer::Phases;
use crate::cell::state::Marker;
use crate::cell::Cell;
use crate::cluster::env::{ClusterEnv, READY_TIMEOUT};

/// An upgrade cell's first step: install where it starts from, wait for its
/// stateful pods, and write a marker onto each claim. Returns the markers
/// (StatefulSet -> marker, or why none was written).
pub(crate) async fn install_previous(
    env: &ClusterEnv,
    helm: &Helm,
    cell: &Cell,
    up: &crate::upgrade::UpgradeFrom,
    manifests: &Manifests,
    view: &NamespaceView,
    phases: &mut Phases,
) -> Result<BTreeMap<String, crate::cell::state::Marker>, Verdict> {
    let ns = cell.namespace();
    let subject = format!("release {} in namespace {ns}", cell.suite.release);
    let expected = format!("{} installs, then upgrades to the working copy", up.label);
    let res = Chart::open(&up.chart_dir).and_then(|chart| {
        helm.dependency_build(&chart)?;
        let opts = InstallOpts::default()
            .timeout(Duration::from_secs(600))
            .kubeconfig(&env.handle.kubeconfig);
        helm.upgrade_install(&chart, &cell.suite.release, &ns, &up.values, &opts)
    });
    phases.end("install-previous");
    match res {
        Ok(()) => {}
        Err(vitals_helm::Error::Exited { argv, code, stderr }) => {
            return Err(Verdict::fail(
                &subject,
                expected,
                format!("installing {} failed: helm exited with {code}", up.label),
            )
            .with_evidence(Evidence::Command {
                argv,
                exit: code,
                stderr,
            }))
        }
        Err(e) => {
            return Err(Verdict::fail(
                &subject,
                expected,
                format!("installing {} failed: {e}", up.label),
            ))
        }
    }
    let mut markers = BTreeMap::new();
    for s in persistence::derive(manifests) {
        let written = match persistence::wait_pod_ready(view, &env.client, &s, None, READY_TIMEOUT)
            .await
        {
            Ok(_) => {
                match persistence::write_marker(&env.client, &ns, &s, persistence::UPGRADE_MARKER)
                    .await
                {
                    Ok(m) => Marker::Written(m),
                    Err(e) => Marker::NotWritten(chain(&e)),
                }
            }
            Err(e) => Marker::NotWritten(format!("before the upgrade: {}", chain(&e))),
        };
        markers.insert(s.statefulset.clone(), written);
    }
    phases.end("write-data");
    Ok(markers)
}
