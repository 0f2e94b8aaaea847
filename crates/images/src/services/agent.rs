//! The agent: `serve` answers /health and /metrics.

use testcontainers::core::WaitFor;
use testcontainers::ImageExt;

use crate::container::{host_port, image_for, start, Ctx};
use crate::http::http_expect;
use crate::{ImageSpec, SmokeError};

pub(crate) async fn agent(ctx: &mut Ctx, _spec: &ImageSpec) -> Result<(), SmokeError> {
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
