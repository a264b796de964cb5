//! The sharechain's SQLite file (`sharechain.db`, separate from hearth.db so
//! a corrupt or resynced sharechain never touches settings or telemetry):
//! shares, the best tip, peers and bans. Implements
//! [`hearth_sharechain::store::ShareStore`].

use hearth_sharechain::share_view::ShareView;
use hearth_sharechain::store::{BanRecord, PeerRecord, ShareStore};
use hearth_sharechain::{Share, ShareHash};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

/// File name in the data directory.
pub const SHARECHAIN_DB_FILE: &str = "sharechain.db";

const MIGRATIONS: &[&str] = &[
    // 1: shares, tip, peers, bans.
    "CREATE TABLE shares (
         id INTEGER PRIMARY KEY,
         hash BLOB NOT NULL UNIQUE,
         height INTEGER NOT NULL,
         bytes BLOB NOT NULL
     );
     CREATE INDEX shares_height ON shares (height);
     CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
     CREATE TABLE peers (addr TEXT PRIMARY KEY, last_seen INTEGER NOT NULL);
     CREATE TABLE bans (addr TEXT PRIMARY KEY, until INTEGER NOT NULL, reason TEXT NOT NULL);",
];

/// Errors of the sharechain store.
#[derive(Debug, thiserror::Error)]
pub enum ShareDbError {
    /// SQLite.
    #[error("sharechain database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Schema from a newer build.
    #[error("sharechain database schema {found} is newer than this build's {known}")]
    TooNew {
        /// In the file.
        found: u32,
        /// Ours.
        known: u32,
    },
    /// A stored row that does not decode.
    #[error("sharechain database row is corrupt: {0}")]
    Corrupt(String),
}

/// The open database.
#[derive(Debug)]
pub struct ShareDb {
    conn: Connection,
}

impl ShareDb {
    /// Opens (creating and migrating) the file in `dir`.
    pub fn open_in(dir: &Path) -> Result<ShareDb, ShareDbError> {
        ShareDb::open(&dir.join(SHARECHAIN_DB_FILE))
    }

