//! RabbitMQ: AMQP publish + get with lapin, the management API and the
//! prometheus endpoint.

use std::time::Duration;

use testcontainers::core::WaitFor;
use testcontainers::ImageExt;

use crate::container::{exec_ok, host_port, image_for, retry, start, Ctx};
use crate::http::http_expect;
use crate::{ImageSpec, SmokeError, RABBIT_PASSWORD, RABBIT_USER};

pub(crate) async fn rabbitmq(ctx: &mut Ctx, spec: &ImageSpec) -> Result<(), SmokeError> {
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
