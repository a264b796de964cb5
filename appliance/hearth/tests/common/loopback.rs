//! Connections from a chosen loopback address. On loopback every client is
//! 127.0.0.1 unless it binds another address of 127.0.0.0/8 before
//! connecting (Linux routes the whole /8 to `lo`), which is how tests give
//! an attacker and an honest client different IPs without trusting any
//! header.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// 127.0.0.N.
pub fn lo(n: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, n])
}

/// A TCP connection to `to` from `src` (any free port).
pub async fn connect_from(src: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = if src.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    sock.bind(SocketAddr::new(src, 0))?;
    match tokio::time::timeout(Duration::from_secs(2), sock.connect(to)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connect timed out",
        )),
    }
}

/// The same for blocking code: a std stream (blocking mode).
pub fn connect_from_std(
    rt: &tokio::runtime::Runtime,
    src: IpAddr,
    to: SocketAddr,
) -> std::io::Result<std::net::TcpStream> {
    let s = rt.block_on(connect_from(src, to))?.into_std()?;
    s.set_nonblocking(false)?;
    Ok(s)
}

/// One HTTP/1.1 request from `src`; the status code and the raw response.
pub async fn http_from(
    src: IpAddr,
    to: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Option<(u16, String)> {
    let mut s = connect_from(src, to).await.ok()?;
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.ok()?;
    let mut resp = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut resp))
        .await
        .ok()?
        .ok()?;
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let code = resp.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, resp))
}
