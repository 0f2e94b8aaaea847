//! Phases `queue`, `install` and `ready` of a cell: wait for room on the
//! nodes, `helm upgrade --install` once per run (a lock and a stamp across
//! processes), then the workloads every check waits behind.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::future::join_all;
use tokio::sync::OnceCell;
use vitals_checks::record::{CellRecord, Overlay as RecordedOverlay};
use vitals_checks::runtime::view::NamespaceView;
use vitals_checks::runtime::{ready, CheckCx, ClientPod};
use vitals_checks::{Evidence, Manifests, Object, Verdict};
use vitals_helm::{Chart, Helm, InstallOpts};

use super::prepare::{ensure_client_pod, ensure_namespace, ensure_secrets};
use super::previous::install_previous;
use super::timer::Phases;
use crate::cell::overlay::overlay;
use crate::cell::state::CellState;
use crate::cell::Cell;
use crate::cluster::env::{rt, ClusterEnv, CAPACITY_WAIT, CLIENT_POD, READY_TIMEOUT};

/// A cell after install: its namespace view and each object's readiness.
pub struct Installed {
    pub namespace: String,
    pub release: String,
    pub view: NamespaceView,
    pub install: Verdict,
    pub ready: HashMap<String, Verdict>,
    pub client_pod: Result<String, ClientPodError>,
}

