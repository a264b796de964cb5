#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! `GET/PUT /api/v1/settings/work` on `hearth run --sim` mining into
//! in-process Stratum pools: refusals change nothing, a change is stored
//! (0600) before it is acknowledged, the work service switches to the new
//! pool live (its shares accepted, the board running and drawing power the
//! whole time, nothing refused by the new pool), the password never comes
//! back (API, /metrics, status, log), the list survives a restart, and the
//! CLI shows and changes it with the password from stdin.

mod common;

use common::{free_port, http_with, Killed};
use hearth::work::testpool::{Quirks, TestPool};
use hearth::work::SIM_POOL_DIFFICULTY;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hearth");
const SECRET: &str = "pool-b-secret-7f3a";

fn start_hearth(dir: &Path, http: SocketAddr, pool_a: SocketAddr) -> Killed {
    let config = format!(
        "[[zone]]\nid = \"living-room\"\nname = \"Living room\"\n\
         [[hashboard]]\nid = \"board-0\"\nzone = \"living-room\"\nprofile = \"generic-bm1370-65\"\n\
         [[work.pool]]\nname = \"pool-a\"\nurl = \"stratum+tcp://{pool_a}\"\nuser = \"bcrt1qpoola.heater\"\n"
    );
    let path = dir.join("hearth.toml");
    std::fs::write(&path, config).expect("write config");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("hearth.log"))
        .expect("log file");
    let child = Command::new(BIN)
        .args(["run", "--sim", "--config"])
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--http", &http.to_string()])
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn hearth");
    let start = Instant::now();
    while http_with(http, "", "GET", "/health", None).is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "daemon did not serve"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Killed(child)
}

