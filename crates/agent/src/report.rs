//! The JSON the agent prints, as typed structs shared with the harness.
//!
//! Every client subcommand prints exactly ONE line on stdout: a [`Report`],
//! internally tagged by `"check"` (`"tcp"`, `"dns"`, `"http_get"`, `"load"`,
//! `"wait_tcp"`). The harness may parse a line either as [`Report`] or
//! directly as the struct it expects (e.g. [`TcpReport`]); the extra `check`
//! field is ignored then. `agent serve` prints one [`Report::Serve`] line
//! ([`ServeStarted`]) once every port is bound, and serves [`ReadyBody`] on
//! its readiness paths and [`PodInfo`] on every other path.
//!
//! Exit codes (see [`exit`]): 0 success; 1 refused / NXDOMAIN; 2 timeout;
//! 3 unresolvable / no records of that type; 4 other error; 5 HTTP status
//! other than `--expect`; 64 bad usage. `--help` exits 0.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Process exit codes, one per result kind.
pub mod exit {
    /// Success: connected, answered, expected status, load run completed.
    pub const OK: i32 = 0;
    /// TCP connection refused (`tcp`, `http-get`); NXDOMAIN (`dns`).
    pub const REFUSED: i32 = 1;
    /// Timed out (`tcp`, `http-get`, `dns`, `wait-tcp`).
    pub const TIMEOUT: i32 = 2;
    /// The host name did not resolve (`tcp`, `http-get`); the name exists but
    /// has no record of that type (`dns`).
    pub const UNRESOLVABLE: i32 = 3;
    /// Any other error (bad URL, TLS asked for, I/O error, SERVFAIL, ...).
    pub const ERROR: i32 = 4;
    /// `http-get`: an HTTP response whose status is not `--expect`.
    pub const UNEXPECTED_STATUS: i32 = 5;
    /// Bad command line (clap's own errors exit 2, which would read as a timeout).
    pub const USAGE: i32 = 64;
}

/// One stdout line of the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "check", rename_all = "snake_case")]
pub enum Report {
    Tcp(TcpReport),
    Dns(DnsReport),
    HttpGet(HttpGetReport),
    Load(LoadReport),
    WaitTcp(WaitTcpReport),
    Serve(ServeStarted),
}

impl Report {
    /// The process exit code this report stands for.
    pub fn exit_code(&self) -> i32 {
        match self {
            Report::Tcp(r) => r.kind.exit_code(),
            Report::Dns(r) => r.kind.exit_code(),
            Report::HttpGet(r) => r.kind.exit_code(),
            Report::Load(_) | Report::Serve(_) => exit::OK,
            Report::WaitTcp(r) => r.kind.exit_code(),
        }
    }
}

/// Outcome of one TCP connection attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectKind {
    Connected,
    Refused,
    Timeout,
    Unresolvable,
    Error,
}

impl ConnectKind {
    pub fn exit_code(self) -> i32 {
        match self {
            ConnectKind::Connected => exit::OK,
            ConnectKind::Refused => exit::REFUSED,
            ConnectKind::Timeout => exit::TIMEOUT,
            ConnectKind::Unresolvable => exit::UNRESOLVABLE,
            ConnectKind::Error => exit::ERROR,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectKind::Connected => "connected",
            ConnectKind::Refused => "refused",
            ConnectKind::Timeout => "timeout",
            ConnectKind::Unresolvable => "unresolvable",
            ConnectKind::Error => "error",
        }
    }
}

/// `agent tcp --host H --port P [--timeout 2s]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TcpReport {
    pub host: String,
    pub port: u16,
    pub kind: ConnectKind,
    /// The address connected to (or last tried).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    pub elapsed_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `agent wait-tcp --host H --port P --timeout 120s`: retried until connected
/// or the deadline. `kind` is `connected` or `timeout` (or `error` for a
/// non-retryable problem such as port 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitTcpReport {
    pub host: String,
    pub port: u16,
    pub kind: ConnectKind,
    pub attempts: u64,
    pub elapsed_ms: f64,
    /// Kind of the last failed attempt (`refused`, `unresolvable`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<ConnectKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Outcome of a DNS lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DnsKind {
    /// At least one record of the asked type (exit 0).
    Answered,
    /// NXDOMAIN: the name does not exist (exit 1).
    Nxdomain,
    /// No answer from any name server in time (exit 2).
    Timeout,
    /// NOERROR but no record of that type, e.g. AAAA on a v4-only service (exit 3).
    NoRecords,
    /// SERVFAIL, REFUSED, bad name, unreadable resolv.conf ... (exit 4).
    Error,
}

impl DnsKind {
    pub fn exit_code(self) -> i32 {
        match self {
            DnsKind::Answered => exit::OK,
            DnsKind::Nxdomain => exit::REFUSED,
            DnsKind::Timeout => exit::TIMEOUT,
            DnsKind::NoRecords => exit::UNRESOLVABLE,
            DnsKind::Error => exit::ERROR,
        }
    }
}

/// One SRV answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SrvAnswer {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

/// `agent dns --name X [--type A|AAAA|SRV] [--timeout 5s]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsReport {
    /// The name as asked.
    pub name: String,
    /// `A`, `AAAA` or `SRV`.
    pub record_type: String,
    pub kind: DnsKind,
    /// Answers as text: addresses for A/AAAA, `"prio weight port target"` for SRV.
    #[serde(default)]
    pub answers: Vec<String>,
    /// Structured SRV answers (empty for A/AAAA).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub srv: Vec<SrvAnswer>,
    /// The fully qualified name that answered, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_name: Option<String>,
    /// The resolver used: name servers, search list and ndots from /etc/resolv.conf.
    pub resolver: ResolverInfo,
    pub elapsed_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The stub resolver configuration that was read from /etc/resolv.conf.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolverInfo {
    pub source: String,
    pub nameservers: Vec<String>,
    pub search: Vec<String>,
    pub ndots: usize,
}

