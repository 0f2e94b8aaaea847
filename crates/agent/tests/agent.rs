//! The `agent` binary end to end, on loopback only: `serve` as a child
//! process, probed with a tiny std HTTP client and with the agent's own client
//! subcommands. No sleeps except bounded retries with deadlines.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use vitals_agent::report::*;

const AGENT: &str = env!("CARGO_BIN_EXE_agent");

/// A running `agent serve`; killed on drop.
struct Serve {
    child: Child,
    addrs: Vec<SocketAddr>,
}

impl Serve {
    fn start(args: &[&str], envs: &[(&str, &str)]) -> Serve {
        let mut cmd = Command::new(AGENT);
        cmd.arg("serve").args(["--bind", "127.0.0.1"]).args(args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn agent serve");
        let mut line = String::new();
        // The first stdout line is printed once every port is bound.
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read started line");
        let started: Report = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("bad started line {line:?}: {e}"));
        let Report::Serve(s) = started else {
            panic!("not a serve line: {line}")
        };
        let addrs = s
            .listening
            .iter()
            .map(|a| a.parse().expect("addr"))
            .collect();
        Serve { child, addrs }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addrs[0], path)
    }

    fn get(&self, path: &str) -> Resp {
        get(self.addrs[0], path)
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let st = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(st.success());
        wait_deadline(&mut self.child, Duration::from_secs(10))
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_deadline(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "process did not exit within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[derive(Debug)]
struct Resp {
    status: u16,
    content_type: String,
    body: String,
}

/// HTTP/1.0 GET with `Connection: close`, independent of the code under test.
fn get(addr: SocketAddr, path: &str) -> Resp {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("head/body");
    let status = head
        .split_whitespace()
        .nth(1)
        .expect("status")
        .parse()
        .expect("status code");
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    Resp {
        status,
        content_type,
        body: body.to_string(),
    }
}

/// Retry `f` until it returns Some, or panic at the deadline.
fn eventually<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A loopback port with nothing listening (bound then released).
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn agent(args: &[&str]) -> (i32, Report, Output) {
    let out = Command::new(AGENT).args(args).output().expect("run agent");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one JSON line, got {stdout:?}");
    let report: Report = serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{stdout}: {e}"));
    (out.status.code().expect("exit code"), report, out)
}

#[test]
fn liveness_custom_paths_and_pod_info() {
    let s = Serve::start(
        &[
            "--ports",
            "0",
            "--live-path",
            "/healthz",
            "--live-path",
            "/healthcheck",
        ],
        &[],
    );
    assert_eq!(s.get("/healthz").status, 200);
    assert_eq!(s.get("/healthcheck").status, 200);
    assert_eq!(
        s.get("/").status,
        200,
        "the root answers, for a Service or Ingress in front"
    );
    // An unknown path is a 404: a stand-in that answered every path would
    // hide a chart whose probe asks the wrong one.
    let r = s.get("/api/anything?x=1");
    assert_eq!(r.status, 404);
    let info: PodInfo = serde_json::from_str(&r.body).unwrap();
    assert_eq!(info.path, "/api/anything");
    assert_eq!(info.port, s.addrs[0].port());
    assert!(!info.hostname.is_empty());
}

#[test]
fn readiness_follows_dependency() {
    let port = closed_port();
    let dep = format!("127.0.0.1:{port}");
    let s = Serve::start(
        &[
            "--port",
            "0",
            "--require-tcp",
            &dep,
            "--check-interval",
            "100ms",
        ],
        &[],
    );
    let r = s.get("/readyz");
    assert_eq!(r.status, 503, "{r:?}");
    let body: ReadyBody = serde_json::from_str(&r.body).unwrap();
    assert!(!body.ready && body.started);
    let name = format!("tcp:{dep}");
    assert_eq!(body.unreachable, vec![name.clone()]);
    assert_eq!(body.dependencies[0].reason, Some(DepReason::Refused));
    assert_eq!(body.dependencies[0].target, dep);
    // Liveness does not depend on it.
    assert_eq!(s.get("/healthz").status, 200);

    let _listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the dependency port");
    let body = eventually("readiness 200", Duration::from_secs(10), || {
        let r = s.get("/readyz");
        (r.status == 200).then(|| serde_json::from_str::<ReadyBody>(&r.body).unwrap())
    });
    assert!(body.ready && body.unreachable.is_empty() && body.dependencies[0].reachable);
    // The background check has updated the gauge too.
    eventually("agent_ready 1", Duration::from_secs(10), || {
        s.get("/metrics")
            .body
            .contains("\nagent_ready 1\n")
            .then_some(())
    });
}

#[test]
fn env_config_and_dependency_from_env_url() {
    let port = closed_port();
    let url = format!("postgres://user:secret@127.0.0.1:{port}/app");
    let s = Serve::start(
        &[],
        &[
            ("AGENT_PORTS", "0,0"),
            ("AGENT_READY_PATHS", "/healthcheck"),
            ("AGENT_REQUIRE_FROM_ENV", "DATABASE_URL,MISSING_URL"),
            ("DATABASE_URL", &url),
        ],
    );
    assert_eq!(s.addrs.len(), 2);
    assert_ne!(s.addrs[0], s.addrs[1]);
    for a in &s.addrs {
        let r = get(*a, "/healthcheck");
        assert_eq!(r.status, 503);
        let body: ReadyBody = serde_json::from_str(&r.body).unwrap();
        assert_eq!(
            body.unreachable,
            vec![
                "env:DATABASE_URL".to_string(),
                "env:MISSING_URL".to_string()
            ]
        );
        assert_eq!(body.dependencies[0].target, format!("127.0.0.1:{port}"));
        assert_eq!(body.dependencies[0].reason, Some(DepReason::Refused));
        assert_eq!(body.dependencies[1].reason, Some(DepReason::MissingEnv));
        assert!(
            !r.body.contains("secret"),
            "credentials must not leak: {}",
            r.body
        );
    }
}

#[test]
fn metrics_are_prometheus_text() {
    let s = Serve::start(&["--port", "0"], &[]);
    s.get("/somewhere");
    let b: BurnBody = serde_json::from_str(&s.get("/burn?ms=30").body).unwrap();
    assert_eq!(b.requested_ms, 30);
    assert!(b.burned_ms >= 30.0);
    let r = s.get("/metrics");
    assert_eq!(r.status, 200);
    assert!(
        r.content_type.starts_with("text/plain"),
        "{}",
        r.content_type
    );
    for want in [
        "# TYPE agent_http_requests_total counter",
        "# TYPE agent_ready gauge",
        "# TYPE agent_cpu_burn_seconds_total counter",
        "agent_http_requests_total{kind=\"other\"} 1",
        "agent_http_requests_total{kind=\"burn\"} 1",
    ] {
        assert!(r.body.contains(want), "missing {want:?} in\n{}", r.body);
    }
    for line in r.body.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = line.rsplit_once(' ').expect("name value");
        assert!(name.starts_with("agent_"), "{line}");
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
    }
    let burned = r
        .body
        .lines()
        .find_map(|l| l.strip_prefix("agent_cpu_burn_seconds_total{source=\"request\"} "))
        .unwrap()
        .parse::<f64>()
        .unwrap();
    assert!(burned >= 0.03, "{burned}");
}

#[test]
fn startup_delay_gates_startup_and_readiness() {
    let s = Serve::start(&["--port", "0", "--startup-delay", "2s"], &[]);
    assert_eq!(s.get("/startupz").status, 503);
    assert_eq!(s.get("/readyz").status, 503);
    assert_eq!(s.get("/healthz").status, 200);
    eventually("startup 200", Duration::from_secs(10), || {
        (s.get("/startupz").status == 200).then_some(())
    });
    assert_eq!(s.get("/readyz").status, 200);
}

#[test]
fn sigterm_drains_in_flight_and_exits_zero() {
    let mut s = Serve::start(&["--port", "0"], &[]);
    let addr = s.addrs[0];
    let inflight = std::thread::spawn(move || get(addr, "/burn?ms=500"));
    // Wait until the burn is in flight (counted), then terminate.
    eventually("burn in flight", Duration::from_secs(10), || {
        s.get("/metrics")
            .body
            .contains("agent_http_requests_total{kind=\"burn\"} 1")
            .then_some(())
    });
    let status = s.terminate();
    assert_eq!(status.code(), Some(0));
    let r = inflight.join().unwrap();
    assert_eq!(r.status, 200, "the in-flight request finished");
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "no longer accepting"
    );
}

