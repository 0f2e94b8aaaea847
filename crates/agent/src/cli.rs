//! The command line (clap derive) and the dispatch to each role.

use std::net::IpAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::parse::{self, HostPort};
use crate::report::{exit, Report};
use crate::serve::{Dependency, ServeConfig};
use crate::{client, serve};

const AFTER_HELP: &str = "\
Client subcommands print ONE JSON line on stdout (types in vitals_agent::report).
Exit codes: 0 ok | 1 refused (dns: NXDOMAIN) | 2 timeout | 3 unresolvable (dns: no
records of that type) | 4 other error | 5 http-get: unexpected status | 64 bad usage.
Durations: 500ms, 2s, 5m, 1h, or plain seconds.";

/// vitals in-cluster agent: an app stand-in (`serve`) and network client probes.
#[derive(Debug, Parser)]
#[command(name = "agent", version, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP on each port: health, readiness, startup, metrics, /burn, pod info.
    Serve(ServeArgs),
    /// Resolve a name with the resolver of /etc/resolv.conf.
    Dns(DnsArgs),
    /// Open one TCP connection.
    Tcp(TcpArgs),
    /// GET a plain-HTTP URL and check its status.
    HttpGet(HttpGetArgs),
    /// Open-loop HTTP load at a fixed rate for a fixed time.
    Load(LoadArgs),
    /// Retry a TCP connection until it succeeds or the timeout passes (init containers).
    WaitTcp(WaitTcpArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Ports to serve HTTP on (0 = ephemeral; see the printed `listening`).
    #[arg(
        long = "ports",
        visible_alias = "port",
        env = "AGENT_PORTS",
        value_delimiter = ',',
        default_value = "8080"
    )]
    pub ports: Vec<u16>,
    /// Address to bind.
    #[arg(long, env = "AGENT_BIND", default_value = "0.0.0.0")]
    pub bind: IpAddr,
    /// Liveness paths (repeatable).
    #[arg(
        long = "live-path",
        env = "AGENT_LIVE_PATHS",
        value_delimiter = ',',
        default_value = "/healthz"
    )]
    pub live_paths: Vec<String>,
    /// Readiness paths (repeatable): 503 until started and every dependency is reachable.
    #[arg(
        long = "ready-path",
        env = "AGENT_READY_PATHS",
        value_delimiter = ',',
        default_value = "/readyz"
    )]
    pub ready_paths: Vec<String>,
    /// Startup paths (repeatable): 503 until the startup delay has passed.
    #[arg(
        long = "startup-path",
        env = "AGENT_STARTUP_PATHS",
        value_delimiter = ',',
        default_value = "/startupz"
    )]
    pub startup_paths: Vec<String>,
    /// Prometheus metrics paths (repeatable).
    #[arg(
        long = "metrics-path",
        env = "AGENT_METRICS_PATHS",
        value_delimiter = ',',
        default_value = "/metrics"
    )]
    pub metrics_paths: Vec<String>,
    /// Startup and readiness fail until this long after start.
    #[arg(long, env = "AGENT_STARTUP_DELAY", value_parser = parse::duration, default_value = "0s")]
    pub startup_delay: Duration,
    /// A host:port that must accept TCP connections for readiness (repeatable).
    #[arg(long = "require-tcp", env = "AGENT_REQUIRE_TCP", value_delimiter = ',', value_parser = parse::host_port)]
    pub require_tcp: Vec<HostPort>,
    /// Env vars holding URLs or host:port (DATABASE_URL,REDIS_URL) whose host:port
    /// must accept TCP connections for readiness.
    #[arg(
        long = "require-from-env",
        env = "AGENT_REQUIRE_FROM_ENV",
        value_delimiter = ','
    )]
    pub require_from_env: Vec<String>,
    /// Connect timeout of one dependency check.
    #[arg(long, env = "AGENT_DEP_TIMEOUT", value_parser = parse::duration, default_value = "1s")]
    pub dep_timeout: Duration,
    /// Background dependency check period (keeps metrics and logs current).
    #[arg(long, env = "AGENT_CHECK_INTERVAL", value_parser = parse::duration, default_value = "5s")]
    pub check_interval: Duration,
    /// Burn this many millicores all the time (busy 100ms-periods).
    #[arg(long, env = "AGENT_BURN_BASELINE_MILLICORES", default_value_t = 0)]
    pub burn_baseline_millicores: u32,
    /// Longest burn one /burn request may ask for.
    #[arg(long, env = "AGENT_MAX_BURN", value_parser = parse::duration, default_value = "10s")]
    pub max_burn: Duration,
    /// After SIGTERM, how long in-flight requests may take.
    #[arg(long, env = "AGENT_DRAIN_TIMEOUT", value_parser = parse::duration, default_value = "20s")]
    pub drain_timeout: Duration,
}

