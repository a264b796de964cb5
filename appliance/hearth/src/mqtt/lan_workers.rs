//! LAN miners in Home Assistant: while a miner is connected to the LAN
//! Stratum server (`[work.server]`) it has its own entities (hashrate,
//! accepted and rejected shares, time since its last share, connected);
//! when it is gone they are removed, the same way a board that left the
//! configuration is. At most [`MAX_WORKERS`] miners get entities (the
//! server's connection limit is at most as many).
//!
//! Pure: the worker list from the status in, entities and state documents
//! out; `mod.rs` announces and removes them.

use super::entities::{slug, Entity, Platform};
use super::topics::Topics;
use crate::work::server::WorkerView;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// Miners that get entities (the LAN server allows at most 1024).
pub const MAX_WORKERS: usize = 1024;
/// Longest worker key (HA object ids stay short).
const MAX_KEY: usize = 64;

/// The stable key of a miner: its authorize name ("address.worker"), so a
/// reconnect keeps its entities and their history; the slot when it has
/// not authorized.
pub fn worker_key(w: &WorkerView) -> String {
    let name = match (&w.user, &w.worker) {
        (Some(u), Some(k)) => format!("{u}_{k}"),
        (Some(u), None) => u.clone(),
        _ => format!("slot{}", w.slot),
    };
    slug(&name).chars().take(MAX_KEY).collect()
}

/// The miners that get entities: authorized ones, one per key (a second
/// connection under the same name shares the first's), bounded.
fn shown(workers: &[WorkerView]) -> Vec<(String, &WorkerView)> {
    let mut seen = BTreeSet::new();
    workers
        .iter()
        .filter(|w| w.user.is_some())
        .map(|w| (worker_key(w), w))
        .filter(|(k, _)| seen.insert(k.clone()))
        .take(MAX_WORKERS)
        .collect()
}

/// (key, name, platform, extra discovery fields).
type RowSpec = (&'static str, &'static str, Platform, fn() -> Value);

const ROWS: [RowSpec; 5] = [
    (
        "hashrate_ghs",
        "hashrate",
        Platform::Sensor,
        || json!({"unit_of_measurement": "GH/s", "state_class": "measurement", "icon": "mdi:pickaxe"}),
    ),
    (
        "accepted",
        "accepted shares",
        Platform::Sensor,
        || json!({"state_class": "total_increasing", "icon": "mdi:check"}),
    ),
    (
        "rejected",
        "rejected shares",
        Platform::Sensor,
        || json!({"state_class": "total_increasing", "icon": "mdi:close"}),
    ),
    (
        "last_share_s",
        "last share",
        Platform::Sensor,
        || json!({"unit_of_measurement": "s", "device_class": "duration", "state_class": "measurement"}),
    ),
    (
        "connected",
        "connected",
        Platform::BinarySensor,
        || json!({"device_class": "connectivity", "payload_on": "ON", "payload_off": "OFF"}),
    ),
];

