//! The Stratum V1 client and LAN-server state machines, driven line by
//! line as a pool (or a miner) would, and fuzzed with arbitrary lines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failure report

use hearth_core::{BoardId, NonceFound, Timestamp};
use hearth_shacheck::Checker;
use hearth_work::stratum::client::ClientState;
use hearth_work::stratum::codec::{hex_encode, notify_line, parse_server_line, Notify};
use hearth_work::stratum::{
    ClientConfig, ClientEvent, ServerConfig, ServerEvent, ServerSession, StratumClient,
};
use hearth_work::{JobBook, MerkleBranch, Outcome, Share, WorkUnit};
use proptest::prelude::*;
use serde_json::Value;

fn now(s: u64) -> Timestamp {
    Timestamp::from_secs(1_700_000_000 + s)
}

fn cfg() -> ClientConfig {
    ClientConfig {
        user: "bc1qexample.heater".into(),
        password: "x".into(),
        agent: "hearth/0.1".into(),
        version_mask: 0x1FFF_E000,
    }
}

fn id_of(line: &str) -> u64 {
    let v: Value = serde_json::from_str(line).unwrap();
    v["id"].as_u64().unwrap()
}

fn method_of(line: &str) -> String {
    let v: Value = serde_json::from_str(line).unwrap();
    v["method"].as_str().unwrap().to_string()
}

fn notify(job: &str, clean: bool) -> String {
    notify_line(&Notify {
        job_id: job.into(),
        prev_block_hash: [0x11; 32],
        coinb1: vec![1, 0, 0, 0, 1, 0xAA],
        coinb2: vec![0xBB, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0],
        branch: MerkleBranch(vec![[0x22; 32], [0x33; 32]]),
        version: 0x2000_0000,
        nbits: 0x1703_0ECD,
        ntime: 0x6553_F100,
        clean,
    })
}

/// A client through configure, subscribe and authorize.
fn ready_client() -> StratumClient {
    let mut c = StratumClient::new(cfg());
    let lines = c.connected(now(0));
    assert_eq!(
        lines.iter().map(|l| method_of(l)).collect::<Vec<_>>(),
        ["mining.configure", "mining.subscribe", "mining.authorize"]
    );
    let r = format!(
        r#"{{"id":{},"result":{{"version-rolling":true,"version-rolling.mask":"1fffe000"}},"error":null}}"#,
        id_of(&lines[0])
    );
    assert!(c.on_line(&r, now(0)).unwrap().is_empty());
    // Authorize answered first: some pools do.
    let r = format!(
        r#"{{"id":{},"result":true,"error":null}}"#,
        id_of(&lines[2])
    );
    assert!(c.on_line(&r, now(0)).unwrap().is_empty());
    assert_ne!(c.state(), ClientState::Ready);
    let r = format!(
        r#"{{"id":{},"result":[[["mining.set_difficulty","s1"],["mining.notify","s1"]],"08000002",4],"error":null}}"#,
        id_of(&lines[1])
    );
    assert_eq!(c.on_line(&r, now(0)).unwrap(), vec![ClientEvent::Ready]);
    assert_eq!(c.version_mask(), 0x1FFF_E000);
    assert_eq!(c.extranonce(), (&[8u8, 0, 0, 2][..], 4));
    c
}

fn work(events: Vec<ClientEvent>) -> WorkUnit {
    events
        .into_iter()
        .find_map(|e| match e {
            ClientEvent::Work(u) => Some(u),
            _ => None,
        })
        .expect("a work event")
}

fn nonce(job: &hearth_core::Job, n: u32) -> NonceFound {
    NonceFound {
        board: BoardId::new("b").unwrap(),
        job_id: job.id,
        nonce: n,
        version: job.version | 0x0000_4000,
        ntime: job.ntime,
        found_at: now(1),
    }
}

fn first_share(book: &mut JobBook, job: &hearth_core::Job) -> Box<Share> {
    (0..1_000_000u32)
        .find_map(|n| match book.classify(&nonce(job, n)).unwrap() {
            Outcome::Share(s) => Some(s),
            _ => None,
        })
        .expect("a share")
}

