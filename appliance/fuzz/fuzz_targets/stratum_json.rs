//! Stratum JSON lines, both sides: what a pool sends our client
//! (`parse_server_line`) and what a LAN miner sends our server
//! (`ServerSession::on_line`, before and after authorizing). Never a panic;
//! the server answers at most two lines per request, and a line it counts
//! as bad (not JSON, unknown method) gets at most an error reply, never an
//! authorization or a share.
#![no_main]

use hearth_shacheck::Checker;
use hearth_work::stratum::codec::parse_server_line;
use hearth_work::stratum::{ServerConfig, ServerEvent, ServerSession};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Client side: each line as the pool would send it.
    for line in text.lines() {
        let _ = parse_server_line(line);
    }
    // Server side: a fresh session, then the same lines after a proper
    // subscribe and authorize.
    let cfg = ServerConfig {
        extranonce2_len: 4,
        difficulty: 1.0,
        version_mask: 0x1fff_e000,
    };
    let mut fresh = ServerSession::new(cfg.clone(), Checker::detect(), vec![0, 0, 0, 1]);
    let mut authorized = ServerSession::new(cfg, Checker::detect(), vec![0, 0, 0, 2]);
    let _ = authorized.on_line(r#"{"id":1,"method":"mining.subscribe","params":["fuzz"]}"#);
    let _ =
        authorized.on_line(r#"{"id":2,"method":"mining.authorize","params":["bcrt1qfuzz","x"]}"#);
    for session in [&mut fresh, &mut authorized] {
        for line in text.lines() {
            let bad_before = session.bad_lines;
            let events = session.on_line(line);
            let sends = events
                .iter()
                .filter(|e| matches!(e, ServerEvent::Send(_)))
                .count();
            assert!(sends <= 2, "one request, {sends} lines sent");
            if session.bad_lines > bad_before {
                // A bad line may get an error reply, never a state change.
                assert!(
                    events.iter().all(|e| matches!(e, ServerEvent::Send(_))),
                    "a refused line produced {events:?}"
                );
            }
        }
    }
});
