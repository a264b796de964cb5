#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! Storage against real SQLite files on disk.

use hearth::store::{
    Retention, Sample, Store, StoreError, SCHEMA_VERSION, TIER_5MIN, TIER_HOUR, TIER_RAW,
};
use hearth_control::{ZoneMode, ZoneSettings};
use hearth_core::{Celsius, Timestamp};

fn sample(zone: &str, temp: f64, power: f64) -> Sample {
    Sample {
        zone_id: zone.into(),
        temp_c: Some(temp),
        setpoint_c: 21.0,
        power_w: power,
        hashrate_ghs: power * 50.0,
    }
}

#[test]
fn settings_survive_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open_in(dir.path()).expect("open");
        let s = ZoneSettings {
            setpoint_c: Celsius(22.5),
            mode: ZoneMode::Off,
        };
        store
            .save_zone_settings("office", s, Timestamp(1))
            .expect("save");
    }
    let store = Store::open_in(dir.path()).expect("reopen");
    let s = store
        .load_zone_settings("office")
        .expect("load")
        .expect("present");
    assert_eq!(s.setpoint_c, Celsius(22.5));
    assert_eq!(s.mode, ZoneMode::Off);
    assert_eq!(store.load_zone_settings("nowhere").expect("load"), None);
    let journal: String = store
        .connection()
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("pragma");
    assert_eq!(journal, "wal");
}

#[test]
fn an_old_database_is_migrated_and_keeps_its_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("hearth.db");
    {
        // A database as the first release left it: schema version 1.
        let old = Store::open_at_version(&path, 1).expect("v1");
        assert_eq!(old.schema_version().expect("version"), 1);
        old.save_zone_settings(
            "pool",
            ZoneSettings {
                setpoint_c: Celsius(28.0),
                mode: ZoneMode::Heat,
            },
            Timestamp(5),
        )
        .expect("save");
        let has_events: i64 = old
            .connection()
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'events'",
                [],
                |r| r.get(0),
            )
            .expect("query");
        assert_eq!(has_events, 0);
    }
    let store = Store::open(&path).expect("migrate");
    assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
    assert_eq!(
        store
            .load_zone_settings("pool")
            .expect("load")
            .map(|s| s.setpoint_c),
        Some(Celsius(28.0)),
        "data from before the migration is still there"
    );
    store
        .add_event(Timestamp(9), "board-0", "tripped", "too hot")
        .expect("events table exists now");
    assert_eq!(store.recent_events(10).expect("events").len(), 1);
}

#[test]
fn a_database_from_a_newer_release_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("hearth.db");
    {
        let store = Store::open(&path).expect("open");
        store
            .connection()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("bump");
    }
    match Store::open(&path) {
        Err(StoreError::TooNew { found, known }) => {
            assert_eq!(found, SCHEMA_VERSION + 1);
            assert_eq!(known, SCHEMA_VERSION);
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
}

#[test]
fn corrupt_stored_mode_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    store
        .connection()
        .execute(
            "INSERT INTO zone_settings VALUES ('x', 20.0, 'turbo', 0)",
            [],
        )
        .expect("insert");
    assert!(matches!(
        store.load_zone_settings("x"),
        Err(StoreError::Corrupt(_))
    ));
}

const MIN: u64 = 60_000;
const HOUR: u64 = 60 * MIN;
const DAY: u64 = 24 * HOUR;

fn retention() -> Retention {
    Retention {
        raw_ms: 48 * HOUR,
        five_minute_ms: 30 * DAY,
        hourly_ms: 730 * DAY,
    }
}

