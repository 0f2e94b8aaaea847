//! `agent serve`: the app stand-in.
//!
//! HTTP/1.1 on every port. Routing, first match wins:
//! 1. a metrics path: Prometheus text;
//! 2. a live / ready / startup path: 200 when EVERY role the path has passes,
//!    else 503 (so `--live-path /healthcheck --ready-path /healthcheck` makes
//!    `/healthcheck` answer like the readiness check). Ready implies started;
//!    the body of a ready path is a [`ReadyBody`] naming each dependency;
//! 3. `/burn?ms=N`: burns CPU for N ms on a blocking thread;
//! 4. `/`: 200 with a [`PodInfo`] (so a Service or Ingress in front answers);
//! 5. anything else: 404 with a [`PodInfo`]. An app stand-in that answered
//!    every path would hide a chart whose probe asks the wrong path.
//!
//! Dependencies are checked by a TCP connect, on each readiness request and
//! every `check_interval` in the background (so the gauge and the logs stay
//! current without probes). One stderr line per change of a dependency's state
//! or of the overall readiness, never one per probe.
//!
//! SIGTERM / SIGINT: stop accepting, let in-flight requests finish (at most
//! `drain_timeout`), exit 0.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::net::connect;
use crate::parse::{self, HostPort};
use crate::report::*;

/// One dependency that readiness requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// `tcp:host:port` or `env:VAR`.
    pub name: String,
    /// The target, or why there is none.
    pub target: Result<HostPort, (DepReason, String)>,
}

impl Dependency {
    pub fn tcp(hp: HostPort) -> Self {
        Dependency {
            name: format!("tcp:{hp}"),
            target: Ok(hp),
        }
    }

    /// From the value of env var `var` (None when unset).
    pub fn from_env_value(var: &str, value: Option<&str>) -> Self {
        let target = match value.map(str::trim) {
            None | Some("") => Err((DepReason::MissingEnv, format!("env {var} is not set"))),
            Some(v) => parse::dependency_target(v)
                .map_err(|e| (DepReason::Invalid, format!("env {var}: {e}"))),
        };
        Dependency {
            name: format!("env:{var}"),
            target,
        }
    }
}

/// Everything `serve` needs, already parsed.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub bind: IpAddr,
    pub ports: Vec<u16>,
    pub live_paths: Vec<String>,
    pub ready_paths: Vec<String>,
    pub startup_paths: Vec<String>,
    pub metrics_paths: Vec<String>,
    pub startup_delay: Duration,
    pub dependencies: Vec<Dependency>,
    pub dep_timeout: Duration,
    pub check_interval: Duration,
    pub burn_baseline_millicores: u32,
    pub max_burn: Duration,
    pub drain_timeout: Duration,
}

#[derive(Clone, Copy)]
enum Kind {
    Live,
    Ready,
    Startup,
    Metrics,
    Burn,
    Other,
}
const KINDS: [(&str, Kind); 6] = [
    ("live", Kind::Live),
    ("ready", Kind::Ready),
    ("startup", Kind::Startup),
    ("metrics", Kind::Metrics),
    ("burn", Kind::Burn),
    ("other", Kind::Other),
];

#[derive(Default)]
struct Last {
    deps: Vec<Option<(bool, Option<DepReason>)>>,
    ready: Option<bool>,
}

struct State {
    cfg: ServeConfig,
    started_at: Instant,
    hostname: String,
    requests: [AtomicU64; 6],
    burn_request_us: AtomicU64,
    burn_baseline_us: AtomicU64,
    ready_gauge: AtomicBool,
    dep_up: Vec<AtomicBool>,
    last: Mutex<Last>,
}

