//! The HTTP API's bodies and queries: any request gets a 2xx or 4xx answer
//! (never a panic, never a 5xx), and whatever was accepted is within the
//! zone's limits. The router is the daemon's own, over a simulated zone and
//! an in-memory database.
#![no_main]

use axum::body::Body;
use axum::http::Request;
use hearth::state::{Heartbeat, Shared};
use hearth::store::Store;
use hearth_control::{Appliance, PiGains};
use hearth_core::{Clock, Timestamp};
use hearth_sim::scenario::{build_world, ZoneSpec};
use hearth_sim::VirtualClock;
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;
use tower::ServiceExt;

struct Rig {
    rt: tokio::runtime::Runtime,
    shared: Arc<Shared>,
}

fn rig() -> &'static Rig {
    static RIG: OnceLock<Rig> = OnceLock::new();
    RIG.get_or_init(|| {
        let start = Timestamp::from_secs(1_800_000_000);
        let built = build_world(1, start, Default::default(), &[ZoneSpec::default_room()]);
        let store = Store::open(Path::new(":memory:")).expect("in-memory store");
        let clock: Arc<dyn Clock> = Arc::new(VirtualClock::new(start));
        // Control settings live in a file of the data directory; a fresh one
        // per fuzzing process.
        let data_dir = std::env::temp_dir().join(format!("hearth-fuzz-api-{}", std::process::id()));
        std::fs::create_dir_all(&data_dir).expect("fuzz data dir");
        let control = hearth::house_control::ControlState::load(&data_dir).expect("control state");
        let shared = Arc::new(Shared {
            appliance: Mutex::new(Appliance::new(built.zones, PiGains::default())),
            control: Mutex::new(control),
            work: Arc::new(RwLock::new(None)),
            store: Arc::new(Mutex::new(store)),
            status: RwLock::new(None),
            heartbeat: Heartbeat::new(Duration::from_secs(1)),
            settings_gate: tokio::sync::Mutex::new(()),
            clock: clock.clone(),
            steady_clock: clock,
            simulated: true,
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        Rig { rt, shared }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let (head, body) = text.split_once('\n').unwrap_or(("", &text));
    let (method, uri) = match selector % 6 {
        0 => ("PUT", "/api/v1/zones/living-room/setpoint".to_string()),
        1 => ("PUT", "/api/v1/zones/living-room/mode".to_string()),
        2 => ("GET", format!("/api/v1/zones/living-room/history?{head}")),
        3 => ("GET", format!("/api/v1/events?{head}")),
        4 => ("PUT", format!("/api/v1/zones/{head}/setpoint")),
        _ => ("GET", format!("/{head}")),
    };
    let Ok(req) = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
    else {
        return; // not a request a client could send
    };
    let r = rig();
    let router = hearth::api::router(r.shared.clone());
    let status =
        r.rt.block_on(async move { router.oneshot(req).await.map(|resp| resp.status()) });
    let Ok(status) = status;
    // /health answers 503 while no control loop ticks: that one is expected.
    assert!(
        !status.is_server_error() || status.as_u16() == 503,
        "{method} -> {status}"
    );
    let app = r.shared.appliance.lock().unwrap_or_else(|p| p.into_inner());
    for z in app.zone_configs() {
        let sp = z.settings.setpoint_c.get();
        assert!(
            sp >= z.limits.min_setpoint_c.get() && sp <= z.limits.max_setpoint_c.get(),
            "accepted setpoint {sp} outside the limits"
        );
    }
});
