//! Storage: one SQLite file in the data directory, in WAL mode, with
//! versioned migrations. It holds the settings that must survive a restart
//! (setpoints, modes), the telemetry history (downsampled as it ages, so a
//! year stays a few megabytes), and the event log.

use hearth_control::{ZoneMode, ZoneSettings};
use hearth_core::{Celsius, Timestamp};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

pub const DB_FILE: &str = "hearth.db";

/// Each entry moves the schema from version `i` to `i + 1`. Never edit a
/// released migration: add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: settings and telemetry.
    "CREATE TABLE zone_settings (
         zone_id TEXT PRIMARY KEY,
         setpoint_c REAL NOT NULL,
         mode TEXT NOT NULL,
         updated_ms INTEGER NOT NULL
     );
     CREATE TABLE telemetry (
         tier INTEGER NOT NULL,
         ts_ms INTEGER NOT NULL,
         zone_id TEXT NOT NULL,
         temp_c REAL,
         setpoint_c REAL NOT NULL,
         power_w REAL NOT NULL,
         hashrate_ghs REAL NOT NULL,
         n INTEGER NOT NULL DEFAULT 1,
         PRIMARY KEY (tier, zone_id, ts_ms)
     ) WITHOUT ROWID;",
    // 2: the event log (board trips, faults, setting changes).
    "CREATE TABLE events (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         ts_ms INTEGER NOT NULL,
         source TEXT NOT NULL,
         kind TEXT NOT NULL,
         message TEXT NOT NULL
     );
     CREATE INDEX events_ts ON events (ts_ms);",
];

/// Latest schema version this build knows.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// At most this many events are kept; older ones are deleted.
pub const MAX_EVENTS: i64 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database schema version {found} is newer than this build understands ({known}); refusing to touch it")]
    TooNew { found: u32, known: u32 },
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
}

/// Downsampling tiers: raw samples, 5-minute averages, hourly averages.
pub const TIER_RAW: i64 = 0;
pub const TIER_5MIN: i64 = 1;
pub const TIER_HOUR: i64 = 2;
const BUCKET_MS: [u64; 3] = [0, 5 * 60 * 1000, 60 * 60 * 1000];

/// How long each tier is kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retention {
    pub raw_ms: u64,
    pub five_minute_ms: u64,
    pub hourly_ms: u64,
}

/// One zone's sample at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub zone_id: String,
    pub temp_c: Option<f64>,
    pub setpoint_c: f64,
    pub power_w: f64,
    pub hashrate_ghs: f64,
}

/// A stored row (any tier).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSample {
    pub tier: i64,
    pub ts_ms: u64,
    pub sample: Sample,
    pub n: u64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct StoredEvent {
    pub ts_ms: u64,
    pub source: String,
    pub kind: String,
    pub message: String,
}

