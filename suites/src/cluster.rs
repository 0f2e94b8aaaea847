//! The cluster tier: one leased cluster per run, one namespace per cell
//! (chart x profile), installed once (in-process `OnceCell`, cross-process
//! lock + stamp for nextest), then one trial per derived fact.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use vitals_checks::record::{CellRecord, Overlay as RecordedOverlay, Phase};

use futures::future::join_all;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde::Deserialize;
use tokio::runtime::Runtime;
use tokio::sync::OnceCell;
use vitals_checks::runtime::view::NamespaceView;
use vitals_checks::runtime::{
    cronjobs, dns, exec, hpa, netpol, persistence, probes, pvcs, rbac, ready, restarts,
};
use vitals_checks::{Evidence, Manifests, Object, Verdict};
use vitals_cluster::{ClusterHandle, Provider};
use vitals_helm::{Chart, Helm, InstallOpts};

use crate::cell::state::CellState;
use crate::render::{self, Cell, Check};

const CLIENT_POD: &str = "vitals-client";
const READY_TIMEOUT: Duration = Duration::from_secs(360);
/// How long a cell may queue for room on the nodes: the whole matrix.
const CAPACITY_WAIT: Duration = Duration::from_secs(60 * 60);

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

/// The overlay and Secrets list a chart's cluster cells use.
pub fn overlay(chart: &str) -> (Option<PathBuf>, Option<PathBuf>) {
    let dir = crate::env::root().join("suites/overlays");
    let o = dir.join(format!("{chart}.yaml"));
    let s = dir.join(format!("{chart}.secrets.yaml"));
    (o.is_file().then_some(o), s.is_file().then_some(s))
}

#[derive(Debug, Deserialize)]
struct SecretSpec {
    name: String,
    keys: Vec<String>,
}

/// A cell as the cluster sees it: the profile's values plus the overlay.
pub fn cluster_cell(cell: &Cell) -> Cell {
    let mut c = cell.clone();
    if let (Some(o), _) = overlay(&cell.suite.name) {
        c.profile.values.push(o.clone());
        // An earlier revision with an overlay of its own time keeps it:
        // today's may set keys its schema did not know yet.
        if let Some(up) = cell.upgrade.as_ref().filter(|u| !crate::upgrade::carries_overlay(u)) {
            let mut up = (**up).clone();
            up.values.push(o);
            c.upgrade = Some(Arc::new(up));
        }
    }
    c
}

/// A cell after install: its namespace view and each object's readiness.
pub struct Installed {
    pub namespace: String,
    pub release: String,
    pub view: NamespaceView,
    pub install: Verdict,
    pub ready: HashMap<String, Verdict>,
    pub client_pod: Result<String, String>,
}

fn random(n: usize) -> String {
    // Random enough for throwaway test credentials, without a crate.
    let mut h = DefaultHasher::new();
    std::time::SystemTime::now().hash(&mut h);
    std::process::id().hash(&mut h);
    let mut out = String::new();
    let mut x = h.finish();
    let alphabet = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(alphabet[(x % alphabet.len() as u64) as usize] as char);
    }
    out
}

async fn ensure_namespace(client: &Client, ns: &str, prod: bool) -> Result<(), String> {
    // A namespace left by an earlier run may still be terminating; applying
    // into it fails, so wait (watched, with a deadline) until it is gone.
    let nsapi: Api<Namespace> = Api::all(client.clone());
    if let Some(old) = nsapi.get_opt(ns).await.map_err(|e| e.to_string())? {
        if old.metadata.deletion_timestamp.is_some() {
            let uid = old.metadata.uid.clone().unwrap_or_default();
            let gone = kube::runtime::wait::await_condition(
                nsapi.clone(),
                ns,
                kube::runtime::conditions::is_deleted(&uid),
            );
            tokio::time::timeout(Duration::from_secs(300), gone)
                .await
                .map_err(|_| {
                    format!("namespace {ns} is still terminating after 300s (a finalizer stuck?)")
                })?
                .map_err(|e| e.to_string())?;
        }
    }
    let mut labels = serde_json::json!({ crate::capacity::CELL_LABEL: ns, "pod-security.kubernetes.io/warn": "restricted" });
    if prod {
        labels["pod-security.kubernetes.io/enforce"] = "restricted".into();
    }
    let patch = serde_json::json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": ns, "labels": labels } });
    Api::<Namespace>::all(client.clone())
        .patch(
            ns,
            &PatchParams::apply("vitals").force(),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(|e| format!("namespace {ns}: {e}"))?;
    vitals_checks::runtime::agent_pod::wait_default_sa(client, ns).await
}

async fn ensure_secrets(client: &Client, ns: &str, list: Option<&Path>) -> Result<(), String> {
    let Some(list) = list else { return Ok(()) };
    let text = std::fs::read_to_string(list).map_err(|e| format!("`{}`: {e}", list.display()))?;
    let specs: Vec<SecretSpec> =
        serde_yaml::from_str(&text).map_err(|e| format!("`{}`: {e}", list.display()))?;
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    for s in specs {
        // Kept when present: a reinstall must not change the passwords the
        // running data services were initialised with.
        if api
            .get_opt(&s.name)
            .await
            .map_err(|e| e.to_string())?
            .is_some()
        {
            continue;
        }
        let data: BTreeMap<String, String> =
            s.keys.iter().map(|k| (k.clone(), random(24))).collect();
        let secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(s.name.clone()),
                ..Default::default()
            },
            string_data: Some(data),
            ..Default::default()
        };
        // Another process preparing the same cell may have made it first:
        // its Secret is the one the release uses.
        vitals_checks::runtime::create::create_or_get(&api, &secret)
            .await
            .map_err(|e| format!("secret {}: {e}", s.name))?;
    }
    Ok(())
}

