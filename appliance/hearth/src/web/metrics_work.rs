//! `/metrics` families for the work pipeline (`status.work`) and the
//! heat-source policy's rule in charge. Pure, like `metrics::render`: JSON
//! in, exposition lines out; absent data gives no series, not zeros.

use super::metrics::Out;
use serde_json::Value;

/// Source health, as `status.work.sources[].health` spells it.
pub(crate) const SOURCE_HEALTH: &[&str] = &["down", "connecting", "up"];

/// (name, help, key in `stats`) of a per-source counter since start.
const SOURCE_COUNTERS: &[(&str, &str, &str)] = &[
    (
        "hearth_work_shares_accepted_total",
        "Shares the source accepted.",
        "accepted",
    ),
    (
        "hearth_work_shares_rejected_total",
        "Shares the source rejected.",
        "rejected",
    ),
    (
        "hearth_work_shares_stale_total",
        "Shares the source refused as stale.",
        "stale",
    ),
    (
        "hearth_work_shares_lost_total",
        "Shares sent without an answer (connection lost).",
        "lost",
    ),
    ("hearth_work_blocks_total", "Blocks found.", "blocks"),
];

/// `work` is `status.work` (absent before the work service runs).
pub(crate) fn render_work(o: &mut Out, work: &Value) {
    if !work.is_object() {
        return;
    }
    let heat_only = work["mode"] == "heat_only";
    o.family(
        "hearth_work_heat_only",
        "gauge",
        "1 while the boards heat on local work because no source is up (nothing is submitted).",
    );
    o.sample(
        "hearth_work_heat_only",
        &[],
        if heat_only { 1.0 } else { 0.0 },
    );
    let sources = work["sources"].as_array().map_or(&[][..], Vec::as_slice);
    o.family(
        "hearth_work_source_health",
        "gauge",
        "1 for the source's health.",
    );
    for s in sources {
        let name = s["name"].as_str().unwrap_or("");
        o.one_of(
            "hearth_work_source_health",
            &[("source", name)],
            "health",
            SOURCE_HEALTH,
            s["health"].as_str().unwrap_or(""),
        );
    }
    o.family(
        "hearth_work_source_active",
        "gauge",
        "1 for the source the boards work for.",
    );
    for s in sources {
        let active = s["active"] == true;
        let name = s["name"].as_str().unwrap_or("");
        o.sample(
            "hearth_work_source_active",
            &[("source", name)],
            if active { 1.0 } else { 0.0 },
        );
    }
    for (family, help, key) in SOURCE_COUNTERS {
        o.family(family, "counter", help);
        for s in sources {
            if let Some(v) = s["stats"][*key].as_f64() {
                o.sample(family, &[("source", s["name"].as_str().unwrap_or(""))], v);
            }
        }
    }
    o.family(
        "hearth_work_source_effective_hashrate_gigahashes_per_second",
        "gauge",
        "Hashrate the source credited (accepted shares over the last 10 minutes).",
    );
    for s in sources {
        if let Some(v) = s["stats"]["effective_hashrate_ghs"].as_f64() {
            let l = [("source", s["name"].as_str().unwrap_or(""))];
            o.sample(
                "hearth_work_source_effective_hashrate_gigahashes_per_second",
                &l,
                v,
            );
        }
    }
    for (family, key, help) in [
        (
            "hearth_work_shares_found_total",
            "shares_found",
            "Shares the boards found (all sources).",
        ),
        (
            "hearth_work_nonces_checked_total",
            "nonces_checked",
            "Nonces checked against the share target.",
        ),
    ] {
        if let Some(v) = work[key].as_f64() {
            o.family(family, "counter", help);
            o.sample(family, &[], v);
        }
    }
    render_lan(o, &work["lan_server"]);
}

