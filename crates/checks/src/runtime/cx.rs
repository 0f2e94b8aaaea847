//! What a runtime judge runs against: the cluster's client, the cell's
//! namespace and its reflectors, the harness's images and the cell's
//! client pod. The runner builds one per trial from its installed cell, so
//! a kind's `judge(&Spec, &CheckCx)` needs nothing of the runner's types.

use std::collections::BTreeMap;
use std::error::Error;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use serde_json::Value;

use super::view::NamespaceView;
use crate::manifest::selector_matches;

pub struct CheckCx<'a> {
    pub client: &'a Client,
    pub view: &'a NamespaceView,
    pub namespace: &'a str,
    /// `name=ref` of the harness's images (`agent`, ...).
    pub images: &'a BTreeMap<String, String>,
    pub client_pod: ClientPod<'a>,
}

/// The cell's client pod: unlabelled (no release policy selects it) with
/// open egress. Its name is fixed, so a denied flow can name it even when
/// making it failed; `made` says whether it exists.
#[derive(Clone, Copy)]
pub struct ClientPod<'a> {
    pub name: &'a str,
    pub made: Result<(), &'a (dyn Error + Send + Sync + 'static)>,
}

impl<'a> CheckCx<'a> {
    /// The agent image every helper pod (canary, barrier, load) runs.
    pub fn agent_image(&self) -> Option<&'a str> {
        self.images.get("agent").map(String::as_str)
    }

    /// The first Running, not terminating pod a selector matches: where a
    /// flow or a load is exec'd from.
    pub fn running_pod(&self, selector: &Value) -> Option<String> {
        self.view
            .pods
            .state()
            .into_iter()
            .filter(|p| {
                p.metadata.deletion_timestamp.is_none()
                    && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
            })
            .find(|p| selects(selector, p))
            .and_then(|p| p.metadata.name.clone())
    }

    /// The first not terminating pod a selector matches, in any phase: a
    /// probe is asked of it as the kubelet would.
    pub fn live_pod(&self, selector: &Value) -> Option<Arc<Pod>> {
        self.view
            .pods
            .state()
            .into_iter()
            .find(|p| p.metadata.deletion_timestamp.is_none() && selects(selector, p))
    }
}

fn selects(selector: &Value, p: &Pod) -> bool {
    selector_matches(selector, &p.metadata.labels.clone().unwrap_or_default())
}