fn terminate(mut child: Killed) {
    let pid = child.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let start = Instant::now();
    while child.0.try_wait().expect("wait").is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn put(http: SocketAddr, auth: &str, body: &str) -> (u16, Value) {
    let (code, _, v) =
        http_with(http, auth, "PUT", "/api/v1/settings/work", Some(body)).expect("PUT");
    (code, v)
}

fn get(http: SocketAddr, auth: &str) -> Value {
    let (code, _, v) = http_with(http, auth, "GET", "/api/v1/settings/work", None).expect("GET");
    assert_eq!(code, 200, "{v}");
    v
}

fn status(http: SocketAddr, auth: &str) -> Value {
    http_with(http, auth, "GET", "/api/v1/status", None)
        .map(|(_, _, v)| v)
        .unwrap_or(Value::Null)
}

/// A response body as text (for /metrics and the page).
fn raw_get(http: SocketAddr, auth: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n{auth}\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{path}: {out}");
    out
}

fn wait_mining_on(http: SocketAddr, auth: &str, name: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = status(http, auth);
        if v["work"]["mode"] == "source" && v["work"]["name"] == name {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "not mining on {name}: {}",
            v["work"]
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn work_sources_are_validated_stored_switched_live_and_kept() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pool_a = rt
        .block_on(TestPool::start(SIM_POOL_DIFFICULTY, Quirks::default()))
        .unwrap();
    let pool_b = rt
        .block_on(TestPool::start(SIM_POOL_DIFFICULTY, Quirks::default()))
        .unwrap();
    let dir = tempfile::tempdir().expect("tempdir");
    let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let daemon = start_hearth(dir.path(), http, pool_a.address);
    let token = common::owner_token(http);
    let auth = format!("Authorization: Bearer {token}\r\n");
    let file = dir.path().join("data").join("work-settings.json");

    let before = get(http, &auth);
    assert_eq!(before["stored"], false, "{before}");
    assert_eq!(
        before["sharechain"], false,
        "a configured pool: no sim sharechain"
    );
    assert_eq!(before["pools"][0]["name"], "pool-a");
    assert_eq!(before["pools"][0]["priority"], 1);
    assert_eq!(before["pools"][0]["password_set"], false);
    wait_mining_on(http, &auth, "pool-a");
    let deadline = Instant::now() + Duration::from_secs(60);
    while pool_a.log().accepted.is_empty() {
        assert!(
            Instant::now() < deadline,
            "no share on pool-a: {:?}",
            pool_a.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Refusals: no owner, bad values, bad bodies. Nothing changes.
    let b = |name: &str, url: &str, user: &str| {
        format!(r#"{{"name": "{name}", "url": "{url}", "user": "{user}"}}"#)
    };
    let good_b = b(
        "pool-b",
        &format!("stratum+tcp://{}", pool_b.address),
        "bcrt1qpoolb.heater",
    );
    let (code, _) = put(http, "", &format!(r#"{{"pools": [{good_b}]}}"#));
    assert_eq!(code, 401);
    let nine = (0..9)
        .map(|i| b(&format!("p{i}"), "p.example:1", "u"))
        .collect::<Vec<_>>()
        .join(",");
    for (body, reason) in [
        (
            format!(
                r#"{{"pools": [{}]}}"#,
                b("pool-b", "http://pool.example/x", "u")
            ),
            "work.pool[0].url",
        ),
        (
            format!(
                r#"{{"pools": [{good_b}, {}]}}"#,
                b("pool-b", "b.example:1", "u")
            ),
            "work.pool[1].name",
        ),
        (
            format!(r#"{{"pools": [{}]}}"#, b("pool-b", "b.example:1", "")),
            "work.pool[0].user",
        ),
        (format!(r#"{{"pools": [{nine}]}}"#), "work.pool"),
        (r#"{"sharechain": true}"#.into(), "work.sharechain"),
        (r#"{"pool": []}"#.into(), "invalid JSON body"),
        (
            r#"{"pools": [{"name": "x", "url": "x.example:1"}]}"#.into(),
            "invalid JSON body",
        ),
        ("not json".into(), "invalid JSON body"),
        (
            r#"{"pools": [{"name": "b", "url": "b.example:1", "user": "u", "follow_reconnect": "sometimes"}]}"#
                .into(),
            "invalid JSON body",
        ),
    ] {
        let (code, v) = put(http, &auth, &body);
        assert_eq!(code, 400, "{body}: {v}");
        let why = v["error"].as_str().unwrap_or("");
        assert!(why.contains(reason), "{body}: {why}");
    }
    assert_eq!(get(http, &auth), before, "refusals changed nothing");
    assert!(!file.exists(), "refusals stored nothing");
    assert_eq!(status(http, &auth)["work"]["name"], "pool-a");

    // The switch: pool-b only, with a password. Stored before acknowledged.
    let mut watch = Vec::new();
    let a_before = pool_a.log().accepted.len();
    let (code, v) = put(
        http,
        &auth,
        &format!(
            r#"{{"pools": [{{"name": "pool-b", "url": "stratum+tcp://{}", "user": "bcrt1qpoolb.heater", "password": "{SECRET}"}}]}}"#,
            pool_b.address
        ),
    );
    let switched = Instant::now();
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["stored"], true);
    assert_eq!(v["pools"][0]["password_set"], true);
    assert_eq!(
        v["pools"][0]["follow_reconnect"], "same_host",
        "the default"
    );
    assert!(!v.to_string().contains(SECRET));
    let stored = std::fs::read_to_string(&file).expect("stored before acknowledged");
    assert!(stored.contains("\"pool-b\"") && !stored.contains("pool-a"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the file holds the pool password");
    }
    assert!(a_before >= 1, "pool-a was mined on before the switch");

    // Live: shares accepted by pool-b; the board ran and drew power throughout.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut on_b_at = None;
    loop {
        let s = status(http, &auth);
        if s.is_object() {
            watch.push((
                s["boards"][0]["state"].as_str().unwrap_or("?").to_string(),
                s["boards"][0]["power_w"].as_f64().unwrap_or(0.0),
            ));
            if s["work"]["name"] == "pool-b" && on_b_at.is_none() {
                on_b_at = Some(switched.elapsed());
            }
        }
        if on_b_at.is_some() && pool_b.log().accepted.len() >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no shares on pool-b: {:?} / {}",
            pool_b.log(),
            s["work"]
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "mining on pool-b {} ms after the PUT; 2 shares accepted after {} ms; {} status samples",
        on_b_at.unwrap().as_millis(),
        switched.elapsed().as_millis(),
        watch.len()
    );
    assert!(
        watch
            .iter()
            // Ramping to its setpoint or running: hashing, so heating, either way.
            .all(|(state, power)| (state == "running" || state == "ramping") && *power > 0.0),
        "the board kept heating: {watch:?}"
    );
    assert!(
        pool_b.log().refused.is_empty(),
        "{:?}",
        pool_b.log().refused
    );
    // The old pool's task is gone: nothing more reaches it.
    let a_after = pool_a.log().accepted.len();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        pool_a.log().accepted.len(),
        a_after,
        "pool-a still mined on"
    );

    // The password is nowhere it could be read back.
    for path in ["/api/v1/status", "/metrics", "/api/v1/settings/work", "/"] {
        assert!(!raw_get(http, &auth, path).contains(SECRET), "{path}");
    }

    // Kept across a restart, and used: pool-b again, pool-a not.
    terminate(daemon);
    let daemon = start_hearth(dir.path(), http, pool_a.address);
    let auth = format!("Authorization: Bearer {}\r\n", common::owner_token(http));
    let after = get(http, &auth);
    assert_eq!(after["stored"], true);
    assert_eq!(after["pools"].as_array().unwrap().len(), 1, "{after}");
    assert_eq!(after["pools"][0]["name"], "pool-b");
    assert_eq!(after["pools"][0]["password_set"], true);
    wait_mining_on(http, &auth, "pool-b");

    // The CLI: show, a refusal with the daemon's reason, and a password
    // from stdin (kept write-only).
    let url = format!("http://{http}");
    let cli = |args: &[&str], stdin: &str| {
        let mut c = Command::new(BIN)
            .arg("work")
            .args(args)
            .args(["--url", &url])
            .env(
                "HEARTH_TOKEN",
                auth.trim_start_matches("Authorization: Bearer ").trim_end(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        c.wait_with_output().unwrap()
    };
    let out = cli(&["show"], "");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains(&format!(
            "1. pool-b stratum+tcp://{} user bcrt1qpoolb.heater (password stored)",
            pool_b.address
        )),
        "{shown}"
    );
    let out = cli(&["set", "--pool", "bad,nope,u"], "");
    assert!(!out.status.success());
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(why.contains("work.pool[0].url"), "{why}");
    let out = cli(
        &[
            "set",
            "--pool",
            &format!("pool-b,stratum+tcp://{},bcrt1qpoolb.heater", pool_b.address),
            "--pool",
            &format!("pool-a,stratum+tcp://{},bcrt1qpoola.heater", pool_a.address),
            "--password-stdin",
            "pool-a",
        ],
        "a-new-secret\n",
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{shown} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!shown.contains("a-new-secret"));
    let v = get(http, &auth);
    let names: Vec<&str> = v["pools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pool-b", "pool-a"]);
    assert_eq!(
        v["pools"][0]["password_set"], true,
        "pool-b kept its password"
    );
    assert_eq!(v["pools"][1]["password_set"], true);
    let stored = std::fs::read_to_string(&file).unwrap();
    assert!(stored.contains(SECRET) && stored.contains("a-new-secret"));
    wait_mining_on(http, &auth, "pool-b");
    terminate(daemon);

    let log = std::fs::read_to_string(dir.path().join("hearth.log")).unwrap();
    assert!(log.contains("work sources changed"), "the switch is logged");
    assert!(
        !log.contains(SECRET) && !log.contains("a-new-secret"),
        "a password reached the log"
    );
}

/// `--sim` without pools: our sharechain node first, the in-process pool
/// behind it. Switching the sharechain off and on again from the API
/// restarts the sources both ways, the boards heating throughout.
#[test]
fn the_sharechain_source_is_switched_off_and_on_live() {
    let dir = tempfile::tempdir().expect("tempdir");
    let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = "[[zone]]\nid = \"living-room\"\n\
        [[hashboard]]\nid = \"board-0\"\nzone = \"living-room\"\nprofile = \"generic-bm1370-65\"\n";
    let path = dir.path().join("hearth.toml");
    std::fs::write(&path, config).unwrap();
    let child = Command::new(BIN)
        .args(["run", "--sim", "--config"])
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--http", &http.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let daemon = Killed(child);
    let start = Instant::now();
    while http_with(http, "", "GET", "/health", None).is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "daemon did not serve"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let auth = format!("Authorization: Bearer {}\r\n", common::owner_token(http));
    let v = get(http, &auth);
    assert_eq!(v["sharechain"], true, "{v}");
    assert_eq!(v["sharechain_available"], true);
    assert_eq!(
        v["pools"].as_array().unwrap().len(),
        0,
        "the sim pool is implicit"
    );
    wait_mining_on(http, &auth, "sharechain");

    let names = |s: &Value| -> Vec<String> {
        s["work"]["sources"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| x["name"].as_str().unwrap_or("?").to_string())
            .collect()
    };
    let (code, v) = put(http, &auth, r#"{"sharechain": false}"#);
    assert_eq!(code, 200, "{v}");
    let s = wait_mining_on(http, &auth, "sim-pool");
    assert_eq!(names(&s), ["sim-pool"]);
    assert!(s["boards"][0]["power_w"].as_f64().unwrap_or(0.0) > 0.0);

    let (code, v) = put(http, &auth, r#"{"sharechain": true}"#);
    assert_eq!(code, 200, "{v}");
    let s = wait_mining_on(http, &auth, "sharechain");
    assert_eq!(names(&s), ["sharechain", "sim-pool"]);
    assert!(s["boards"][0]["power_w"].as_f64().unwrap_or(0.0) > 0.0);
    terminate(daemon);
}
