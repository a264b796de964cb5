//! Work-source counters on disk, in their own SQLite file (`work.sqlite` in
//! the data directory) so they survive restarts without touching the main
//! store's schema.

use anyhow::{Context, Result};
use hearth_work::stats::Counters;
use rusqlite::{params, Connection};
use std::collections::BTreeMap;
use std::path::Path;

pub const FILE: &str = "work.sqlite";

#[derive(Debug)]
pub struct StatsStore {
    conn: Connection,
}

impl StatsStore {
    pub fn open_in(dir: &Path) -> Result<StatsStore> {
        let path = dir.join(FILE);
        let conn =
            Connection::open(&path).with_context(|| format!("opening {}", path.display()))?;
        crate::owner_only::restrict_or_warn(&path);
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE IF NOT EXISTS work_stats (
                 source TEXT PRIMARY KEY,
                 counters TEXT NOT NULL,
                 updated_ms INTEGER NOT NULL
             );",
        )
        .context("creating the work_stats table")?;
        Ok(StatsStore { conn })
    }

    /// Saved counters by source name (unreadable rows are skipped).
    pub fn load(&self) -> Result<BTreeMap<String, Counters>> {
        let mut stmt = self
            .conn
            .prepare("SELECT source, counters FROM work_stats")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (source, json) = row?;
            if let Ok(c) = serde_json::from_str::<Counters>(&json) {
                out.insert(source, c);
            }
        }
        Ok(out)
    }

    pub fn save(&mut self, now_ms: u64, all: &[(String, Counters)]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for (source, c) in all {
            tx.execute(
                "INSERT INTO work_stats (source, counters, updated_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT(source) DO UPDATE SET counters = excluded.counters, updated_ms = excluded.updated_ms",
                params![source, serde_json::to_string(c)?, i64::try_from(now_ms).unwrap_or(i64::MAX)],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}