async fn ensure_client_pod(client: &Client, ns: &str, image: &str) -> Result<String, String> {
    // Labelled with no release label, so no release policy selects it: it
    // is the "unlabelled pod" of the denied flows, and its own egress is open.
    vitals_checks::runtime::agent_pod::ensure_agent_pod(
        client,
        ns,
        CLIENT_POD,
        image,
        serde_json::json!({ "app.kubernetes.io/name": CLIENT_POD }),
    )
    .await
    .map(|_| CLIENT_POD.to_string())
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

/// Phase timings of one install, each measured from the end of the last.
struct Phases {
    cell: String,
    mark: std::time::Instant,
    done: Vec<Phase>,
}

impl Phases {
    fn new(cell: &str) -> Phases {
        crate::progress::phase(cell, Some("preparing"));
        Phases {
            cell: cell.to_string(),
            mark: std::time::Instant::now(),
            done: Vec::new(),
        }
    }
}

impl Drop for Phases {
    fn drop(&mut self) {
        crate::progress::phase(&self.cell, None);
    }
}

impl Phases {
    fn end(&mut self, name: &str) {
        crate::progress::phase(&self.cell, Some(&format!("{name} done")));
        let now = std::time::Instant::now();
        self.done.push(Phase {
            name: name.into(),
            duration_ms: (now - self.mark).as_millis() as u64,
        });
        self.mark = now;
    }
}

/// An upgrade cell's first step: install where it starts from, wait for its
/// stateful pods, and write a marker onto each claim. Returns the markers
/// (StatefulSet -> marker, or why none was written).
async fn install_previous(
    env: &ClusterEnv,
    helm: &Helm,
    cell: &Cell,
    up: &crate::upgrade::UpgradeFrom,
    manifests: &Manifests,
    view: &NamespaceView,
    phases: &mut Phases,
) -> Result<BTreeMap<String, Result<String, String>>, Verdict> {
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
                persistence::write_marker(&env.client, &ns, &s, persistence::UPGRADE_MARKER).await
            }
            Err(e) => Err(format!("before the upgrade: {e}")),
        };
        markers.insert(s.statefulset.clone(), written);
    }
    phases.end("write-data");
    Ok(markers)
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
                crate::room::make(client, &ns, need, CAPACITY_WAIT).await
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
        Some(img) => ensure_client_pod(client, &ns, img).await,
        None => Err("no agent image in images.env".into()),
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
        let r = match ready::wait_ready(client, &view, o, deadline).await {
            Ok(s) => Verdict::pass(o.id().to_string(), "ready", s),
            Err(e) => Verdict::fail(o.id().to_string(), "ready", e.to_string()),
        };
        (o.id().slug(), r)
    }))
    .await;
    phases.end("ready");
    let (overlay_file, _) = overlay(&cell.suite.name);
    // Only the process that installed reports the install (under nextest the
    // other trial processes reuse it).
    let installed_here = phases.done.iter().any(|p| p.name == "install");
    if installed_here {
        crate::record::append_cell(&CellRecord {
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

/// Cells with at least one failed cluster trial keep their namespace.
pub fn failed_cells() -> &'static Mutex<BTreeMap<String, bool>> {
    static F: OnceLock<Mutex<BTreeMap<String, bool>>> = OnceLock::new();
    F.get_or_init(Default::default)
}

/// A cell's trials are all done: a passed cell's namespace (and its load
/// generator) is deleted and, once gone, its room on the nodes returned; a
/// failed cell stays for inspection and keeps its room.
pub fn finished(cell: &Cell) {
    if crate::env::process_per_trial() {
        return;
    }
    let ns = cell.namespace();
    let failed = failed_cells()
        .lock()
        .map(|m| m.get(&ns).copied().unwrap_or(false))
        .unwrap_or(true);
    if crate::config::get().keep {
        return;
    }
    let Ok(env) = cluster() else { return };
    rt().block_on(take_down(&env.client, &ns, failed));
    if !failed {
        if let Ok(mut f) = failed_cells().lock() {
            f.remove(&ns);
        }
    }
    crate::capacity::release(&ns);
}

/// Takes a cell's pods off the nodes. A passed cell's namespace (and its
/// load generator) is deleted, watched until gone. A failed one keeps its
/// objects, claims and events, and the bundle is written; its pods go, so
/// cells queued for room (one needing the whole node) can run, and `kubectl
/// scale` brings them back for a live look. Either way the next run of the
/// cell starts from scratch, not from this shell.
pub(crate) async fn take_down(client: &kube::Client, ns: &str, failed: bool) {
    if failed {
        scale_to_zero(client, ns).await;
        CellState::of(ns).mark_scaled_down();
    } else {
        let pods = Api::<Pod>::namespaced(client.clone(), "ingress-nginx");
        let _ = pods
            .delete(&format!("vitals-load-{ns}"), &DeleteParams::default())
            .await;
        vitals_checks::runtime::agent_pod::delete_namespace(client, ns, Duration::from_secs(300))
            .await;
    }
    CellState::of(ns).forget_install();
}

async fn scale_to_zero(client: &kube::Client, ns: &str) {
    use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
    use kube::api::{ListParams, Patch, PatchParams};
    let zero = Patch::Merge(serde_json::json!({"spec": {"replicas": 0}}));
    let pp = PatchParams::default();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    for d in deployments
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
    {
        if let Some(n) = d.metadata.name {
            let _ = deployments.patch_scale(&n, &pp, &zero).await;
        }
    }
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
    for d in sets
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
    {
        if let Some(n) = d.metadata.name {
            let _ = sets.patch_scale(&n, &pp, &zero).await;
        }
    }
    // Room is returned once the pods are gone, watched, with a deadline.
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    // A reflector keeps the namespace's pods from the watch itself, so each
    // event is judged without listing again.
    let _ = tokio::time::timeout(Duration::from_secs(180), async {
        use futures::StreamExt;
        let (reader, writer) = kube::runtime::reflector::store();
        let stream = kube::runtime::reflector(
            writer,
            kube::runtime::watcher(pods.clone(), Default::default()),
        );
        let mut stream = std::pin::pin!(stream);
        // Judged only once the initial list is in the store.
        let mut listed = false;
        while let Some(ev) = stream.next().await {
            use kube::runtime::watcher::Event;
            listed |= !matches!(ev, Ok(Event::Init | Event::InitApply(_)) | Err(_));
            let running = reader
                .state()
                .iter()
                .filter(|p| {
                    p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                        && p.metadata.name.as_deref() != Some(CLIENT_POD)
                })
                .count();
            if listed && running == 0 {
                break;
            }
        }
    })
    .await;
    let _ = pods.delete(CLIENT_POD, &DeleteParams::default()).await;
}

/// Deletes the namespaces of cells whose cluster trials all passed, unless
/// `E2E_KEEP` is set; failed ones stay for a person to look at.
pub fn cleanup() {
    if crate::config::get().keep || crate::env::process_per_trial() {
        return;
    }
    let Ok(env) = cluster() else { return };
    let cells: Vec<(String, bool)> = failed_cells()
        .lock()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
        .unwrap_or_default();
    rt().block_on(async {
        for (ns, failed) in cells {
            if !failed {
                let _ = Api::<Namespace>::all(env.client.clone()).delete(&ns, &DeleteParams::default()).await;
                CellState::of(&ns).clear_stamp();
            } else {
                eprintln!("kept namespace {ns} for inspection (diagnostics under target/e2e/bundles/{ns})");
            }
        }
    });
}

/// Writes the diagnostics bundle of a failed cell once: events, pod states
/// and logs (current and previous), `helm get all`, with a "why" on top.
pub fn bundle(env: &ClusterEnv, cell: &Cell, inst: &Installed, why: &str) -> PathBuf {
    let dir = crate::env::out_dir().join("bundles").join(&inst.namespace);
    if dir.join("WHY.txt").exists() {
        return dir;
    }
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("WHY.txt"), format!("{why}\n"));
    let mut events = String::new();
    for e in inst.view.events.state() {
        events.push_str(&format!(
            "{} {}/{} {}: {}\n",
            e.type_.clone().unwrap_or_default(),
            e.involved_object.kind.clone().unwrap_or_default(),
            e.involved_object.name.clone().unwrap_or_default(),
            e.reason.clone().unwrap_or_default(),
            e.message.clone().unwrap_or_default().trim()
        ));
    }
    let _ = std::fs::write(dir.join("events.txt"), events);
    let client = env.client.clone();
    let ns = inst.namespace.clone();
    let pods = inst.view.pods.state();
    let logs_dir = dir.join("logs");
    let _ = std::fs::create_dir_all(&logs_dir);
    let mut summary = String::new();
    rt().block_on(async {
        let api: Api<Pod> = Api::namespaced(client, &ns);
        for p in &pods {
            let name = p.metadata.name.clone().unwrap_or_default();
            let state = match vitals_checks::runtime::explain::pod_state(p, &inst.view) {
                vitals_checks::runtime::explain::PodState::Ready => format!("Pod {name} Ready"),
                vitals_checks::runtime::explain::PodState::Succeeded => {
                    format!("Pod {name} Succeeded")
                }
                vitals_checks::runtime::explain::PodState::Pending(s)
                | vitals_checks::runtime::explain::PodState::Terminal(s) => s,
            };
            summary.push_str(&format!("{state}\n"));
            for c in p.spec.iter().flat_map(|s| {
                s.init_containers
                    .iter()
                    .flatten()
                    .chain(s.containers.iter())
            }) {
                for previous in [false, true] {
                    let lp = kube::api::LogParams {
                        container: Some(c.name.clone()),
                        previous,
                        tail_lines: Some(300),
                        ..Default::default()
                    };
                    if let Ok(text) = api.logs(&name, &lp).await {
                        let suffix = if previous { ".previous" } else { "" };
                        let _ = std::fs::write(
                            logs_dir.join(format!("{name}.{}{suffix}.log", c.name)),
                            text,
                        );
                    }
                }
            }
        }
    });
    let _ = std::fs::write(dir.join("pods.txt"), summary);
    let helm_out = std::process::Command::new(crate::env::root().join(".bin/helm"))
        .args([
            "get",
            "all",
            &cell.suite.release,
            "-n",
            &inst.namespace,
            "--kubeconfig",
        ])
        .arg(&env.handle.kubeconfig)
        .output();
    if let Ok(o) = helm_out {
        let _ = std::fs::write(dir.join("helm-get-all.txt"), [o.stdout, o.stderr].concat());
    }
    dir
}

/// Every cluster-tier check of one cell, derived from its rendered manifests.
/// An upgrade that changes immutable StatefulSet fields cannot apply: say
/// which fields from the two renders, before touching the cluster. The suite
/// spec may declare it expected (`refusedUpgrades`); then this is the pass.
fn refused_upgrade(
    helm: &Helm,
    cell: &Cell,
    up: &crate::upgrade::UpgradeFrom,
    to: &Manifests,
) -> Option<Check> {
    let mut from_cell = Cell::new(
        Arc::new(crate::spec::Suite {
            chart_dir: up.chart_dir.clone(),
            ..(*cell.suite).clone()
        }),
        crate::spec::Profile {
            values: up.values.clone(),
            ..cell.profile.clone()
        },
    );
    // Rendered for the same namespace as the upgrade.
    from_cell.upgrade = cell.upgrade.clone();
    let subject = format!(
        "release {} in namespace {}",
        cell.suite.release,
        cell.namespace()
    );
    let from = match render::render(helm, &from_cell)
        .map_err(|e| e.to_string())
        .and_then(|t| Manifests::parse(&t).map_err(|e| e.to_string()))
    {
        Ok(m) => m,
        Err(e) => {
            return Some(Check::ready(
                "cluster/install",
                Verdict::fail(subject, format!("{} renders", up.label), e),
            ))
        }
    };
    let changes = crate::upgrade::immutable_changes(&from, to);
    let declared = cell.suite.refused_upgrades.get(&cell.profile.name);
    let expected = format!("{} upgrades in place to this chart and values", up.label);
    match (changes.is_empty(), declared) {
        (true, None) => None,
        (true, Some(why)) => Some(Check::ready(
            "cluster/install",
            Verdict::fail(
                subject,
                format!("refused, as the suite spec declares: {why}"),
                "the upgrade changes no immutable field any more",
            )
            .with_hint(format!(
                "remove `refusedUpgrades.{}` from the suite spec",
                cell.profile.name
            )),
        )),
        (false, Some(why)) => Some(Check::ready(
            "cluster/install",
            Verdict::pass(
                subject,
                format!("refused, as the suite spec declares: {why}"),
                format!("refused: {}", changes.join("; ")),
            ),
        )),
        (false, None) => {
            let mut v = Verdict::fail(
                subject,
                expected,
                format!(
                    "the API server would refuse it: {} immutable StatefulSet field(s) change",
                    changes.len()
                ),
            );
            for c in &changes {
                v = v.with_evidence(Evidence::Note { text: c.clone() });
            }
            Some(Check::ready(
                "cluster/install",
                v.with_hint("keep StatefulSet selectors and volumeClaimTemplates stable across versions and profiles (resize claims by hand, then recreate the StatefulSet with --cascade=orphan), or declare the refusal under `refusedUpgrades` in the suite spec"),
            ))
        }
    }
}

/// The cluster trials of a cell; an upgrade cell's are the same checks under
/// `upgrade/`, plus whether the data written before the upgrade is still there.
pub fn checks(helm: &Arc<Result<Helm, vitals_helm::Error>>, cell: &Cell) -> Vec<Check> {
    let mut out = cluster_checks(helm, cell);
    if cell.upgrade.is_some() {
        for c in &mut out {
            if let Some(rest) = c.name.strip_prefix("cluster/") {
                c.name = format!("upgrade/{rest}");
            }
        }
    }
    out
}

fn cluster_checks(helm: &Arc<Result<Helm, vitals_helm::Error>>, cell: &Cell) -> Vec<Check> {
    let ccell = cluster_cell(cell);
    let helm_ok = match helm.as_ref() {
        Ok(h) => h.clone(),
        Err(e) => {
            return vec![Check::ready(
                "cluster/install",
                Verdict::fail(cell.prefix(), "helm is available", e.to_string()),
            )]
        }
    };
    let manifests = match render::render(&helm_ok, &ccell)
        .map_err(|e| e.to_string())
        .and_then(|t| Manifests::parse(&t).map_err(|e| e.to_string()))
    {
        Ok(m) => Arc::new(m),
        Err(e) => {
            return vec![Check::ready(
                "cluster/install",
                Verdict::fail(cell.prefix(), "the chart renders with the test overlay", e),
            )]
        }
    };
    crate::capacity::plan(&ccell.namespace(), crate::capacity::cell_need(&manifests));
    if let Some(up) = &ccell.upgrade {
        if let Some(early) = refused_upgrade(&helm_ok, &ccell, up, &manifests) {
            return vec![early];
        }
    }
    let mut out = Vec::new();
    let ctx = Arc::new((helm_ok, ccell, manifests.clone()));
    // Each check: get the cluster, install once, then judge.
    let with = |name: String, f: Judge| {
        let ctx = ctx.clone();
        Check::new(name.clone(), move || {
            let (helm, cell, m) = &*ctx;
            let env = match cluster() {
                Ok(e) => e,
                Err(e) => return Verdict::fail(cell.prefix(), "a cluster to run on", e),
            };
            let inst = installed(&env, helm, cell, m);
            let mut v = {
                let _permit = crate::stages::permit();
                f(&env, &inst, m)
            };
            let mut failed = failed_cells().lock().unwrap_or_else(|p| p.into_inner());
            let entry = failed.entry(inst.namespace.clone()).or_insert(false);
            if v.failed() {
                *entry = true;
                drop(failed);
                if crate::env::process_per_trial() {
                    // Other trial processes see the cell as failed: it is
                    // scaled down, not deleted, when its room is needed.
                    CellState::of(&inst.namespace).mark_failed();
                }
                let dir = bundle(&env, cell, &inst, &format!("{name}: {}", v.observed));
                let diag = format!("diagnostics: {}", dir.display());
                let hint = match v.hint.take() {
                    Some(h) => format!("{h}; {diag}"),
                    None => diag,
                };
                v = v.with_hint(hint);
            }
            v
        })
    };
    out.push(with(
        "cluster/install".into(),
        Box::new(|_, inst, _| inst.install.clone()),
    ));
    for o in manifests
        .objects
        .iter()
        .filter(|o| ready::waits_for(&o.kind) && o.hooks().is_empty())
    {
        let slug = o.id().slug();
        let obj = o.clone();
        out.push(with(
            format!("cluster/ready/{slug}"),
            Box::new(move |env, inst, _| {
                if let Some(v) = inst.ready.get(&slug) {
                    return v.clone();
                }
                match rt().block_on(ready::wait_ready(
                    &env.client,
                    &inst.view,
                    &obj,
                    Duration::from_secs(180),
                )) {
                    Ok(s) => Verdict::pass(obj.id().to_string(), "ready", s),
                    Err(e) => Verdict::fail(obj.id().to_string(), "ready", e.to_string()),
                }
            }),
        ));
    }
    // A claim a CronJob mounts (a backup volume) binds, under
    // WaitForFirstConsumer, only when the CronJob trial first runs it: judged
    // after that trial, it is Bound every run, not Bound or "not yet used"
    // by the order the two trials happened to run in.
    let cronjob_claims: std::collections::HashSet<String> = manifests
        .of_kind("CronJob")
        .flat_map(|c| {
            c.doc
                .pointer("/spec/jobTemplate/spec/template/spec/volumes")
                .and_then(|v| v.as_array())
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|v| {
            v.pointer("/persistentVolumeClaim/claimName")
                .and_then(|n| n.as_str())
                .map(String::from)
        })
        .collect();
    for claim in pvcs::derive(&manifests) {
        let name = format!("cluster/pvc/{}", claim.name);
        let stage = usize::from(cronjob_claims.contains(&claim.name));
        out.push(
            with(
                name,
                Box::new(move |env, inst, _| {
                    rt().block_on(pvcs::check(&env.client, &inst.namespace, &claim))
                }),
            )
            .at_stage(stage),
        );
    }
    for svc in manifests
        .of_kind("Service")
        .filter(|s| s.hooks().is_empty())
    {
        let svc_name = svc.name.clone();
        out.push(with(
            format!("cluster/dns/{svc_name}"),
            Box::new(move |env, inst, _| {
                let pod = match &inst.client_pod {
                    Ok(p) => p.clone(),
                    Err(e) => {
                        return Verdict::fail(
                            format!("Service/{svc_name}"),
                            "a client pod to resolve from",
                            e.clone(),
                        )
                    }
                };
                let c = exec::InPod {
                    client: &env.client,
                    namespace: &inst.namespace,
                    pod: &pod,
                    container: None,
                };
                rt().block_on(dns::check(&c, &svc_name))
            }),
        ));
    }
    for w in manifests.workloads().filter(|w| w.is_long_running()) {
        for c in w.containers().into_iter().filter(|c| !c.init) {
            for kind in ["livenessProbe", "readinessProbe", "startupProbe"] {
                let Some(probe) = c.spec.get(kind).filter(|p| p.is_object()).cloned() else {
                    continue;
                };
                let spec = probes::ProbeSpec {
                    container: c.name.clone(),
                    kind: kind.into(),
                    probe,
                    ports: c.ports(),
                };
                let selector = w.selector();
                let short = kind.trim_end_matches("Probe");
                out.push(with(
                    format!("cluster/probe/{}/{}/{short}", w.object.name, c.name),
                    Box::new(move |env, inst, _| {
                        let pod = inst.view.pods.state().into_iter().find(|p| {
                            let labels = p.metadata.labels.clone().unwrap_or_default();
                            p.metadata.deletion_timestamp.is_none()
                                && vitals_checks::manifest::selector_matches(&selector, &labels)
                        });
                        match pod {
                            Some(p) => rt().block_on(probes::check(
                                &env.client,
                                &inst.namespace,
                                &p,
                                &spec,
                            )),
                            None => Verdict::fail(
                                &spec.container,
                                "a pod to probe",
                                "no pod of the workload exists",
                            ),
                        }
                    }),
                ));
            }
        }
    }
    for sa in manifests.of_kind("ServiceAccount") {
        let sa_name = sa.name.clone();
        out.push(with(
            format!("cluster/rbac/{sa_name}"),
            Box::new(move |env, inst, m| {
                let asks = rbac::derive(m, &sa_name, &inst.namespace);
                rt().block_on(rbac::check(&env.client, &inst.namespace, &sa_name, &asks))
            }),
        ));
    }
    let has_policies = manifests.of_kind("NetworkPolicy").next().is_some();
    if has_policies {
        out.push(with(
            "cluster/netpol/canary".into(),
            Box::new(|env, _, _| canary(env)),
        ));
        // Data services behind an ingress policy: nobody outside the
        // release's allowed clients may reach them.
        let governed: Vec<&Object> = manifests
            .of_kind("Service")
            .filter(|svc| {
                let sel = svc
                    .doc
                    .pointer("/spec/selector")
                    .cloned()
                    .unwrap_or_default();
                manifests.workloads().any(|w| {
                    w.object.kind == "StatefulSet"
                        && vitals_checks::manifest::selector_matches(
                            &serde_json::json!({"matchLabels": sel}),
                            &w.pod_labels(),
                        )
                }) && svc.doc.pointer("/spec/clusterIP").and_then(|v| v.as_str()) != Some("None")
            })
            .collect();
        for svc in governed {
            let Some(port) = svc
                .doc
                .pointer("/spec/ports/0/port")
                .and_then(|v| v.as_i64())
            else {
                continue;
            };
            let name = svc.name.clone();
            let n2 = name.clone();
            out.push(with(
                format!("cluster/netpol/denied/unlabelled-pod-to-{name}"),
                Box::new(move |env, inst, _| {
                    if let Some(v) = canary_failed(env) {
                        return v;
                    }
                    let f = netpol::Flow {
                        from_ns: inst.namespace.clone(),
                        from_pod: CLIENT_POD.into(),
                        from_container: None,
                        from_label: format!("unlabelled pod in {}", inst.namespace),
                        host: n2.clone(),
                        port: port as u16,
                        allowed: false,
                        service: Some(netpol::ServiceRef {
                            namespace: inst.namespace.clone(),
                            name: n2.clone(),
                        }),
                    };
                    judge_flow(env, &f)
                }),
            ));
            out.push(with(
                format!("cluster/netpol/denied/other-namespace-to-{name}"),
                Box::new(move |env, inst, _| {
                    if let Some(v) = canary_failed(env) {
                        return v;
                    }
                    let Some(img) = env.images.get("agent") else {
                        return Verdict::fail("outsider", "an agent image", "none");
                    };
                    if let Err(e) =
                        rt().block_on(vitals_checks::runtime::agent_pod::ensure_agent_pod(
                            &env.client,
                            "vitals-outsider",
                            "outsider",
                            img,
                            serde_json::json!({"app": "outsider"}),
                        ))
                    {
                        return Verdict::fail("outsider", "a pod in another namespace", e);
                    }
                    let f = netpol::Flow {
                        from_ns: "vitals-outsider".into(),
                        from_pod: "outsider".into(),
                        from_container: None,
                        from_label: "pod in namespace vitals-outsider".into(),
                        host: format!("{name}.{}.svc.cluster.local", inst.namespace),
                        port: port as u16,
                        allowed: false,
                        service: Some(netpol::ServiceRef {
                            namespace: inst.namespace.clone(),
                            name: name.clone(),
                        }),
                    };
                    judge_flow(env, &f)
                }),
            ));
        }
        // What the chart wires must still work under its own policies.
        let mut dns_done = std::collections::BTreeSet::new();
        for (src, svc, port) in vitals_checks::render::policy::network::wired_flows(&manifests) {
            let Some(w) = manifests.workloads().find(|w| w.object.name == src) else {
                continue;
            };
            let selector = w.selector();
            let agent_container = w
                .containers()
                .into_iter()
                .filter(|c| !c.init)
                .find(|c| {
                    c.spec
                        .get("image")
                        .and_then(|i| i.as_str())
                        .is_some_and(|i| i.contains("vitals/agent"))
                })
                .map(|c| c.name.clone());
            let sel2 = selector.clone();
            let ac2 = agent_container.clone();
            let allowed_name = format!("cluster/netpol/allowed/{src}-to-{svc}");
            // Known from the render: a source with no agent binary cannot
            // connect on the harness's behalf, so the trial cannot run.
            let Some(container) = agent_container.clone() else {
                out.push(Check::cannot_run(
                    allowed_name,
                    format!("{src} -> {svc}"),
                    "the source runs no agent binary to connect from (not an app stand-in)",
                ));
                let src2 = w.object.name.clone();
                if dns_done.insert(src2.clone()) {
                    out.push(Check::cannot_run(
                        format!("cluster/netpol/dns/{src2}"),
                        format!("{src2} DNS"),
                        "the source runs no agent binary (not an app stand-in)",
                    ));
                }
                continue;
            };
            out.push(with(
                allowed_name,
                Box::new(move |env, inst, _| {
                    if let Some(v) = canary_failed(env) {
                        return v;
                    }
                    let container = container.clone();
                    let Some(pod) = first_pod(inst, &selector) else {
                        return Verdict::fail(&src, "a source pod", "none running");
                    };
                    let f = netpol::Flow {
                        from_ns: inst.namespace.clone(),
                        from_pod: pod,
                        from_container: Some(container),
                        from_label: format!("{src} (its own pod)"),
                        host: svc.clone(),
                        port: port as u16,
                        allowed: true,
                        service: None,
                    };
                    judge_flow(env, &f)
                }),
            ));
            let src2 = w.object.name.clone();
            if !dns_done.insert(src2.clone()) {
                continue;
            }
            out.push(with(
                format!("cluster/netpol/dns/{src2}"),
                Box::new(move |env, inst, _| {
                    let Some(container) = ac2.clone() else {
                        // Listed as ignored above, before the run.
                        return Verdict::skip(format!("{src2} DNS"), "no agent binary");
                    };
                    let Some(pod) = first_pod(inst, &sel2) else {
                        return Verdict::fail(&src2, "a source pod", "none running");
                    };
                    let c = exec::InPod {
                        client: &env.client,
                        namespace: &inst.namespace,
                        pod: &pod,
                        container: Some(&container),
                    };
                    rt().block_on(dns::resolves(&c, "kubernetes.default.svc.cluster.local"))
                }),
            ));
        }
    }
    for hpa in manifests.of_kind("HorizontalPodAutoscaler") {
        let name = hpa.name.clone();
        let min = hpa
            .doc
            .pointer("/spec/minReplicas")
            .and_then(|v| v.as_i64())
            .unwrap_or(1) as i32;
        let max = hpa
            .doc
            .pointer("/spec/maxReplicas")
            .and_then(|v| v.as_i64())
            .unwrap_or(1) as i32;
        let target =
            vitals_checks::render::policy::autoscaling::target(&manifests, &hpa.doc).cloned();
        let plan = target.as_ref().and_then(|t| {
            let w = t.as_workload()?;
            let agent = w.containers().into_iter().find(|c| {
                !c.init
                    && c.spec
                        .get("image")
                        .and_then(|i| i.as_str())
                        .is_some_and(|i| i.contains("vitals/agent"))
            })?;
            let svc = manifests.of_kind("Service").find(|s| {
                let sel = s.doc.pointer("/spec/selector").cloned().unwrap_or_default();
                s.doc.pointer("/spec/clusterIP").and_then(|v| v.as_str()) != Some("None")
                    && vitals_checks::manifest::selector_matches(
                        &serde_json::json!({"matchLabels": sel}),
                        &w.pod_labels(),
                    )
            });
            let (svc, pod_port) = match svc {
                Some(svc) => {
                    let sp = svc.doc.pointer("/spec/ports/0")?;
                    let port = sp.get("port").and_then(|v| v.as_i64())?;
                    let pod_port = match sp.get("targetPort").unwrap_or(sp.get("port")?) {
                        serde_json::Value::Number(n) => n.as_i64(),
                        serde_json::Value::String(n) => agent
                            .ports()
                            .into_iter()
                            .find(|(name, _)| name.as_deref() == Some(n.as_str()))
                            .map(|(_, p)| p),
                        _ => None,
                    }?;
                    (Some((svc.name.clone(), port)), pod_port)
                }
                // No Service: the port the container's own probes call.
                None => (None, probe_port(agent.spec)?),
            };
            // The HPA averages usage over the requests of every app
            // container in the pod (init containers are done by then).
            let pod_cpu_m: f64 = w
                .containers()
                .iter()
                .filter(|c| !c.init)
                .filter_map(|c| c.spec.pointer("/resources/requests/cpu"))
                .filter_map(|q| match q {
                    serde_json::Value::String(s) => vitals_checks::quantity::parse(s),
                    serde_json::Value::Number(n) => n.as_f64(),
                    _ => None,
                })
                .sum::<f64>()
                * 1000.0;
            Some(LoadPlan {
                svc,
                selector: w.selector(),
                container: agent.name.clone(),
                pod_port,
                burn_m: load_millicores(min, max, pod_cpu_m, cpu_target_percent(&hpa.doc)),
            })
        });
        let exec_load = cell.suite.load.get(&name).cloned();
        let target_selector = target
            .as_ref()
            .and_then(|t| t.doc.pointer("/spec/selector").cloned());
        if plan.is_none() && (exec_load.is_none() || target_selector.is_none()) {
            // Known from the render and the suite spec: nothing can load it.
            out.push(Check::cannot_run(
                format!("cluster/hpa/{name}"),
                format!("HorizontalPodAutoscaler/{name}"),
                "its target is not an HTTP app stand-in the load generator can drive, and the suite spec gives no `load` command for it",
            ));
            continue;
        }
        out.push(with(
            format!("cluster/hpa/{name}"),
            Box::new(move |env, inst, _| {
                let Some(plan) = plan.clone() else {
                    if let (Some(l), Some(sel)) = (&exec_load, &target_selector) {
                        return rt().block_on(exec_hpa(env, inst, &name, min, max, sel, l));
                    }
                    return Verdict::skip(format!("HorizontalPodAutoscaler/{name}"), "nothing to load it with");
                };
                rt().block_on(drive_hpa(env, inst, &name, min, max, &plan))
            }),
        ));
    }
    for cron in cronjobs::derive(&manifests) {
        out.push(with(
            format!("cluster/cronjob/{}", cron.name),
            Box::new(move |env, inst, _| {
                rt().block_on(cronjobs::check(&env.client, &inst.view, &cron))
            }),
        ));
    }
    if let Some(up) = &cell.upgrade {
        for st in persistence::derive(&manifests) {
            let label = up.label.clone();
            out.push(with(
                format!("cluster/data-kept/{}", st.statefulset),
                Box::new(move |env, inst, _| {
                    let subject = format!("StatefulSet/{}", st.statefulset);
                    let expected = format!(
                        "a marker written to {} under {label} is still there after the upgrade",
                        st.mount
                    );
                    let state = CellState::of(&inst.namespace);
                    let file = state.path(crate::cell::state::CellFile::Markers);
                    let markers = state.markers();
                    let marker = match markers.get(&st.statefulset) {
                        Some(Ok(m)) => m.clone(),
                        Some(Err(e)) => {
                            return Verdict::fail(
                                &subject,
                                expected,
                                format!("no marker was written: {e}"),
                            )
                        }
                        None => {
                            return Verdict::fail(
                                &subject,
                                expected,
                                format!("no marker recorded in {}", file.display()),
                            )
                        }
                    };
                    let read = rt().block_on(persistence::read_marker(
                        &env.client,
                        &inst.namespace,
                        &st,
                        persistence::UPGRADE_MARKER,
                        false,
                    ));
                    persistence::judge_marker(
                        &subject,
                        expected,
                        &marker,
                        read,
                        |w| format!("after the upgrade: {w}"),
                        &st.claim,
                    )
                }),
            ));
        }
    }
    // Stage 1: deleting a data pod would break the trials judged beside it.
    for st in persistence::derive(&manifests) {
        out.push(
            with(
                format!("cluster/persistence/{}", st.statefulset),
                Box::new(move |env, inst, _| {
                    rt().block_on(persistence::check(
                        &env.client,
                        &inst.view,
                        &st,
                        READY_TIMEOUT,
                    ))
                }),
            )
            .at_stage(1),
        );
    }
    // Stage 2: restarts are judged over the whole run, so last.
    for w in manifests
        .workloads()
        .filter(|w| w.is_long_running() && w.object.hooks().is_empty())
    {
        let subject = w.object.id().to_string();
        let selector = w.selector();
        out.push(
            with(
                format!("cluster/restarts/{}", w.object.id().slug()),
                Box::new(move |env, inst, _| {
                    rt().block_on(restarts::check(
                        &env.client,
                        &inst.view,
                        &subject,
                        &selector,
                    ))
                }),
            )
            .at_stage(2),
        );
    }
    out.push(with(
        "cluster/helm-test".into(),
        Box::new(|env, inst, _| {
            let out = std::process::Command::new(crate::env::root().join(".bin/helm"))
                .args([
                    "test",
                    &inst.release,
                    "-n",
                    &inst.namespace,
                    "--logs",
                    "--timeout",
                    "5m",
                    "--kubeconfig",
                ])
                .arg(&env.handle.kubeconfig)
                .output();
            match out {
                Ok(o) if o.status.success() => {
                    Verdict::pass("helm test", "every test hook pod succeeds", "passed")
                }
                Ok(o) => Verdict::fail(
                    "helm test",
                    "every test hook pod succeeds",
                    format!("exit {}", o.status.code().unwrap_or(-1)),
                )
                .with_evidence(Evidence::Command {
                    argv: "helm test --logs".into(),
                    exit: o.status.code().unwrap_or(-1),
                    stderr: format!(
                        "{}{}",
                        String::from_utf8_lossy(&o.stdout),
                        String::from_utf8_lossy(&o.stderr)
                    ),
                }),
                Err(e) => Verdict::fail("helm test", "every test hook pod succeeds", e.to_string()),
            }
        }),
    ));
    out
}

fn first_pod(inst: &Installed, selector: &serde_json::Value) -> Option<String> {
    inst.view
        .pods
        .state()
        .into_iter()
        .filter(|p| {
            p.metadata.deletion_timestamp.is_none()
                && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
        })
        .find(|p| {
            vitals_checks::manifest::selector_matches(
                selector,
                &p.metadata.labels.clone().unwrap_or_default(),
            )
        })
        .and_then(|p| p.metadata.name.clone())
}

/// The enforcement canary, once per process.
fn canary(env: &ClusterEnv) -> Verdict {
    static CANARY: OnceLock<Verdict> = OnceLock::new();
    CANARY
        .get_or_init(|| match env.images.get("agent") {
            Some(img) => rt().block_on(netpol::canary(&env.client, img)),
            None => Verdict::fail(
                "NetworkPolicy enforcement",
                "an agent image for the canary",
                "none in images.env",
            ),
        })
        .clone()
}

/// A flow judged once the CNI has caught up with every policy that existed
/// when the trial began (`netpol::sync_barrier`): otherwise an ALLOWED rule
/// not yet programmed reads as DENIED.
fn judge_flow(env: &ClusterEnv, f: &netpol::Flow) -> Verdict {
    let after = tokio::time::Instant::now();
    let subject = format!("{} -> {}:{}", f.from_label, f.host, f.port);
    let Some(img) = env.images.get("agent") else {
        return Verdict::fail(
            subject,
            "an agent image for the policy sync barrier",
            "none in images.env",
        );
    };
    rt().block_on(async {
        match netpol::sync_barrier(&env.client, img, after).await {
            Err(e) => Verdict::fail(
                subject,
                "the CNI enforces the current policies before the flow is judged",
                e,
            ),
            Ok(note) => netpol::check(&env.client, f)
                .await
                .with_evidence(Evidence::Note {
                    text: format!("policy sync: {note}"),
                }),
        }
    })
}

fn canary_failed(env: &ClusterEnv) -> Option<Verdict> {
    let c = canary(env);
    c.failed().then(|| {
        Verdict::fail(
            &c.subject,
            "the CNI enforces NetworkPolicy (canary)",
            c.observed.clone(),
        )
    })
}

/// How to load an HPA's target.
#[derive(Debug, Clone)]
struct LoadPlan {
    /// The Service and port a real client would use; none for a worker
    /// nothing calls (then the load runs inside its own pod).
    svc: Option<(String, i64)>,
    selector: serde_json::Value,
    container: String,
    pod_port: i64,
    /// The CPU the load burns, in millicores (see [`load_millicores`]).
    burn_m: f64,
}

/// The HPA's cpu target (averageUtilization of a Resource metric), if any.
fn cpu_target_percent(hpa: &serde_json::Value) -> Option<f64> {
    hpa.pointer("/spec/metrics")?
        .as_array()?
        .iter()
        .find(|m| m.pointer("/resource/name").and_then(|n| n.as_str()) == Some("cpu"))?
        .pointer("/resource/target/averageUtilization")?
        .as_f64()
}

/// The load, sized from the HPA itself: enough CPU that the HPA wants
/// twice its minimum (capped at its maximum), with a quarter on top for
/// the burn a starved node does not deliver. A fixed load far above that
/// drove every HPA to its maximum: dozens of pod starts at once on one
/// node, whose kubelet then answered metrics-server too late and the HPAs
/// lost their readings. Without a cpu target or requests to size from,
/// the fixed load stays (160m).
fn load_millicores(min: i32, max: i32, pod_cpu_m: f64, target_percent: Option<f64>) -> f64 {
    const FIXED_M: f64 = 160.0;
    match target_percent {
        Some(t) if pod_cpu_m > 0.0 && t > 0.0 => {
            let want = (2 * min.max(1)).min(max).max(min + 1) as f64;
            (want * pod_cpu_m * t / 100.0 * 1.25).clamp(5.0, FIXED_M)
        }
        _ => FIXED_M,
    }
}

/// The CPU a drive burns: the sized load first, then half as much again
/// per drive that left the HPA below its target, never past the fixed
/// load that overloaded the node.
fn drive_millicores(base_m: f64, attempt: usize) -> f64 {
    (base_m * 1.5f64.powi(attempt as i32)).min(160.0_f64.max(base_m))
}

/// Each load request burns this much CPU; the rate makes up the rest.
const BURN_MS: f64 = 10.0;

/// Loads an HPA's target with the suite spec's command, run for the length
/// of the load in one of the target's own pods.
async fn exec_hpa(
    env: &ClusterEnv,
    inst: &Installed,
    hpa: &str,
    min: i32,
    max: i32,
    selector: &serde_json::Value,
    l: &crate::spec::ExecLoad,
) -> Verdict {
    let Some(pod) = first_pod(inst, selector) else {
        return Verdict::fail(hpa, "a target pod to load from inside", "none running");
    };
    let client = env.client.clone();
    let ns = inst.namespace.clone();
    let l = l.clone();
    // The suite's own command is what it is: every drive runs it the same.
    let load = move |_attempt: usize| {
        let (client, ns, pod, l) = (client.clone(), ns.clone(), pod.clone(), l.clone());
        async move {
            let at = exec::InPod {
                client: &client,
                namespace: &ns,
                pod: &pod,
                container: Some(&l.container),
            };
            let out = at
                .exec(&l.command, Duration::from_secs(150))
                .await
                .map_err(|e| e.to_string())?;
            let what = format!("`{}` in {pod}/{}", l.command.join(" "), l.container);
            if out.exit == 0 {
                Ok(format!("{what} ran {:.0}s", out.elapsed.as_secs_f64()))
            } else {
                Err(format!("{what} exited {}: {}", out.exit, out.stderr.trim()))
            }
        }
    };
    hpa_check(env, &inst.namespace, hpa, min, max, load).await
}

/// The local port an exec probe calls (`http://127.0.0.1:<port>/...`), or
/// the first declared container port: where a worker's agent listens.
fn probe_port(container: &serde_json::Value) -> Option<i64> {
    let text = container.to_string();
    let from_probe = text.split("http://127.0.0.1:").nth(1).and_then(|rest| {
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    });
    from_probe.or_else(|| container.pointer("/ports/0/containerPort")?.as_i64())
}

/// Load comes from the namespace the charts admit traffic from
/// (ingress-nginx), as a real client would, through the app's Service. A
/// target no ingress may reach (an internal worker) is loaded from inside
/// one of its own pods instead; the evidence says which.
async fn drive_hpa(
    env: &ClusterEnv,
    inst: &Installed,
    hpa: &str,
    min: i32,
    max: i32,
    plan: &LoadPlan,
) -> Verdict {
    let ns = inst.namespace.as_str();
    let Some(img) = env.images.get("agent") else {
        return Verdict::fail(hpa, "an agent image to load from", "none");
    };
    let load_ns = "ingress-nginx";
    let load_pod = format!("vitals-load-{ns}");
    if let Err(e) = vitals_checks::runtime::agent_pod::ensure_agent_pod(
        &env.client,
        load_ns,
        &load_pod,
        img,
        serde_json::json!({"app": "vitals-load"}),
    )
    .await
    {
        return Verdict::fail(hpa, "a load generator pod", e);
    }
    let via_service = match &plan.svc {
        Some((svc, port)) => {
            let fqdn = format!("{svc}.{ns}.svc.cluster.local");
            let loader = exec::InPod {
                client: &env.client,
                namespace: load_ns,
                pod: &load_pod,
                container: None,
            };
            let reachable = netpol::connect(&loader, &fqdn, *port as u16).await;
            (reachable.kind == Some(vitals_agent::report::ConnectKind::Connected))
                .then(|| format!("http://{fqdn}:{port}/burn?ms={BURN_MS}"))
        }
        None => None,
    };
    let (from_ns, from_pod, container, url) = if let Some(url) = via_service {
        (load_ns.to_string(), load_pod, None, url)
    } else {
        let Some(pod) = first_pod(inst, &plan.selector) else {
            return Verdict::fail(hpa, "a target pod to load from inside", "none running");
        };
        (
            ns.to_string(),
            pod,
            Some(plan.container.clone()),
            format!("http://127.0.0.1:{}/burn?ms={BURN_MS}", plan.pod_port),
        )
    };
    let client = env.client.clone();
    let origin = format!("from pod {from_ns}/{from_pod}");
    let base_m = plan.burn_m;
    let load = move |attempt: usize| {
        // A drive that left the HPA below its target (a slower node serves
        // less of the same rate) is driven again, harder.
        let burn_m = drive_millicores(base_m, attempt);
        let rate = format!("{:.2}", burn_m / BURN_MS);
        let argv: Vec<String> = [
            "agent",
            "load",
            "--url",
            &url,
            "--rate",
            &rate,
            "--duration",
            "60s",
            "--concurrency",
            "4",
            "--timeout",
            "5s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (client, from_ns, from_pod, container, url, origin) = (
            client.clone(),
            from_ns.clone(),
            from_pod.clone(),
            container.clone(),
            url.clone(),
            origin.clone(),
        );
        async move {
            let at = exec::InPod {
                client: &client,
                namespace: &from_ns,
                pod: &from_pod,
                container: container.as_deref(),
            };
            let out = at
                .exec(&argv, Duration::from_secs(120))
                .await
                .map_err(|e| e.to_string())?;
            match exec::agent_report(&out) {
            Some(vitals_agent::report::Report::Load(r)) => Ok(format!(
                "{} requests to {url} {origin} ({rate}/s x {BURN_MS}ms: {burn_m:.0}m of cpu), {} ok, {} errors, p50 {:.0}ms, p99 {:.0}ms",
                r.count, r.ok, r.errors, r.latency_ms.p50, r.latency_ms.p99
            )),
            _ => Err(format!(
                "no load report (exit {}): {}",
                out.exit,
                out.stderr.trim()
            )),
        }
        }
    };
    hpa_check(env, ns, hpa, min, max, load).await
}

/// Drives the load `load(attempt)` starts at the HPA and judges its
/// reaction, with deadlines from the live HPA's own `behavior` and the
/// cluster's metrics resolution (`hpa::behavior`).
async fn hpa_check<F>(
    env: &ClusterEnv,
    ns: &str,
    hpa: &str,
    min: i32,
    max: i32,
    load: impl FnMut(usize) -> F,
) -> Verdict
where
    F: std::future::Future<Output = Result<String, String>>,
{
    let live = match Api::<k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler>::namespaced(
        env.client.clone(),
        ns,
    )
    .get(hpa)
    .await
    {
        Ok(h) => h,
        Err(e) => {
            return Verdict::fail(
                format!("HorizontalPodAutoscaler/{hpa}"),
                "the HPA exists in the cell",
                e.to_string(),
            )
        }
    };
    let spec = live.spec.as_ref();
    let target_cpu_percent = spec.and_then(|s| {
        s.metrics.iter().flatten().find_map(|m| {
            let r = m.resource.as_ref()?;
            (r.name == "cpu")
                .then_some(r.target.average_utilization)
                .flatten()
        })
    });
    let target = hpa::Target {
        namespace: ns.into(),
        name: hpa.into(),
        min,
        max,
        target_cpu_percent,
        scale_down: hpa::behavior::ScaleDown::from_behavior(spec.and_then(|s| s.behavior.as_ref())),
        pipeline: metrics_pipeline(&env.client).await,
    };
    // The load and the scale-ups it causes are the heaviest thing a trial
    // does to the node; with every HPA of the matrix at once on 2 cores the
    // kubelet's resource metrics time out and HPAs lose their readings.
    let _slot = hpa_slots().acquire().await;
    hpa::check(&env.client, &target, load).await
}

/// The cluster's metrics pipeline, read once per process.
async fn metrics_pipeline(client: &Client) -> hpa::behavior::Pipeline {
    static P: tokio::sync::OnceCell<hpa::behavior::Pipeline> = tokio::sync::OnceCell::const_new();
    *P.get_or_init(|| hpa::pipeline(client)).await
}

/// HPA trials that load the cluster at once (`E2E_HPA_PARALLEL`, default 4).
fn hpa_slots() -> &'static tokio::sync::Semaphore {
    static S: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    S.get_or_init(|| {
        tokio::sync::Semaphore::new(crate::config::get().hpa_parallel)
    })
}

/// Kinds every check waits for before it runs.
fn gates(kind: &str) -> bool {
    matches!(kind, "Deployment" | "StatefulSet" | "DaemonSet" | "Job")
}

/// A fixture cell that failed on purpose: delete its namespace and do not
/// report it as a kept failure.
pub fn forget(cell: &Cell) {
    let ns = cell.namespace();
    if let Ok(mut f) = failed_cells().lock() {
        f.remove(&ns);
    }
    // Its room returns once its pods are really gone.
    if let Ok(env) = cluster() {
        rt().block_on(vitals_checks::runtime::agent_pod::delete_namespace(
            &env.client,
            &ns,
            Duration::from_secs(300),
        ));
    }
    CellState::of(&ns).clear_stamp();
    crate::capacity::release(&ns);
}

/// One cluster check, given the cluster, the installed cell and its manifests.
type Judge = Box<dyn Fn(&Arc<ClusterEnv>, &Installed, &Manifests) -> Verdict + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_load_asks_for_twice_the_minimum_at_the_target() {
        // developer-mesh edge-mcp under the overlay: 2..10 pods of 5m at 70%.
        let m = load_millicores(2, 10, 5.0, Some(70.0));
        assert_eq!(m, 4.0 * 5.0 * 0.7 * 1.25);
    }

    #[test]
    fn the_load_stops_at_the_maximum_yet_always_asks_for_one_more_than_the_minimum() {
        assert_eq!(
            load_millicores(3, 4, 10.0, Some(50.0)),
            4.0 * 10.0 * 0.5 * 1.25
        );
        assert_eq!(
            load_millicores(2, 2, 10.0, Some(50.0)),
            3.0 * 10.0 * 0.5 * 1.25
        );
    }

    #[test]
    fn without_a_cpu_target_or_requests_the_fixed_load_stays() {
        assert_eq!(load_millicores(2, 10, 5.0, None), 160.0);
        assert_eq!(load_millicores(2, 10, 0.0, Some(70.0)), 160.0);
        assert_eq!(load_millicores(10, 40, 100.0, Some(90.0)), 160.0);
    }

    #[test]
    fn a_drive_that_left_the_hpa_below_its_target_is_driven_harder_but_bounded() {
        assert_eq!(drive_millicores(20.0, 0), 20.0);
        assert_eq!(drive_millicores(20.0, 1), 30.0);
        assert_eq!(drive_millicores(100.0, 2), 160.0);
        // The fixed load (no target to size from) is not raised.
        assert_eq!(drive_millicores(160.0, 1), 160.0);
    }

    #[test]
    fn the_cpu_target_is_read_from_the_resource_metric() {
        let hpa = serde_json::json!({"spec": {"metrics": [
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 85}}},
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}
        ]}});
        assert_eq!(cpu_target_percent(&hpa), Some(80.0));
        assert_eq!(cpu_target_percent(&serde_json::json!({"spec": {}})), None);
    }
}
