#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! HTTPS on a running `hearth run --sim` with `[web] tls_cert_file` and
//! `tls_key_file` (a throw-away CA made with openssl), driven by the CLI
//! as a user types it: the owner's token is made and used over TLS; a
//! client that does not trust the CA, and plain HTTP on the port, get
//! nothing; clients that open connections and never start their handshake
//! delay no one; a key file that holds no key, or another certificate's
//! key, stops the start with the setting named.

mod common;

use common::loopback::{connect_from, lo};
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_hearth");
const PASSWORD: &str = "https test owner password";

fn config(dir: &Path, key_file: &Path) -> std::path::PathBuf {
    let pw = dir.join("owner-password");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let cfg = dir.join("hearth.toml");
    std::fs::write(
        &cfg,
        format!(
            "[web]\ntls_cert_file = {:?}\ntls_key_file = {:?}\nowner_password_file = {:?}\n\n[[zone]]\nid = \"living-room\"\n\n[[hashboard]]\nid = \"board-0\"\nzone = \"living-room\"\nprofile = \"generic-bm1370-65\"\n",
            dir.join("server.pem"),
            key_file,
            pw
        ),
    )
    .unwrap();
    cfg
}

fn cli(addr: SocketAddr, ca: Option<&Path>, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .arg("--url")
        .arg(format!("https://{addr}"))
        .env_remove("HEARTH_TOKEN")
        .env_remove("HEARTH_PASSWORD")
        .env_remove("HEARTH_CA_FILE")
        .env_remove("HEARTH_URL");
    if let Some(ca) = ca {
        c.arg("--ca-file").arg(ca);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_over_tls_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    common::certs::certificates(dir.path());
    let ca = dir.path().join("ca.pem");
    let cfg = config(dir.path(), &dir.path().join("server.key"));
    let addr: SocketAddr = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .unwrap();
    let child = Command::new(BIN)
        .args(["run", "--sim", "--config"])
        .arg(&cfg)
        .args(["--http", &addr.to_string(), "--data-dir"])
        .arg(dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _child = common::Killed(child);

    // The owner's token, made over TLS from the installer's password.
    let started = Instant::now();
    let token = loop {
        let out = cli(
            addr,
            Some(&ca),
            &[("HEARTH_PASSWORD", PASSWORD)],
            &["token", "create", "laptop"],
        );
        if out.status.success() {
            break text(&out.stdout).trim().to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no token over https: {}",
            text(&out.stderr)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(token.starts_with("hth_"), "{token}");
    let with_token = [("HEARTH_TOKEN", token.as_str())];

    // A write and a read with it.
    let out = cli(
        addr,
        Some(&ca),
        &with_token,
        &["zone", "set-setpoint", "living-room", "22.5"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The status is the last tick's: the write shows from the next one.
    let t = Instant::now();
    loop {
        let out = cli(addr, Some(&ca), &with_token, &["status", "--json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if status["zones"][0]["setpoint_c"] == 22.5 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "{status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A client that does not trust the CA gets no answer.
    let out = cli(addr, None, &with_token, &["status"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("certificate"),
        "{}",
        text(&out.stderr)
    );
    // Nor does plain HTTP on the TLS port.
    let mut plain = connect_from(lo(1), addr).await.unwrap();
    plain
        .write_all(
            format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut got)).await;
    assert!(!text(&got).contains("200 OK"), "{}", text(&got));

    // Connections that never start a handshake do not hold anyone up.
    let mut silent = Vec::new();
    for _ in 0..8 {
        silent.push(connect_from(lo(2), addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    let out = cli(addr, Some(&ca), &with_token, &["status"]);
    let took = t.elapsed();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        took < Duration::from_secs(5),
        "status took {took:?} behind 8 silent connections"
    );
    eprintln!(
        "https: token, write and read over TLS; untrusted CA and plain HTTP refused; status in {} ms behind 8 silent connections",
        took.as_millis()
    );
    drop(silent);
}

#[test]
fn a_key_file_without_a_key_stops_the_start_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    common::certs::certificates(dir.path());
    // The certificate where the key should be.
    let err = failed_start(dir.path(), &dir.path().join("server.pem"));
    assert!(
        err.contains("web.tls_key_file") && err.contains("holds no PEM private key"),
        "{err}"
    );
    // A key, but not the certificate's (the CA's).
    let err = failed_start(dir.path(), &dir.path().join("ca.key"));
    assert!(
        err.contains("web.tls_cert_file and web.tls_key_file do not make a TLS server"),
        "{err}"
    );
}

/// Starts the daemon with `key_file`; its error output once it has exited.
fn failed_start(dir: &Path, key_file: &Path) -> String {
    let cfg = config(dir, key_file);
    let mut child = Command::new(BIN)
        .args(["run", "--sim", "--config"])
        .arg(&cfg)
        .args(["--http", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the daemon started with a key file that holds no key");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!status.success(), "{err}");
    err
}
