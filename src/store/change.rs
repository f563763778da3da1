//! One admin change (a PIN reset with its audit entry, a new organizer with its PIN…) as a
//! single transaction: after a crash it is either all in the database or not at all.
//!
//! Every write of the directory goes through a [`Change`]; the write methods live beside
//! their tables (`organizers.rs`, `audit.rs`…) as `impl Change` blocks.

use sqlx::sqlite::SqliteConnection;
use sqlx::{Sqlite, Transaction};

use super::{Store, StoreError};

/// A transaction holding the database's write lock; dropped without [`Change::commit`], it
/// is rolled back and leaves no trace.
#[derive(Debug)]
pub struct Change {
    tx: Transaction<'static, Sqlite>,
}

impl Store {
    /// Starts a change, waiting (up to the busy timeout) for the write lock.
    ///
    /// `BEGIN IMMEDIATE` takes the lock at once, so what the change reads (a lockout before
    /// a reset, clashing conference IDs before an insert) cannot be changed by another
    /// writer before its own writes; a deferred `BEGIN` would fail with "database is
    /// locked" when upgrading from reading to writing under WAL.
    pub async fn change(&self) -> Result<Change, StoreError> {
        let tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(StoreError::query("starting a change"))?;
        Ok(Change { tx })
    }
}

impl Change {
    /// Makes every write of the change durable at once (synchronous=FULL: on disk when
    /// this returns, so only then may the change be acknowledged).
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx
            .commit()
            .await
            .map_err(StoreError::query("committing a change"))
    }

    /// The connection the change's statements run on.
    pub(super) fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
}
