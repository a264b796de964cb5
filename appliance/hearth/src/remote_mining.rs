//! `hearth mining on|off`: the homeowner's mining switch on the running
//! daemon (`PUT /api/v1/control/mining`), the same switch as Home
//! Assistant's `switch.hearth_mining`. Off means heat only: the boards heat
//! exactly as the thermostat asks and nothing is submitted.

use crate::remote::{Client, Target};
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Debug, Args)]
pub struct MiningArgs {
    #[command(flatten)]
    pub target: Target,
    /// `on`: mine again at the next work tick; `off`: heat only.
    pub state: OnOff,
}

pub fn mining(args: &MiningArgs) -> Result<String> {
    let client = Client::from_target(&args.target)?;
    let enabled = args.state == OnOff::On;
    let reply = client
        .json(
            "PUT",
            "/api/v1/control/mining",
            Some(&serde_json::json!({ "enabled": enabled })),
        )
        .context("switching mining")?;
    Ok(match reply["enabled"].as_bool() {
        Some(true) => "mining on".to_string(),
        Some(false) => "mining off: heat only, nothing is submitted".to_string(),
        None => format!("the daemon answered {reply}"),
    })
}

/// The `hearth status` line for the work service: the switch, the mode and
/// why (`None` before the work service reported).
pub fn status_line(work: &Value) -> Option<String> {
    let enabled = work.get("mining_enabled")?.as_bool()?;
    let mode = work["mode"].as_str().unwrap_or("?");
    let reason = work["reason"].as_str().filter(|r| !r.is_empty());
    Some(format!(
        "mining: {} (work: {mode}{})",
        if enabled { "on" } else { "off" },
        reason.map_or_else(String::new, |r| format!(", {r}"))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_status_line_shows_the_switch_the_mode_and_why() {
        assert_eq!(
            status_line(&json!({"mining_enabled": false, "mode": "heat_only",
                "reason": "mining switched off by the owner"})),
            Some("mining: off (work: heat_only, mining switched off by the owner)".to_string())
        );
        assert_eq!(
            status_line(&json!({"mining_enabled": true, "mode": "pool", "reason": ""})),
            Some("mining: on (work: pool)".to_string())
        );
        assert_eq!(status_line(&Value::Null), None);
    }
}
