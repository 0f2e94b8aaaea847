//! PostgreSQL: tokio-postgres SELECT 1, a write, a read after a restart,
//! run as uid 70 like the Alpine image the charts name.

use std::time::Duration;

use testcontainers::core::WaitFor;
use testcontainers::{GenericImage, ImageExt};

use crate::container::{exec_ok, host_port, image_for, restart, retry, start, Ctx};
use crate::{ImageSpec, SmokeError, PG_DB, PG_PASSWORD, PG_USER};

pub(crate) fn pg_request(
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

pub(crate) async fn pg_connect(
    host: &str,
    port: u16,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let conn = format!("host={host} port={port} user={PG_USER} password={PG_PASSWORD} dbname={PG_DB} connect_timeout=5");
    let (client, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

pub(crate) async fn postgres(ctx: &mut Ctx, spec: &ImageSpec) -> Result<(), SmokeError> {
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