fn log(msg: impl AsRef<str>) {
    eprintln!("agent serve: {}", msg.as_ref());
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

impl State {
    fn started(&self) -> bool {
        self.started_at.elapsed() >= self.cfg.startup_delay
    }

    /// Check every dependency now; log and record changes.
    async fn check(self: &Arc<Self>) -> ReadyBody {
        let mut set = tokio::task::JoinSet::new();
        for (i, dep) in self.cfg.dependencies.iter().enumerate() {
            let dep = dep.clone();
            let timeout = self.cfg.dep_timeout;
            set.spawn(async move {
                let status = match &dep.target {
                    Err((reason, msg)) => DepStatus {
                        name: dep.name.clone(),
                        target: String::new(),
                        reachable: false,
                        reason: Some(*reason),
                        error: Some(msg.clone()),
                    },
                    Ok(hp) => match connect(hp, timeout).await {
                        Ok(_) => DepStatus {
                            name: dep.name.clone(),
                            target: hp.to_string(),
                            reachable: true,
                            reason: None,
                            error: None,
                        },
                        Err(e) => DepStatus {
                            name: dep.name.clone(),
                            target: hp.to_string(),
                            reachable: false,
                            reason: Some(e.kind.into()),
                            error: Some(e.message),
                        },
                    },
                };
                (i, status)
            });
        }
        let mut deps: Vec<Option<DepStatus>> = vec![None; self.cfg.dependencies.len()];
        while let Some(r) = set.join_next().await {
            if let Ok((i, s)) = r {
                deps[i] = Some(s);
            }
        }
        let deps: Vec<DepStatus> = deps
            .into_iter()
            .zip(&self.cfg.dependencies)
            .map(|(s, d)| {
                s.unwrap_or_else(|| DepStatus {
                    name: d.name.clone(),
                    target: String::new(),
                    reachable: false,
                    reason: Some(DepReason::Error),
                    error: Some("check task failed".into()),
                })
            })
            .collect();
        let started = self.started();
        let ready = started && deps.iter().all(|d| d.reachable);
        let unreachable: Vec<String> = deps
            .iter()
            .filter(|d| !d.reachable)
            .map(|d| d.name.clone())
            .collect();
        {
            let mut last = self.last.lock().expect("state lock");
            if last.deps.len() != deps.len() {
                last.deps = vec![None; deps.len()];
            }
            for (i, d) in deps.iter().enumerate() {
                let now = (d.reachable, d.reason);
                self.dep_up[i].store(d.reachable, Ordering::Relaxed);
                if last.deps[i] != Some(now) {
                    if d.reachable {
                        log(format!("dependency {} ({}) reachable", d.name, d.target));
                    } else {
                        let reason = d
                            .reason
                            .map(|r| serde_json::to_string(&r).unwrap_or_default())
                            .unwrap_or_default();
                        let target = if d.target.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", d.target)
                        };
                        log(format!(
                            "dependency {}{target} unreachable: {}: {}",
                            d.name,
                            reason.trim_matches('"'),
                            d.error.as_deref().unwrap_or("")
                        ));
                    }
                    last.deps[i] = Some(now);
                }
            }
            if last.ready != Some(ready) {
                if ready {
                    log("ready");
                } else if !started {
                    log(format!(
                        "not ready: starting (startup delay {:?})",
                        self.cfg.startup_delay
                    ));
                } else {
                    log(format!("not ready: unreachable {}", unreachable.join(", ")));
                }
                last.ready = Some(ready);
            }
        }
        self.ready_gauge.store(ready, Ordering::Relaxed);
        ReadyBody {
            ready,
            started,
            dependencies: deps,
            unreachable,
        }
    }

    fn metrics(&self) -> String {
        let mut s = String::new();
        s.push_str("# HELP agent_http_requests_total HTTP requests served, by kind of path.\n");
        s.push_str("# TYPE agent_http_requests_total counter\n");
        for (i, (name, _)) in KINDS.iter().enumerate() {
            s.push_str(&format!(
                "agent_http_requests_total{{kind=\"{name}\"}} {}\n",
                self.requests[i].load(Ordering::Relaxed)
            ));
        }
        s.push_str("# HELP agent_ready Whether the last readiness check passed (1) or not (0).\n");
        s.push_str("# TYPE agent_ready gauge\n");
        s.push_str(&format!(
            "agent_ready {}\n",
            u8::from(self.ready_gauge.load(Ordering::Relaxed))
        ));
        s.push_str("# HELP agent_started Whether the startup delay has passed.\n");
        s.push_str("# TYPE agent_started gauge\n");
        s.push_str(&format!("agent_started {}\n", u8::from(self.started())));
        s.push_str(
            "# HELP agent_dependency_up Whether a dependency was reachable at the last check.\n",
        );
        s.push_str("# TYPE agent_dependency_up gauge\n");
        for (d, up) in self.cfg.dependencies.iter().zip(&self.dep_up) {
            let name = d.name.replace('\\', "\\\\").replace('"', "\\\"");
            s.push_str(&format!(
                "agent_dependency_up{{dependency=\"{name}\"}} {}\n",
                u8::from(up.load(Ordering::Relaxed))
            ));
        }
        s.push_str("# HELP agent_cpu_burn_seconds_total CPU time burned on purpose (wall time of busy loops).\n");
        s.push_str("# TYPE agent_cpu_burn_seconds_total counter\n");
        for (src, v) in [
            ("request", &self.burn_request_us),
            ("baseline", &self.burn_baseline_us),
        ] {
            s.push_str(&format!(
                "agent_cpu_burn_seconds_total{{source=\"{src}\"}} {:.6}\n",
                v.load(Ordering::Relaxed) as f64 / 1e6
            ));
        }
        s.push_str("# HELP agent_burn_baseline_millicores The configured baseline CPU burn.\n");
        s.push_str("# TYPE agent_burn_baseline_millicores gauge\n");
        s.push_str(&format!(
            "agent_burn_baseline_millicores {}\n",
            self.cfg.burn_baseline_millicores
        ));
        s.push_str("# HELP agent_uptime_seconds Seconds since the agent started.\n");
        s.push_str("# TYPE agent_uptime_seconds gauge\n");
        s.push_str(&format!(
            "agent_uptime_seconds {:.3}\n",
            self.started_at.elapsed().as_secs_f64()
        ));
        s
    }
}

