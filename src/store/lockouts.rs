//! Per-organizer PIN failure records (the state of `auth::lockout`).

use super::backend::{Conn, DirRow, on_backend};
use super::{Change, Store, StoreError};
use crate::auth::lockout::LockoutState;

fn count(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

/// The lockout query on whichever connection (pool or change) asks.
async fn pin_lockout_on(conn: Conn<'_>, organizer_id: i64) -> Result<LockoutState, StoreError> {
    on_backend!(conn, |c| {
        let row = sqlx::query(
            "SELECT consecutive, since_success, locks, locked_until, hard_locked, \
             window_start, window_failures FROM pin_lockouts WHERE organizer_id = $1",
        )
        .bind(organizer_id)
        .fetch_optional(c)
        .await
        .map_err(StoreError::query("reading a PIN lockout"))?;
        match row {
            None => Ok(LockoutState::default()),
            Some(row) => lockout_from_row(&row),
        }
    })
}

fn lockout_from_row(row: &impl DirRow) -> Result<LockoutState, StoreError> {
    let get = |column: &str| -> Result<i64, StoreError> {
        row.int(column)
            .map_err(StoreError::query("reading a PIN lockout"))
    };
    Ok(LockoutState {
        consecutive: count(get("consecutive")?),
        since_success: count(get("since_success")?),
        locks: count(get("locks")?),
        locked_until: get("locked_until")?,
        hard_locked: get("hard_locked")? != 0,
        window_start: get("window_start")?,
        window_failures: count(get("window_failures")?),
    })
}

impl Store {
    /// An organizer's PIN failure record (all zero when there is none).
    pub async fn pin_lockout(&self, organizer_id: i64) -> Result<LockoutState, StoreError> {
        let mut conn = self.connection().await?;
        pin_lockout_on(conn.as_conn(), organizer_id).await
    }
}

impl Change {
    /// An organizer's PIN failure record as this change sees it.
    pub async fn pin_lockout(&mut self, organizer_id: i64) -> Result<LockoutState, StoreError> {
        pin_lockout_on(self.conn(), organizer_id).await
    }

    /// Stores an organizer's PIN failure record.
    pub async fn save_pin_lockout(
        &mut self,
        organizer_id: i64,
        s: &LockoutState,
    ) -> Result<(), StoreError> {
        on_backend!(self.conn(), |c| sqlx::query(
            "INSERT INTO pin_lockouts (organizer_id, consecutive, since_success, locks, \
             locked_until, hard_locked, window_start, window_failures) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (organizer_id) DO UPDATE SET consecutive = excluded.consecutive, \
             since_success = excluded.since_success, locks = excluded.locks, \
             locked_until = excluded.locked_until, hard_locked = excluded.hard_locked, \
             window_start = excluded.window_start, window_failures = excluded.window_failures",
        )
        .bind(organizer_id)
        .bind(i64::from(s.consecutive))
        .bind(i64::from(s.since_success))
        .bind(i64::from(s.locks))
        .bind(s.locked_until)
        .bind(i64::from(s.hard_locked))
        .bind(s.window_start)
        .bind(i64::from(s.window_failures))
        .execute(c)
        .await
        .map(drop))
        .map_err(StoreError::query("saving a PIN lockout"))
    }

    /// Forgets an organizer's PIN failures (their PIN was reset).
    pub async fn clear_pin_lockout(&mut self, organizer_id: i64) -> Result<(), StoreError> {
        on_backend!(self.conn(), |c| sqlx::query(
            "DELETE FROM pin_lockouts WHERE organizer_id = $1"
        )
        .bind(organizer_id)
        .execute(c)
        .await
        .map(drop))
        .map_err(StoreError::query("clearing a PIN lockout"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    both_backends!(a_lockout_round_trips_and_clears, |store| {
        assert_eq!(
            store.pin_lockout(7).await.expect("read"),
            LockoutState::default()
        );
        let s = LockoutState {
            consecutive: 3,
            since_success: 13,
            locks: 1,
            locked_until: 1_800_000_900,
            hard_locked: true,
            window_start: 1_800_000_000,
            window_failures: 13,
        };
        in_change!(store, |c| c.save_pin_lockout(7, &s).await).expect("save");
        assert_eq!(store.pin_lockout(7).await.expect("read"), s);
        let s2 = LockoutState {
            consecutive: 4,
            ..s
        };
        in_change!(store, |c| c.save_pin_lockout(7, &s2).await).expect("update");
        assert_eq!(store.pin_lockout(7).await.expect("read"), s2);
        in_change!(store, |c| c.clear_pin_lockout(7).await).expect("clear");
        assert_eq!(
            store.pin_lockout(7).await.expect("read"),
            LockoutState::default()
        );
    });

    /// Four writers on two stores of one database (two stores stand for two bridge
    /// processes) each add one failure at a time in a change: every one must count, as
    /// when several nodes check PINs of one organizer at once.
    async fn every_concurrent_count_is_kept(a: Store, b: Store) {
        const ROUNDS: u32 = 20;
        let mut tasks = Vec::new();
        for store in [a.clone(), b.clone(), a.clone(), b.clone()] {
            tasks.push(tokio::spawn(async move {
                for _ in 0..ROUNDS {
                    let mut c = store.change().await.expect("change");
                    let mut s = c.pin_lockout(9).await.expect("read");
                    s.consecutive += 1;
                    // Let the other writers run between the read and the write.
                    tokio::task::yield_now().await;
                    c.save_pin_lockout(9, &s).await.expect("save");
                    c.commit().await.expect("commit");
                }
            }));
        }
        for task in tasks {
            task.await.expect("writer");
        }
        assert_eq!(
            a.pin_lockout(9).await.expect("read").consecutive,
            4 * ROUNDS
        );
        a.close().await.expect("close");
        b.close().await.expect("close");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_counts_from_two_sqlite_stores_all_count() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Store::open(dir.path()).await.expect("open");
        let b = Store::open(dir.path()).await.expect("open again");
        every_concurrent_count_is_kept(a, b).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_counts_from_two_postgres_stores_all_count() {
        let server = crate::store::testing::server();
        let url = crate::store::testing::fresh_database(&server);
        let a = Store::open_postgres(&url).await.expect("open");
        let b = Store::open_postgres(&url).await.expect("open again");
        every_concurrent_count_is_kept(a, b).await;
    }
}
