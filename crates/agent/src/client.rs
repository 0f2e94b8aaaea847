//! The client subcommands: each returns one [`Report`](crate::report::Report).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_resolver::config::ResolverOpts;
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::{ResolveError, TokioResolver};
use tokio::sync::Mutex;

use crate::net::{connect, HttpConn};
use crate::parse::{HostPort, HttpUrl};
use crate::report::*;
use crate::stats;

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// `agent tcp`: one connection attempt.
pub async fn tcp(target: HostPort, timeout: Duration) -> TcpReport {
    let start = Instant::now();
    let r = connect(&target, timeout).await;
    let elapsed_ms = ms(start.elapsed());
    match r {
        Ok((_, addr)) => TcpReport {
            host: target.host,
            port: target.port,
            kind: ConnectKind::Connected,
            addr: Some(addr.to_string()),
            elapsed_ms,
            error: None,
        },
        Err(e) => TcpReport {
            host: target.host,
            port: target.port,
            kind: e.kind,
            addr: e.addr.map(|a| a.to_string()),
            elapsed_ms,
            error: Some(e.message),
        },
    }
}

/// `agent wait-tcp`: retry until connected or `timeout`. Each attempt gets at
/// most `attempt_timeout`; attempts are spaced by `interval`. One stderr line
/// per change of failure kind, so init-container logs say why it waits.
pub async fn wait_tcp(
    target: HostPort,
    timeout: Duration,
    interval: Duration,
    attempt_timeout: Duration,
) -> WaitTcpReport {
    let start = Instant::now();
    let deadline = start + timeout;
    let mut attempts = 0;
    let mut last: Option<(ConnectKind, String)> = None;
    // The loop ends with how it ended; the report is built once below.
    let kind = loop {
        attempts += 1;
        let left = deadline.saturating_duration_since(Instant::now());
        let r = connect(
            &target,
            attempt_timeout.min(left).max(Duration::from_millis(1)),
        )
        .await;
        match r {
            Ok(_) => {
                eprintln!(
                    "agent wait-tcp: {target} connected after {attempts} attempt(s), {:.1}s",
                    start.elapsed().as_secs_f64()
                );
                break ConnectKind::Connected;
            }
            Err(e) => {
                if last.as_ref().map(|l| l.0) != Some(e.kind) {
                    eprintln!("agent wait-tcp: {target} not reachable yet ({e}); retrying until {timeout:?}");
                }
                last = Some((e.kind, e.message));
            }
        }
        let now = Instant::now();
        if now >= deadline {
            break ConnectKind::Timeout;
        }
        tokio::time::sleep(interval.min(deadline - now)).await;
        if Instant::now() >= deadline {
            break ConnectKind::Timeout;
        }
    };
    if kind == ConnectKind::Timeout {
        eprintln!("agent wait-tcp: {target} gave up after {attempts} attempt(s), {timeout:?}");
    }
    WaitTcpReport {
        host: target.host,
        port: target.port,
        kind,
        attempts,
        elapsed_ms: ms(start.elapsed()),
        last_failure: last.as_ref().map(|l| l.0),
        last_error: last.map(|l| l.1),
    }
}

/// True when `status` is what the caller expects (any 2xx without `expect`).
pub fn status_ok(status: u16, expect: Option<u16>) -> bool {
    match expect {
        Some(e) => status == e,
        None => (200..300).contains(&status),
    }
}

pub const BODY_EXCERPT: usize = 512;

