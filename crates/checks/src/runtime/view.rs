//! One read-only view of a test namespace, filled by watches (kube-runtime
//! reflectors): pods, claims and events, for checks and for evidence. Every
//! change ticks a counter that waits listen to, so they re-judge at once.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, PersistentVolumeClaim, Pod};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Clone)]
pub struct NamespaceView {
    pub namespace: String,
    pub pods: Store<Pod>,
    pub pvcs: Store<PersistentVolumeClaim>,
    pub events: Store<Event>,
    changes: watch::Receiver<u64>,
    _tasks: Arc<Tasks>,
}

struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

fn reflect<K>(api: Api<K>, tx: watch::Sender<u64>) -> (Store<K>, JoinHandle<()>)
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .touched_objects();
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while stream.next().await.is_some() {
            tx.send_modify(|n| *n += 1);
        }
    });
    (reader, task)
}

impl NamespaceView {
    /// Starts the watches and returns once each has listed the namespace.
    pub async fn start(client: Client, namespace: &str) -> NamespaceView {
        let (tx, rx) = watch::channel(0u64);
        let (pods, t1) = reflect(
            Api::<Pod>::namespaced(client.clone(), namespace),
            tx.clone(),
        );
        let (pvcs, t2) = reflect(
            Api::<PersistentVolumeClaim>::namespaced(client.clone(), namespace),
            tx.clone(),
        );
        let (events, t3) = reflect(Api::<Event>::namespaced(client, namespace), tx);
        // A store that never becomes ready (RBAC, API down) must not hang
        // the caller: the waits have their own deadlines.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            let _ = pods.wait_until_ready().await;
            let _ = pvcs.wait_until_ready().await;
            let _ = events.wait_until_ready().await;
        })
        .await;
        NamespaceView {
            namespace: namespace.to_string(),
            pods,
            pvcs,
            events,
            changes: rx,
            _tasks: Arc::new(Tasks(vec![t1, t2, t3])),
        }
    }

    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }

    /// Events about one object, oldest first.
    pub fn events_for(&self, kind: &str, name: &str) -> Vec<Arc<Event>> {
        let mut v: Vec<_> = self
            .events
            .state()
            .into_iter()
            .filter(|e| {
                e.involved_object.kind.as_deref() == Some(kind)
                    && e.involved_object.name.as_deref() == Some(name)
            })
            .collect();
        v.sort_by_key(|e| {
            e.last_timestamp
                .as_ref()
                .map(|t| t.0)
                .or(e.event_time.as_ref().map(|t| t.0))
        });
        v
    }
}