/// `[work.server]`'s miners (`lan` is `status.work.lan_server`, null when
/// the LAN server is off: no series).
fn render_lan(o: &mut Out, lan: &Value) {
    if !lan.is_object() {
        return;
    }
    o.family(
        "hearth_work_lan_connections",
        "gauge",
        "LAN miners connected to the Stratum server.",
    );
    o.sample(
        "hearth_work_lan_connections",
        &[],
        lan["connections"].as_f64().unwrap_or(0.0),
    );
    o.family(
        "hearth_work_lan_refused_connections_total",
        "counter",
        "LAN connections closed because the server was full.",
    );
    o.sample(
        "hearth_work_lan_refused_connections_total",
        &[],
        lan["refused_connections"].as_f64().unwrap_or(0.0),
    );
    o.family(
        "hearth_work_lan_refused_no_room_total",
        "counter",
        "LAN miners refused or dropped: the source's extranonce space had no slot left.",
    );
    o.sample(
        "hearth_work_lan_refused_no_room_total",
        &[],
        lan["refused_no_room"].as_f64().unwrap_or(0.0),
    );
    // Only while there is shareable work (null otherwise: no sample).
    if let Some(capacity) = lan["capacity"].as_f64() {
        o.family(
            "hearth_work_lan_capacity",
            "gauge",
            "LAN miners the active source's extranonce space fits (at most max_connections).",
        );
        o.sample("hearth_work_lan_capacity", &[], capacity);
    }
    o.family(
        "hearth_work_lan_shares_total",
        "counter",
        "A connected LAN miner's shares by result (relayed: also met the source's target).",
    );
    for w in lan["workers"].as_array().map_or(&[][..], Vec::as_slice) {
        let slot = w["slot"].to_string();
        let miner = match (w["user"].as_str(), w["worker"].as_str()) {
            (Some(u), Some(k)) => format!("{u}.{k}"),
            (Some(u), None) => u.to_string(),
            _ => String::new(),
        };
        for result in ["accepted", "rejected", "stale", "relayed"] {
            if let Some(v) = w[result].as_f64() {
                o.sample(
                    "hearth_work_lan_shares_total",
                    &[("slot", &slot), ("miner", &miner), ("result", result)],
                    v,
                );
            }
        }
    }
}

/// `decision` is the policy's last decision as `GET /api/v1/control`
/// shows it (`null` before the first tick).
pub(crate) fn render_policy(o: &mut Out, decision: &Value) {
    let Some(rule) = decision["rule"].as_str() else {
        return;
    };
    let why = decision["why"]
        .as_array()
        .and_then(|w| w.first())
        .and_then(Value::as_str)
        .unwrap_or("");
    o.family(
        "hearth_policy_rule_info",
        "gauge",
        "The heat-source policy's rule in charge, the miner's role it set and why.",
    );
    o.sample(
        "hearth_policy_rule_info",
        &[
            ("rule", rule),
            ("miner", decision["miner"].as_str().unwrap_or("")),
            ("reason", why),
        ],
        1.0,
    );
    if let Some(k) = decision["setpoint_offset_k"].as_f64() {
        o.family(
            "hearth_policy_setpoint_offset_kelvin",
            "gauge",
            "Setpoint offset the policy applies to the zones.",
        );
        o.sample("hearth_policy_setpoint_offset_kelvin", &[], k);
    }
}

/// (name, help, key) of a sharechain gauge, from `GET /api/v1/sharechain`.
const SHARECHAIN_GAUGES: &[(&str, &str, &str)] = &[
    (
        "hearth_sharechain_height",
        "Height of the sharechain's best tip (absent before the first share).",
        "height",
    ),
    (
        "hearth_sharechain_peers",
        "Connected, handshaken sharechain peers.",
        "peers",
    ),
    (
        "hearth_sharechain_best_peer_height",
        "Highest tip a peer announced.",
        "best_peer_height",
    ),
    (
        "hearth_sharechain_sync_pending_shares",
        "Shares queued or in flight in sync.",
        "sync_pending",
    ),
    (
        "hearth_sharechain_window_shares",
        "Shares in the PPLNS window.",
        "window_shares",
    ),
    (
        "hearth_sharechain_our_window_shares",
        "Our shares in the PPLNS window.",
        "our_shares",
    ),
    (
        "hearth_sharechain_expected_payout_satoshis",
        "Our payout if a block were found now.",
        "our_expected_payout_sat",
    ),
    ("hearth_sharechain_bans", "Active peer bans.", "bans"),
];

