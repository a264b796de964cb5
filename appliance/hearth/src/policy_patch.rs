//! A partial update of the heat-source policy settings (`PUT
//! /api/v1/control/policy`): the body's keys replace those of the settings
//! in force and every other key keeps its value. A user who sends
//! `{"pv_start_w": 900}` means "change the PV start threshold", not "reset
//! everything else to its default". The merged settings are then checked
//! as a whole by the caller (`PolicySettings::check`), since some limits
//! tie keys together (`pv_stop_w` below `pv_start_w`).

use hearth_control::PolicySettings;
use serde_json::Value;

/// `patch` (a JSON object) merged onto `current`. Errors name the key: an
/// unknown one, or one whose value has the wrong type; `current` is never
/// changed.
pub fn merge(current: &PolicySettings, patch: &Value) -> Result<PolicySettings, String> {
    let Value::Object(keys) = patch else {
        return Err("the policy body must be a JSON object of settings".into());
    };
    let base = serde_json::to_value(current)
        .map_err(|e| format!("the current policy settings do not serialise: {e}"))?;
    let Value::Object(base) = base else {
        return Err("the current policy settings are not an object".into());
    };
    // One key at a time first, so an error names the key that caused it
    // (serde's own message names unknown fields but not mistyped values).
    for (key, value) in keys {
        let mut one = base.clone();
        one.insert(key.clone(), value.clone());
        serde_json::from_value::<PolicySettings>(Value::Object(one))
            .map_err(|e| format!("{key}: {e}"))?;
    }
    let mut merged = base;
    for (key, value) in keys {
        merged.insert(key.clone(), value.clone());
    }
    serde_json::from_value(Value::Object(merged)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn current() -> PolicySettings {
        PolicySettings {
            pv_start_w: 1200.0,
            pv_stop_w: 300.0,
            balance_point_c: -8.0,
            ..PolicySettings::default()
        }
    }

    #[test]
    fn one_key_changes_only_that_key() {
        let merged = merge(&current(), &json!({"pv_start_w": 900})).expect("merge");
        assert_eq!(merged.pv_start_w, 900.0);
        let expected = PolicySettings {
            pv_start_w: 900.0,
            ..current()
        };
        assert_eq!(merged, expected);
        // An empty object changes nothing; a full object replaces all.
        assert_eq!(merge(&current(), &json!({})).expect("empty"), current());
        let full = serde_json::to_value(PolicySettings::default()).expect("json");
        assert_eq!(
            merge(&current(), &full).expect("full"),
            PolicySettings::default()
        );
    }

    #[test]
    fn an_optional_key_can_be_set_and_cleared() {
        let named = merge(&current(), &json!({"strategy": "miner_first"})).expect("set");
        assert_eq!(
            named.strategy,
            Some(hearth_control::policy::Strategy::MinerFirst)
        );
        let cleared = merge(&named, &json!({"strategy": null})).expect("clear");
        assert_eq!(cleared.strategy, None);
        assert_eq!(cleared, current());
    }

    #[test]
    fn errors_name_the_key() {
        for (patch, names) in [
            (json!({"colour": 1}), "colour"),
            (json!({"pv_start_w": "lots"}), "pv_start_w"),
            (
                json!({"pv_start_w": 900, "strategy": "cheapest"}),
                "strategy",
            ),
        ] {
            let e = merge(&current(), &patch).expect_err("refused");
            assert!(e.starts_with(names), "{patch}: {e}");
        }
        assert!(merge(&current(), &json!([1])).is_err());
        assert!(merge(&current(), &json!("x")).is_err());
    }
}
