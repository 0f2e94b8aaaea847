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

use testcontainers::core::{ExecCommand, IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

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

fn read_refs() -> Vec<(String, String)> {
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
        "postgres-exporter" => postgres_exporter(&mut ctx, spec).await?,
        "redis" => redis_smoke(&mut ctx, spec).await?,
        "redis-exporter" => redis_exporter(&mut ctx, spec).await?,
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

struct Ctx {
    image: String,
    checks: Vec<String>,
}

impl Ctx {
    fn fail(
        &self,
        check: &str,
        expected: impl Into<String>,
        observed: impl fmt::Display,
    ) -> SmokeError {
        SmokeError::Check {
            image: self.image.clone(),
            check: check.to_string(),
            expected: expected.into(),
            observed: observed.to_string(),
        }
    }
    fn ok(&mut self, check: impl Into<String>) {
        self.checks.push(check.into());
    }
}

fn split_ref(reference: &str) -> (&str, &str) {
    reference.rsplit_once(':').unwrap_or((reference, "latest"))
}

fn image_for(reference: &str, ports: &[u16], wait: WaitFor) -> GenericImage {
    let (repo, tag) = split_ref(reference);
    let mut img = GenericImage::new(repo, tag);
    for p in ports {
        img = img.with_exposed_port(p.tcp());
    }
    img.with_wait_for(wait)
}

async fn start(
    ctx: &Ctx,
    req: testcontainers::ContainerRequest<GenericImage>,
) -> Result<ContainerAsync<GenericImage>, SmokeError> {
    req.with_startup_timeout(Duration::from_secs(180))
        .start()
        .await
        .map_err(|e| SmokeError::Start {
            image: ctx.image.clone(),
            detail: e.to_string(),
        })
}

async fn host_port(
    ctx: &Ctx,
    c: &ContainerAsync<GenericImage>,
    port: u16,
) -> Result<(String, u16), SmokeError> {
    let host = c
        .get_host()
        .await
        .map_err(|e| ctx.fail("host", "a host", e))?;
    let p = c
        .get_host_port_ipv4(port.tcp())
        .await
        .map_err(|e| ctx.fail("port mapping", format!("{port}/tcp mapped"), e))?;
    Ok((host.to_string(), p))
}

/// Stops and starts the container again (same volume): what survives is
/// what a pod restart keeps.
async fn restart(ctx: &Ctx, c: &ContainerAsync<GenericImage>) -> Result<(), SmokeError> {
    c.stop()
        .await
        .map_err(|e| ctx.fail("stop", "container stops", e))?;
    c.start()
        .await
        .map_err(|e| ctx.fail("restart", "container starts again", e))
}

async fn bridge_ip(ctx: &Ctx, c: &ContainerAsync<GenericImage>) -> Result<String, SmokeError> {
    c.get_bridge_ip_address()
        .await
        .map(|ip| ip.to_string())
        .map_err(|e| ctx.fail("bridge ip", "the container's bridge IP", e))
}

/// A user-defined network (created by testcontainers) for a server + its
/// exporter: the exporter reaches the server by its IP on it. (The default
/// bridge cannot be inspected by name on Docker 20.10: "network default not found".)
fn smoke_network(what: &str) -> String {
    format!("vitals-smoke-{what}-{}", std::process::id())
}

/// Retries `f` every 500ms until it returns Ok or `within` passes.
async fn retry<T, E: fmt::Display, F, Fut>(within: Duration, mut f: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + within;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("{e} (after {}s)", within.as_secs()))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

async fn exec_ok(
    ctx: &Ctx,
    c: &ContainerAsync<GenericImage>,
    cmd: &[&str],
) -> Result<String, SmokeError> {
    let mut res = c
        .exec(ExecCommand::new(cmd.iter().map(|s| s.to_string())))
        .await
        .map_err(|e| ctx.fail(&format!("exec {}", cmd.join(" ")), "exit 0", e))?;
    let out = res.stdout_to_vec().await.unwrap_or_default();
    let err = res.stderr_to_vec().await.unwrap_or_default();
    let code = res.exit_code().await.ok().flatten();
    if code != Some(0) {
        return Err(ctx.fail(
            &format!("exec {}", cmd.join(" ")),
            "exit 0",
            format!(
                "exit {code:?}: {}{}",
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&err)
            ),
        ));
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

async fn http_get(url: &str, auth: Option<(&str, &str)>) -> Result<(u16, String), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let mut req = client.get(url);
    if let Some((u, p)) = auth {
        req = req.basic_auth(u, Some(p));
    }
    let resp = req.send().await.map_err(|e| format!("GET {url}: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp.text().await.map_err(|e| e.to_string())?;
    Ok((status, body))
}

/// GET until the status is 200 and the body contains `needle`.
async fn http_expect(
    ctx: &Ctx,
    check: &str,
    url: &str,
    auth: Option<(&str, &str)>,
    needle: &str,
) -> Result<String, SmokeError> {
    let res = retry(Duration::from_secs(60), || async move {
        let (status, body) = http_get(url, auth).await?;
        if status == 200 && body.contains(needle) {
            Ok(body)
        } else {
            Err(format!(
                "{status} {}",
                body.chars().take(300).collect::<String>()
            ))
        }
    })
    .await;
    res.map_err(|e| ctx.fail(check, format!("GET {url} -> 200 with `{needle}`"), e))
}

// --- PostgreSQL -------------------------------------------------------------

fn pg_request(
    spec_ref: &str,
    spec: &ImageSpec,
    user: Option<&str>,
) -> testcontainers::ContainerRequest<GenericImage> {
    let img = image_for(
        spec_ref,
        &[5432],
        // Only the final server listens on TCP (the init server has
        // listen_addresses=''), so this line means "ready for clients".
        WaitFor::message_on_stderr("listening on IPv4 address"),
    );
    let mut req = img.with_env_var("LANG", "C.UTF-8");
    for (k, v) in &spec.env {
        req = req.with_env_var(k.clone(), v.clone());
    }
    if let Some(u) = user {
        req = req.with_user(u);
    }
    req
}

async fn pg_connect(host: &str, port: u16) -> Result<tokio_postgres::Client, String> {
    let conn = format!("host={host} port={port} user={PG_USER} password={PG_PASSWORD} dbname={PG_DB} connect_timeout=5");
    let (client, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    Ok(client)
}

async fn postgres(ctx: &mut Ctx, spec: &ImageSpec) -> Result<(), SmokeError> {
    let image = ctx.image.clone();
    // uid 70 (the Alpine image's, as healthcare-backend and
    // open-health-exchange run it): no passwd entry, nss_wrapper path.
    let c = start(ctx, pg_request(&image, spec, Some("70:70"))).await?;
    let (host, port) = host_port(ctx, &c, 5432).await?;
    let client = retry(Duration::from_secs(60), || pg_connect(&host, port))
        .await
        .map_err(|e| {
            ctx.fail(
                "connect (tokio-postgres, scram)",
                format!("{PG_USER}@{PG_DB} on {host}:{port}"),
                e,
            )
        })?;
    let one: i32 = client
        .query_one("SELECT 1", &[])
        .await
        .map_err(|e| ctx.fail("SELECT 1", "one row", e))?
        .get(0);
    if one != 1 {
        return Err(ctx.fail("SELECT 1", "1", one));
    }
    ctx.ok(format!(
        "initdb as uid 70 (POSTGRES_USER/PASSWORD/DB, scram), SELECT 1 over TCP {host}:{port}"
    ));
    client
        .batch_execute("CREATE TABLE vitals_smoke (id int primary key, note text); INSERT INTO vitals_smoke VALUES (1, 'kept')")
        .await
        .map_err(|e| ctx.fail("write", "CREATE TABLE + INSERT", e))?;
    ctx.ok("CREATE TABLE + INSERT");
    let version: String = client
        .query_one("SHOW server_version", &[])
        .await
        .map_err(|e| ctx.fail("SHOW server_version", "a version", e))?
        .get(0);
    drop(client);
    exec_ok(
        ctx,
        &c,
        &[
            "pg_isready",
            "-h",
            "127.0.0.1",
            "-p",
            "5432",
            "-U",
            PG_USER,
            "-d",
            PG_DB,
        ],
    )
    .await?;
    // The backup CronJobs' tools, as the charts call them.
    exec_ok(
        ctx,
        &c,
        &["sh", "-c", "PGPASSWORD=\"$POSTGRES_PASSWORD\" pg_dump -h 127.0.0.1 -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\" --format=custom -f /tmp/s.dump && pg_restore --list /tmp/s.dump >/dev/null && nc -z -w 2 127.0.0.1 5432"],
    )
    .await?;
    ctx.ok(
        "pg_dump | pg_restore --list and nc -z work (backup / wait-for-dependencies containers)",
    );
    ctx.ok(format!(
        "pg_isready probe command answers (server {version})"
    ));
    restart(ctx, &c).await?;
    let (host, port) = host_port(ctx, &c, 5432).await?;
    let client = retry(Duration::from_secs(60), || pg_connect(&host, port))
        .await
        .map_err(|e| ctx.fail("reconnect after restart", "the same database", e))?;
    let row = client
        .query_one("SELECT note FROM vitals_smoke WHERE id = 1", &[])
        .await
        .map_err(|e| {
            ctx.fail(
                "read after restart",
                "the row written before the restart",
                e,
            )
        })?;
    let note: String = row.get(0);
    if note != "kept" {
        return Err(ctx.fail("read after restart", "kept", note));
    }
    ctx.ok("restart: PGDATA kept, no re-init, row read back");
    Ok(())
}

// --- Redis ------------------------------------------------------------------

fn redis_request(reference: &str) -> testcontainers::ContainerRequest<GenericImage> {
    image_for(
        reference,
        &[6379],
        WaitFor::message_on_stdout("Ready to accept connections"),
    )
    // The charts' form: redis-server args through the entrypoint.
    .with_cmd([
        "--port",
        "6379",
        "--dir",
        "/data",
        "--appendonly",
        "yes",
        "--requirepass",
        REDIS_PASSWORD,
    ])
}

async fn redis_conn(host: &str, port: u16) -> Result<redis::aio::MultiplexedConnection, String> {
    let client = redis::Client::open(format!("redis://:{REDIS_PASSWORD}@{host}:{port}/0"))
        .map_err(|e| e.to_string())?;
    client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())
}

async fn redis_smoke(ctx: &mut Ctx, _spec: &ImageSpec) -> Result<(), SmokeError> {
    use redis::AsyncCommands;
    let image = ctx.image.clone();
    let c = start(ctx, redis_request(&image)).await?;
    let (host, port) = host_port(ctx, &c, 6379).await?;
    let mut con = retry(Duration::from_secs(30), || redis_conn(&host, port))
        .await
        .map_err(|e| ctx.fail("connect (redis crate, AUTH)", format!("{host}:{port}"), e))?;
    let pong: String = redis::cmd("PING")
        .query_async(&mut con)
        .await
        .map_err(|e| ctx.fail("PING", "PONG", e))?;
    if pong != "PONG" {
        return Err(ctx.fail("PING", "PONG", pong));
    }
    let _: () = con
        .set("vitals:smoke", "kept")
        .await
        .map_err(|e| ctx.fail("SET", "OK", e))?;
    let got: String = con
        .get("vitals:smoke")
        .await
        .map_err(|e| ctx.fail("GET", "kept", e))?;
    if got != "kept" {
        return Err(ctx.fail("GET", "kept", got));
    }
    ctx.ok(format!("PING, SET/GET with requirepass on {host}:{port}"));
    let out = exec_ok(ctx, &c, &["sh", "-c", "REDISCLI_AUTH=\"$0\" redis-cli -h 127.0.0.1 -p 6379 ping && valkey-cli --version && getent hosts localhost", REDIS_PASSWORD]).await?;
    if !out.contains("PONG") {
        return Err(ctx.fail("redis-cli ping (chart probe)", "PONG", out));
    }
    ctx.ok("probe `redis-cli ping` answers PONG; valkey-cli and getent present");
    drop(con);
    restart(ctx, &c).await?;
    let (host, port) = host_port(ctx, &c, 6379).await?;
    let con = retry(Duration::from_secs(30), || redis_conn(&host, port))
        .await
        .map_err(|e| ctx.fail("reconnect after restart", format!("{host}:{port}"), e))?;
    let got: String = retry(Duration::from_secs(30), || {
        let mut con = con.clone();
        async move { con.get::<_, String>("vitals:smoke").await }
    })
    .await
    .map_err(|e| ctx.fail("GET after restart", "kept (AOF in /data)", e))?;
    if got != "kept" {
        return Err(ctx.fail("GET after restart", "kept", got));
    }
    ctx.ok("restart: key kept (appendonly in /data)");
    Ok(())
}

// --- Exporters --------------------------------------------------------------

/// What tells one exporter's smoke test from the other's: both start their
/// data service beside them on a network of their own, then `/metrics` must
/// say the service is up and the charts' probe path must answer.
struct Exporter {
    /// The data service, as `images.env` names it.
    backend: &'static str,
    /// The exporter's listen port.
    port: u16,
    /// The stderr line that says the exporter serves.
    serving: &'static str,
    /// The metric line proving it reached the service (`pg_up 1`).
    up: &'static str,
    /// The path the charts probe.
    probe: &'static str,
}

type Request = testcontainers::ContainerRequest<GenericImage>;

/// The reference of a built image, or the error that says to build it.
fn built_ref(name: &str) -> Result<String, SmokeError> {
    read_refs()
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .ok_or_else(|| SmokeError::NotBuilt {
            name: name.into(),
            env_file: images_env_path().display().to_string(),
        })
}

/// `backend` builds the data service's request from its reference;
/// `point` aims the exporter's request at the service's IP.
async fn exporter(
    ctx: &mut Ctx,
    spec: &ImageSpec,
    e: Exporter,
    backend: impl FnOnce(&str) -> Request,
    point: impl FnOnce(Request, &str) -> Request,
) -> Result<(), SmokeError> {
    let backend_ref = built_ref(e.backend)?;
    let net = smoke_network(e.backend);
    let service = start(ctx, backend(&backend_ref).with_network(net.clone())).await?;
    let ip = bridge_ip(ctx, &service).await?;
    let img = image_for(
        ctx.image.as_str(),
        &[e.port],
        WaitFor::message_on_stderr(e.serving),
    );
    let mut req = point(img.with_network(net), &ip);
    for (k, v) in &spec.env {
        req = req.with_env_var(k.clone(), v.clone());
    }
    let c = start(ctx, req).await?;
    let (host, port) = host_port(ctx, &c, e.port).await?;
    http_expect(
        ctx,
        "GET /metrics",
        &format!("http://{host}:{port}/metrics"),
        None,
        &format!("\n{}", e.up),
    )
    .await?;
    ctx.ok(format!("/metrics has `{}` against {backend_ref}", e.up));
    http_expect(
        ctx,
        &format!("GET {} (chart probe)", e.probe),
        &format!("http://{host}:{port}{}", e.probe),
        None,
        "",
    )
    .await?;
    ctx.ok(format!("GET {} answers 200 (chart probe)", e.probe));
    Ok(())
}

async fn postgres_exporter(ctx: &mut Ctx, spec: &ImageSpec) -> Result<(), SmokeError> {
    let pg_spec = catalog()
        .into_iter()
        .find(|s| s.name == "postgres")
        .expect("postgres in catalog");
    let e = Exporter {
        backend: "postgres",
        port: 9187,
        serving: "Listening on",
        up: "pg_up 1",
        probe: "/",
    };
    exporter(
        ctx,
        spec,
        e,
        |r| pg_request(r, &pg_spec, None),
        |req, ip| {
            req.with_env_var(
                "DATA_SOURCE_URI",
                format!("{ip}:5432/{PG_DB}?sslmode=disable"),
            )
            .with_cmd(["--web.listen-address=:9187"])
        },
    )
    .await
}

async fn redis_exporter(ctx: &mut Ctx, spec: &ImageSpec) -> Result<(), SmokeError> {
    let e = Exporter {
        backend: "redis",
        port: 9121,
        serving: "Providing metrics",
        up: "redis_up 1",
        probe: "/health",
    };
    exporter(ctx, spec, e, redis_request, |req, ip| {
        req.with_env_var("REDIS_ADDR", format!("redis://{ip}:6379"))
    })
    .await
}

// --- RabbitMQ ---------------------------------------------------------------

async fn rabbitmq(ctx: &mut Ctx, spec: &ImageSpec) -> Result<(), SmokeError> {
    use lapin::options::{BasicGetOptions, BasicPublishOptions, QueueDeclareOptions};
    use lapin::types::FieldTable;
    use lapin::{BasicProperties, Connection, ConnectionProperties};
    let img = image_for(
        ctx.image.as_str(),
        &[5672, 15672, 15692],
        WaitFor::message_on_stdout("Server startup complete"),
    );
    let mut req = img.with_env_var("RABBITMQ_NODE_PORT", "5672");
    for (k, v) in &spec.env {
        req = req.with_env_var(k.clone(), v.clone());
    }
    let c = start(ctx, req).await?;
    let (host, port) = host_port(ctx, &c, 5672).await?;
    let uri = format!("amqp://{RABBIT_USER}:{RABBIT_PASSWORD}@{host}:{port}/%2f");
    let conn = retry(Duration::from_secs(60), || {
        Connection::connect(&uri, ConnectionProperties::default())
    })
    .await
    .map_err(|e| {
        ctx.fail(
            "AMQP connect (lapin)",
            format!("{RABBIT_USER}@{host}:{port} (RABBITMQ_DEFAULT_USER/PASS)"),
            e,
        )
    })?;
    let ch = conn
        .create_channel()
        .await
        .map_err(|e| ctx.fail("channel", "a channel", e))?;
    ch.queue_declare(
        "vitals-smoke",
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .map_err(|e| ctx.fail("queue.declare", "declare-ok", e))?;
    ch.basic_publish(
        "",
        "vitals-smoke",
        BasicPublishOptions::default(),
        b"hello",
        BasicProperties::default(),
    )
    .await
    .map_err(|e| ctx.fail("basic.publish", "published", e))?;
    let msg = retry(Duration::from_secs(10), || async {
        match ch
            .basic_get("vitals-smoke", BasicGetOptions { no_ack: true })
            .await
        {
            Ok(Some(m)) => Ok(m.delivery.data.clone()),
            Ok(None) => Err("queue empty".to_string()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
    .map_err(|e| ctx.fail("basic.get", "the published message", e))?;
    if msg != b"hello" {
        return Err(ctx.fail("basic.get", "hello", String::from_utf8_lossy(&msg)));
    }
    ctx.ok(format!(
        "AMQP as {RABBIT_USER}: declare, publish, get on {host}:{port}"
    ));
    let _ = conn.close(200, "bye").await;
    let (h, p) = host_port(ctx, &c, 15672).await?;
    http_expect(
        ctx,
        "management API",
        &format!("http://{h}:{p}/api/overview"),
        Some((RABBIT_USER, RABBIT_PASSWORD)),
        "rabbitmq_version",
    )
    .await?;
    ctx.ok("management plugin: /api/overview (15672)");
    let (h, p) = host_port(ctx, &c, 15692).await?;
    http_expect(
        ctx,
        "prometheus plugin",
        &format!("http://{h}:{p}/metrics"),
        None,
        "rabbitmq_",
    )
    .await?;
    ctx.ok("prometheus plugin: /metrics (15692)");
    exec_ok(ctx, &c, &["rabbitmq-diagnostics", "-q", "ping"]).await?;
    ctx.ok("rabbitmq-diagnostics ping (erlang cookie from RABBITMQ_ERLANG_COOKIE)");
    Ok(())
}

// --- MinIO ------------------------------------------------------------------

async fn minio(ctx: &mut Ctx, spec: &ImageSpec) -> Result<(), SmokeError> {
    use s3::creds::Credentials;
    use s3::{Bucket, BucketConfiguration, Region};
    let img = image_for(
        ctx.image.as_str(),
        &[9000, 9001],
        WaitFor::message_on_stderr("API:"),
    );
    // The chart's args (the `minio` is implied by the entrypoint).
    let mut req = img.with_cmd([
        "server",
        "/data",
        "--address",
        ":9000",
        "--console-address",
        ":9001",
        "--certs-dir",
        "/tmp/certs",
    ]);
    req = req.with_env_var("HOME", "/tmp");
    for (k, v) in &spec.env {
        req = req.with_env_var(k.clone(), v.clone());
    }
    let c = start(ctx, req).await?;
    let (host, port) = host_port(ctx, &c, 9000).await?;
    let base = format!("http://{host}:{port}");
    http_expect(
        ctx,
        "GET /minio/health/live",
        &format!("{base}/minio/health/live"),
        None,
        "",
    )
    .await?;
    http_expect(
        ctx,
        "GET /minio/health/ready",
        &format!("{base}/minio/health/ready"),
        None,
        "",
    )
    .await?;
    ctx.ok("/minio/health/live and /minio/health/ready answer 200 (chart probes)");
    let region = Region::Custom {
        region: "us-east-1".into(),
        endpoint: base.clone(),
    };
    let creds = Credentials::new(Some(MINIO_USER), Some(MINIO_PASSWORD), None, None, None)
        .map_err(|e| ctx.fail("credentials", "valid", e))?;
    Bucket::create_with_path_style(
        "vitals-smoke",
        region.clone(),
        creds.clone(),
        BucketConfiguration::default(),
    )
    .await
    .map_err(|e| ctx.fail("S3 CreateBucket", "200", e))?;
    let bucket = Bucket::new("vitals-smoke", region, creds)
        .map_err(|e| ctx.fail("bucket", "a bucket handle", e))?
        .with_path_style();
    let put = bucket
        .put_object("/hello.txt", b"kept by minio")
        .await
        .map_err(|e| ctx.fail("S3 PutObject", "200", e))?;
    if put.status_code() != 200 {
        return Err(ctx.fail("S3 PutObject", "200", put.status_code()));
    }
    let got = bucket
        .get_object("/hello.txt")
        .await
        .map_err(|e| ctx.fail("S3 GetObject", "200", e))?;
    if got.status_code() != 200 || got.bytes().as_ref() != b"kept by minio" {
        return Err(ctx.fail(
            "S3 GetObject",
            "200 `kept by minio`",
            format!(
                "{} {:?}",
                got.status_code(),
                String::from_utf8_lossy(got.bytes())
            ),
        ));
    }
    ctx.ok(format!(
        "S3 (rust-s3, SigV4, path style): CreateBucket, PutObject, GetObject on {base}"
    ));
    Ok(())
}

// --- agent ------------------------------------------------------------------

async fn agent(ctx: &mut Ctx, _spec: &ImageSpec) -> Result<(), SmokeError> {
    let img = image_for(ctx.image.as_str(), &[8080], WaitFor::seconds(1));
    let req = img.with_cmd([
        "serve",
        "--port=8080",
        "--live-path=/health",
        "--ready-path=/health",
    ]);
    let c = start(ctx, req).await?;
    let (host, port) = host_port(ctx, &c, 8080).await?;
    http_expect(
        ctx,
        "GET /health",
        &format!("http://{host}:{port}/health"),
        None,
        "",
    )
    .await?;
    http_expect(
        ctx,
        "GET /metrics",
        &format!("http://{host}:{port}/metrics"),
        None,
        "agent_",
    )
    .await?;
    ctx.ok("agent serve: /health 200, /metrics");
    Ok(())
}

/// True when the `images` tier should run: `E2E_TIERS` unset, or it lists `images`.
pub fn tier_enabled() -> bool {
    match std::env::var("E2E_TIERS") {
        Err(_) => true,
        Ok(v) => v.split(',').any(|t| t.trim() == "images"),
    }
}