/// Outcome of one HTTP GET.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpKind {
    /// A response with the expected status (any 2xx without `--expect`).
    Ok,
    Refused,
    Timeout,
    Unresolvable,
    Error,
    /// A response whose status is not the expected one.
    UnexpectedStatus,
}

impl HttpKind {
    pub fn exit_code(self) -> i32 {
        match self {
            HttpKind::Ok => exit::OK,
            HttpKind::Refused => exit::REFUSED,
            HttpKind::Timeout => exit::TIMEOUT,
            HttpKind::Unresolvable => exit::UNRESOLVABLE,
            HttpKind::Error => exit::ERROR,
            HttpKind::UnexpectedStatus => exit::UNEXPECTED_STATUS,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            HttpKind::Ok => "ok",
            HttpKind::Refused => "refused",
            HttpKind::Timeout => "timeout",
            HttpKind::Unresolvable => "unresolvable",
            HttpKind::Error => "error",
            HttpKind::UnexpectedStatus => "unexpected_status",
        }
    }
}

impl From<ConnectKind> for HttpKind {
    fn from(k: ConnectKind) -> Self {
        match k {
            ConnectKind::Connected => HttpKind::Ok,
            ConnectKind::Refused => HttpKind::Refused,
            ConnectKind::Timeout => HttpKind::Timeout,
            ConnectKind::Unresolvable => HttpKind::Unresolvable,
            ConnectKind::Error => HttpKind::Error,
        }
    }
}

/// `agent http-get --url U [--expect 200] [--timeout 5s]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpGetReport {
    pub url: String,
    pub kind: HttpKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<u16>,
    /// From the start of the connect to the end of the body excerpt.
    pub latency_ms: f64,
    /// The first 512 bytes of the body, lossily decoded as UTF-8.
    #[serde(default)]
    pub body_excerpt: String,
    #[serde(default)]
    pub body_truncated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Latency summary in milliseconds (nearest-rank percentiles).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

/// `agent load --url U --rate 50 --duration 30s --concurrency 8`.
///
/// Open loop: requests are scheduled at `rate` per second whatever the
/// latency; a scheduled request that finds every worker busy and the queue
/// (`concurrency` deep) full is `dropped`, not delayed, so the run stops on time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    pub url: String,
    pub rate: f64,
    pub duration_ms: f64,
    pub concurrency: usize,
    pub elapsed_ms: f64,
    /// Requests the schedule asked for.
    pub scheduled: u64,
    /// Requests actually sent (`ok + errors`).
    pub count: u64,
    /// Responses with the expected status (any 2xx without `--expect`).
    pub ok: u64,
    /// Everything else: connect failures, timeouts, unexpected statuses.
    pub errors: u64,
    /// Scheduled but never sent because the queue was full.
    pub dropped: u64,
    /// Achieved rate: `count / elapsed`.
    pub achieved_rate: f64,
    /// Responses by status code (`"200"`) and failures by kind (`"refused"`).
    pub outcomes: BTreeMap<String, u64>,
    /// Latency of every sent request (failed ones included).
    pub latency_ms: Latency,
}

/// Why a dependency is not reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DepReason {
    Refused,
    Timeout,
    Unresolvable,
    Error,
    /// `--require-from-env VAR` but VAR is unset or empty.
    MissingEnv,
    /// The value could not be read as a URL or host:port.
    Invalid,
}

impl From<ConnectKind> for DepReason {
    fn from(k: ConnectKind) -> Self {
        match k {
            ConnectKind::Refused => DepReason::Refused,
            ConnectKind::Timeout => DepReason::Timeout,
            ConnectKind::Unresolvable => DepReason::Unresolvable,
            ConnectKind::Connected | ConnectKind::Error => DepReason::Error,
        }
    }
}

/// One dependency as seen by the readiness check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepStatus {
    /// `tcp:host:port` for `--require-tcp`, `env:DATABASE_URL` for `--require-from-env`.
    pub name: String,
    /// `host:port` (empty when it could not be derived).
    pub target: String,
    pub reachable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<DepReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Body of the readiness paths (200 when `ready`, else 503).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyBody {
    pub ready: bool,
    /// The startup delay has passed.
    pub started: bool,
    pub dependencies: Vec<DepStatus>,
    /// Only the unreachable ones, by name (handy for assertions and logs).
    #[serde(default)]
    pub unreachable: Vec<String>,
}

/// Body of every path that is not a health, metrics or burn path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodInfo {
    pub hostname: String,
    pub path: String,
    pub method: String,
    /// The local port that took the request.
    pub port: u16,
    /// `POD_NAME`, `POD_NAMESPACE`, `POD_IP` from the downward API, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_ip: Option<String>,
}

/// Printed once on stdout by `agent serve` when every port is bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServeStarted {
    pub hostname: String,
    /// The bound addresses (ephemeral ports resolved), in `--ports` order.
    pub listening: Vec<String>,
    pub live_paths: Vec<String>,
    pub ready_paths: Vec<String>,
    pub startup_paths: Vec<String>,
    pub metrics_paths: Vec<String>,
    /// Dependency names, as in [`DepStatus::name`].
    pub dependencies: Vec<String>,
}

/// Body of `/burn?ms=N`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BurnBody {
    pub requested_ms: u64,
    pub burned_ms: f64,
}