    /// Opens (creating and migrating) `path`.
    pub fn open(path: &Path) -> Result<ShareDb, ShareDbError> {
        let conn = Connection::open(path)?;
        crate::owner_only::restrict_or_warn(path);
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let found: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = MIGRATIONS.len() as u32;
        if found > known {
            return Err(ShareDbError::TooNew { found, known });
        }
        for (i, m) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(m)?;
            tx.pragma_update(None, "user_version", i as u32 + 1)?;
            tx.commit()?;
        }
        Ok(ShareDb { conn })
    }

    /// Adds validated shares as they were received, `(id, height, bytes)`,
    /// and records the best tip, in one transaction; known shares are
    /// skipped. The bytes are the peer's encoding, which decoded to the share
    /// the chain accepted (the decoder refuses trailing bytes), so storing
    /// them saves re-encoding and re-hashing every share.
    pub fn put_encoded(
        &mut self,
        shares: &[(ShareHash, u64, &[u8])],
        tip: Option<ShareHash>,
    ) -> Result<(), ShareDbError> {
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT OR IGNORE INTO shares (hash, height, bytes) VALUES (?1, ?2, ?3)",
            )?;
            for (hash, height, bytes) in shares {
                st.execute(params![&hash.0[..], to_i64(*height), bytes])?;
            }
            if let Some(t) = tip {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('best_tip', ?1)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    params![&t.0[..]],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Shares stored.
    pub fn share_count(&self) -> Result<u64, ShareDbError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM shares", [], |r| r.get::<_, i64>(0))?
            as u64)
    }

    /// Every stored row's bytes, in chain order (height, then hash).
    fn stored_rows(&mut self) -> Result<Vec<Vec<u8>>, ShareDbError> {
        let mut st = self
            .conn
            .prepare("SELECT bytes FROM shares ORDER BY height, hash")?;
        let rows = st.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl ShareStore for ShareDb {
    type Error = ShareDbError;

    fn put_shares(&mut self, shares: &[Share], tip: Option<ShareHash>) -> Result<(), ShareDbError> {
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT OR IGNORE INTO shares (hash, height, bytes) VALUES (?1, ?2, ?3)",
            )?;
            for s in shares {
                st.execute(params![
                    &s.hash().0[..],
                    to_i64(s.info.height),
                    s.to_bytes()
                ])?;
            }
            if let Some(t) = tip {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('best_tip', ?1)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    params![&t.0[..]],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn get_share(&mut self, hash: &ShareHash) -> Result<Option<Share>, ShareDbError> {
        let b: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT bytes FROM shares WHERE hash = ?1")?
            .query_row(params![&hash.0[..]], |r| r.get(0))
            .optional()?;
        b.map(|b| Share::from_bytes(&b).map_err(|e| ShareDbError::Corrupt(e.to_string())))
            .transpose()
    }

    /// The row as stored (checked to be a share where it is used:
    /// `ReceivedShare::from_bytes`).
    fn get_encoded(&mut self, hash: &ShareHash) -> Result<Option<Vec<u8>>, ShareDbError> {
        Ok(self
            .conn
            .prepare_cached("SELECT bytes FROM shares WHERE hash = ?1")?
            .query_row(params![&hash.0[..]], |r| r.get(0))
            .optional()?)
    }

    fn load_shares(&mut self) -> Result<Vec<Share>, ShareDbError> {
        self.stored_rows()?
            .iter()
            .map(|b| Share::from_bytes(b).map_err(|e| ShareDbError::Corrupt(e.to_string())))
            .collect()
    }

    /// The rows' bytes as stored, checked to be shares (a corrupt row is
    /// the same error as in `load_shares`) without decoding coinbases.
    fn load_encoded(&mut self) -> Result<Vec<Vec<u8>>, ShareDbError> {
        let rows = self.stored_rows()?;
        for bytes in &rows {
            ShareView::parse(bytes).map_err(|e| ShareDbError::Corrupt(e.to_string()))?;
        }
        Ok(rows)
    }

    fn set_best_tip(&mut self, tip: &ShareHash) -> Result<(), ShareDbError> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('best_tip', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![&tip.0[..]],
        )?;
        Ok(())
    }

    fn best_tip(&mut self) -> Result<Option<ShareHash>, ShareDbError> {
        let v: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'best_tip'", [], |r| {
                r.get(0)
            })
            .optional()?;
        match v {
            None => Ok(None),
            Some(b) => {
                let arr: [u8; 32] = b
                    .try_into()
                    .map_err(|_| ShareDbError::Corrupt("best tip is not 32 bytes".into()))?;
                Ok(Some(ShareHash(arr)))
            }
        }
    }

    fn prune_below(&mut self, height: u64) -> Result<usize, ShareDbError> {
        Ok(self.conn.execute(
            "DELETE FROM shares WHERE height < ?1",
            params![to_i64(height)],
        )?)
    }

    fn put_peer(&mut self, peer: &PeerRecord) -> Result<(), ShareDbError> {
        self.conn.execute(
            "INSERT INTO peers (addr, last_seen) VALUES (?1, ?2)
             ON CONFLICT(addr) DO UPDATE SET last_seen = MAX(last_seen, excluded.last_seen)",
            params![peer.addr, to_i64(peer.last_seen)],
        )?;
        // Bounded: keep the 1000 most recently seen.
        self.conn.execute(
            "DELETE FROM peers WHERE addr NOT IN
             (SELECT addr FROM peers ORDER BY last_seen DESC LIMIT 1000)",
            [],
        )?;
        Ok(())
    }

    fn peers(&mut self, limit: usize) -> Result<Vec<PeerRecord>, ShareDbError> {
        let mut st = self
            .conn
            .prepare("SELECT addr, last_seen FROM peers ORDER BY last_seen DESC, addr LIMIT ?1")?;
        let rows = st.query_map(params![to_i64(limit as u64)], |r| {
            Ok(PeerRecord {
                addr: r.get(0)?,
                last_seen: r.get::<_, i64>(1)?.max(0) as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn put_ban(&mut self, ban: &BanRecord) -> Result<(), ShareDbError> {
        self.conn.execute(
            "INSERT INTO bans (addr, until, reason) VALUES (?1, ?2, ?3)
             ON CONFLICT(addr) DO UPDATE SET until = excluded.until, reason = excluded.reason",
            params![ban.addr, to_i64(ban.until), ban.reason],
        )?;
        Ok(())
    }

    fn bans(&mut self, now: u64) -> Result<Vec<BanRecord>, ShareDbError> {
        let mut st = self
            .conn
            .prepare("SELECT addr, until, reason FROM bans WHERE until > ?1 ORDER BY addr")?;
        let rows = st.query_map(params![to_i64(now)], |r| {
            Ok(BanRecord {
                addr: r.get(0)?,
                until: r.get::<_, i64>(1)?.max(0) as u64,
                reason: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_survive_a_restart_and_reload_without_resync() {
        use hearth_shacheck::Checker;
        use hearth_sharechain::store::load_chain;
        use hearth_sharechain::{Chain, ChainParams, Network};
        let dir = tempfile::tempdir().expect("tempdir");
        let bytes = crate::sharechain::bench::generate(40, 3).expect("generate");
        let shares: Vec<Share> = bytes
            .iter()
            .map(|b| Share::from_bytes(b).expect("share"))
            .collect();
        let tip = shares.last().map(Share::hash);
        {
            let mut db = ShareDb::open_in(dir.path()).expect("open");
            db.put_shares(&shares[..25], None).expect("put");
            db.put_shares(&shares[20..], tip).expect("put overlapping");
            assert_eq!(db.share_count().expect("count"), 40);
        }
        let mut db = ShareDb::open_in(dir.path()).expect("reopen");
        assert_eq!(db.best_tip().expect("tip"), tip);
        assert_eq!(
            db.get_share(&shares[7].hash()).expect("get"),
            Some(shares[7].clone())
        );
        assert_eq!(db.get_share(&ShareHash([1; 32])).expect("get"), None);
        let mut chain = Chain::new(
            ChainParams::for_network(Network::Regtest),
            Checker::detect(),
        );
        assert_eq!(
            load_chain(&mut chain, &mut db, 1_800_000_000).expect("load"),
            0
        );
        assert_eq!(chain.tip().map(|t| t.hash), tip);
        assert_eq!(chain.window().len(), 40);
        assert_eq!(db.prune_below(30).expect("prune"), 30);
        assert_eq!(db.share_count().expect("count"), 10);
        // A corrupt row is an error, not a panic.
        db.conn
            .execute("UPDATE shares SET bytes = x'00' WHERE height = 35", [])
            .expect("corrupt");
        assert!(matches!(db.load_shares(), Err(ShareDbError::Corrupt(_))));
        assert!(matches!(db.load_encoded(), Err(ShareDbError::Corrupt(_))));
        let mut chain = Chain::new(
            ChainParams::for_network(Network::Regtest),
            Checker::detect(),
        );
        assert!(matches!(
            load_chain(&mut chain, &mut db, 1_800_000_000),
            Err(ShareDbError::Corrupt(_))
        ));
        assert!(chain.is_empty());
    }

    #[test]
    fn received_bytes_stored_as_they_are_read_back_as_the_same_shares() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bytes = crate::sharechain::bench::generate(12, 2).expect("generate");
        let shares: Vec<Share> = bytes
            .iter()
            .map(|b| Share::from_bytes(b).expect("share"))
            .collect();
        let rows: Vec<(ShareHash, u64, &[u8])> = shares
            .iter()
            .zip(&bytes)
            .map(|(s, b)| (s.hash(), s.info.height, b.as_slice()))
            .collect();
        let tip = shares.last().map(Share::hash);
        let mut db = ShareDb::open_in(dir.path()).expect("open");
        db.put_encoded(&rows[..8], None).expect("put");
        db.put_encoded(&rows[4..], tip).expect("put overlapping");
        assert_eq!(db.share_count().expect("count"), 12);
        assert_eq!(db.best_tip().expect("tip"), tip);
        assert_eq!(db.load_shares().expect("load"), shares);
        // Byte for byte what put_shares would have written.
        let stored: Vec<u8> = db
            .conn
            .query_row("SELECT bytes FROM shares WHERE height = 5", [], |r| {
                r.get(0)
            })
            .expect("row");
        assert_eq!(stored, shares[5].to_bytes());
    }

    #[test]
    fn peers_bans_and_tip_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut db = ShareDb::open_in(dir.path()).expect("open");
            db.put_peer(&PeerRecord {
                addr: "127.0.0.1:1".into(),
                last_seen: 5,
            })
            .expect("peer");
            db.put_peer(&PeerRecord {
                addr: "127.0.0.1:2".into(),
                last_seen: 9,
            })
            .expect("peer");
            db.put_ban(&BanRecord {
                addr: "10.0.0.1".into(),
                until: 100,
                reason: "flood".into(),
            })
            .expect("ban");
            db.set_best_tip(&ShareHash([7; 32])).expect("tip");
        }
        let mut db = ShareDb::open_in(dir.path()).expect("reopen");
        let peers = db.peers(10).expect("peers");
        assert_eq!(peers[0].addr, "127.0.0.1:2");
        assert_eq!(peers.len(), 2);
        assert_eq!(db.bans(50).expect("bans").len(), 1);
        assert_eq!(db.bans(100).expect("bans").len(), 0);
        assert_eq!(db.best_tip().expect("tip"), Some(ShareHash([7; 32])));
    }
}
