#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! The work pipeline in the daemon: the tokio Stratum client against the
//! in-process pool with its quirks, and the daemon heating on local work
//! while no pool answers, then mining without a gap in heat once one does.

use hearth::backends::SystemClock;
use hearth::config::{Config, ConfigError};
use hearth::daemon::{Daemon, RunOptions};
use hearth::work::client::{run_pool, Backoff, PoolConfig, SourceEvent};
use hearth::work::testpool::{Quirks, TestPool};
use hearth::work::{persist::StatsStore, SIM_POOL_DIFFICULTY};
use hearth_core::{BoardId, Clock, NonceFound};
use hearth_shacheck::Checker;
use hearth_work::stratum::{ClientConfig, ClientEvent, FollowReconnect};
use hearth_work::{JobBook, Outcome, Share, SourceHealth, WorkUnit};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

fn client_cfg(address: String) -> PoolConfig {
    PoolConfig {
        name: "test".into(),
        address,
        client: ClientConfig {
            user: "bcrt1qtest.heater".into(),
            password: "x".into(),
            agent: "hearth-test".into(),
            version_mask: 0x1FFF_E000,
        },
        backoff: Backoff {
            first: Duration::from_millis(50),
            max: Duration::from_millis(400),
        },
        follow_reconnect: FollowReconnect::SameHost,
    }
}

/// Mines a share for `unit` in software (one chain, like a chip would).
fn mine(book: &mut JobBook, unit: &WorkUnit) -> Box<Share> {
    let job = book.fan_out(0, unit, 1).unwrap().remove(0);
    for nonce in 0.. {
        let found = NonceFound {
            board: BoardId::new("b").unwrap(),
            job_id: job.id,
            nonce,
            version: job.version | 0x4000,
            ntime: job.ntime,
            found_at: SystemClock.now(),
        };
        if let Outcome::Share(s) = book.classify(&found).unwrap() {
            return s;
        }
    }
    unreachable!()
}

#[derive(Default, Debug)]
struct Seen {
    accepted: u64,
    stale: u64,
    rejected: u64,
    lost: u64,
    problems: u64,
    problem_texts: Vec<String>,
    downs: u64,
    extranonces: std::collections::BTreeSet<Vec<u8>>,
    difficulties: Vec<f64>,
}

/// Runs the client against `pool`, mining and submitting a share per
/// piece of work and per answer, until `shares` were accepted; then stops
/// submitting and collects the outstanding answers.
async fn drive(pool: &TestPool, shares: u64) -> Seen {
    drive_with(client_cfg(pool.address.to_string()), shares).await
}

