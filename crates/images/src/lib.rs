//! Smoke tests of the data-service images `scripts/images.sh` builds.
//!
//! [`catalog`] lists every image (its reference read from
//! `$VITALS_CACHE/images.env`, the ports it serves, the env it needs) and
//! [`smoke`] starts one with testcontainers and proves it with a real client:
//! PostgreSQL (tokio-postgres: SELECT 1, a write, a read after a restart, run
//! as uid 70 like the Alpine image the charts name), Redis (PING, SET/GET, AOF
//! across a restart), the two exporters (`pg_up 1` / `redis_up 1` on
//! /metrics against a real server), RabbitMQ (AMQP publish + get with lapin,
//! management API, prometheus endpoint), MinIO (health endpoints, S3 bucket +
//! put + get with rust-s3) and the agent (serve: health and metrics).

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

mod container;
mod http;
mod services;

use container::Ctx;
use services::redis::redis_smoke;
use services::{agent::agent, exporters, minio::minio, postgres::postgres, rabbitmq::rabbitmq};

/// One image of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// Short name, as in `images.env` (`postgres`, `redis-exporter`, ...).
    pub name: String,
    /// `repo:tag`, or None when `images.env` has no line for it (not built).
    pub reference: Option<String>,
    /// Ports the image serves (container side).
    pub ports: Vec<u16>,
    /// Env the smoke run sets (credentials are throwaway test values).
    pub env: Vec<(String, String)>,
}

/// What a passing smoke run proved, one line per check.
#[derive(Debug, Clone)]
pub struct SmokeReport {
    pub image: String,
    pub checks: Vec<String>,
    pub elapsed: Duration,
}

impl fmt::Display for SmokeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: ok in {:.1}s",
            self.image,
            self.elapsed.as_secs_f64()
        )?;
        for c in &self.checks {
            writeln!(f, "  - {c}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SmokeError {
    #[error("image `{name}` is not built: no `{name}=` line in {env_file}\n  fix: scripts/images.sh build {name}")]
    NotBuilt { name: String, env_file: String },
    #[error("Docker is unreachable at {endpoint}: {detail}\n  fix: scripts/docker.sh (or set DOCKER_HOST); E2E_TIERS without `images` skips this tier on purpose")]
    DockerUnreachable { endpoint: String, detail: String },
    #[error("{image}: container did not start: {detail}")]
    Start { image: String, detail: String },
    #[error("{image}: {check} failed\n  expected: {expected}\n  observed: {observed}")]
    Check {
        image: String,
        check: String,
        expected: String,
        observed: String,
    },
    #[error("unknown image `{0}` (not in the catalog)")]
    Unknown(String),
}

/// `$VITALS_CACHE/images.env` (default `~/.cache/vitals/images.env`).
pub fn images_env_path() -> PathBuf {
    let cache = std::env::var_os("VITALS_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            PathBuf::from(home).join(".cache/vitals")
        });
    cache.join("images.env")
}

pub(crate) fn read_refs() -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(images_env_path()) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub const PG_USER: &str = "vitals";
pub const PG_PASSWORD: &str = "smoke-Pass_1";
pub const PG_DB: &str = "smoke";
pub const REDIS_PASSWORD: &str = "smoke-redis-pass";
pub const MINIO_USER: &str = "vitals-root";
pub const MINIO_PASSWORD: &str = "smoke-minio-secret";
pub const RABBIT_USER: &str = "vitals";
pub const RABBIT_PASSWORD: &str = "smoke-rabbit";

