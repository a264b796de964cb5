//! Fault-campaign files for `hearth sim --faults`: parsed, checked, and the
//! first run planned (planning is what a seed replays), never a panic.
#![no_main]

use hearth_sim::faults::{plan, Campaign};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(text) = hearth_fuzz::as_text(data) else {
        return;
    };
    if let Ok(c) = Campaign::from_toml(text) {
        let p = plan(&c, c.first_seed);
        assert_eq!(p.faults.len(), c.faults_per_run as usize);
        assert!(p.boards >= 1 && p.boards <= c.max_boards);
        let window_s = c.recovery_window_min * 60.0;
        for f in &p.faults {
            assert!(f.start_s >= 0.0 && f.duration_s > 0.0, "{f:?}");
            assert!(
                f.start_s + f.duration_s <= c.hours * 3600.0 - window_s + 1e-6,
                "{f:?}"
            );
        }
    }
});