/// [`drive`] with a pool configuration of its own.
async fn drive_with(cfg: PoolConfig, shares: u64) -> Seen {
    let (ev_tx, mut ev_rx) = mpsc::channel(256);
    let (sub_tx, sub_rx) = mpsc::channel(64);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let task = tokio::spawn(run_pool(0, cfg, clock, ev_tx, sub_rx));
    let mut book = JobBook::new(Checker::detect());
    let mut seen = Seen::default();
    let mut latest: Option<WorkUnit> = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut draining: Option<tokio::time::Instant> = None;
    loop {
        if seen.accepted >= shares && draining.is_none() {
            draining = Some(tokio::time::Instant::now() + Duration::from_secs(1));
        }
        let until = draining.unwrap_or(deadline);
        let ev = match tokio::time::timeout_at(until, ev_rx.recv()).await {
            Ok(ev) => ev.expect("events"),
            Err(_) if draining.is_some() => break,
            Err(_) => panic!("no events in time: {seen:?}"),
        };
        let mut submit = false;
        match ev {
            SourceEvent::Client(_, ev) => match *ev {
                ClientEvent::Work(u) => {
                    seen.extranonces.insert(u.extranonce1.clone());
                    latest = Some(u);
                    submit = true;
                }
                ClientEvent::Accepted { .. } => {
                    seen.accepted += 1;
                    submit = true;
                }
                ClientEvent::Rejected { stale, .. } => {
                    if stale {
                        seen.stale += 1
                    } else {
                        seen.rejected += 1
                    }
                    submit = true;
                }
                ClientEvent::Lost { count } => seen.lost += count as u64,
                ClientEvent::Difficulty { difficulty, target } => {
                    seen.difficulties.push(difficulty);
                    book.set_share_target(0, target);
                    if let Some(u) = latest.as_mut() {
                        u.share_target = target;
                    }
                }
                _ => {}
            },
            SourceEvent::Problem(_, why) => {
                seen.problems += 1;
                seen.problem_texts.push(why);
            }
            SourceEvent::Health(_, SourceHealth::Down) => seen.downs += 1,
            SourceEvent::Health(..) => {}
        }
        if submit && draining.is_none() {
            if let Some(u) = &latest {
                let share = mine(&mut book, u);
                sub_tx.send(*share).await.unwrap();
            }
        }
    }
    drop(sub_tx);
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_mines_through_a_quirky_pool() {
    let quirks = Quirks {
        stale_every: Some(5),
        extranonce_change_every: Some(4),
        difficulty_change: Some((3, SIM_POOL_DIFFICULTY * 2.0)),
        malformed_every: Some(6),
        ..Quirks::default()
    };
    let pool = TestPool::start(SIM_POOL_DIFFICULTY, quirks).await.unwrap();
    let seen = drive(&pool, 16).await;
    let log = pool.log();
    // Every share we were told was accepted, the pool checked and kept.
    assert_eq!(seen.accepted, log.accepted.len() as u64, "{seen:?}");
    assert!(seen.accepted >= 16, "{seen:?}");
    // Stale rejects are told apart from invalid ones: the pool's quirk, and
    // shares in flight when it changed our extranonce (it forgets the jobs).
    let stale_refusals = log.refused.iter().filter(|r| r.contains("stale")).count() as u64;
    assert_eq!(
        seen.stale,
        log.stale_rejected + stale_refusals,
        "{seen:?} {:?}",
        log.refused
    );
    assert!(log.stale_rejected >= 3, "{seen:?}");
    // Nothing we sent was refused as invalid: extranonce and difficulty
    // changes mid-job were followed (a share at the old difficulty would be
    // "low difficulty", one on the old extranonce a wrong hash).
    assert_eq!(seen.rejected, 0, "{:?}", log.refused);
    assert_eq!(
        stale_refusals,
        log.refused.len() as u64,
        "{:?}",
        log.refused
    );
    assert!(seen.extranonces.len() >= 4, "{seen:?}");
    let en1s: std::collections::BTreeSet<_> = log
        .accepted
        .iter()
        .map(|(_, s)| s.extranonce2[..4].to_vec())
        .collect();
    assert!(
        en1s.len() >= 4,
        "shares accepted under every extranonce: {en1s:?}"
    );
    assert_eq!(
        seen.difficulties.last().copied(),
        Some(SIM_POOL_DIFFICULTY * 2.0)
    );
    // Malformed lines were reported, and the session went on.
    assert!(seen.problems >= 2, "{seen:?}");
    assert_eq!(log.connections, 1, "no reconnect needed for bad lines");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_reconnect_is_followed_to_the_configured_host_only_unless_the_pool_allows_more() {
    let d = SIM_POOL_DIFFICULTY;
    // Where a reconnect may point: another port of the configured host
    // (127.0.0.1), and another host (127.0.0.2, the same machine under
    // another address, as a thief's pool would be).
    let other_port = TestPool::start(d, Quirks::default()).await.unwrap();
    let other_host = TestPool::start_on("127.0.0.2:0", d, Quirks::default())
        .await
        .unwrap();
    let moving_to = |pool: &TestPool| Quirks {
        reconnect_to: Some((pool.address.ip().to_string(), pool.address.port())),
        ..Quirks::default()
    };

    // A pool moving us to another of its ports: followed, and mining goes
    // on there.
    let mover = TestPool::start(d, moving_to(&other_port)).await.unwrap();
    let seen = drive_with(client_cfg(mover.address.to_string()), 3).await;
    assert_eq!(mover.log().connections, 1, "{seen:?}");
    assert!(other_port.log().accepted.len() >= 3, "{seen:?}");
    assert!(
        !seen.problem_texts.iter().any(|p| p.contains("reconnect")),
        "{seen:?}"
    );

    // A pool sending us (and our user and password) to another host: not
    // followed. The refusal is reported, the configured pool gets us back,
    // and the shares go to it.
    let thief = TestPool::start(d, moving_to(&other_host)).await.unwrap();
    let seen = drive_with(client_cfg(thief.address.to_string()), 3).await;
    assert_eq!(other_host.log().connections, 0, "{seen:?}");
    assert!(thief.log().connections >= 2, "{seen:?}");
    assert!(thief.log().accepted.len() >= 3, "{seen:?}");
    assert!(
        seen.problem_texts
            .iter()
            .any(|p| p.contains("another host") && p.contains("127.0.0.2")),
        "{seen:?}"
    );

    // Allowed for this pool: followed to the other host.
    let mover = TestPool::start(d, moving_to(&other_host)).await.unwrap();
    let cfg = PoolConfig {
        follow_reconnect: FollowReconnect::AnyHost,
        ..client_cfg(mover.address.to_string())
    };
    let seen = drive_with(cfg, 3).await;
    assert_eq!(mover.log().connections, 1, "{seen:?}");
    assert!(other_host.log().accepted.len() >= 3, "{seen:?}");

    // `never`: even another port of the same host is not followed.
    let before = other_port.log().connections;
    let mover = TestPool::start(d, moving_to(&other_port)).await.unwrap();
    let cfg = PoolConfig {
        follow_reconnect: FollowReconnect::Never,
        ..client_cfg(mover.address.to_string())
    };
    let seen = drive_with(cfg, 3).await;
    assert_eq!(other_port.log().connections, before, "{seen:?}");
    assert!(mover.log().accepted.len() >= 3, "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnect_mid_submit_reconnects_and_mining_goes_on() {
    let quirks = Quirks {
        disconnect_on_submit: Some(3),
        ..Quirks::default()
    };
    let pool = TestPool::start(SIM_POOL_DIFFICULTY, quirks).await.unwrap();
    let seen = drive(&pool, 8).await;
    let log = pool.log();
    assert!(log.connections >= 2, "{log:?}");
    assert!(seen.downs >= 2, "down at start and at the drop: {seen:?}");
    // The unanswered share is counted as lost (the test pool does not
    // resume sessions), never silently dropped; mining went on after.
    assert_eq!(seen.lost, 1, "{seen:?}");
    assert_eq!(seen.accepted, log.accepted.len() as u64, "{seen:?}");
    assert!(seen.accepted >= 8);
    assert_eq!(seen.rejected + seen.stale, 0, "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_pool_address_is_a_config_error() {
    let text = r#"
        [[work.pool]]
        name = "p"
        url = "stratum+tcp://nowhere"
        user = "u"
    "#;
    let cfg: Config = toml::from_str(text).unwrap();
    let err = cfg.validate().unwrap_err();
    assert!(
        matches!(&err, ConfigError::Invalid { key, .. } if key == "work.pool[0].url"),
        "{err}"
    );
}

fn wait_status<F: Fn(&serde_json::Value) -> bool>(
    shared: &hearth::state::Shared,
    f: F,
) -> Option<serde_json::Value> {
    let s = shared.status.read().unwrap().clone()?;
    let v = serde_json::to_value(&s).unwrap();
    f(&v).then_some(v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heat_only_while_no_pool_answers_then_mining_without_a_gap_in_heat() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on yet: the pool "is down".
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let text = format!(
        r#"
        [daemon]
        tick_ms = 100
        [[work.pool]]
        name = "home-pool"
        url = "stratum+tcp://{port}"
        user = "bcrt1qhome.heater"
        [[zone]]
        id = "living-room"
        kind = "room"
        setpoint_c = 21.0
        [[hashboard]]
        id = "board-0"
        zone = "living-room"
        profile = "generic-bm1370-65"
        "#
    );
    let config: Config = toml::from_str(&text).unwrap();
    let opts = RunOptions {
        config: config.validate().unwrap(),
        simulate: true,
        data_dir: dir.path().to_path_buf(),
        http: "127.0.0.1:0".parse().unwrap(),
        speed: None,
    };
    let mut daemon = Daemon::build(&opts).unwrap();
    let shared = daemon.shared.clone();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let feeds = std::mem::take(&mut daemon.job_feeds);
    assert_eq!(feeds.len(), 1);
    let none = hearth::work::start(&opts, shared.clone(), feeds, stop_rx.clone())
        .await
        .unwrap();
    assert!(none.is_none(), "a configured pool: no simulated one");
    let control = tokio::spawn(daemon.control_loop(stop_rx));

    // Heat-only: the board runs and heats, the status says why, nothing is submitted.
    let mut heat_only = None;
    for _ in 0..300 {
        heat_only = wait_status(&shared, |v| {
            v["work"]["mode"] == "heat_only"
                && v["boards"][0]["state"] == "running"
                && v["boards"][0]["power_w"].as_f64().unwrap_or(0.0) > 0.0
        });
        if heat_only.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let v = heat_only.expect("heat-only with the board running");
    assert!(
        v["work"]["reason"].as_str().unwrap().contains("home-pool"),
        "{}",
        v["work"]
    );
    assert_eq!(v["work"]["shares_found"], 0);
    assert_eq!(v["work"]["sources"][0]["health"], "down");

    // The pool comes up at that address.
    let pool = TestPool::start_on(&port.to_string(), SIM_POOL_DIFFICULTY, Quirks::default())
        .await
        .unwrap();
    let mut mined = None;
    let mut min_power_w = f64::MAX;
    let mut states = std::collections::BTreeSet::new();
    for _ in 0..900 {
        if let Some(v) = wait_status(&shared, |_| true) {
            min_power_w = min_power_w.min(v["boards"][0]["power_w"].as_f64().unwrap_or(0.0));
            states.insert(v["boards"][0]["state"].as_str().unwrap_or("?").to_string());
            if v["work"]["mode"] == "source"
                && v["work"]["sources"][0]["stats"]["accepted"]
                    .as_u64()
                    .unwrap_or(0)
                    >= 2
            {
                mined = Some(v);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let v = mined.unwrap_or_else(|| panic!("no accepted shares; pool saw {:?}", pool.log()));
    assert_eq!(v["work"]["name"], "home-pool");
    // No gap in heat across the switch: the board never left Running.
    assert_eq!(
        states.iter().cloned().collect::<Vec<_>>(),
        vec!["running".to_string()],
        "{states:?}"
    );
    assert!(min_power_w > 0.0);
    assert!(pool.log().accepted.len() >= 2);
    // Heat-only nonces never reached the pool: every share it got was on its own job.
    assert!(pool.log().refused.is_empty(), "{:?}", pool.log().refused);

    let _ = stop_tx.send(true);
    tokio::time::timeout(Duration::from_secs(10), control)
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The counters were persisted.
    let saved = StatsStore::open_in(dir.path()).unwrap().load().unwrap();
    assert!(saved["home-pool"].accepted >= 2, "{saved:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_goes_down_the_list_and_back_once_the_preferred_pool_has_settled() {
    use hearth::work::{spawn, WorkOptions, WorkSink};
    use hearth_work::WorkMode;
    let preferred = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let fallback = TestPool::start(SIM_POOL_DIFFICULTY, Quirks::default())
        .await
        .unwrap();
    let mut a = client_cfg(preferred.to_string());
    a.name = "sharechain-stand-in".into();
    let mut b = client_cfg(fallback.address.to_string());
    b.name = "pool".into();
    let sink = WorkSink {
        status: Arc::new(std::sync::RwLock::new(None)),
        hashrate_ghs: Arc::new(|| 1.0),
        mining_enabled: Arc::new(|| true),
    };
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let opts = WorkOptions {
        pools: vec![a, b],
        switch_back_after: Duration::from_secs(2),
        data_dir: None,
        own_source: None,
        lan_server: None,
    };
    spawn(
        opts,
        Vec::new(),
        Arc::new(SystemClock),
        sink.clone(),
        stop_rx,
    );
    let mode = || sink.status.read().unwrap().as_ref().map(|s| s.mode.clone());
    let wait_for = |want: &'static str| async move {
        for _ in 0..100 {
            if let Some(WorkMode::Source { name, .. }) = mode() {
                if name == want {
                    return tokio::time::Instant::now();
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never mined on {want}: {:?}", mode());
    };
    wait_for("pool").await;
    let up = tokio::time::Instant::now();
    let _preferred_pool = TestPool::start_on(
        &preferred.to_string(),
        SIM_POOL_DIFFICULTY,
        Quirks::default(),
    )
    .await
    .unwrap();
    let back = wait_for("sharechain-stand-in").await;
    // Not before it had been up for switch_back_after.
    assert!(
        back.duration_since(up) >= Duration::from_secs(2),
        "{:?}",
        back.duration_since(up)
    );
    let status = sink.status.read().unwrap().clone().unwrap();
    assert_eq!(status.sources[0].health, SourceHealth::Up);
    assert!(status.sources[0].active && !status.sources[1].active);
    assert!(
        status.summary.contains("sharechain-stand-in"),
        "{}",
        status.summary
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_without_version_rolling_is_mined_on_its_own_versions() {
    let dir = tempfile::tempdir().unwrap();
    let pool = TestPool::start(
        SIM_POOL_DIFFICULTY,
        Quirks {
            no_version_rolling: true,
            ..Quirks::default()
        },
    )
    .await
    .unwrap();
    let text = format!(
        r#"
        [daemon]
        tick_ms = 100
        [[work.pool]]
        name = "old-pool"
        url = "stratum+tcp://{}"
        user = "bcrt1qhome.heater"
        [[zone]]
        id = "living-room"
        kind = "room"
        setpoint_c = 21.0
        [[hashboard]]
        id = "board-0"
        zone = "living-room"
        profile = "generic-bm1370-65"
        "#,
        pool.address
    );
    let config: Config = toml::from_str(&text).unwrap();
    let opts = RunOptions {
        config: config.validate().unwrap(),
        simulate: true,
        data_dir: dir.path().to_path_buf(),
        http: "127.0.0.1:0".parse().unwrap(),
        speed: None,
    };
    let mut daemon = Daemon::build(&opts).unwrap();
    let shared = daemon.shared.clone();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let feeds = std::mem::take(&mut daemon.job_feeds);
    let _none = hearth::work::start(&opts, shared.clone(), feeds, stop_rx.clone())
        .await
        .unwrap();
    let control = tokio::spawn(daemon.control_loop(stop_rx));
    let mut mined = None;
    for _ in 0..900 {
        mined = wait_status(&shared, |v| {
            v["work"]["mode"] == "source"
                && v["boards"][0]["state"] == "running"
                && v["work"]["sources"][0]["stats"]["accepted"]
                    .as_u64()
                    .unwrap_or(0)
                    >= 3
        });
        if mined.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let v = mined.unwrap_or_else(|| {
        panic!(
            "no accepted shares without version rolling; pool saw {:?}; status {:?}",
            pool.log(),
            wait_status(&shared, |_| true).map(|v| v["work"].clone())
        )
    });
    assert_eq!(v["work"]["name"], "old-pool");
    let log = pool.log();
    // The pool refuses any rolled bit: nothing was refused, and every
    // accepted share carries the job's own version.
    assert!(log.refused.is_empty(), "{:?}", log.refused);
    assert!(log.accepted.len() >= 3);
    assert!(log.accepted.iter().all(|(_, s)| s.version_bits == 0));
    // Nothing the board found was thrown away for its version.
    assert_eq!(v["work"]["nonces_unknown_job"], 0, "{}", v["work"]);
    let _ = stop_tx.send(true);
    tokio::time::timeout(Duration::from_secs(10), control)
        .await
        .unwrap()
        .unwrap();
}