/// Every image `scripts/images.sh` builds, with its reference from images.env.
pub fn catalog() -> Vec<ImageSpec> {
    let refs = read_refs();
    let r = |name: &str| refs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let spec = |name: &str, ports: &[u16], e: Vec<(String, String)>| ImageSpec {
        name: name.to_string(),
        reference: r(name),
        ports: ports.to_vec(),
        env: e,
    };
    vec![
        spec(
            "postgres",
            &[5432],
            env(&[
                ("POSTGRES_USER", PG_USER),
                ("POSTGRES_PASSWORD", PG_PASSWORD),
                ("POSTGRES_DB", PG_DB),
                ("PGDATA", "/var/lib/postgresql/data/pgdata"),
                (
                    "POSTGRES_INITDB_ARGS",
                    "--auth-host=scram-sha-256 --data-checksums",
                ),
            ]),
        ),
        spec(
            "postgres-exporter",
            &[9187],
            env(&[
                ("DATA_SOURCE_USER", PG_USER),
                ("DATA_SOURCE_PASS", PG_PASSWORD),
            ]),
        ),
        spec("redis", &[6379], env(&[("REDIS_PASSWORD", REDIS_PASSWORD)])),
        spec(
            "redis-exporter",
            &[9121],
            env(&[
                ("REDIS_PASSWORD", REDIS_PASSWORD),
                ("REDIS_EXPORTER_WEB_LISTEN_ADDRESS", ":9121"),
            ]),
        ),
        spec(
            "rabbitmq",
            &[5672, 15672, 15692],
            env(&[
                ("RABBITMQ_DEFAULT_USER", RABBIT_USER),
                ("RABBITMQ_DEFAULT_PASS", RABBIT_PASSWORD),
                ("RABBITMQ_ERLANG_COOKIE", "vitalssmokecookie0123456789"),
            ]),
        ),
        spec(
            "minio",
            &[9000, 9001],
            env(&[
                ("MINIO_ROOT_USER", MINIO_USER),
                ("MINIO_ROOT_PASSWORD", MINIO_PASSWORD),
            ]),
        ),
        spec("agent", &[8080], Vec::new()),
    ]
}

/// Fails unless the Docker daemon answers `GET /_ping` (DOCKER_HOST
/// `unix://...` or /var/run/docker.sock).
pub async fn docker_reachable() -> Result<(), SmokeError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let unreachable = |detail: String| SmokeError::DockerUnreachable {
        endpoint: host.clone(),
        detail,
    };
    let Some(path) = host.strip_prefix("unix://") else {
        // tcp:// and others: leave the verdict to testcontainers.
        return Ok(());
    };
    let fut = async {
        let mut s = tokio::net::UnixStream::connect(path).await?;
        s.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            .await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&buf).into_owned())
    };
    match tokio::time::timeout(Duration::from_secs(10), fut).await {
        Err(_) => Err(unreachable("no answer to GET /_ping in 10s".into())),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Ok(Ok(resp)) if resp.starts_with("HTTP/1.0 200") || resp.starts_with("HTTP/1.1 200") => {
            Ok(())
        }
        Ok(Ok(resp)) => Err(unreachable(format!(
            "GET /_ping answered {:?}",
            resp.lines().next().unwrap_or("")
        ))),
    }
}

/// Starts the image and proves it with a real client.
pub async fn smoke(spec: &ImageSpec) -> Result<SmokeReport, SmokeError> {
    let reference = spec.reference.clone().ok_or_else(|| SmokeError::NotBuilt {
        name: spec.name.clone(),
        env_file: images_env_path().display().to_string(),
    })?;
    docker_reachable().await?;
    let started = Instant::now();
    let mut ctx = Ctx {
        image: reference.clone(),
        checks: Vec::new(),
    };
    match spec.name.as_str() {
        "postgres" => postgres(&mut ctx, spec).await?,
        "postgres-exporter" => exporters::postgres_exporter(&mut ctx, spec).await?,
        "redis" => redis_smoke(&mut ctx, spec).await?,
        "redis-exporter" => exporters::redis_exporter(&mut ctx, spec).await?,
        "rabbitmq" => rabbitmq(&mut ctx, spec).await?,
        "minio" => minio(&mut ctx, spec).await?,
        "agent" => agent(&mut ctx, spec).await?,
        other => return Err(SmokeError::Unknown(other.to_string())),
    }
    Ok(SmokeReport {
        image: reference,
        checks: ctx.checks,
        elapsed: started.elapsed(),
    })
}

/// True when the `images` tier should run: `E2E_TIERS` unset, or it lists `images`.
pub fn tier_enabled() -> bool {
    match std::env::var("E2E_TIERS") {
        Err(_) => true,
        Ok(v) => v.split(',').any(|t| t.trim() == "images"),
    }
}
