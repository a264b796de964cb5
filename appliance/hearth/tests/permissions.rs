#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! Files the daemon creates are the owner's only: the data directory 0700,
//! the database and its WAL and shared-memory files 0600, whatever the umask.
#![cfg(unix)]

use hearth::config::Config;
use hearth::daemon::{Daemon, RunOptions};
use hearth::store::DB_FILE;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_directory_and_database_are_owner_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let opts = RunOptions {
        config: Config::sim_default().validate().unwrap(),
        simulate: true,
        data_dir: dir.clone(),
        http: "127.0.0.1:0".parse().unwrap(),
        speed: None,
    };
    let daemon = Daemon::build(&opts).expect("build");
    // A write, so the WAL and shared-memory files exist.
    daemon
        .shared
        .store
        .lock()
        .unwrap()
        .add_event(hearth_core::Timestamp(1), "test", "note", "x")
        .unwrap();
    assert_eq!(mode(&dir), 0o700);
    for name in [
        DB_FILE.to_string(),
        format!("{DB_FILE}-wal"),
        format!("{DB_FILE}-shm"),
    ] {
        assert_eq!(mode(&dir.join(&name)), 0o600, "{name}");
    }
    drop(daemon);
}
