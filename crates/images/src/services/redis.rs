//! Redis: PING, SET/GET with requirepass, the charts' redis-cli probe, and
//! AOF keeping a key across a restart.

use std::time::Duration;

use testcontainers::core::WaitFor;
use testcontainers::{GenericImage, ImageExt};

use crate::container::{exec_ok, host_port, image_for, restart, retry, start, Ctx};
use crate::{ImageSpec, SmokeError, REDIS_PASSWORD};

pub(crate) fn redis_request(reference: &str) -> testcontainers::ContainerRequest<GenericImage> {
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

pub(crate) async fn redis_conn(
    host: &str,
    port: u16,
) -> Result<redis::aio::MultiplexedConnection, redis::RedisError> {
    redis::Client::open(format!("redis://:{REDIS_PASSWORD}@{host}:{port}/0"))?
        .get_multiplexed_async_connection()
        .await
}

pub(crate) async fn redis_smoke(ctx: &mut Ctx, _spec: &ImageSpec) -> Result<(), SmokeError> {
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
