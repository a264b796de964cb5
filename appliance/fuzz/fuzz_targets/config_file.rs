//! The configuration file: any text is either a validated config or an
//! error naming the key; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some(text) = hearth_fuzz::as_text(data) else {
        return;
    };
    if let Ok(config) = hearth::config::Config::from_toml(text, Path::new("fuzz.toml")) {
        // What validation accepted must be usable as it is.
        assert!((100..=60_000).contains(&config.raw.daemon.tick_ms));
        for zone in &config.zones {
            let l = zone.limits;
            assert!(l.hard_max_c.get() >= l.max_setpoint_c.get());
        }
    }
});
