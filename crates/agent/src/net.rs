//! TCP connect with classified failures, and a minimal HTTP/1.1 GET client.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::parse::{HostPort, HttpUrl};
use crate::report::ConnectKind;

/// A failed connect, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError {
    pub kind: ConnectKind,
    pub addr: Option<SocketAddr>,
    pub message: String,
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

/// Classify an I/O error from `connect`.
pub fn classify_io(e: &io::Error) -> ConnectKind {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ConnectKind::Refused,
        io::ErrorKind::TimedOut => ConnectKind::Timeout,
        _ => ConnectKind::Error,
    }
}

/// Resolve with the system resolver (getaddrinfo; musl reads /etc/resolv.conf).
pub async fn resolve(target: &HostPort) -> Result<Vec<SocketAddr>, ConnectError> {
    if let Ok(ip) = target.host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, target.port)]);
    }
    let unresolvable = |message: String| ConnectError {
        kind: ConnectKind::Unresolvable,
        addr: None,
        message,
    };
    match tokio::net::lookup_host((target.host.as_str(), target.port)).await {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            if addrs.is_empty() {
                Err(unresolvable(format!("{} has no addresses", target.host)))
            } else {
                Ok(addrs)
            }
        }
        Err(e) => Err(unresolvable(format!("{}: {e}", target.host))),
    }
}

/// Resolve and connect, trying each address in turn, all within `timeout`.
pub async fn connect(
    target: &HostPort,
    timeout: Duration,
) -> Result<(TcpStream, SocketAddr), ConnectError> {
    let attempt = async {
        let addrs = resolve(target).await?;
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    return Ok((s, addr));
                }
                Err(e) => {
                    last = Some(ConnectError {
                        kind: classify_io(&e),
                        addr: Some(addr),
                        message: format!("{addr}: {e}"),
                    })
                }
            }
        }
        Err(last.expect("at least one address"))
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(ConnectError {
            kind: ConnectKind::Timeout,
            addr: None,
            message: format!("no connection to {target} within {timeout:?}"),
        }),
    }
}

/// Why a GET on an open connection got no whole response.
#[derive(Debug, thiserror::Error)]
pub enum GetError {
    /// The connection closed or failed before the request could go.
    #[error("connection: {0}")]
    Connection(hyper::Error),
    #[error("request: {0}")]
    Build(hyper::http::Error),
    #[error("request: {0}")]
    Send(hyper::Error),
    #[error("body: {0}")]
    Body(hyper::Error),
}

/// An HTTP/1.1 client connection (keep-alive).
pub struct HttpConn {
    sender: SendRequest<Empty<Bytes>>,
    pub addr: SocketAddr,
}

/// A response: status and the first `limit` bytes of the body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Vec<u8>,
    pub truncated: bool,
}

impl HttpConn {
    /// Connect and handshake; the connection task runs in the background.
    pub async fn open(target: &HostPort, timeout: Duration) -> Result<HttpConn, ConnectError> {
        let (stream, addr) = connect(target, timeout).await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ConnectError {
                kind: ConnectKind::Error,
                addr: Some(addr),
                message: format!("handshake: {e}"),
            })?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(HttpConn { sender, addr })
    }

    /// GET `url` on this connection. Keeps the first `limit` bytes of the
    /// body; reads the rest too when `drain` (so the connection can be reused),
    /// else stops there.
    pub async fn get(
        &mut self,
        url: &HttpUrl,
        limit: usize,
        drain: bool,
    ) -> Result<HttpResponse, GetError> {
        self.sender.ready().await.map_err(GetError::Connection)?;
        let req = hyper::Request::get(url.path_and_query.as_str())
            .header(hyper::header::HOST, url.host_header.as_str())
            .header(
                hyper::header::USER_AGENT,
                concat!("vitals-agent/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::<Bytes>::new())
            .map_err(GetError::Build)?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(GetError::Send)?;
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        let mut kept = Vec::new();
        let mut truncated = false;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(GetError::Body)?;
            if let Ok(data) = frame.into_data() {
                let room = limit.saturating_sub(kept.len());
                if data.len() > room {
                    truncated = true;
                }
                kept.extend_from_slice(&data[..room.min(data.len())]);
                if truncated && !drain {
                    break;
                }
            }
        }
        Ok(HttpResponse {
            status,
            body: kept,
            truncated,
        })
    }

    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }
}