impl ServeArgs {
    pub fn into_config(self) -> ServeConfig {
        let mut deps: Vec<Dependency> = self.require_tcp.into_iter().map(Dependency::tcp).collect();
        for var in self
            .require_from_env
            .iter()
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
        {
            deps.push(Dependency::from_env_value(
                var,
                std::env::var(var).ok().as_deref(),
            ));
        }
        ServeConfig {
            bind: self.bind,
            ports: self.ports,
            live_paths: self.live_paths,
            ready_paths: self.ready_paths,
            startup_paths: self.startup_paths,
            metrics_paths: self.metrics_paths,
            startup_delay: self.startup_delay,
            dependencies: deps,
            dep_timeout: self.dep_timeout,
            check_interval: self.check_interval.max(Duration::from_millis(100)),
            burn_baseline_millicores: self.burn_baseline_millicores,
            max_burn: self.max_burn,
            drain_timeout: self.drain_timeout,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DnsType {
    #[value(name = "A", alias = "a")]
    A,
    #[value(name = "AAAA", alias = "aaaa")]
    Aaaa,
    #[value(name = "SRV", alias = "srv")]
    Srv,
}

#[derive(Debug, Args)]
pub struct DnsArgs {
    /// The name to resolve (relative names go through the search list, as in a pod).
    #[arg(long)]
    pub name: String,
    #[arg(long = "type", value_enum, default_value = "A")]
    pub record_type: DnsType,
    #[arg(long, value_parser = parse::duration, default_value = "5s")]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct TcpArgs {
    #[arg(long)]
    pub host: String,
    #[arg(long)]
    pub port: u16,
    #[arg(long, value_parser = parse::duration, default_value = "2s")]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct HttpGetArgs {
    /// http://host[:port]/path (no TLS).
    #[arg(long)]
    pub url: String,
    /// Expected status; without it any 2xx passes.
    #[arg(long)]
    pub expect: Option<u16>,
    #[arg(long, value_parser = parse::duration, default_value = "5s")]
    pub timeout: Duration,
    /// Keep retrying connection failures (refused, timeout, unresolvable)
    /// this long. A pod that has just started is not yet in the
    /// NetworkPolicy sets of iptables-based CNIs (about 2 s with
    /// kube-router), so a `helm test` pod's first connection can be
    /// rejected; an answer with the wrong status is never retried. `0s`
    /// disables it.
    #[arg(long, value_parser = parse::duration, default_value = "20s")]
    pub retry_for: Duration,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    #[arg(long)]
    pub url: String,
    /// Requests per second (open loop).
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    #[arg(long, value_parser = parse::duration, default_value = "30s")]
    pub duration: Duration,
    /// Connections (and at most this many requests in flight).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Timeout of one request.
    #[arg(long, value_parser = parse::duration, default_value = "5s")]
    pub timeout: Duration,
    /// Status counted as ok; without it any 2xx.
    #[arg(long)]
    pub expect: Option<u16>,
}

#[derive(Debug, Args)]
pub struct WaitTcpArgs {
    #[arg(long)]
    pub host: String,
    #[arg(long)]
    pub port: u16,
    /// Give up (exit 2) after this long.
    #[arg(long, value_parser = parse::duration, default_value = "120s")]
    pub timeout: Duration,
    /// Pause between attempts.
    #[arg(long, value_parser = parse::duration, default_value = "1s")]
    pub interval: Duration,
    /// Timeout of one attempt.
    #[arg(long, value_parser = parse::duration, default_value = "2s")]
    pub attempt_timeout: Duration,
}

fn print(report: &Report) -> i32 {
    println!(
        "{}",
        serde_json::to_string(report).expect("reports serialize")
    );
    report.exit_code()
}

fn usage_error(msg: impl std::fmt::Display) -> i32 {
    eprintln!("agent: {msg}");
    exit::USAGE
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 4);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
}

/// Parse `args` and run; returns the process exit code.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return code;
        }
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("agent: tokio runtime: {e}");
            return exit::ERROR;
        }
    };
    let code = rt.block_on(dispatch(cli.command));
    // Do not wait for lingering blocking work (e.g. a /burn) after the answer.
    rt.shutdown_timeout(Duration::from_millis(100));
    code
}