#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Owner-only (0600) database file; SQLite gives its `-wal` and `-shm`
/// files the database file's permissions. Best effort: a failure leaves the
/// file as the umask made it, inside the 0700 data directory.
fn restrict_permissions(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!(path = %path.display(), error = %e, "could not restrict database permissions");
        }
    }
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Store {
    /// Opens (creating if needed) `dir/hearth.db` and migrates it.
    pub fn open_in(dir: &Path) -> Result<Store, StoreError> {
        Store::open(&dir.join(DB_FILE))
    }

    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        restrict_permissions(path);
        // WAL: readers never block the control loop's writes, and a crash
        // mid-write leaves the last committed state. FULL sync fsyncs the WAL
        // at every commit, so an acknowledged setting survives a power cut,
        // not only a crash (NORMAL would lose the last commits on power
        // loss). Telemetry commits are batched, so the cost is a few fsyncs
        // a minute, all on the storage thread (see docs/reliability.md).
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mut store = Store { conn };
        store.migrate_to(SCHEMA_VERSION)?;
        Ok(store)
    }

    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get::<_, u32>(0))?)
    }

    /// Applies migrations up to `target`, each in its own transaction with
    /// its version bump, so a crash mid-migration leaves a consistent version.
    pub fn migrate_to(&mut self, target: u32) -> Result<(), StoreError> {
        let current = self.schema_version()?;
        if current > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                found: current,
                known: SCHEMA_VERSION,
            });
        }
        for version in current..target.min(SCHEMA_VERSION) {
            let tx = self.conn.transaction()?;
            if let Some(sql) = MIGRATIONS.get(version as usize) {
                tx.execute_batch(sql)?;
            }
            tx.pragma_update(None, "user_version", version + 1)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Opens a database migrated only up to `version` (for migration tests).
    pub fn open_at_version(path: &Path, version: u32) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        let mut store = Store { conn };
        store.migrate_to(version)?;
        Ok(store)
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    pub fn save_zone_settings(
        &self,
        zone_id: &str,
        s: ZoneSettings,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO zone_settings (zone_id, setpoint_c, mode, updated_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (zone_id) DO UPDATE SET setpoint_c = excluded.setpoint_c, mode = excluded.mode,
                 updated_ms = excluded.updated_ms",
            params![zone_id, s.setpoint_c.get(), s.mode.as_str(), to_i64(now.as_millis())],
        )?;
        Ok(())
    }

    pub fn load_zone_settings(&self, zone_id: &str) -> Result<Option<ZoneSettings>, StoreError> {
        let row: Option<(f64, String)> = self
            .conn
            .query_row(
                "SELECT setpoint_c, mode FROM zone_settings WHERE zone_id = ?1",
                [zone_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((setpoint, mode)) = row else {
            return Ok(None);
        };
        let mode = match mode.as_str() {
            "off" => ZoneMode::Off,
            "heat" => ZoneMode::Heat,
            "auto" => ZoneMode::Auto,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "zone {zone_id}: unknown mode {other:?}"
                )))
            }
        };
        Ok(Some(ZoneSettings {
            setpoint_c: Celsius(setpoint),
            mode,
        }))
    }

    /// Stores raw samples taken at `now`, in one transaction.
    pub fn record(&mut self, now: Timestamp, samples: &[Sample]) -> Result<(), StoreError> {
        self.record_batch(std::iter::once((now, samples)))
    }

    /// Stores several moments' samples in one transaction (imports, and
    /// catching up after the writer fell behind).
    pub fn record_batch<'a>(
        &mut self,
        batch: impl IntoIterator<Item = (Timestamp, &'a [Sample])>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO telemetry (tier, ts_ms, zone_id, temp_c, setpoint_c, power_w, hashrate_ghs, n)
                 VALUES (0, ?1, ?2, ?3, ?4, ?5, ?6, 1)",
            )?;
            for (now, samples) in batch {
                for s in samples {
                    stmt.execute(params![
                        to_i64(now.as_millis()),
                        s.zone_id,
                        s.temp_c,
                        s.setpoint_c,
                        s.power_w,
                        s.hashrate_ghs
                    ])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Folds aged rows into coarser tiers and deletes what is past retention.
    /// Buckets are cut at bucket boundaries, so a bucket is folded whole; the
    /// upsert merges (weighted by sample count) should a bucket be folded twice.
    pub fn maintain(&mut self, now: Timestamp, keep: Retention) -> Result<(), StoreError> {
        let now_ms = now.as_millis();
        let tx = self.conn.transaction()?;
        for (from, keep_ms) in [(TIER_RAW, keep.raw_ms), (TIER_5MIN, keep.five_minute_ms)] {
            let to = from + 1;
            let bucket = BUCKET_MS[to as usize];
            let cutoff = now_ms.saturating_sub(keep_ms) / bucket * bucket;
            tx.execute(
                "INSERT INTO telemetry (tier, ts_ms, zone_id, temp_c, setpoint_c, power_w, hashrate_ghs, n)
                 SELECT ?1, (ts_ms / ?2) * ?2, zone_id,
                        SUM(temp_c * n) / NULLIF(SUM(CASE WHEN temp_c IS NULL THEN 0 ELSE n END), 0),
                        SUM(setpoint_c * n) / SUM(n), SUM(power_w * n) / SUM(n), SUM(hashrate_ghs * n) / SUM(n), SUM(n)
                 FROM telemetry WHERE tier = ?3 AND ts_ms < ?4
                 GROUP BY zone_id, ts_ms / ?2
                 ON CONFLICT (tier, zone_id, ts_ms) DO UPDATE SET
                     temp_c = CASE WHEN excluded.temp_c IS NULL THEN temp_c
                                   WHEN temp_c IS NULL THEN excluded.temp_c
                                   ELSE (temp_c * n + excluded.temp_c * excluded.n) / (n + excluded.n) END,
                     setpoint_c = (setpoint_c * n + excluded.setpoint_c * excluded.n) / (n + excluded.n),
                     power_w = (power_w * n + excluded.power_w * excluded.n) / (n + excluded.n),
                     hashrate_ghs = (hashrate_ghs * n + excluded.hashrate_ghs * excluded.n) / (n + excluded.n),
                     n = n + excluded.n",
                params![to, to_i64(bucket), from, to_i64(cutoff)],
            )?;
            tx.execute(
                "DELETE FROM telemetry WHERE tier = ?1 AND ts_ms < ?2",
                params![from, to_i64(cutoff)],
            )?;
        }
        let cutoff = now_ms.saturating_sub(keep.hourly_ms);
        tx.execute(
            "DELETE FROM telemetry WHERE tier = ?1 AND ts_ms < ?2",
            params![TIER_HOUR, to_i64(cutoff)],
        )?;
        tx.execute(
            "DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?1",
            params![MAX_EVENTS],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Rows of one zone in a time range, oldest first, finest tier first.
    pub fn history(
        &self,
        zone_id: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StoredSample>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT tier, ts_ms, temp_c, setpoint_c, power_w, hashrate_ghs, n FROM telemetry
             WHERE zone_id = ?1 AND ts_ms >= ?2 AND ts_ms < ?3 ORDER BY ts_ms, tier",
        )?;
        let rows = stmt.query_map(
            params![zone_id, to_i64(from.as_millis()), to_i64(to.as_millis())],
            |r| {
                Ok(StoredSample {
                    tier: r.get(0)?,
                    ts_ms: to_u64(r.get(1)?),
                    sample: Sample {
                        zone_id: zone_id.to_string(),
                        temp_c: r.get(2)?,
                        setpoint_c: r.get(3)?,
                        power_w: r.get(4)?,
                        hashrate_ghs: r.get(5)?,
                    },
                    n: to_u64(r.get(6)?),
                })
            },
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    pub fn count_tier(&self, tier: i64) -> Result<u64, StoreError> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM telemetry WHERE tier = ?1",
            [tier],
            |r| r.get(0),
        )?;
        Ok(to_u64(n))
    }

    pub fn add_event(
        &self,
        now: Timestamp,
        source: &str,
        kind: &str,
        message: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO events (ts_ms, source, kind, message) VALUES (?1, ?2, ?3, ?4)",
            params![to_i64(now.as_millis()), source, kind, message],
        )?;
        Ok(())
    }

    pub fn recent_events(&self, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT ts_ms, source, kind, message FROM events ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok(StoredEvent {
                ts_ms: to_u64(r.get(0)?),
                source: r.get(1)?,
                kind: r.get(2)?,
                message: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Checkpoints the WAL into the main file (on clean shutdown, and so size
    /// measurements see everything).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}