#[test]
fn tcp_exit_codes() {
    let port = closed_port().to_string();
    let (code, report, _) = agent(&[
        "tcp",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--timeout",
        "2s",
    ]);
    assert_eq!(code, exit::REFUSED);
    let Report::Tcp(r) = report else { panic!() };
    assert_eq!(r.kind, ConnectKind::Refused);

    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let open = l.local_addr().unwrap().port().to_string();
    let (code, report, _) = agent(&["tcp", "--host", "127.0.0.1", "--port", &open]);
    assert_eq!(code, exit::OK);
    assert!(matches!(
        report,
        Report::Tcp(TcpReport {
            kind: ConnectKind::Connected,
            ..
        })
    ));
}

#[test]
fn wait_tcp_times_out_and_succeeds() {
    let port = closed_port().to_string();
    let (code, report, _) = agent(&[
        "wait-tcp",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--timeout",
        "600ms",
        "--interval",
        "100ms",
    ]);
    assert_eq!(code, exit::TIMEOUT);
    let Report::WaitTcp(r) = report else { panic!() };
    assert_eq!(r.kind, ConnectKind::Timeout);
    assert_eq!(r.last_failure, Some(ConnectKind::Refused));
    assert!(r.attempts >= 2);

    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let open = l.local_addr().unwrap().port().to_string();
    let (code, _, _) = agent(&[
        "wait-tcp",
        "--host",
        "127.0.0.1",
        "--port",
        &open,
        "--timeout",
        "120s",
    ]);
    assert_eq!(code, exit::OK);
}

