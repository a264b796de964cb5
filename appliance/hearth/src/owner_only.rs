//! Files the daemon writes that hold a secret (the owner's password hash and
//! API tokens in `auth.db`, the fake node's RPC cookie) or the owner's data
//! (the sharechain and work databases) are the owner's only: mode 0600
//! whatever the umask. The data directory is 0700 already; this is the
//! second wall, for a file copied or a directory made readable by hand.
//!
//! SQLite gives a database's `-wal` and `-shm` files the database file's
//! permissions, so restricting the database right after opening it is
//! enough for all three.

use std::io::Write;
use std::path::Path;

/// Sets `path` to 0600 (no-op off Unix).
pub fn restrict(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// [`restrict`], logging instead of failing: for databases, where a failure
/// leaves the file as the umask made it inside the 0700 data directory.
pub fn restrict_or_warn(path: &Path) {
    if let Err(e) = restrict(path) {
        tracing::warn!(path = %path.display(), error = %e, "could not make the file owner-only");
    }
}

/// Writes `bytes` to `path`, created 0600 (an existing file is narrowed to
/// 0600 before the new contents go in, so the secret is never readable by
/// others, not even for a moment).
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    restrict(path)?;
    file.set_len(0)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Replaces `path` durably and owner-only: `bytes` go to `<path>.tmp`
/// (0600, fsynced), which is renamed over `path`, then the directory is
/// fsynced. A power cut leaves the old contents or the new, never half of
/// either, and the secret is never readable by others.
pub fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_file_is_owner_only() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("secret");
        write(&p, b"s3cret").unwrap();
        assert_eq!(mode(&p), 0o600);
        assert_eq!(std::fs::read(&p).unwrap(), b"s3cret");
    }

    #[test]
    fn an_existing_readable_file_is_narrowed_and_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("secret");
        std::fs::write(&p, b"an older and longer secret").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        write(&p, b"new").unwrap();
        assert_eq!(mode(&p), 0o600);
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
    }
}