#[test]
fn aged_samples_fold_into_weighted_averages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open_in(dir.path()).expect("open");
    // Ten minutes of samples every 10 s: 20.0 °C for the first five minutes,
    // 22.0 °C for the next five.
    for i in 0..60u64 {
        let temp = if i < 30 { 20.0 } else { 22.0 };
        store
            .record(
                Timestamp(i * 10_000),
                &[sample("a", temp, 100.0 * i as f64)],
            )
            .expect("record");
    }
    // Three days later the raw rows are past retention.
    store
        .maintain(Timestamp(3 * DAY), retention())
        .expect("maintain");
    assert_eq!(store.count_tier(TIER_RAW).expect("count"), 0);
    let rows = store
        .history("a", Timestamp(0), Timestamp(DAY))
        .expect("history");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r.tier == TIER_5MIN));
    assert_eq!(rows[0].ts_ms, 0);
    assert_eq!(rows[0].n, 30);
    assert_eq!(rows[0].sample.temp_c, Some(20.0));
    assert_eq!(rows[1].ts_ms, 5 * MIN);
    assert_eq!(rows[1].sample.temp_c, Some(22.0));
    // Power was 0, 100, ..., 2900 W in the first bucket: mean 1450 W.
    assert!((rows[0].sample.power_w - 1450.0).abs() < 1e-9);

    // Folding again later into hours merges by sample count.
    store
        .maintain(Timestamp(40 * DAY), retention())
        .expect("maintain");
    let rows = store
        .history("a", Timestamp(0), Timestamp(DAY))
        .expect("history");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].tier, TIER_HOUR);
    assert_eq!(rows[0].n, 60);
    assert_eq!(rows[0].sample.temp_c, Some(21.0));
}

#[test]
fn missing_temperatures_do_not_drag_averages_to_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open_in(dir.path()).expect("open");
    store
        .record(Timestamp(0), &[sample("a", 20.0, 0.0)])
        .expect("record");
    let stale = Sample {
        temp_c: None,
        ..sample("a", 0.0, 0.0)
    };
    store.record(Timestamp(10_000), &[stale]).expect("record");
    store
        .maintain(Timestamp(3 * DAY), retention())
        .expect("maintain");
    let rows = store
        .history("a", Timestamp(0), Timestamp(DAY))
        .expect("history");
    assert_eq!(rows[0].sample.temp_c, Some(20.0));
}

/// A year of history for four zones at one sample every 30 s stays a few
/// megabytes: without downsampling it would be over a million rows.
#[test]
fn a_year_of_history_stays_small() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open_in(dir.path()).expect("open");
    let zones = ["living-room", "office", "pool", "greenhouse"];
    let step = 30_000u64;
    let mut t = 0u64;
    let mut inserted = 0u64;
    for _day in 0..365 {
        let day_end = t + DAY;
        // One transaction per hour of samples keeps the test fast.
        while t < day_end {
            let hour_end = t + HOUR;
            let hour_of_samples: Vec<(u64, Vec<Sample>)> = (0..)
                .map(|i| t + i * step)
                .take_while(|ts| *ts < hour_end)
                .map(|ts| {
                    (
                        ts,
                        zones
                            .iter()
                            .map(|z| sample(z, 20.0 + (ts % 7) as f64 * 0.1, 800.0))
                            .collect(),
                    )
                })
                .collect();
            inserted += hour_of_samples
                .iter()
                .map(|(_, s)| s.len() as u64)
                .sum::<u64>();
            store
                .record_batch(
                    hour_of_samples
                        .iter()
                        .map(|(ts, s)| (Timestamp(*ts), s.as_slice())),
                )
                .expect("record");
            t = hour_end;
        }
        store.maintain(Timestamp(t), retention()).expect("maintain");
    }
    store.checkpoint().expect("checkpoint");
    let raw = store.count_tier(TIER_RAW).expect("count");
    let five = store.count_tier(TIER_5MIN).expect("count");
    let hourly = store.count_tier(TIER_HOUR).expect("count");
    let zones_n = zones.len() as u64;
    assert!(raw <= zones_n * (48 * HOUR / step + 120), "raw rows {raw}");
    assert!(five <= zones_n * (30 * 288 + 24), "5-minute rows {five}");
    assert!(hourly <= zones_n * 365 * 24, "hourly rows {hourly}");
    let bytes = std::fs::metadata(dir.path().join("hearth.db"))
        .expect("meta")
        .len();
    println!("inserted {inserted} samples; kept raw {raw}, 5-min {five}, hourly {hourly}; file {bytes} bytes");
    assert!(bytes < 10 * 1024 * 1024, "database is {bytes} bytes");
}
