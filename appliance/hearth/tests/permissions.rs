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

/// Every other file that holds a secret or the owner's data: the password
/// and token hashes (`auth.db`), the fake node's RPC cookie (a credential,
/// whatever the umask: bitcoind makes its own 0600 too), the sharechain and
/// work databases, each with its WAL once written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_and_other_databases_are_owner_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let node = hearth::node::fake::FakeNode::start(&dir.join("fake-node"), 1, "pw")
        .await
        .expect("fake node");
    assert_eq!(mode(&node.cookie_path), 0o600, "fake node cookie");

    let web = hearth::web::WebConfig::default();
    let auth = hearth::web::Auth::open(dir, &web).expect("auth.db");
    assert_eq!(mode(&dir.join("auth.db")), 0o600, "auth.db");
    drop(auth);

    let shares = hearth::sharechain::store::ShareDb::open_in(dir).expect("sharechain db");
    drop(shares);
    let name = hearth::sharechain::store::SHARECHAIN_DB_FILE;
    assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    if dir.join(format!("{name}-wal")).exists() {
        assert_eq!(mode(&dir.join(format!("{name}-wal"))), 0o600, "{name}-wal");
    }

    let work = hearth::work::persist::StatsStore::open_in(dir).expect("work db");
    drop(work);
    let name = hearth::work::persist::FILE;
    assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
}
