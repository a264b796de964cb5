//! Scenario files for `hearth sim`: parsed and checked, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(text) = hearth_fuzz::as_text(data) else {
        return;
    };
    if let Ok(s) = hearth_sim::Scenario::from_toml(text) {
        // Everything the runner derives from a checked scenario is total.
        for z in &s.zones {
            let _ = z.setpoint_schedule();
            let _ = z.gain_table();
            let _ = z.thermal_params();
        }
        let _ = s.tou_table();
    }
});
