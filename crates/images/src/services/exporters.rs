//! The two exporters: each beside a real server of its own, `/metrics`
//! must say the server is up and the charts' probe path must answer.

use testcontainers::core::WaitFor;
use testcontainers::{GenericImage, ImageExt};

use super::postgres::pg_request;
use super::redis::redis_request;
use crate::container::{bridge_ip, host_port, image_for, smoke_network, start, Ctx};
use crate::http::http_expect;
use crate::{catalog, images_env_path, read_refs, ImageSpec, SmokeError, PG_DB};

/// What tells one exporter's smoke test from the other's: both start their
/// data service beside them on a network of their own, then `/metrics` must
/// say the service is up and the charts' probe path must answer.
pub(crate) struct Exporter {
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

pub(crate) type Request = testcontainers::ContainerRequest<GenericImage>;

/// The reference of a built image, or the error that says to build it.
pub(crate) fn built_ref(name: &str) -> Result<String, SmokeError> {
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
pub(crate) async fn exporter(
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

pub(crate) async fn postgres_exporter(ctx: &mut Ctx, spec: &ImageSpec) -> Result<(), SmokeError> {
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

pub(crate) async fn redis_exporter(ctx: &mut Ctx, spec: &ImageSpec) -> Result<(), SmokeError> {
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