#[test]
fn a_session_from_subscribe_to_accepted_and_stale_shares() {
    let mut c = ready_client();
    // Difficulty first, then work: a share needs ~2^32/2^20 hashes.
    let ev = c
        .on_line(
            r#"{"id":null,"method":"mining.set_difficulty","params":[0.000001]}"#,
            now(1),
        )
        .unwrap();
    assert!(matches!(ev[0], ClientEvent::Difficulty { .. }));
    let unit = work(c.on_line(&notify("j1", true), now(1)).unwrap());
    assert_eq!(unit.extranonce1, vec![8, 0, 0, 2]);
    assert_eq!(unit.version_mask, 0x1FFF_E000);
    let mut book = JobBook::new(Checker::detect());
    let jobs = book.fan_out(0, &unit, 3).unwrap();
    let share = first_share(&mut book, &jobs[2]);
    let line = c.submit(&share, now(2)).unwrap();
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["method"], "mining.submit");
    let p = v["params"].as_array().unwrap();
    assert_eq!(p[0], "bc1qexample.heater");
    assert_eq!(p[1], "j1");
    assert_eq!(p[2], hex_encode(&share.extranonce2));
    assert_eq!(p[3], format!("{:08x}", share.ntime));
    assert_eq!(p[4], format!("{:08x}", share.nonce));
    assert_eq!(p[5], "00004000");
    // The pool recomputes the header from what we sent: same merkle root.
    let mut cb = unit.coinb1.clone();
    cb.extend_from_slice(&unit.extranonce1);
    cb.extend_from_slice(&share.extranonce2);
    cb.extend_from_slice(&unit.coinb2);
    use bitcoin::hashes::{sha256d, Hash as _};
    let root = unit.branch.root(sha256d::Hash::hash(&cb).to_byte_array());
    assert_eq!(root, share.merkle_root);
    let ev = c
        .on_line(
            &format!(r#"{{"id":{},"result":true,"error":null}}"#, id_of(&line)),
            now(3),
        )
        .unwrap();
    assert!(matches!(&ev[0], ClientEvent::Accepted { job_id, .. } if job_id == "j1"));
    // Difficulty changes mid-job, then a stale reject.
    let line = c.submit(&share, now(4)).unwrap();
    let ev = c
        .on_line(
            &format!(
                r#"{{"id":{},"result":null,"error":[21,"Stale share",null]}}"#,
                id_of(&line)
            ),
            now(5),
        )
        .unwrap();
    assert!(matches!(&ev[0], ClientEvent::Rejected { stale: true, .. }));
    let line = c.submit(&share, now(4)).unwrap();
    let ev = c
        .on_line(
            &format!(
                r#"{{"id":{},"result":false,"error":[23,"Low difficulty share",null]}}"#,
                id_of(&line)
            ),
            now(5),
        )
        .unwrap();
    assert!(matches!(&ev[0], ClientEvent::Rejected { stale: false, .. }));
}

#[test]
fn extranonce_change_rebuilds_the_current_job() {
    let mut c = ready_client();
    let _ = work(c.on_line(&notify("j1", true), now(1)).unwrap());
    let ev = c
        .on_line(
            r#"{"id":null,"method":"mining.set_extranonce","params":["0a0b",6]}"#,
            now(2),
        )
        .unwrap();
    assert_eq!(ev[0], ClientEvent::ExtranonceChanged);
    let unit = work(ev);
    assert!(unit.clean, "old extranonce work must be dropped");
    assert_eq!(unit.extranonce1, vec![0x0a, 0x0b]);
    assert_eq!(unit.extranonce2_len, 6);
}

#[test]
fn a_disconnect_mid_submit_resends_on_a_resumed_session_and_counts_a_lost_one() {
    let mut c = ready_client();
    c.on_line(
        r#"{"id":null,"method":"mining.set_difficulty","params":[0.000001]}"#,
        now(1),
    )
    .unwrap();
    let unit = work(c.on_line(&notify("j1", true), now(1)).unwrap());
    let mut book = JobBook::new(Checker::detect());
    let jobs = book.fan_out(0, &unit, 1).unwrap();
    let share = first_share(&mut book, &jobs[0]);
    let _unanswered = c.submit(&share, now(2)).unwrap();
    c.disconnected(now(2));
    assert_eq!(c.pending_submits(), 1);
    // Reconnect; the pool resumes the session (same extranonce1).
    let lines = c.connected(now(3));
    assert!(
        lines[1].contains("\"s1\""),
        "resume with the session id: {}",
        lines[1]
    );
    c.on_line(
        &format!(
            r#"{{"id":{},"result":{{"version-rolling":true,"version-rolling.mask":"1fffe000"}}}}"#,
            id_of(&lines[0])
        ),
        now(3),
    )
    .unwrap();
    c.on_line(
        &format!(
            r#"{{"id":{},"result":[[["mining.notify","s1"]],"08000002",4],"error":null}}"#,
            id_of(&lines[1])
        ),
        now(3),
    )
    .unwrap();
    c.on_line(
        &format!(
            r#"{{"id":{},"result":true,"error":null}}"#,
            id_of(&lines[2])
        ),
        now(3),
    )
    .unwrap();
    let resent = c.flush_queued();
    assert_eq!(resent.len(), 1);
    assert!(resent[0].contains(&format!("{:08x}", share.nonce)));
    // Another disconnect; this time a new session: the share is lost, and said so.
    c.disconnected(now(4));
    let lines = c.connected(now(5));
    c.on_line(
        &format!(
            r#"{{"id":{},"result":[[["mining.notify","s2"]],"09000003",4],"error":null}}"#,
            id_of(&lines[1])
        ),
        now(5),
    )
    .map(|ev| {
        assert!(ev.contains(&ClientEvent::Lost { count: 1 }), "{ev:?}");
    })
    .unwrap();
}