/// Every connected LAN miner's entities.
pub fn entities(topics: &Topics, workers: &[WorkerView]) -> Vec<Entity> {
    let node = topics.node();
    let mut out = Vec::new();
    for (key, w) in shown(workers) {
        let label = match (&w.user, &w.worker) {
            (Some(u), Some(k)) => format!("LAN miner {k} ({u})"),
            (Some(u), None) => format!("LAN miner {u}"),
            _ => format!("LAN miner {}", w.slot),
        };
        for (row, name, platform, fields) in ROWS {
            let mut m = match fields() {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            m.insert("name".into(), format!("{label} {name}").into());
            m.insert("state_topic".into(), topics.lan_worker_state(&key).into());
            m.insert(
                "value_template".into(),
                format!("{{{{ value_json.{row} }}}}").into(),
            );
            out.push(Entity {
                platform,
                id: format!("{node}_lan_{key}_{row}"),
                fields: m,
            });
        }
    }
    out
}

/// One retained state document per connected miner.
pub fn states(topics: &Topics, workers: &[WorkerView]) -> Vec<(String, String)> {
    shown(workers)
        .into_iter()
        .map(|(key, w)| {
            let doc = json!({
                "hashrate_ghs": (w.effective_hashrate_ghs * 1000.0).round() / 1000.0,
                "accepted": w.accepted,
                "rejected": w.rejected,
                "last_share_s": w.last_share_s_ago.map(|s| s.round()),
                "connected": "ON",
            });
            (topics.lan_worker_state(&key), doc.to_string())
        })
        .collect()
}

/// Entities in `before` that are not in `now` (a miner left): to remove.
pub fn gone(before: &[Entity], now: &[Entity]) -> Vec<(String, Platform)> {
    let ids: BTreeSet<&str> = now.iter().map(|e| e.id.as_str()).collect();
    before
        .iter()
        .filter(|e| !ids.contains(e.id.as_str()))
        .map(|e| (e.id.clone(), e.platform))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(slot: usize, user: Option<&str>, name: Option<&str>) -> WorkerView {
        WorkerView {
            slot,
            peer: "192.168.1.7:50000".into(),
            user: user.map(String::from),
            worker: name.map(String::from),
            payout_address: None,
            difficulty: 1024.0,
            accepted: 9,
            rejected: 1,
            stale: 0,
            relayed: 2,
            bad_lines: 0,
            effective_hashrate_ghs: 1234.5678,
            connected_s: 60.0,
            last_share_s_ago: Some(4.4),
        }
    }

    fn topics() -> Topics {
        Topics::new("hearth", "homeassistant", "hearth")
    }

    #[test]
    fn a_miner_has_five_entities_on_its_own_state_topic() {
        let t = topics();
        let ws = [
            worker(0, Some("bc1qminer"), Some("bitaxe")),
            worker(1, None, None), // not authorized yet: no entities
            worker(2, Some("bc1qminer"), Some("bitaxe")), // same name: shares
            worker(3, Some("bc1qother"), None),
        ];
        let e = entities(&t, &ws);
        assert_eq!(e.len(), 10);
        let ids: Vec<&str> = e.iter().map(|e| e.id.as_str()).collect();
        assert!(
            ids.contains(&"hearth_lan_bc1qminer_bitaxe_hashrate_ghs"),
            "{ids:?}"
        );
        assert!(ids.contains(&"hearth_lan_bc1qother_connected"), "{ids:?}");
        let connected = e
            .iter()
            .find(|e| e.id.ends_with("bitaxe_connected"))
            .unwrap();
        assert_eq!(connected.platform, Platform::BinarySensor);
        assert_eq!(
            connected.fields["state_topic"],
            "hearth/lan/bc1qminer_bitaxe/state"
        );
        let s = states(&t, &ws);
        assert_eq!(s.len(), 2);
        let doc: Value = serde_json::from_str(&s[0].1).unwrap();
        assert_eq!(s[0].0, "hearth/lan/bc1qminer_bitaxe/state");
        assert_eq!(doc["hashrate_ghs"], 1234.568);
        assert_eq!(
            (doc["accepted"].clone(), doc["rejected"].clone()),
            (json!(9), json!(1))
        );
        assert_eq!(doc["last_share_s"], 4.0);
        assert_eq!(doc["connected"], "ON");
    }

    #[test]
    fn a_miner_that_left_is_removed_and_the_count_is_bounded() {
        let t = topics();
        let before = entities(
            &t,
            &[
                worker(0, Some("bc1qa"), None),
                worker(1, Some("bc1qb"), None),
            ],
        );
        let now = entities(&t, &[worker(1, Some("bc1qb"), None)]);
        let removed = gone(&before, &now);
        assert_eq!(removed.len(), ROWS.len());
        assert!(removed
            .iter()
            .all(|(id, _)| id.starts_with("hearth_lan_bc1qa_")));
        assert!(gone(&now, &now).is_empty());
        let many: Vec<_> = (0..MAX_WORKERS + 5)
            .map(|i| worker(i, Some(&format!("bc1q{i}")), None))
            .collect();
        assert_eq!(entities(&t, &many).len(), MAX_WORKERS * ROWS.len());
        // Keys stay short and valid object ids.
        let long = worker(0, Some(&"x".repeat(500)), Some("rig-1"));
        let k = worker_key(&long);
        assert!(k.len() <= MAX_KEY);
        assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    }
}
