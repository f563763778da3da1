//! One admin change (a PIN reset with its audit entry, a new organizer with its PIN…) as a
//! single transaction: after a crash it is either all in the database or not at all.
//!
//! Every write of the directory goes through a [`Change`]; the write methods live beside
//! their tables (`organizers.rs`, `audit.rs`…) as `impl Change` blocks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{Postgres, Sqlite, Transaction};

use super::backend::{Backend, Conn, on_backend};
use super::{Store, StoreError};

/// Key of the PostgreSQL advisory lock every change holds; any constant works as long as
/// every node uses the same one ("dialbrdg" in ASCII).
const PG_CHANGE_LOCK: i64 = 0x6469_616c_6272_6467;

/// A transaction holding the database's write lock; dropped without [`Change::commit`], it
/// is rolled back and leaves no trace.
#[derive(Debug)]
pub struct Change {
    tx: Backend<Transaction<'static, Sqlite>, Transaction<'static, Postgres>>,
    writes: Arc<AtomicU64>,
}

impl Store {
    /// Starts a change, waiting (up to the busy timeout) for the write lock.
    ///
    /// `BEGIN IMMEDIATE` takes the lock at once, so what the change reads (a lockout before
    /// a reset, clashing conference IDs before an insert) cannot be changed by another
    /// writer before its own writes; a deferred `BEGIN` would fail with "database is
    /// locked" when upgrading from reading to writing under WAL.
    ///
    /// PostgreSQL has no database write lock, so a change there takes one transaction-wide
    /// advisory lock shared by every node: changes are serialized across the cluster just
    /// as SQLite serializes them, which keeps the read-modify-write of a PIN failure count
    /// or a conference-ID prefix check correct when several processes share the directory.
    /// Plain reads do not take it. The lock is released by the commit or rollback, also
    /// when the connection dies.
    pub async fn change(&self) -> Result<Change, StoreError> {
        let begin = StoreError::query("starting a change");
        let tx = match &self.pool {
            Backend::Sqlite(pool) => {
                Backend::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await.map_err(begin)?)
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(begin)?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(PG_CHANGE_LOCK)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("waiting for the directory's write lock"))?;
                Backend::Postgres(tx)
            }
        };
        Ok(Change {
            tx,
            writes: Arc::clone(&self.writes),
        })
    }
}

impl Change {
    /// Makes every write of the change durable at once (synchronous=FULL: on disk when
    /// this returns, so only then may the change be acknowledged).
    pub async fn commit(self) -> Result<(), StoreError> {
        let writes = Arc::clone(&self.writes);
        self.commit_outbox().await?;
        // Counted once committed: a read that starts now sees the change, and one that
        // started before is stale by its count.
        writes.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// [`Change::commit`] for a change of the webhook outbox only, which no cached read of
    /// the directory depends on: not counted in [`Store::writes`], so that a bridge with
    /// webhooks (two events stored per caller) keeps its conference look-ups cached.
    pub async fn commit_outbox(self) -> Result<(), StoreError> {
        on_backend!(self.tx, |tx| tx.commit().await)
            .map_err(StoreError::query("committing a change"))
    }

    /// The connection the change's statements run on.
    pub(super) fn conn(&mut self) -> Conn<'_> {
        match &mut self.tx {
            Backend::Sqlite(tx) => Backend::Sqlite(&mut **tx),
            Backend::Postgres(tx) => Backend::Postgres(&mut **tx),
        }
    }
}