#[test]
fn refusals_end_the_session_and_bad_lines_are_errors_not_panics() {
    let mut c = StratumClient::new(cfg());
    let lines = c.connected(now(0));
    let r = format!(
        r#"{{"id":{},"result":false,"error":[24,"Unauthorized worker",null]}}"#,
        id_of(&lines[2])
    );
    assert!(c.on_line(&r, now(0)).is_err());
    let mut c = ready_client();
    for bad in [
        "{not json",
        r#"{"id":null,"method":"mining.set_difficulty","params":[0]}"#,
        r#"{"id":null,"method":"mining.notify","params":["j","00","00","00",[],"x","y","z",true]}"#,
    ] {
        assert!(c.on_line(bad, now(1)).is_err(), "{bad}");
    }
    // A bad merkle branch entry.
    let n = notify("j2", true).replace(&"22".repeat(32), &"22".repeat(31));
    assert!(c.on_line(&n, now(1)).is_err());
    // The session is still good.
    assert!(c.on_line(&notify("j3", false), now(1)).is_ok());
}

fn lan_unit(en_len: usize) -> WorkUnit {
    WorkUnit {
        source_job_id: "tmpl-7".into(),
        prev_block_hash: [0x44; 32],
        version: 0x2000_0000,
        version_mask: 0x1FFF_E000,
        nbits: 0x207F_FFFF,
        ntime: 0x6553_F100,
        coinb1: vec![2, 0, 0, 0, 1, 0xCC],
        coinb2: vec![0xDD, 0, 0, 0, 0],
        extranonce1: vec![],
        extranonce2_len: en_len,
        branch: MerkleBranch(vec![[0x55; 32]]),
        clean: true,
        share_target: hearth_shacheck::Target::MAX,
        block_target: hearth_shacheck::Target::from_compact(0x207F_FFFF).unwrap(),
    }
}