/// `agent http-get`: one GET on a fresh connection, all within `timeout`.
pub async fn http_get(
    raw_url: &str,
    url: &HttpUrl,
    expect: Option<u16>,
    timeout: Duration,
) -> HttpGetReport {
    let start = Instant::now();
    let mut report = HttpGetReport {
        url: raw_url.to_string(),
        kind: HttpKind::Error,
        status: None,
        expect,
        latency_ms: 0.0,
        body_excerpt: String::new(),
        body_truncated: false,
        addr: None,
        error: None,
    };
    let work = async {
        let mut conn = HttpConn::open(&url.target, timeout)
            .await
            .map_err(|e| (HttpKind::from(e.kind), e.addr, e.message))?;
        let addr = conn.addr;
        let resp = conn
            .get(url, BODY_EXCERPT, false)
            .await
            .map_err(|e| (HttpKind::Error, Some(addr), e.to_string()))?;
        Ok::<_, (HttpKind, Option<std::net::SocketAddr>, String)>((resp, addr))
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok((resp, addr))) => {
            report.status = Some(resp.status);
            report.addr = Some(addr.to_string());
            report.body_excerpt = String::from_utf8_lossy(&resp.body).into_owned();
            report.body_truncated = resp.truncated;
            if status_ok(resp.status, expect) {
                report.kind = HttpKind::Ok;
            } else {
                report.kind = HttpKind::UnexpectedStatus;
                report.error = Some(match expect {
                    Some(e) => format!("status {} != expected {e}", resp.status),
                    None => format!("status {} is not 2xx", resp.status),
                });
            }
        }
        Ok(Err((kind, addr, msg))) => {
            report.kind = kind;
            report.addr = addr.map(|a| a.to_string());
            report.error = Some(msg);
        }
        Err(_) => {
            report.kind = HttpKind::Timeout;
            report.error = Some(format!("no complete response within {timeout:?}"));
        }
    }
    report.latency_ms = ms(start.elapsed());
    report
}

/// Parameters of `agent load`.
#[derive(Debug, Clone)]
pub struct LoadParams {
    pub raw_url: String,
    pub url: HttpUrl,
    pub rate: f64,
    pub duration: Duration,
    pub concurrency: usize,
    pub timeout: Duration,
    pub expect: Option<u16>,
}

#[derive(Default)]
struct LoadTally {
    latencies: Vec<f64>,
    outcomes: BTreeMap<String, u64>,
    ok: u64,
    errors: u64,
}

/// `agent load`: open-loop GETs at `rate`/s for `duration` over `concurrency`
/// keep-alive connections. Stops by itself: scheduling ends at `duration`, and
/// in-flight requests end within `timeout` after that.
pub async fn load(p: LoadParams) -> LoadReport {
    let start = Instant::now();
    let concurrency = p.concurrency.max(1);
    let (tx, rx) = tokio::sync::mpsc::channel::<()>(concurrency);
    let rx = Arc::new(Mutex::new(rx));
    let tally = Arc::new(std::sync::Mutex::new(LoadTally::default()));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let rx = rx.clone();
        let tally = tally.clone();
        let url = p.url.clone();
        let (timeout, expect) = (p.timeout, p.expect);
        workers.push(tokio::spawn(async move {
            let mut conn: Option<HttpConn> = None;
            loop {
                let next = rx.lock().await.recv().await;
                if next.is_none() {
                    break;
                }
                let t0 = Instant::now();
                let outcome = tokio::time::timeout(timeout, async {
                    if conn.as_ref().is_none_or(|c| c.is_closed()) {
                        conn = Some(
                            HttpConn::open(&url.target, timeout)
                                .await
                                .map_err(|e| e.kind.as_str().to_string())?,
                        );
                    }
                    let c = conn.as_mut().expect("just opened");
                    c.get(&url, 0, true).await.map_err(|_| "error".to_string())
                })
                .await;
                let lat = ms(t0.elapsed());
                let (key, good) = match outcome {
                    Ok(Ok(resp)) => (resp.status.to_string(), status_ok(resp.status, expect)),
                    Ok(Err(kind)) => {
                        conn = None;
                        (kind, false)
                    }
                    Err(_) => {
                        conn = None;
                        ("timeout".to_string(), false)
                    }
                };
                let mut t = tally.lock().expect("tally");
                t.latencies.push(lat);
                *t.outcomes.entry(key).or_default() += 1;
                if good {
                    t.ok += 1
                } else {
                    t.errors += 1
                }
            }
        }));
    }
    let mut dropped = 0u64;
    let mut scheduled = 0u64;
    let total = (p.rate * p.duration.as_secs_f64()).floor() as u64;
    let period = Duration::from_secs_f64(1.0 / p.rate);
    let sched_start = tokio::time::Instant::now();
    while scheduled < total {
        let at = sched_start + period.mul_f64(scheduled as f64);
        tokio::time::sleep_until(at).await;
        scheduled += 1;
        if tx.try_send(()).is_err() {
            dropped += 1;
        }
    }
    drop(tx);
    for w in workers {
        let _ = w.await;
    }
    let elapsed = start.elapsed();
    let mut t = std::mem::take(&mut *tally.lock().expect("tally"));
    let count = t.ok + t.errors;
    LoadReport {
        url: p.raw_url,
        rate: p.rate,
        duration_ms: ms(p.duration),
        concurrency,
        elapsed_ms: ms(elapsed),
        scheduled,
        count,
        ok: t.ok,
        errors: t.errors,
        dropped,
        achieved_rate: if elapsed.is_zero() {
            0.0
        } else {
            count as f64 / elapsed.as_secs_f64()
        },
        outcomes: t.outcomes,
        latency_ms: stats::summarize(&mut t.latencies),
    }
}

