//! The tail of a container's log, for evidence.

use k8s_openapi::api::core::v1::Pod;
use kube::api::LogParams;
use kube::{Api, Client};

/// The last `lines` lines of a container's log (`previous`: the instance
/// before the last restart); empty when there is none.
pub async fn tail(
    client: &Client,
    ns: &str,
    pod: &str,
    container: Option<&str>,
    previous: bool,
    lines: i64,
) -> String {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let lp = LogParams {
        container: container.map(String::from),
        previous,
        tail_lines: Some(lines),
        ..LogParams::default()
    };
    api.logs(pod, &lp)
        .await
        .unwrap_or_default()
        .trim_end()
        .to_string()
}