#[test]
fn http_get_expect() {
    let port = closed_port();
    let s = Serve::start(
        &["--port", "0", "--require-tcp", &format!("127.0.0.1:{port}")],
        &[],
    );
    let (code, report, _) = agent(&["http-get", "--url", &s.url("/healthz"), "--expect", "200"]);
    assert_eq!(code, 0);
    let Report::HttpGet(r) = report else { panic!() };
    assert_eq!((r.kind, r.status), (HttpKind::Ok, Some(200)));
    assert!(r.body_excerpt.contains("alive"));

    let (code, report, _) = agent(&["http-get", "--url", &s.url("/readyz"), "--expect", "200"]);
    assert_eq!(code, exit::UNEXPECTED_STATUS);
    let Report::HttpGet(r) = report else { panic!() };
    assert_eq!((r.kind, r.status), (HttpKind::UnexpectedStatus, Some(503)));
    assert!(r.body_excerpt.contains(&format!("tcp:127.0.0.1:{port}")));

    let (code, _, _) = agent(&["http-get", "--url", &s.url("/healthz"), "--expect", "204"]);
    assert_eq!(code, exit::UNEXPECTED_STATUS);

    // A refusal is retried for --retry-for (a new pod's policy lag), then
    // reported as refused.
    let started = std::time::Instant::now();
    let (code, report, _) = agent(&[
        "http-get",
        "--url",
        &format!("http://127.0.0.1:{port}/"),
        "--expect",
        "200",
        "--retry-for",
        "1s",
    ]);
    assert_eq!(code, exit::REFUSED);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "refusals are retried for --retry-for"
    );
    assert!(matches!(
        report,
        Report::HttpGet(HttpGetReport {
            kind: HttpKind::Refused,
            ..
        })
    ));

    let (code, _, _) = agent(&["http-get", "--url", "https://127.0.0.1/"]);
    assert_eq!(code, exit::ERROR);
}

#[test]
fn load_reports_counts_and_percentiles() {
    let s = Serve::start(&["--port", "0"], &[]);
    let (code, report, _) = agent(&[
        "load",
        "--url",
        &s.url("/"),
        "--rate",
        "100",
        "--duration",
        "1s",
        "--concurrency",
        "4",
    ]);
    assert_eq!(code, 0);
    let Report::Load(r) = report else { panic!() };
    assert_eq!(r.scheduled, 100);
    assert_eq!(r.count + r.dropped, 100);
    assert!(r.count >= 90, "{r:?}");
    assert_eq!(r.errors, 0, "{r:?}");
    assert_eq!(r.outcomes.get("200"), Some(&r.count));
    let l = &r.latency_ms;
    assert_eq!(l.count, r.count);
    assert!(
        l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.max && l.max > 0.0,
        "{l:?}"
    );
}

#[test]
fn usage_and_help_exit_codes() {
    let out = Command::new(AGENT).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("wait-tcp"));
    let out = Command::new(AGENT)
        .args(["tcp", "--host", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(exit::USAGE));
    let out = Command::new(AGENT)
        .args([
            "wait-tcp",
            "--host",
            "x",
            "--port",
            "1",
            "--timeout",
            "soon",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(exit::USAGE));
}
