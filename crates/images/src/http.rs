//! Plain HTTP against a container's port: health, management and metrics
//! endpoints.

use std::time::Duration;

use crate::container::{retry, Ctx};
use crate::SmokeError;

/// Why a GET gave no answer the check could use.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    #[error("{0}")]
    Client(reqwest::Error),
    #[error("GET {url}: {source}")]
    Get { url: String, source: reqwest::Error },
    #[error("{0}")]
    Body(reqwest::Error),
    /// An answer, but not the one expected: its status and the start of
    /// its body.
    #[error("{status} {body}")]
    Unexpected { status: u16, body: String },
}

pub(crate) async fn http_get(
    url: &str,
    auth: Option<(&str, &str)>,
) -> Result<(u16, String), HttpError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(HttpError::Client)?;
    let mut req = client.get(url);
    if let Some((u, p)) = auth {
        req = req.basic_auth(u, Some(p));
    }
    let resp = req.send().await.map_err(|source| HttpError::Get {
        url: url.to_string(),
        source,
    })?;
    let status = resp.status().as_u16();
    let body = resp.text().await.map_err(HttpError::Body)?;
    Ok((status, body))
}

/// GET until the status is 200 and the body contains `needle`.
pub(crate) async fn http_expect(
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
            Err(HttpError::Unexpected {
                status,
                body: body.chars().take(300).collect(),
            })
        }
    })
    .await;
    res.map_err(|e| ctx.fail(check, format!("GET {url} -> 200 with `{needle}`"), e))
}
