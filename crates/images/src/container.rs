//! Running an image under test: starting its container, finding its
//! ports, restarting it, running commands in it, and retrying a client
//! until the service answers. [`Ctx`] records each check that passed and
//! turns each that failed into a [`SmokeError::Check`].

use std::fmt;
use std::time::{Duration, Instant};

use testcontainers::core::{ExecCommand, IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::SmokeError;

pub(crate) struct Ctx {
    pub(crate) image: String,
    pub(crate) checks: Vec<String>,
}

impl Ctx {
    pub(crate) fn fail(
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
    pub(crate) fn ok(&mut self, check: impl Into<String>) {
        self.checks.push(check.into());
    }
}

pub(crate) fn split_ref(reference: &str) -> (&str, &str) {
    reference.rsplit_once(':').unwrap_or((reference, "latest"))
}

pub(crate) fn image_for(reference: &str, ports: &[u16], wait: WaitFor) -> GenericImage {
    let (repo, tag) = split_ref(reference);
    let mut img = GenericImage::new(repo, tag);
    for p in ports {
        img = img.with_exposed_port(p.tcp());
    }
    img.with_wait_for(wait)
}

pub(crate) async fn start(
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

pub(crate) async fn host_port(
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
pub(crate) async fn restart(ctx: &Ctx, c: &ContainerAsync<GenericImage>) -> Result<(), SmokeError> {
    c.stop()
        .await
        .map_err(|e| ctx.fail("stop", "container stops", e))?;
    c.start()
        .await
        .map_err(|e| ctx.fail("restart", "container starts again", e))
}

pub(crate) async fn bridge_ip(
    ctx: &Ctx,
    c: &ContainerAsync<GenericImage>,
) -> Result<String, SmokeError> {
    c.get_bridge_ip_address()
        .await
        .map(|ip| ip.to_string())
        .map_err(|e| ctx.fail("bridge ip", "the container's bridge IP", e))
}

/// A user-defined network (created by testcontainers) for a server + its
/// exporter: the exporter reaches the server by its IP on it. (The default
/// bridge cannot be inspected by name on Docker 20.10: "network default not found".)
pub(crate) fn smoke_network(what: &str) -> String {
    format!("vitals-smoke-{what}-{}", std::process::id())
}

/// A client that never got an answer it could use: its last error, and
/// for how long it tried.
#[derive(Debug, thiserror::Error)]
#[error("{last} (after {}s)", within.as_secs())]
pub(crate) struct GaveUp<E: fmt::Display> {
    pub(crate) last: E,
    pub(crate) within: Duration,
}

/// Retries `f` every 500ms until it returns Ok or `within` passes.
pub(crate) async fn retry<T, E: fmt::Display, F, Fut>(
    within: Duration,
    mut f: F,
) -> Result<T, GaveUp<E>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + within;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(last) if Instant::now() >= deadline => return Err(GaveUp { last, within }),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

pub(crate) async fn exec_ok(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_client_that_never_answers_is_given_up_on_with_its_last_error() {
        let mut tries = 0;
        let e = retry(Duration::ZERO, || {
            tries += 1;
            let n = tries;
            async move { Err::<(), _>(format!("connection refused (try {n})")) }
        })
        .await
        .unwrap_err();
        assert_eq!(e.to_string(), "connection refused (try 1) (after 0s)");
    }
}