async fn dispatch(cmd: Command) -> i32 {
    match cmd {
        Command::Serve(a) => {
            let cfg = a.into_config();
            match serve::run(cfg, serve::shutdown_signal()).await {
                Ok(_) => exit::OK,
                Err(e) => {
                    eprintln!("agent serve: {e}");
                    exit::ERROR
                }
            }
        }
        Command::Dns(a) => {
            let t = match a.record_type {
                DnsType::A => "A",
                DnsType::Aaaa => "AAAA",
                DnsType::Srv => "SRV",
            };
            print(&Report::Dns(client::dns(&a.name, t, a.timeout).await))
        }
        Command::Tcp(a) => {
            if a.port == 0 {
                return usage_error("--port must be 1..65535");
            }
            print(&Report::Tcp(
                client::tcp(HostPort::new(a.host, a.port), a.timeout).await,
            ))
        }
        Command::HttpGet(a) => {
            let url = match parse::http_url(&a.url) {
                Ok(u) => u,
                Err(e) => {
                    let r = crate::report::HttpGetReport {
                        url: a.url.clone(),
                        kind: crate::report::HttpKind::Error,
                        status: None,
                        expect: a.expect,
                        latency_ms: 0.0,
                        body_excerpt: String::new(),
                        body_truncated: false,
                        addr: None,
                        error: Some(e.to_string()),
                    };
                    return print(&Report::HttpGet(r));
                }
            };
            let until = std::time::Instant::now() + a.retry_for;
            let mut pace = tokio::time::interval(Duration::from_millis(500));
            loop {
                pace.tick().await;
                let r = client::http_get(&a.url, &url, a.expect, a.timeout).await;
                let connection_failure = matches!(
                    r.kind,
                    crate::report::HttpKind::Refused
                        | crate::report::HttpKind::Timeout
                        | crate::report::HttpKind::Unresolvable
                );
                if !connection_failure || std::time::Instant::now() >= until {
                    return print(&Report::HttpGet(r));
                }
            }
        }
        Command::Load(a) => {
            let url = match parse::http_url(&a.url) {
                Ok(u) => u,
                Err(e) => return usage_error(format!("--url: {e}")),
            };
            if !(a.rate > 0.0 && a.rate <= 100_000.0) {
                return usage_error("--rate must be in (0, 100000]");
            }
            if a.concurrency == 0 || a.concurrency > 10_000 {
                return usage_error("--concurrency must be in 1..=10000");
            }
            let p = client::LoadParams {
                raw_url: a.url,
                url,
                rate: a.rate,
                duration: a.duration,
                concurrency: a.concurrency,
                timeout: a.timeout,
                expect: a.expect,
            };
            print(&Report::Load(client::load(p).await))
        }
        Command::WaitTcp(a) => {
            if a.port == 0 {
                return usage_error("--port must be 1..65535");
            }
            let r = client::wait_tcp(
                HostPort::new(a.host, a.port),
                a.timeout,
                a.interval,
                a.attempt_timeout,
            )
            .await;
            print(&Report::WaitTcp(r))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn chart_forms_parse() {
        let c = Cli::try_parse_from([
            "agent",
            "http-get",
            "--url",
            "http://svc:8103/healthcheck",
            "--expect",
            "200",
        ])
        .unwrap();
        assert!(matches!(
            c.command,
            Command::HttpGet(HttpGetArgs {
                expect: Some(200),
                ..
            })
        ));
        let c = Cli::try_parse_from([
            "agent",
            "wait-tcp",
            "--host",
            "db",
            "--port",
            "5432",
            "--timeout",
            "120s",
        ])
        .unwrap();
        match c.command {
            Command::WaitTcp(a) => assert_eq!(a.timeout, Duration::from_secs(120)),
            other => panic!("{other:?}"),
        }
        let c = Cli::try_parse_from([
            "agent",
            "serve",
            "--live-path",
            "/healthcheck",
            "--ready-path",
            "/healthcheck",
            "--ready-path",
            "/ready",
            "--require-tcp",
            "db:5432",
            "--port",
            "8080",
            "--port",
            "9090",
        ])
        .unwrap();
        match c.command {
            Command::Serve(a) => {
                assert_eq!(a.ports, vec![8080, 9090]);
                assert_eq!(a.ready_paths, vec!["/healthcheck", "/ready"]);
                assert_eq!(a.require_tcp, vec![HostPort::new("db", 5432)]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(run(["agent", "--help"]), 0);
        assert_eq!(run(["agent", "no-such-command"]), exit::USAGE);
    }
}
