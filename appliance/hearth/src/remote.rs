//! CLI commands that talk to a running daemon over its HTTP API
//! (`hearth status`, `hearth zone set-setpoint`, ...), and the small blocking
//! HTTP/1.1 client they use: loopback or LAN only, one request per
//! connection, a timeout on every step and a bound on the answer's size.
//! `https://` when the daemon serves TLS (`[web] tls_cert_file`), checking
//! its certificate against `--ca-file` or else the system's roots.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::Value;
use std::io::{BufRead, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";
/// Answers larger than this are refused (the event log at its limit is ~200 KiB).
const MAX_REPLY_BYTES: u64 = 8 * 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Args)]
pub struct Target {
    /// The daemon's address [default: $HEARTH_URL, else http://127.0.0.1:8080].
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Bearer token [default: $HEARTH_TOKEN]. Create one with `hearth token create`.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// For an https:// URL: the CA certificate(s) (PEM) the daemon's
    /// certificate must chain to [default: $HEARTH_CA_FILE, else the
    /// system's roots].
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: Target,
    /// Print the daemon's JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub target: Target,
    /// How many, newest first (1..=1000).
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ZoneCommand {
    /// Set a zone's target temperature (°C).
    SetSetpoint {
        #[command(flatten)]
        target: Target,
        zone: String,
        #[arg(allow_negative_numbers = true)]
        setpoint_c: f64,
    },
    /// Set a zone's mode: heat or off.
    SetMode {
        #[command(flatten)]
        target: Target,
        zone: String,
        mode: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Log in with the owner password ($HEARTH_PASSWORD, else one line on
    /// stdin) and print a new bearer token.
    Create {
        #[command(flatten)]
        target: Target,
        name: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("bad URL {0:?}: only http://host[:port] and https://host[:port] are supported")]
    Url(String),
    #[error("setting up TLS: {0}")]
    Tls(String),
    #[error("cannot reach the daemon at {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("talking to the daemon: {0}")]
    Io(#[from] std::io::Error),
    #[error("the daemon's answer is malformed: {0}")]
    Malformed(String),
    #[error("the daemon refused ({status}): {message}")]
    Refused { status: u16, message: String },
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    host: String,
    port: u16,
    token: Option<String>,
    /// For https://.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Client {
    /// A client for `url`; an https:// one trusts the system's roots.
    pub fn new(url: &str, token: Option<String>) -> Result<Client, RemoteError> {
        Client::with_ca_file(url, token, None)
    }

    /// Same; an https:// one trusts only the CAs in `ca_file` when given.
    pub fn with_ca_file(
        url: &str,
        token: Option<String>,
        ca_file: Option<&Path>,
    ) -> Result<Client, RemoteError> {
        let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(RemoteError::Url(url.into()));
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains('/') || rest.contains('@') {
            return Err(RemoteError::Url(url.into()));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h.to_string(),
                p.parse().map_err(|_| RemoteError::Url(url.into()))?,
            ),
            _ => (rest.to_string(), if https { 443 } else { 80 }),
        };
        let tls = if https {
            Some(tls_config(ca_file)?)
        } else {
            None
        };
        Ok(Client {
            host,
            port,
            token,
            tls,
        })
    }

    /// From `--url`/`--token`, else `$HEARTH_URL`/`$HEARTH_TOKEN`.
    pub fn from_target(t: &Target) -> Result<Client, RemoteError> {
        let url = t
            .url
            .clone()
            .or_else(|| std::env::var("HEARTH_URL").ok())
            .unwrap_or_else(|| DEFAULT_URL.into());
        let token = t
            .token
            .clone()
            .or_else(|| std::env::var("HEARTH_TOKEN").ok())
            .filter(|t| !t.is_empty());
        let ca_file = t
            .ca_file
            .clone()
            .or_else(|| std::env::var_os("HEARTH_CA_FILE").map(PathBuf::from))
            .filter(|p| !p.as_os_str().is_empty());
        Client::with_ca_file(&url, token, ca_file.as_deref())
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        extra_headers: &[(&str, &str)],
    ) -> Result<Reply, RemoteError> {
        let addr = format!("{}:{}", self.host, self.port);
        let target = addr
            .to_socket_addrs()
            .map_err(|source| RemoteError::Connect {
                addr: addr.clone(),
                source,
            })?
            .next()
            .ok_or_else(|| RemoteError::Url(addr.clone()))?;
        let stream = TcpStream::connect_timeout(&target, TIMEOUT)
            .map_err(|source| RemoteError::Connect { addr, source })?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\nAccept: application/json\r\nUser-Agent: hearth-cli\r\n",
            self.host, self.port
        );
        if let Some(t) = &self.token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        for (k, v) in extra_headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let raw = match &self.tls {
            None => exchange(stream, &head, &body)?,
            Some(config) => {
                let host = self.host.trim_start_matches('[').trim_end_matches(']');
                let name = rustls::pki_types::ServerName::try_from(host.to_string())
                    .map_err(|e| RemoteError::Tls(format!("{host}: {e}")))?;
                let conn = rustls::ClientConnection::new(config.clone(), name)
                    .map_err(|e| RemoteError::Tls(e.to_string()))?;
                exchange(rustls::StreamOwned::new(conn, stream), &head, &body)?
            }
        };
        parse_reply(&raw)
    }

    /// A JSON call; a non-2xx answer becomes `Refused` with the daemon's reason.
    pub fn json(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, RemoteError> {
        let reply = self.request(method, path, body, &[])?;
        let value: Value = if reply.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&reply.body).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&reply.body).into_owned())
            })
        };
        if !(200..300).contains(&reply.status) {
            let message = value
                .get("error")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string());
            return Err(RemoteError::Refused {
                status: reply.status,
                message,
            });
        }
        Ok(value)
    }
}