/// Classify a resolver error.
pub fn dns_kind(e: &ResolveError) -> DnsKind {
    if e.is_nx_domain() {
        return DnsKind::Nxdomain;
    }
    if e.is_no_records_found() {
        return DnsKind::NoRecords;
    }
    match e.proto().map(|p| p.kind()) {
        Some(ProtoErrorKind::Timeout) => DnsKind::Timeout,
        _ if e.to_string().to_ascii_lowercase().contains("timed out") => DnsKind::Timeout,
        _ => DnsKind::Error,
    }
}

/// `agent dns`: look `name` up with the stub resolver configured by
/// /etc/resolv.conf (name servers, search list, ndots), as a pod would.
pub async fn dns(name: &str, record_type: &str, timeout: Duration) -> DnsReport {
    let start = Instant::now();
    let rtype = match record_type.to_ascii_uppercase().as_str() {
        "A" => RecordType::A,
        "AAAA" => RecordType::AAAA,
        "SRV" => RecordType::SRV,
        _ => RecordType::A,
    };
    let mut report = DnsReport {
        name: name.to_string(),
        record_type: rtype.to_string(),
        kind: DnsKind::Error,
        answers: vec![],
        srv: vec![],
        answered_name: None,
        resolver: ResolverInfo {
            source: "/etc/resolv.conf".into(),
            ..Default::default()
        },
        elapsed_ms: 0.0,
        error: None,
    };
    let (config, mut opts): (_, ResolverOpts) =
        match hickory_resolver::system_conf::read_system_conf() {
            Ok(c) => c,
            Err(e) => {
                report.error = Some(format!("reading /etc/resolv.conf: {e}"));
                report.elapsed_ms = ms(start.elapsed());
                return report;
            }
        };
    report.resolver.nameservers = {
        let mut v: Vec<String> = config
            .name_servers()
            .iter()
            .map(|n| n.socket_addr.to_string())
            .collect();
        v.dedup();
        v
    };
    report.resolver.search = config.search().iter().map(|n| n.to_string()).collect();
    report.resolver.ndots = opts.ndots;
    opts.cache_size = 0;
    // The agent runs once: a per-try timeout that fits in the overall one.
    opts.timeout = opts.timeout.min(timeout);
    let mut builder =
        TokioResolver::builder_with_config(config, TokioConnectionProvider::default());
    *builder.options_mut() = opts;
    let resolver = builder.build();
    match tokio::time::timeout(timeout, resolver.lookup(name, rtype)).await {
        Ok(Ok(lookup)) => {
            report.answered_name = lookup.records().first().map(|r| r.name().to_string());
            for rdata in lookup.iter() {
                match rdata {
                    RData::A(a) if rtype == RecordType::A => report.answers.push(a.to_string()),
                    RData::AAAA(a) if rtype == RecordType::AAAA => {
                        report.answers.push(a.to_string())
                    }
                    RData::SRV(s) if rtype == RecordType::SRV => {
                        let target = s.target().to_string();
                        report.answers.push(format!(
                            "{} {} {} {}",
                            s.priority(),
                            s.weight(),
                            s.port(),
                            target
                        ));
                        report.srv.push(SrvAnswer {
                            priority: s.priority(),
                            weight: s.weight(),
                            port: s.port(),
                            target,
                        });
                    }
                    _ => {}
                }
            }
            report.kind = if report.answers.is_empty() {
                DnsKind::NoRecords
            } else {
                DnsKind::Answered
            };
        }
        Ok(Err(e)) => {
            report.kind = dns_kind(&e);
            report.error = Some(e.to_string());
        }
        Err(_) => {
            report.kind = DnsKind::Timeout;
            report.error = Some(format!("no answer within {timeout:?}"));
        }
    }
    report.elapsed_ms = ms(start.elapsed());
    report
}