/// `chain` is the sharechain node's status (`null` when no node runs: no
/// series at all, so a dashboard tells "off" from "zero peers").
pub(crate) fn render_sharechain(o: &mut Out, chain: &Value) {
    if !chain.is_object() {
        return;
    }
    for (name, help, key) in SHARECHAIN_GAUGES {
        if let Some(v) = chain[*key].as_f64() {
            o.family(name, "gauge", help);
            o.sample(name, &[], v);
        }
    }
    if let Some(v) = chain["blocks_found"].as_f64() {
        o.family(
            "hearth_sharechain_blocks_found_total",
            "counter",
            "Shares meeting the block target since start.",
        );
        o.sample("hearth_sharechain_blocks_found_total", &[], v);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn out() -> Out {
        Out(String::new())
    }

    #[test]
    fn work_sources_give_per_source_series() {
        let work = serde_json::json!({
            "mode": "source", "index": 0, "name": "pool-a", "summary": "mining on pool-a",
            "sources": [
                {"name": "pool-a", "health": "up", "active": true,
                 "stats": {"accepted": 12, "rejected": 1, "stale": 2, "lost": 0, "blocks": 0,
                           "effective_hashrate_ghs": 950.5}},
                {"name": "pool \"b\"", "health": "down", "active": false,
                 "stats": {"accepted": 0, "rejected": 0, "stale": 0, "lost": 3, "blocks": 0,
                           "effective_hashrate_ghs": null}},
            ],
            "shares_found": 15, "nonces_checked": 4000,
        });
        let mut o = out();
        render_work(&mut o, &work);
        let t = o.0;
        assert!(t.contains("hearth_work_heat_only 0\n"), "{t}");
        assert!(t.contains("hearth_work_shares_accepted_total{source=\"pool-a\"} 12\n"));
        assert!(t.contains("hearth_work_shares_rejected_total{source=\"pool-a\"} 1\n"));
        assert!(t.contains("hearth_work_shares_stale_total{source=\"pool-a\"} 2\n"));
        assert!(t.contains("hearth_work_shares_lost_total{source=\"pool \\\"b\\\"\"} 3\n"));
        assert!(t.contains("hearth_work_source_health{source=\"pool-a\",health=\"up\"} 1\n"));
        assert!(
            t.contains("hearth_work_source_health{source=\"pool \\\"b\\\"\",health=\"down\"} 1\n")
        );
        assert!(t.contains("hearth_work_source_health{source=\"pool-a\",health=\"down\"} 0\n"));
        assert!(t.contains("hearth_work_source_active{source=\"pool-a\"} 1\n"));
        assert!(t.contains(
            "hearth_work_source_effective_hashrate_gigahashes_per_second{source=\"pool-a\"} 950.5\n"
        ));
        assert!(
            !t.contains("hearth_work_source_effective_hashrate_gigahashes_per_second{source=\"pool \\\"b\\\"\"}"),
            "unknown hashrate is left out"
        );
        assert!(t.contains("hearth_work_shares_found_total 15\n"));
        assert!(!t.contains("hearth_work_lan"), "LAN server off: no series");
    }

    #[test]
    fn lan_miners_give_per_miner_series() {
        let work = serde_json::json!({
            "mode": "source", "sources": [],
            "lan_server": {"listen": "0.0.0.0:3333", "connections": 1, "max_connections": 16,
                "refused_connections": 2, "no_work": null, "capacity": 16, "refused_no_room": 3,
                "workers": [{"slot": 0, "peer": "192.168.1.7:50000", "user": "bc1qminer",
                    "worker": "bitaxe", "difficulty": 1024.0, "accepted": 9, "rejected": 1,
                    "stale": 0, "relayed": 3, "bad_lines": 0, "effective_hashrate_ghs": 1.5,
                    "connected_s": 60.0}]},
        });
        let mut o = out();
        render_work(&mut o, &work);
        let t = o.0;
        assert!(t.contains("hearth_work_lan_connections 1\n"), "{t}");
        assert!(t.contains("hearth_work_lan_refused_connections_total 2\n"));
        assert!(
            t.contains("hearth_work_lan_refused_no_room_total 3\n"),
            "{t}"
        );
        assert!(t.contains("hearth_work_lan_capacity 16\n"), "{t}");
        assert!(t.contains(
            "hearth_work_lan_shares_total{slot=\"0\",miner=\"bc1qminer.bitaxe\",result=\"accepted\"} 9\n"
        ));
        assert!(t.contains(
            "hearth_work_lan_shares_total{slot=\"0\",miner=\"bc1qminer.bitaxe\",result=\"relayed\"} 3\n"
        ));
    }

    #[test]
    fn heat_only_and_no_work_service() {
        let mut o = out();
        render_work(
            &mut o,
            &serde_json::json!({"mode": "heat_only", "reason": "no source", "sources": []}),
        );
        assert!(o.0.contains("hearth_work_heat_only 1\n"));
        let mut o = out();
        render_work(&mut o, &Value::Null);
        assert!(o.0.is_empty(), "no work service: no series");
    }

    #[test]
    fn the_policy_rule_in_charge() {
        let mut o = out();
        render_policy(
            &mut o,
            &serde_json::json!({"miner": "backup", "rule": "below_balance_point", "setpoint_offset_k": -1.5,
                "why": ["outdoor -9 °C is below the balance point", "second"]}),
        );
        assert!(o.0.contains(
            "hearth_policy_rule_info{rule=\"below_balance_point\",miner=\"backup\",reason=\"outdoor -9 °C is below the balance point\"} 1\n"
        ), "{}", o.0);
        assert!(o.0.contains("hearth_policy_setpoint_offset_kelvin -1.5\n"));
        let mut o = out();
        render_policy(&mut o, &Value::Null);
        assert!(o.0.is_empty());
    }

    #[test]
    fn sharechain_height_peers_and_sync() {
        let mut o = out();
        render_sharechain(
            &mut o,
            &serde_json::json!({"network": "regtest", "consensus_id": "ab", "tip": "cd",
                "height": 41, "peers": 3, "best_peer_height": 57, "sync_pending": 16,
                "window_shares": 42, "window_payees": 2, "our_shares": 10, "our_fraction": 0.25,
                "our_expected_payout_sat": 78125000, "block_value_sat": 312500000, "bans": 1,
                "blocks_found": 0}),
        );
        let t = o.0;
        assert!(t.contains("hearth_sharechain_height 41\n"), "{t}");
        assert!(t.contains("hearth_sharechain_peers 3\n"));
        assert!(t.contains("hearth_sharechain_best_peer_height 57\n"));
        assert!(t.contains("hearth_sharechain_sync_pending_shares 16\n"));
        assert!(t.contains("hearth_sharechain_expected_payout_satoshis 78125000\n"));
        assert!(t.contains("# TYPE hearth_sharechain_blocks_found_total counter\n"));
        let mut o = out();
        render_sharechain(&mut o, &serde_json::json!({"height": null, "peers": 0}));
        assert!(
            !o.0.contains("hearth_sharechain_height"),
            "no tip: no height"
        );
        assert!(o.0.contains("hearth_sharechain_peers 0\n"));
        let mut o = out();
        render_sharechain(&mut o, &Value::Null);
        assert!(o.0.is_empty(), "no node: no series");
    }
}