/// Spin for `d` (wall time) on the current thread.
pub fn busy(d: Duration) {
    let start = Instant::now();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while start.elapsed() < d {
        for _ in 0..1000 {
            x = std::hint::black_box(x.rotate_left(5) ^ x.wrapping_mul(0x2545_F491_4F6C_DD1D));
        }
    }
    std::hint::black_box(x);
}

fn respond(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(Full::new(body.into()))
        .expect("static response parts")
}

fn json<T: serde::Serialize>(status: StatusCode, v: &T) -> Response<Full<Bytes>> {
    let mut body = serde_json::to_vec(v).unwrap_or_default();
    body.push(b'\n');
    respond(status, "application/json", body)
}

async fn handle(st: Arc<State>, port: u16, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let has = |v: &Vec<String>| v.contains(&path);
    let cfg = &st.cfg;
    let count = |k: Kind| st.requests[k as usize].fetch_add(1, Ordering::Relaxed);
    if has(&cfg.metrics_paths) {
        count(Kind::Metrics);
        return respond(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            st.metrics(),
        );
    }
    let (live, ready, startup) = (
        has(&cfg.live_paths),
        has(&cfg.ready_paths),
        has(&cfg.startup_paths),
    );
    if ready {
        count(Kind::Ready);
        let body = st.check().await;
        let code = if body.ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        return json(code, &body);
    }
    if startup {
        count(Kind::Startup);
        let started = st.started();
        let code = if started {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        return json(
            code,
            &serde_json::json!({ "started": started, "path": path }),
        );
    }
    if live {
        count(Kind::Live);
        return json(
            StatusCode::OK,
            &serde_json::json!({ "alive": true, "path": path }),
        );
    }
    if path == "/burn" {
        count(Kind::Burn);
        let pq = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("");
        let requested: u64 = match parse::query_param(pq, "ms").map(str::parse) {
            None => 100,
            Some(Ok(n)) => n,
            Some(Err(_)) => {
                return json(
                    StatusCode::BAD_REQUEST,
                    &serde_json::json!({ "error": "ms must be an integer" }),
                )
            }
        };
        let d = Duration::from_millis(requested).min(cfg.max_burn);
        let st2 = st.clone();
        let burned = tokio::task::spawn_blocking(move || {
            let t = Instant::now();
            busy(d);
            let e = t.elapsed();
            st2.burn_request_us
                .fetch_add(e.as_micros() as u64, Ordering::Relaxed);
            e
        })
        .await
        .unwrap_or_default();
        return json(
            StatusCode::OK,
            &BurnBody {
                requested_ms: requested,
                burned_ms: burned.as_secs_f64() * 1e3,
            },
        );
    }
    count(Kind::Other);
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let status = if path == "/" {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    json(
        status,
        &PodInfo {
            hostname: st.hostname.clone(),
            path,
            method: req.method().to_string(),
            port,
            pod_name: env("POD_NAME"),
            pod_namespace: env("POD_NAMESPACE"),
            pod_ip: env("POD_IP"),
        },
    )
}

fn start_baseline(st: &Arc<State>, stop: Arc<AtomicBool>) {
    let mut left = st.cfg.burn_baseline_millicores;
    while left > 0 {
        let share = left.min(1000);
        left -= share;
        let (st, stop) = (st.clone(), stop.clone());
        std::thread::spawn(move || {
            let period = Duration::from_millis(100);
            let on = period.mul_f64(f64::from(share) / 1000.0);
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                busy(on);
                st.burn_baseline_us
                    .fetch_add(t.elapsed().as_micros() as u64, Ordering::Relaxed);
                std::thread::sleep(period.saturating_sub(t.elapsed()));
            }
        });
    }
}

async fn accept_loop(st: Arc<State>, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            r = listener.accept() => {
                let (stream, _) = match r {
                    Ok(x) => x,
                    Err(e) => {
                        log(format!("accept on :{port}: {e}"));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let st = st.clone();
                let svc = hyper::service::service_fn(move |req| {
                    let st = st.clone();
                    async move { Ok::<_, Infallible>(handle(st, port, req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
                let fut = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = fut.await;
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(st.cfg.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        log(format!(
            ":{port}: in-flight requests still running after {:?}; exiting anyway",
            st.cfg.drain_timeout
        ));
    }
}

/// Bind every port, print the [`ServeStarted`] line, serve until `stop`
/// resolves, then drain. Returns the bound addresses.
pub async fn run(cfg: ServeConfig, stop: impl Future<Output = ()>) -> io::Result<Vec<SocketAddr>> {
    let mut listeners = Vec::new();
    for port in &cfg.ports {
        let l = TcpListener::bind((cfg.bind, *port))
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("bind {}:{port}: {e}", cfg.bind)))?;
        listeners.push(l);
    }
    let addrs: Vec<SocketAddr> = listeners
        .iter()
        .map(|l| l.local_addr())
        .collect::<io::Result<_>>()?;
    let st = Arc::new(State {
        started_at: Instant::now(),
        hostname: hostname(),
        requests: Default::default(),
        burn_request_us: AtomicU64::new(0),
        burn_baseline_us: AtomicU64::new(0),
        ready_gauge: AtomicBool::new(false),
        dep_up: cfg
            .dependencies
            .iter()
            .map(|_| AtomicBool::new(false))
            .collect(),
        last: Mutex::new(Last::default()),
        cfg,
    });
    let started = Report::Serve(ServeStarted {
        hostname: st.hostname.clone(),
        listening: addrs.iter().map(|a| a.to_string()).collect(),
        live_paths: st.cfg.live_paths.clone(),
        ready_paths: st.cfg.ready_paths.clone(),
        startup_paths: st.cfg.startup_paths.clone(),
        metrics_paths: st.cfg.metrics_paths.clone(),
        dependencies: st.cfg.dependencies.iter().map(|d| d.name.clone()).collect(),
    });
    println!("{}", serde_json::to_string(&started).unwrap_or_default());
    log(format!("listening on {}", started_listening(&addrs)));

    let stop_burn = Arc::new(AtomicBool::new(false));
    start_baseline(&st, stop_burn.clone());

    let (tx, rx) = watch::channel(false);
    let checker = {
        let st = st.clone();
        let mut rx = rx.clone();
        tokio::spawn(async move {
            loop {
                st.check().await;
                let interval = if st.started() {
                    st.cfg.check_interval
                } else {
                    st.cfg.check_interval.min(
                        st.cfg.startup_delay.saturating_sub(st.started_at.elapsed())
                            + Duration::from_millis(10),
                    )
                };
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = rx.changed() => break,
                }
            }
        })
    };
    let loops: Vec<_> = listeners
        .into_iter()
        .map(|l| tokio::spawn(accept_loop(st.clone(), l, rx.clone())))
        .collect();
    stop.await;
    log("shutting down: no new connections, draining in-flight requests");
    let _ = tx.send(true);
    for l in loops {
        let _ = l.await;
    }
    stop_burn.store(true, Ordering::Relaxed);
    let _ = checker.await;
    log("stopped");
    Ok(addrs)
}

fn started_listening(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => log("SIGTERM"),
        _ = tokio::signal::ctrl_c() => log("SIGINT"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_dependencies() {
        let d = Dependency::from_env_value("DATABASE_URL", Some("postgres://u:p@db:5432/app"));
        assert_eq!(d.name, "env:DATABASE_URL");
        assert_eq!(d.target, Ok(HostPort::new("db", 5432)));
        let d = Dependency::from_env_value("REDIS_URL", Some("redis://:pw@cache/0"));
        assert_eq!(d.target, Ok(HostPort::new("cache", 6379)));
        let d = Dependency::from_env_value("X", None);
        assert!(matches!(d.target, Err((DepReason::MissingEnv, _))));
        let d = Dependency::from_env_value("X", Some("  "));
        assert!(matches!(d.target, Err((DepReason::MissingEnv, _))));
        let d = Dependency::from_env_value("X", Some("nonsense"));
        assert!(matches!(d.target, Err((DepReason::Invalid, _))));
    }
}
