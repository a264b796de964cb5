//! Energy counters for Home Assistant's Energy dashboard: electricity drawn
//! by each board, integrated from the power in successive status snapshots,
//! kept in a small JSON file in the data directory so the counters keep
//! increasing across restarts (`total_increasing`).

use super::entities::EnergyKwh;
use crate::state::Status;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// A gap longer than this between snapshots is not integrated: the daemon
/// was not watching, so it does not invent energy for that time. Long, as
/// `--sim --speed 3600` snapshots are a simulated hour apart each second.
const MAX_GAP_MS: u64 = 3_600_000;
/// Counters kept for at most this many boards (a limit on everything).
const MAX_BOARDS: usize = 256;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnergyMeter {
    /// kWh per board id.
    boards: BTreeMap<String, f64>,
    #[serde(skip)]
    last: Option<(u64, BTreeMap<String, f64>)>,
}

impl EnergyMeter {
    /// Reads the counters, or starts at zero when there is no (valid) file.
    pub fn load(path: &Path) -> EnergyMeter {
        let Ok(text) = std::fs::read_to_string(path) else {
            return EnergyMeter::default();
        };
        match serde_json::from_str::<EnergyMeter>(&text) {
            Ok(mut m) => {
                m.boards.retain(|_, v| v.is_finite() && *v >= 0.0);
                m
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "energy counters unreadable; starting from zero");
                EnergyMeter::default()
            }
        }
    }

    /// Writes the counters atomically (temp file, then rename).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)
    }

    /// Adds the energy since the previous snapshot: the previous power held
    /// until now (a board's power changes at ticks, not between them).
    pub fn observe(&mut self, status: &Status) {
        let now = status.time_ms;
        let powers: BTreeMap<String, f64> = status
            .boards
            .iter()
            .filter(|b| b.power_w.is_finite() && b.power_w >= 0.0)
            .map(|b| (b.id.clone(), b.power_w))
            .collect();
        if let Some((then, previous)) = &self.last {
            let dt_ms = now.saturating_sub(*then);
            if dt_ms > 0 && dt_ms <= MAX_GAP_MS {
                let hours = dt_ms as f64 / 3_600_000.0;
                for (id, p) in previous {
                    if self.boards.len() >= MAX_BOARDS && !self.boards.contains_key(id) {
                        continue;
                    }
                    *self.boards.entry(id.clone()).or_insert(0.0) += p * hours / 1000.0;
                }
            }
            if now < *then {
                // The clock went backwards: start integrating afresh.
                self.last = Some((now, powers));
                return;
            }
        }
        self.last = Some((now, powers));
    }

    pub fn board(&self, id: &str) -> EnergyKwh {
        EnergyKwh {
            electricity_kwh: self.boards.get(id).copied().unwrap_or(0.0),
        }
    }

    pub fn total(&self) -> EnergyKwh {
        EnergyKwh {
            electricity_kwh: self.boards.values().sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::BoardView;

    fn status(time_ms: u64, power_w: f64) -> Status {
        Status {
            time_ms,
            simulated: true,
            outdoor_temp_c: None,
            work: None,
            zones: vec![],
            boards: vec![BoardView {
                id: "b0".into(),
                zone: "z".into(),
                model: "m".into(),
                state: hearth_core::BoardState::Running,
                power_w,
                power_target_w: power_w,
                hashrate_ghs: 0.0,
                chip_temp_c: None,
                regulator_temp_c: None,
                fan_duty_percent: 0.0,
                fan_rpm: None,
                freq_mhz: None,
                voltage_mv: None,
            }],
        }
    }

    #[test]
    fn integrates_power_over_time_and_skips_gaps() {
        let mut m = EnergyMeter::default();
        m.observe(&status(0, 1000.0));
        for s in 1..=3600 {
            m.observe(&status(s * 1000, 1000.0));
        }
        // 1 kW for an hour.
        assert!((m.board("b0").electricity_kwh - 1.0).abs() < 1e-9);
        // A two-hour gap adds nothing, then integration resumes.
        m.observe(&status(3_600_000 + 7_200_000, 2000.0));
        assert!((m.total().electricity_kwh - 1.0).abs() < 1e-9);
        m.observe(&status(3_600_000 + 7_200_000 + 60_000, 2000.0));
        assert!((m.total().electricity_kwh - (1.0 + 2.0 / 60.0)).abs() < 1e-9);
    }

    #[test]
    fn survives_a_restart_and_refuses_garbage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("energy.json");
        let mut m = EnergyMeter::default();
        m.observe(&status(0, 3600.0));
        m.observe(&status(1000, 3600.0));
        m.save(&path).expect("save");
        let back = EnergyMeter::load(&path);
        assert!((back.board("b0").electricity_kwh - 0.001).abs() < 1e-12);
        std::fs::write(&path, "{not json").expect("write");
        assert_eq!(EnergyMeter::load(&path).total().electricity_kwh, 0.0);
        std::fs::write(&path, r#"{"boards":{"b0":-5.0}}"#).expect("write");
        assert_eq!(EnergyMeter::load(&path).total().electricity_kwh, 0.0);
    }
}
