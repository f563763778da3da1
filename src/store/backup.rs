//! A consistent copy of the live database, taken while the bridge keeps running.
//!
//! `VACUUM INTO` reads one snapshot inside a read transaction, so the copy holds every
//! change committed before it started and none after, while WAL lets the bridge go on
//! writing meanwhile. The copy is a plain rollback-journal file, self-contained (no
//! `-wal` beside it) and compacted.

use std::path::Path;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};

use super::{BUSY_TIMEOUT, DATABASE_FILE, PIN_KEY_CHECK_KEY, StoreError};

/// What a finished copy holds, read back from the copy itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseCopy {
    /// Size of the copy in bytes.
    pub bytes: u64,
    /// Organizers in the copy.
    pub organizers: i64,
    /// Audit log entries in the copy.
    pub audit_entries: i64,
    /// The PIN-key check value recorded in the copy, to pair it with the right key.
    pub pin_key_check: Option<String>,
}

/// Copies the database in `data_dir` into `dest`, which must exist and be empty (the
/// caller creates it owner-only, so the copy is never readable by others), then checks
/// the copy with `PRAGMA integrity_check` and flushes it to disk.
pub async fn copy_database(data_dir: &Path, dest: &Path) -> Result<DatabaseCopy, StoreError> {
    let db_path = data_dir.join(DATABASE_FILE);
    let open_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Open { path, source }
    };
    // No journal-mode or schema changes: the copy must not touch what it copies.
    let mut live = SqliteConnectOptions::new()
        .filename(&db_path)
        .create_if_missing(false)
        .busy_timeout(BUSY_TIMEOUT)
        .connect()
        .await
        .map_err(open_err(&db_path))?;
    let dest_text = dest.to_str().ok_or_else(|| StoreError::BackupName {
        path: dest.to_path_buf(),
    })?;
    let copied = sqlx::query("VACUUM INTO ?")
        .bind(dest_text)
        .execute(&mut live)
        .await
        .map(drop)
        .map_err(StoreError::query("copying the database"));
    let closed = live
        .close()
        .await
        .map_err(StoreError::query("closing the database after the copy"));
    copied?;
    closed?;

    let mut copy = SqliteConnectOptions::new()
        .filename(dest)
        .read_only(true)
        .connect()
        .await
        .map_err(open_err(dest))?;
    let summary = summarize(&mut copy, dest).await;
    let closed = copy
        .close()
        .await
        .map_err(StoreError::query("closing the copy"));
    let summary = summary?;
    closed?;
    Ok(summary)
}

async fn summarize(copy: &mut SqliteConnection, dest: &Path) -> Result<DatabaseCopy, StoreError> {
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut *copy)
        .await
        .map_err(StoreError::query("checking the copy"))?;
    if integrity != "ok" {
        return Err(StoreError::CopyDamaged {
            path: dest.to_path_buf(),
            report: integrity,
        });
    }
    let organizers: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM organizers")
        .fetch_one(&mut *copy)
        .await
        .map_err(StoreError::query("counting organizers in the copy"))?;
    let audit_entries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
        .fetch_one(&mut *copy)
        .await
        .map_err(StoreError::query("counting audit entries in the copy"))?;
    let pin_key_check: Option<String> =
        sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(PIN_KEY_CHECK_KEY)
            .fetch_optional(&mut *copy)
            .await
            .map_err(StoreError::query("reading the copy's PIN key check value"))?;
    let sync_err = |source| StoreError::WriteCopy {
        path: dest.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(dest).map_err(sync_err)?;
    file.sync_all().map_err(sync_err)?;
    let bytes = file.metadata().map_err(sync_err)?.len();
    Ok(DatabaseCopy {
        bytes,
        organizers,
        audit_entries,
        pin_key_check,
    })
}