#[test]
fn a_lan_miner_subscribes_authorizes_and_its_shares_are_checked() {
    let cfg = ServerConfig {
        extranonce2_len: 4,
        difficulty: 0.0001,
        version_mask: 0x1FFF_E000,
    };
    let mut s = ServerSession::new(cfg, Checker::detect(), vec![0, 0, 0, 9]);
    let out = s.on_line(r#"{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"ffffffff"}]}"#);
    assert!(matches!(&out[0], ServerEvent::Send(l) if l.contains("1fffe000")));
    let out = s.on_line(r#"{"id":2,"method":"mining.subscribe","params":["bitaxe/2.0"]}"#);
    assert!(matches!(&out[0], ServerEvent::Send(l) if l.contains("00000009")));
    let out =
        s.on_line(r#"{"id":3,"method":"mining.authorize","params":["bcrt1qminer.bitaxe","x"]}"#);
    assert!(out.contains(&ServerEvent::Authorized {
        user: "bcrt1qminer".into()
    }));
    let unit = lan_unit(s.extranonce_len());
    let line = s.notify(&unit).unwrap();
    // The miner's view: parse the notify like a pool's.
    let hearth_work::stratum::ServerMessage::Notify(n) = parse_server_line(line.trim()).unwrap()
    else {
        panic!()
    };
    // Mine it as the miner would: coinb1 || en1 || en2 || coinb2.
    let en2 = [1u8, 2, 3, 4];
    let mut cb = n.coinb1.clone();
    cb.extend_from_slice(&[0, 0, 0, 9]);
    cb.extend_from_slice(&en2);
    cb.extend_from_slice(&n.coinb2);
    use bitcoin::hashes::{sha256d, Hash as _};
    let root = n.branch.root(sha256d::Hash::hash(&cb).to_byte_array());
    let target = hearth_work::target_from_difficulty(0.0001).unwrap();
    let checker = Checker::detect();
    let (nonce, _) = (0u32..)
        .map(|nonce| {
            let h = hearth_work::jobs::header_bytes(
                n.version | 0x2000,
                &n.prev_block_hash,
                &root,
                n.ntime,
                n.nbits,
                nonce,
            );
            (nonce, checker.hash_headers(&[h])[0])
        })
        .find(|(_, h)| target.is_met_by(h))
        .unwrap();
    let submit = format!(
        r#"{{"id":4,"method":"mining.submit","params":["bcrt1qminer.bitaxe","{}","01020304","{:08x}","{:08x}","00002000"]}}"#,
        n.job_id, n.ntime, nonce
    );
    let out = s.on_line(&submit);
    let share = out
        .iter()
        .find_map(|e| match e {
            ServerEvent::Share { user, share } => Some((user.clone(), share.clone())),
            _ => None,
        })
        .expect("a share");
    assert_eq!(share.0, "bcrt1qminer");
    assert!(share.1.is_block, "regtest target");
    assert_eq!(share.1.merkle_root, root);
    // The same nonce on a wrong extranonce2 is a low-difficulty share.
    let bad = submit.replace("01020304", "01020305");
    assert!(s
        .on_line(&bad)
        .iter()
        .any(|e| matches!(e, ServerEvent::Refused { .. })));
    let stale = submit.replace(&format!("\"{}\"", n.job_id), "\"ff\"");
    assert!(s
        .on_line(&stale)
        .iter()
        .any(|e| matches!(e, ServerEvent::Refused { why } if why.contains("stale"))));
    let outside = submit.replace("00002000", "00000001");
    assert!(s
        .on_line(&outside)
        .iter()
        .any(|e| matches!(e, ServerEvent::Refused { .. })));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_lines_never_panic_the_client(line in ".{0,400}") {
        let mut c = ready_client();
        let _ = c.on_line(&line, now(1));
        // Still usable afterwards.
        prop_assert!(c.on_line(&notify("after", false), now(1)).is_ok());
    }

    #[test]
    fn json_shaped_garbage_never_panics_either(
        id in prop_oneof![Just("null".to_string()), any::<u64>().prop_map(|n| n.to_string()), "\"[a-z]{0,4}\""],
        method in prop_oneof![Just("mining.notify"), Just("mining.set_difficulty"), Just("mining.set_extranonce"), Just("client.reconnect"), Just("mining.set_version_mask"), Just("x")],
        params in prop::collection::vec(prop_oneof![
            Just("null".to_string()), Just("true".to_string()), any::<f64>().prop_map(|f| if f.is_finite() { f.to_string() } else { "1".into() }),
            "\"[0-9a-f]{0,80}\"", Just("[]".to_string()), Just("[\"zz\"]".to_string()), Just("{}".to_string())
        ], 0..10),
    ) {
        let line = format!(r#"{{"id":{id},"method":"{method}","params":[{}]}}"#, params.join(","));
        let mut c = ready_client();
        let _ = c.on_line(&line, now(1));
        let reply = format!(r#"{{"id":{id},"result":[{}],"error":{}}}"#, params.join(","), params.first().cloned().unwrap_or("null".into()));
        let _ = c.on_line(&reply, now(1));
        let mut s = ServerSession::new(ServerConfig { extranonce2_len: 4, difficulty: 1.0, version_mask: 0x1FFF_E000 }, Checker::detect(), vec![1, 2, 3, 4]);
        let miner = line.replace("mining.notify", "mining.submit").replace("mining.set_difficulty", "mining.authorize");
        let _ = s.on_line(&miner);
        let _ = s.on_line(&line);
    }
}

/// The LAN miner's user names its payout address: BIP173's regtest example
/// (P2WPKH of `751e76e8199196d454941c45d1b3a323f1433bd6`), with or without
/// a worker suffix; anything else is refused by name.
#[test]
fn a_lan_users_payout_address_is_parsed_for_the_network() {
    use hearth_work::stratum::server::payout_script_of;
    let regtest = bitcoin::Network::Regtest;
    let want = "0014751e76e8199196d454941c45d1b3a323f1433bd6";
    for user in [
        "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
        "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080.bitaxe",
        "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080.s9.2",
    ] {
        let script = payout_script_of(user, regtest).unwrap();
        assert_eq!(hex_encode(script.as_bytes()), want, "{user}");
    }
    // Mainnet's form of the same key is not a regtest address, and back.
    let main = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
    assert!(payout_script_of(main, regtest)
        .unwrap_err()
        .contains("regtest"));
    assert_eq!(
        hex_encode(
            payout_script_of(main, bitcoin::Network::Bitcoin)
                .unwrap()
                .as_bytes()
        ),
        want
    );
    for bad in [
        "bcrt1qminer.bitaxe",
        "",
        "x",
        "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt081",
    ] {
        let why = payout_script_of(bad, regtest).unwrap_err();
        assert!(why.contains("not a bitcoin address"), "{bad}: {why}");
    }
}

#[test]
fn an_invalid_payout_address_is_refused_only_when_one_is_required() {
    let cfg = ServerConfig {
        extranonce2_len: 4,
        difficulty: 1.0,
        version_mask: 0,
    };
    let authorize =
        |user: &str| format!(r#"{{"id":3,"method":"mining.authorize","params":["{user}","x"]}}"#);
    // A pool as the source: any user, as today.
    let mut pool = ServerSession::new(cfg.clone(), Checker::detect(), vec![0x80, 0, 0, 1]);
    let out = pool.on_line(&authorize("worker1.bitaxe"));
    assert!(out.contains(&ServerEvent::Authorized {
        user: "worker1".into()
    }));
    // Our sharechain: the address must be valid for its network.
    let mut own = ServerSession::new(cfg.clone(), Checker::detect(), vec![0x80, 0, 0, 2]);
    own.require_address_on(Some(bitcoin::Network::Regtest));
    let out = own.on_line(&authorize("bcrt1qminer.bitaxe"));
    assert_eq!(out.len(), 1, "{out:?}");
    let ServerEvent::Send(line) = &out[0] else {
        panic!("{out:?}")
    };
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["result"], false);
    assert_eq!(v["error"][0], 24);
    assert!(
        v["error"][1]
            .as_str()
            .unwrap()
            .contains("not a bitcoin address"),
        "{line}"
    );
    assert!(own.user().is_none());
    let good = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
    let out = own.on_line(&authorize(&format!("{good}.bitaxe")));
    assert!(out.contains(&ServerEvent::Authorized { user: good.into() }));
}

/// With a password set, a wrong or missing one is refused with no work and
/// no submit accepted; the third failure asks the caller to close; the
/// right one authorizes.
#[test]
fn a_lan_password_gates_authorize_notify_and_submit() {
    let cfg = ServerConfig {
        extranonce2_len: 4,
        difficulty: 0.0001,
        version_mask: 0,
    };
    let mut s = ServerSession::new(cfg, Checker::detect(), vec![0, 0, 0, 9]);
    s.require_password(Some("hunter22".into()));
    s.on_line(r#"{"id":1,"method":"mining.subscribe","params":[]}"#);
    for (i, line) in [
        r#"{"id":2,"method":"mining.authorize","params":["bcrt1qminer","hunter2"]}"#,
        r#"{"id":3,"method":"mining.authorize","params":["bcrt1qminer"]}"#,
    ]
    .iter()
    .enumerate()
    {
        let out = s.on_line(line);
        assert!(!out
            .iter()
            .any(|e| matches!(e, ServerEvent::Authorized { .. })));
        assert!(matches!(&out[0], ServerEvent::Send(l) if l.contains("wrong password")));
        assert_eq!(s.failed_auths(), i as u32 + 1);
        assert!(!s.should_close());
    }
    assert!(s.notify(&lan_unit(s.extranonce_len())).is_none());
    let out = s.on_line(r#"{"id":4,"method":"mining.submit","params":["bcrt1qminer","1","01020304","6553f100","00000000"]}"#);
    assert!(out.iter().any(|e| matches!(e, ServerEvent::Refused { .. })));
    let out =
        s.on_line(r#"{"id":5,"method":"mining.authorize","params":["bcrt1qminer","hunter22"]}"#);
    assert!(out.contains(&ServerEvent::Authorized {
        user: "bcrt1qminer".into()
    }));
    assert!(s.notify(&lan_unit(s.extranonce_len())).is_some());
    let mut t = ServerSession::new(
        ServerConfig {
            extranonce2_len: 4,
            difficulty: 1.0,
            version_mask: 0,
        },
        Checker::detect(),
        vec![1],
    );
    t.require_password(Some("hunter22".into()));
    for _ in 0..3 {
        t.on_line(r#"{"id":2,"method":"mining.authorize","params":["bcrt1qminer","nope"]}"#);
    }
    assert!(t.should_close());
}