/// Sends one request and reads the whole answer (the daemon closes after it).
fn exchange<S: Read + Write>(
    mut stream: S,
    head: &str,
    body: &str,
) -> Result<Vec<u8>, RemoteError> {
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()?;
    let mut raw = Vec::new();
    stream.take(MAX_REPLY_BYTES + 1).read_to_end(&mut raw)?;
    if raw.len() as u64 > MAX_REPLY_BYTES {
        return Err(RemoteError::Malformed("answer too large".into()));
    }
    Ok(raw)
}

/// The roots an https:// daemon's certificate must chain to.
fn tls_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, RemoteError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| RemoteError::Tls(format!("reading {}: {e}", path.display())))?;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                let cert =
                    cert.map_err(|e| RemoteError::Tls(format!("{}: {e}", path.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| RemoteError::Tls(format!("{}: {e}", path.display())))?;
            }
            if roots.is_empty() {
                return Err(RemoteError::Tls(format!(
                    "{} holds no PEM certificate",
                    path.display()
                )));
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(RemoteError::Tls(
                    "no system CA certificates found: pass --ca-file".into(),
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| RemoteError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn parse_reply(raw: &[u8]) -> Result<Reply, RemoteError> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| RemoteError::Malformed("no end of headers".into()))?;
    let head = std::str::from_utf8(&raw[..split])
        .map_err(|_| RemoteError::Malformed("headers are not UTF-8".into()))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| RemoteError::Malformed(format!("status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body)?;
    }
    Ok(Reply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, RemoteError> {
    let mut out = Vec::new();
    loop {
        let mut line = String::new();
        let n = data.read_line(&mut line)?;
        if n == 0 {
            return Err(RemoteError::Malformed("chunked body ends early".into()));
        }
        let size_hex = line.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| RemoteError::Malformed(format!("chunk size {size_hex:?}")))?;
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err(RemoteError::Malformed("chunk shorter than its size".into()));
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

fn f(v: &Value, digits: usize, unit: &str) -> String {
    v.as_f64()
        .map_or_else(|| "—".to_string(), |x| format!("{x:.digits$}{unit}"))
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("?")
}

/// `hearth status`: zones and boards as a table (or the JSON).
pub fn status(args: &StatusArgs) -> Result<String> {
    let client = Client::from_target(&args.target)?;
    let st = client.json("GET", "/api/v1/status", None)?;
    if args.json {
        return Ok(st.to_string());
    }
    let mut out = String::new();
    let empty = Vec::new();
    out.push_str("zone              temp      setpoint  mode  action    power    in charge\n");
    for z in st["zones"].as_array().unwrap_or(&empty) {
        let rule = z["hold_reason"]
            .as_str()
            .map_or_else(|| "controller".to_string(), |r| format!("held: {r}"));
        out.push_str(&format!(
            "{:<17} {:<9} {:<9} {:<5} {:<9} {:<8} {}\n",
            s(&z["id"]),
            f(&z["temperature_c"], 2, " °C"),
            f(&z["setpoint_c"], 1, " °C"),
            s(&z["mode"]),
            s(&z["action"]),
            f(&z["power_w"], 0, " W"),
            rule
        ));
    }
    out.push_str("\nboard             zone              state     power    hashrate      chip\n");
    for b in st["boards"].as_array().unwrap_or(&empty) {
        out.push_str(&format!(
            "{:<17} {:<17} {:<9} {:<8} {:<13} {}\n",
            s(&b["id"]),
            s(&b["zone"]),
            s(&b["state"]),
            f(&b["power_w"], 0, " W"),
            f(&b["hashrate_ghs"], 1, " GH/s"),
            f(&b["chip_temp_c"], 1, " °C"),
        ));
    }
    if let Some(line) = crate::remote_mining::status_line(&st["work"]) {
        out.push_str(&format!("\n{line}\n"));
    }
    Ok(out)
}

pub fn zone(cmd: &ZoneCommand) -> Result<String> {
    let (target, zone, path, body) = match cmd {
        ZoneCommand::SetSetpoint {
            target,
            zone,
            setpoint_c,
        } => (
            target,
            zone,
            "setpoint",
            serde_json::json!({ "setpoint_c": setpoint_c }),
        ),
        ZoneCommand::SetMode { target, zone, mode } => {
            (target, zone, "mode", serde_json::json!({ "mode": mode }))
        }
    };
    let client = Client::from_target(target)?;
    let path = format!("/api/v1/zones/{}/{path}", encode_segment(zone));
    let r = client
        .json("PUT", &path, Some(&body))
        .with_context(|| format!("changing zone {zone:?}"))?;
    Ok(format!(
        "{}: setpoint {} mode {}",
        s(&r["id"]),
        f(&r["setpoint_c"], 1, " °C"),
        s(&r["mode"])
    ))
}

pub fn events(args: &EventsArgs) -> Result<String> {
    let client = Client::from_target(&args.target)?;
    let ev = client.json("GET", &format!("/api/v1/events?limit={}", args.limit), None)?;
    if args.json {
        return Ok(ev.to_string());
    }
    let mut out = String::new();
    for e in ev.as_array().map(Vec::as_slice).unwrap_or(&[]) {
        out.push_str(&format!(
            "{:>14}  {:<12} {:<10} {}\n",
            e["ts_ms"].as_u64().unwrap_or(0),
            s(&e["source"]),
            s(&e["kind"]),
            s(&e["message"])
        ));
    }
    Ok(out)
}

pub fn token(cmd: &TokenCommand) -> Result<String> {
    let TokenCommand::Create { target, name } = cmd;
    let client = Client::from_target(target)?;
    let password = match std::env::var("HEARTH_PASSWORD") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the owner password from stdin")?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    let login = client.request(
        "POST",
        "/api/v1/auth/login",
        Some(&serde_json::json!({ "password": password })),
        &[],
    )?;
    if login.status != 200 {
        let why: Value = serde_json::from_slice(&login.body).unwrap_or(Value::Null);
        bail!(
            "login refused ({}): {}",
            login.status,
            why["error"].as_str().unwrap_or("?")
        );
    }
    let cookie = login
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .context("the daemon sent no session cookie")?
        .to_string();
    let reply = client.request(
        "POST",
        "/api/v1/auth/tokens",
        Some(&serde_json::json!({ "name": name })),
        &[("Cookie", &cookie), ("X-Requested-With", "hearth")],
    )?;
    let value: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    if reply.status != 201 {
        bail!(
            "token refused ({}): {}",
            reply.status,
            value["error"].as_str().unwrap_or("?")
        );
    }
    let _ = client.request(
        "POST",
        "/api/v1/auth/logout",
        None,
        &[("Cookie", &cookie), ("X-Requested-With", "hearth")],
    );
    Ok(s(&value["token"]).to_string())
}

/// Percent-encodes one path segment (zone ids are usually plain already).
fn encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn urls() {
        let c = Client::new("http://hearth.local:8080/", None).unwrap();
        assert_eq!((c.host.as_str(), c.port), ("hearth.local", 8080));
        let c = Client::new("http://hearth.local", None).unwrap();
        assert_eq!(c.port, 80);
        for bad in [
            "ftp://x",
            "x:80",
            "http://",
            "http://a/b",
            "http://a:b",
            "http://u@a",
        ] {
            assert!(Client::new(bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn replies_plain_and_chunked() {
        let r = parse_reply(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
        let r = parse_reply(
            b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (400, &b"abcde"[..]));
        assert!(
            parse_reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nab").is_err()
        );
        assert!(parse_reply(b"garbage").is_err());
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode_segment("living-room"), "living-room");
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
    }
}