/// Why the cell has no client pod (its DNS trials fail with this).
#[derive(Debug, thiserror::Error)]
pub enum ClientPodError {
    #[error("no agent image in images.env")]
    NoImage,
    #[error("making the client pod")]
    Prepare(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Installed {
    /// What a runtime judge of this cell runs against.
    pub fn cx<'a>(&'a self, env: &'a ClusterEnv) -> CheckCx<'a> {
        CheckCx {
            client: &env.client,
            view: &self.view,
            namespace: &self.namespace,
            images: &env.images,
            client_pod: ClientPod {
                name: CLIENT_POD,
                made: match &self.client_pod {
                    Ok(_) => Ok(()),
                    Err(e) => Err(e),
                },
            },
        }
    }
}

/// What was installed: the namespace and every rendered object, so a
/// changed chart or values file reinstalls and an unchanged one is reused.
fn stamp(cell: &Cell, manifests: &Manifests) -> String {
    let mut h = DefaultHasher::new();
    cell.namespace().hash(&mut h);
    if let Some(up) = &cell.upgrade {
        up.label.hash(&mut h);
    }
    for o in &manifests.objects {
        o.doc.to_string().hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

async fn install(env: &ClusterEnv, helm: &Helm, cell: &Cell, manifests: &Manifests) -> Installed {
    let ns = cell.namespace();
    let client = &env.client;
    let subject = format!("release {} in namespace {ns}", cell.suite.release);
    let expected = "helm upgrade --install succeeds (hooks included)";
    let (_, secrets) = overlay(&cell.suite.name);
    let mut install = Verdict::pass(&subject, expected, "installed");
    let mut phases = Phases::new(&ns);
    // A failed cell of an earlier run, kept scaled to zero: replaced whole.
    let state = CellState::of(&ns);
    if state.scaled_down() {
        vitals_checks::runtime::agent_pod::delete_namespace(client, &ns, Duration::from_secs(300))
            .await;
        state.clear_scaled_down();
    }
    let prep = async {
        ensure_namespace(client, &ns, cell.profile.prod).await?;
        // The list is what the prod profile expects to exist (existingSecret);
        // other profiles generate their own, and a pre-made one would clash.
        ensure_secrets(
            client,
            &ns,
            secrets.as_deref().filter(|_| cell.profile.prod),
        )
        .await
    }
    .await;
    if let Err(e) = prep {
        install = Verdict::fail(&subject, expected, e);
    }
    let view = NamespaceView::start(client.clone(), &ns).await;
    phases.end("prepare");
    let mut no_plan = None;
    if !install.failed() {
        // One installer per cell across processes; the others reuse.
        let lock = state.install_lock().ok();
        if let Some(l) = &lock {
            let _ = l.lock();
        }
        let want = stamp(cell, manifests);
        let fresh = state.stamp().as_deref() == Some(want.as_str());
        if !fresh {
            // Replaced from here on: no other process may wait for it as an
            // installed cell (see room::make).
            state.clear_stamp();
            // Wait for room on the nodes before creating any pod.
            let need = crate::capacity::cell_need(manifests);
            let room = if crate::env::process_per_trial() {
                crate::room::make(client, &ns, need, CAPACITY_WAIT, |other, failed| {
                    let client = client.clone();
                    async move { super::teardown::take_down(&client, &other, failed).await }
                })
                .await
            } else {
                match crate::capacity::init(client).await {
                    Ok(_) => crate::capacity::reserve(&ns, need, CAPACITY_WAIT).map(|_| Vec::new()),
                    Err(e) => Err(e),
                }
            };
            crate::room::record_need(&ns, need);
            match room {
                Ok(gone) if !gone.is_empty() => {
                    install = install.with_evidence(Evidence::Note {
                        text: format!(
                            "room for {need} made by taking down cells no trial was using: {}",
                            gone.join(", ")
                        ),
                    })
                }
                Ok(_) => {}
                Err(e) => {
                    install =
                        Verdict::fail(&subject, expected, format!("no room on the cluster: {e}"))
                }
            }
            phases.end("queued");
        } else if !crate::env::process_per_trial() && crate::capacity::init(client).await.is_ok() {
            // Reused as installed: its pods run, so they count.
            crate::capacity::hold(&ns, crate::capacity::cell_need(manifests));
        }
        // From here to the end of the readiness wait no drain may start:
        // the room is granted, and a cordon now would strand the install.
        no_plan = Some(crate::availability::gate::hold_off_disruption().await);
        let mut prior_ok = !install.failed();
        if let (false, Some(up)) = (fresh, &cell.upgrade) {
            match install_previous(env, helm, cell, up, manifests, &view, &mut phases).await {
                Ok(markers) => state.set_markers(&markers),
                Err(v) => {
                    install = v;
                    prior_ok = false;
                }
            }
        }
        if !fresh && prior_ok {
            let chart = Chart::open(&cell.suite.chart_dir);
            let res = match chart {
                Err(e) => Err(e),
                Ok(chart) => helm.dependency_build(&chart).and_then(|_| {
                    phases.end("dependencies");
                    let opts = InstallOpts::default()
                        .timeout(Duration::from_secs(600))
                        .kubeconfig(&env.handle.kubeconfig);
                    helm.upgrade_install(
                        &chart,
                        &cell.suite.release,
                        &ns,
                        &cell.profile.values,
                        &opts,
                    )
                }),
            };
            phases.end("install");
            match res {
                Ok(()) => state.set_stamp(&want),
                Err(vitals_helm::Error::Exited { argv, code, stderr }) => {
                    install = Verdict::fail(&subject, expected, format!("helm exited with {code}"))
                        .with_evidence(Evidence::Command {
                            argv,
                            exit: code,
                            stderr,
                        });
                }
                Err(e) => install = Verdict::fail(&subject, expected, e.to_string()),
            }
        }
    }
    let client_pod = match env.images.get("agent") {
        Some(img) => ensure_client_pod(client, &ns, img)
            .await
            .map_err(|e| ClientPodError::Prepare(e.into())),
        None => Err(ClientPodError::NoImage),
    };
    if install.failed() {
        // Say why in the cluster's own words: each pod that will not recover.
        for p in view.pods.state() {
            if let vitals_checks::runtime::explain::PodState::Terminal(chain) =
                vitals_checks::runtime::explain::pod_state(&p, &view)
            {
                install = install.with_evidence(Evidence::Note { text: chain });
            }
        }
    }
    // Objects created before a failing hook still get judged, on a short
    // deadline, so the trials say what did and did not come up.
    let deadline = if install.failed() {
        Duration::from_secs(20)
    } else {
        READY_TIMEOUT
    };
    // The gate every check waits behind: the workloads. Claims and HPAs are
    // judged in their own trials, so an unused WaitForFirstConsumer claim
    // (a backup volume before its first run) does not hold up the rest.
    let waits: Vec<&Object> = manifests
        .objects
        .iter()
        .filter(|o| gates(&o.kind) && o.hooks().is_empty())
        .collect();
    let results = join_all(waits.iter().map(|o| async {
        let r = ready::verdict(o, ready::wait_ready(client, &view, o, deadline).await);
        (o.id().slug(), r)
    }))
    .await;
    phases.end("ready");
    drop(no_plan);
    let (overlay_file, _) = overlay(&cell.suite.name);
    // Only the process that installed reports the install (under nextest the
    // other trial processes reuse it).
    let installed_here = phases.done.iter().any(|p| p.name == "install");
    if installed_here {
        crate::events::records::append_cell(&CellRecord {
            run: crate::env::run_id(),
            chart: cell.suite.name.clone(),
            profile: cell.profile.name.clone(),
            namespace: ns.clone(),
            phases: std::mem::take(&mut phases.done),
            overlay: overlay_file.and_then(|p| {
                let text = std::fs::read_to_string(&p).ok()?;
                let path = p
                    .strip_prefix(crate::env::root())
                    .unwrap_or(&p)
                    .display()
                    .to_string();
                Some(RecordedOverlay { path, text })
            }),
            bundle: None,
        });
    }
    Installed {
        namespace: ns,
        release: cell.suite.release.clone(),
        view,
        install,
        ready: results.into_iter().collect(),
        client_pod,
    }
}

type Cells = Mutex<HashMap<String, Arc<OnceCell<Arc<Installed>>>>>;

fn cells() -> &'static Cells {
    static CELLS: OnceLock<Cells> = OnceLock::new();
    CELLS.get_or_init(Default::default)
}

/// Installs the cell once per process (and once per run across processes).
pub fn installed(
    env: &Arc<ClusterEnv>,
    helm: &Helm,
    cell: &Cell,
    manifests: &Arc<Manifests>,
) -> Arc<Installed> {
    let once = cells()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(cell.namespace())
        .or_default()
        .clone();
    rt().block_on(
        once.get_or_init(|| async { Arc::new(install(env, helm, cell, manifests).await) }),
    )
    .clone()
}

/// Kinds every check waits for before it runs.
fn gates(kind: &str) -> bool {
    matches!(kind, "Deployment" | "StatefulSet" | "DaemonSet" | "Job")
}
