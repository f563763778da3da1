//! Per-organizer PIN failure records (the state of `auth::lockout`).

use sqlx::Row;

use sqlx::sqlite::SqliteConnection;

use super::{Change, Store, StoreError};
use crate::auth::lockout::LockoutState;

fn count(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

/// The lockout query on whichever connection (pool or change) asks.
async fn pin_lockout_on(
    conn: &mut SqliteConnection,
    organizer_id: i64,
) -> Result<LockoutState, StoreError> {
    let row = sqlx::query(
        "SELECT consecutive, since_success, locks, locked_until, hard_locked, \
         window_start, window_failures FROM pin_lockouts WHERE organizer_id = ?",
    )
    .bind(organizer_id)
    .fetch_optional(conn)
    .await
    .map_err(StoreError::query("reading a PIN lockout"))?;
    let Some(row) = row else {
        return Ok(LockoutState::default());
    };
    let get = |i: usize| -> Result<i64, StoreError> {
        row.try_get::<i64, _>(i)
            .map_err(StoreError::query("reading a PIN lockout"))
    };
    Ok(LockoutState {
        consecutive: count(get(0)?),
        since_success: count(get(1)?),
        locks: count(get(2)?),
        locked_until: get(3)?,
        hard_locked: get(4)? != 0,
        window_start: get(5)?,
        window_failures: count(get(6)?),
    })
}

impl Store {
    /// An organizer's PIN failure record (all zero when there is none).
    pub async fn pin_lockout(&self, organizer_id: i64) -> Result<LockoutState, StoreError> {
        let mut conn = self.connection().await?;
        pin_lockout_on(&mut conn, organizer_id).await
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
        sqlx::query(
            "INSERT INTO pin_lockouts (organizer_id, consecutive, since_success, locks, \
             locked_until, hard_locked, window_start, window_failures) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
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
        .execute(self.conn())
        .await
        .map_err(StoreError::query("saving a PIN lockout"))?;
        Ok(())
    }

    /// Forgets an organizer's PIN failures (their PIN was reset).
    pub async fn clear_pin_lockout(&mut self, organizer_id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM pin_lockouts WHERE organizer_id = ?")
            .bind(organizer_id)
            .execute(self.conn())
            .await
            .map_err(StoreError::query("clearing a PIN lockout"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lockout_round_trips_and_clears() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).await.expect("open");
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
    }
}
