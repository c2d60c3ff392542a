//! One poller per bot token, enforced with an OS file lock.
//!
//! Why it exists: two processes polling the same token steal each other's updates (Telegram
//! answers 409 and hands each update to whichever asked last), which looks like random message
//! loss. A `flock` on a file named after a hash of the token refuses the second instance at
//! start, and is released by the kernel even if the first one crashes.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Held for the life of the process; dropping it releases the lock.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another ccgate instance is already running for this bot token (lock file {0})")]
    Held(PathBuf),
    #[error("cannot create the lock file {0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// Take the lock for `token` in `dir`. The file name reveals nothing about the token.
/// The lock file of the bot with `token` in `dir`.
pub fn lock_path(dir: &Path, token: &str) -> std::path::PathBuf {
    let digest = hex::encode(Sha256::digest(format!("ccgate-lock:{token}").as_bytes()));
    dir.join(format!("ccgate-{}.lock", &digest[..16]))
}

pub fn acquire(dir: &Path, token: &str) -> Result<InstanceLock, LockError> {
    let path = lock_path(dir, token);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| LockError::Io(path.clone(), e))?;
    match file.try_lock() {
        Ok(()) => Ok(InstanceLock { _file: file, path }),
        Err(std::fs::TryLockError::WouldBlock) => Err(LockError::Held(path)),
        Err(std::fs::TryLockError::Error(e)) => Err(LockError::Io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_until_release() {
        let dir = tempfile::tempdir().unwrap();
        let a = acquire(dir.path(), "1:tok").unwrap();
        assert!(!a.path.to_string_lossy().contains("tok"));
        assert!(matches!(
            acquire(dir.path(), "1:tok"),
            Err(LockError::Held(_))
        ));
        // Another token is independent.
        let _b = acquire(dir.path(), "2:tok").unwrap();
        drop(a);
        acquire(dir.path(), "1:tok").unwrap();
    }
}
