//! What can go wrong in the store, by kind.
//!
//! Why it exists: callers react differently to "another process holds the write lock" (retry
//! later, tell the operator which lock), "the stored data cannot be read" (a hand-edited or
//! damaged database: stop and say so) and a plain SQLite failure; an `anyhow` string cannot be
//! told apart. Every store method returns [`Result`]; `?` still turns a [`StoreError`] into an
//! `anyhow::Error` where the caller does not care.

use std::path::PathBuf;

use rusqlite::ErrorCode;

/// A store operation's failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLITE_BUSY or SQLITE_LOCKED past the busy timeout: another connection (another ccgate
    /// process, the operator CLI) held the lock the whole time.
    #[error("the database is locked by another writer (another ccgate process or the operator CLI) and stayed locked past the busy timeout")]
    Busy(#[source] rusqlite::Error),
    /// Any other SQLite failure.
    #[error(transparent)]
    Sqlite(rusqlite::Error),
    /// The schema could not be brought up to date.
    #[error("applying database migrations")]
    Migration(#[source] rusqlite_migration::Error),
    /// The database file could not be opened.
    #[error("opening {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// The database's folder could not be created.
    #[error("creating {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Stored data that cannot be read back as what it should be (a hand-edited or damaged
    /// database).
    #[error("unreadable stored data: {0}")]
    Corrupt(String),
    /// The database thread is gone (it could not be started, or ccgate is shutting down).
    #[error("the database thread is not running")]
    Stopped,
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// Whether this is [`StoreError::Busy`].
    pub fn is_busy(&self) -> bool {
        matches!(self, StoreError::Busy(_))
    }
}

/// Whether SQLite gave up waiting for a lock.
fn busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::Error as E;
        match e {
            e if busy(&e) => StoreError::Busy(e),
            E::FromSqlConversionFailure(..)
            | E::IntegralValueOutOfRange(..)
            | E::InvalidColumnType(..)
            | E::Utf8Error(..) => StoreError::Corrupt(e.to_string()),
            e => StoreError::Sqlite(e),
        }
    }
}

impl From<rusqlite_migration::Error> for StoreError {
    fn from(e: rusqlite_migration::Error) -> Self {
        match e {
            rusqlite_migration::Error::RusqliteError { err, .. } if busy(&err) => {
                StoreError::Busy(err)
            }
            e => StoreError::Migration(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_errors_are_sorted_by_kind() {
        let locked = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        let e = StoreError::from(locked);
        assert!(e.is_busy(), "{e:?}");
        assert!(e.to_string().contains("locked by another writer"), "{e}");
        let wrong_type =
            rusqlite::Error::InvalidColumnType(0, "verbose".into(), rusqlite::types::Type::Text);
        assert!(matches!(
            StoreError::from(wrong_type),
            StoreError::Corrupt(m) if m.contains("verbose")
        ));
        let other = StoreError::from(rusqlite::Error::QueryReturnedNoRows);
        assert!(matches!(other, StoreError::Sqlite(_)));
        assert_eq!(
            other.to_string(),
            rusqlite::Error::QueryReturnedNoRows.to_string()
        );
    }
}
