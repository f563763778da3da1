//! Organizer rows and conference ID allocation.
//!
//! Conference IDs are what callers type on a phone keypad, so they are digits only and
//! prefix-free: the IVR may then accept an ID as soon as it matches without waiting for
//! `#`, and no caller heading for one conference can land in another by typing too little.

use super::backend::{Conn, DirRow, on_backend};
use super::{Change, Store, StoreError};
use crate::auth::pin::{PinTag, push_random_digits};

/// Digits in a generated conference ID (the first one is never 0).
pub const CONFERENCE_ID_LEN: usize = 9;

/// Candidates tried before giving up; with 9-digit IDs a single clash is already rare.
pub const MAX_CONFERENCE_ID_ATTEMPTS: u32 = 32;

/// One `SELECT` list for every organizer query so `from_row` always finds its columns.
macro_rules! organizer_columns {
    () => {
        "id, name, email, email_override, conference_id, pin_tag, pin_length, pin_set_at, \
         enabled, start_without_pin, created_at, updated_at"
    };
}

/// Every column of an organizer row, for the directory service and (later) the admin API.
///
/// `Debug` is safe to log: `PinTag`'s own `Debug` hides the tag bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizerRecord {
    /// Row id, also bound into the PIN tag.
    pub id: i64,
    /// Display name, spoken or shown to the organizer.
    pub name: String,
    /// Primary e-mail address for PIN mails.
    pub email: String,
    /// Address that receives PIN mails instead of `email`, when set.
    pub email_override: Option<String>,
    /// The digits callers type to reach this organizer's conference.
    pub conference_id: String,
    /// HMAC of the current PIN; `None` until a PIN is set.
    pub pin_tag: Option<PinTag>,
    /// Digit count of the current PIN.
    pub pin_length: Option<u8>,
    /// When the current PIN was set (unix seconds).
    pub pin_set_at: Option<i64>,
    /// Disabled organizers cannot be reached or start meetings.
    pub enabled: bool,
    /// Callers go straight into the meeting without the organizer's PIN.
    pub start_without_pin: bool,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Last change (unix seconds).
    pub updated_at: i64,
}

impl OrganizerRecord {
    fn from_row(row: &impl DirRow) -> Result<OrganizerRecord, StoreError> {
        let get = |column: &'static str| StoreError::query(column);
        let id: i64 = row.int("id").map_err(get("reading organizer id"))?;
        let corrupt = |column, problem| StoreError::CorruptOrganizer {
            id,
            column,
            problem,
        };
        let tag_bytes: Option<Vec<u8>> = row
            .opt_bytes("pin_tag")
            .map_err(get("reading organizer pin_tag"))?;
        let pin_tag = match tag_bytes {
            None => None,
            Some(bytes) => {
                Some(PinTag::from_slice(&bytes).ok_or_else(|| corrupt("pin_tag", "not 32 bytes"))?)
            }
        };
        let pin_length: Option<i64> = row
            .opt_int("pin_length")
            .map_err(get("reading organizer pin_length"))?;
        let pin_length = match pin_length {
            None => None,
            Some(len) => {
                Some(u8::try_from(len).map_err(|_| corrupt("pin_length", "out of range 0-255"))?)
            }
        };
        Ok(OrganizerRecord {
            id,
            name: row.text("name").map_err(get("reading organizer name"))?,
            email: row.text("email").map_err(get("reading organizer email"))?,
            email_override: row
                .opt_text("email_override")
                .map_err(get("reading organizer email_override"))?,
            conference_id: row
                .text("conference_id")
                .map_err(get("reading organizer conference_id"))?,
            pin_tag,
            pin_length,
            pin_set_at: row
                .opt_int("pin_set_at")
                .map_err(get("reading organizer pin_set_at"))?,
            enabled: row
                .flag("enabled")
                .map_err(get("reading organizer enabled"))?,
            start_without_pin: row
                .flag("start_without_pin")
                .map_err(get("reading organizer start_without_pin"))?,
            created_at: row
                .int("created_at")
                .map_err(get("reading organizer created_at"))?,
            updated_at: row
                .int("updated_at")
                .map_err(get("reading organizer updated_at"))?,
        })
    }
}

/// Field changes for `update_organizer`; `None` keeps the stored value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrganizerChanges<'a> {
    /// New display name.
    pub name: Option<&'a str>,
    /// New primary address.
    pub email: Option<&'a str>,
    /// New override address: `Some(None)` clears it.
    pub email_override: Option<Option<&'a str>>,
    /// New start rule.
    pub start_without_pin: Option<bool>,
}

/// A fresh random conference ID: 9 digits from the OS CSPRNG, first digit 1-9.
fn random_conference_id() -> Result<String, StoreError> {
    let mut id = String::with_capacity(CONFERENCE_ID_LEN);
    push_random_digits(&mut id, CONFERENCE_ID_LEN, true).map_err(StoreError::RandomSource)?;
    Ok(id)
}

/// The query behind every organizer read, on whichever connection (pool or change) asks.
pub(super) async fn organizer_on(
    conn: Conn<'_>,
    id: i64,
) -> Result<Option<OrganizerRecord>, StoreError> {
    on_backend!(conn, |c| {
        let row = sqlx::query(concat!(
            "SELECT ",
            organizer_columns!(),
            " FROM organizers WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(c)
        .await
        .map_err(StoreError::query("reading an organizer"))?;
        row.as_ref().map(OrganizerRecord::from_row).transpose()
    })
}

impl Change {
    /// Creates an organizer (enabled, no PIN yet) with a fresh conference ID; returns its id.
    ///
    /// The ID is checked against every existing one for equality and prefixes, retrying
    /// on a clash; the change holds the write lock, so no other writer can slip a clashing
    /// ID in between the check and the insert (PostgreSQL will need a table lock here).
    pub async fn create_organizer(
        &mut self,
        name: &str,
        email: &str,
        now_unix: i64,
    ) -> Result<i64, StoreError> {
        self.create_organizer_with_ids(name, email, now_unix, random_conference_id)
            .await
    }

    /// `create_organizer` with the candidate source injected, so tests can force clashes.
    pub(super) async fn create_organizer_with_ids(
        &mut self,
        name: &str,
        email: &str,
        now_unix: i64,
        mut next_candidate: impl FnMut() -> Result<String, StoreError>,
    ) -> Result<i64, StoreError> {
        for attempt in 1..=MAX_CONFERENCE_ID_ATTEMPTS {
            let candidate = next_candidate()?;
            if self.conference_id_clashes(&candidate, None).await? {
                tracing::debug!(attempt, "conference ID clash, retrying");
                continue;
            }
            return on_backend!(self.conn(), |c| sqlx::query_scalar::<_, i64>(
                "INSERT INTO organizers (name, email, conference_id, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(name)
            .bind(email)
            .bind(candidate.as_str())
            .bind(now_unix)
            .bind(now_unix)
            .fetch_one(c)
            .await)
            .map_err(StoreError::query("inserting an organizer"));
        }
        Err(StoreError::ConferenceIdsExhausted {
            attempts: MAX_CONFERENCE_ID_ATTEMPTS,
        })
    }

    /// Whether `candidate` equals, starts or is started by another organizer's ID.
    async fn conference_id_clashes(
        &mut self,
        candidate: &str,
        except_organizer: Option<i64>,
    ) -> Result<bool, StoreError> {
        // Portable prefix test (substr/length exist in SQLite and PostgreSQL); equal IDs
        // are prefixes too. A full scan, but only when an ID is assigned, never on the
        // call path. Row ids start at 1, so 0 excludes nobody.
        on_backend!(self.conn(), |c| sqlx::query(
            "SELECT 1 FROM organizers WHERE id <> $1 AND ( \
               substr($2, 1, length(conference_id)) = conference_id \
               OR substr(conference_id, 1, length($2)) = $2) LIMIT 1",
        )
        .bind(except_organizer.unwrap_or(0))
        .bind(candidate)
        .fetch_optional(c)
        .await
        .map(|clash| clash.is_some()))
        .map_err(StoreError::query("checking conference ID prefixes"))
    }

    /// Replaces an organizer's PIN tag; the old PIN stops working when the change commits.
    pub async fn set_pin_tag(
        &mut self,
        id: i64,
        tag: &PinTag,
        pin_length: u8,
        now_unix: i64,
    ) -> Result<(), StoreError> {
        let done = on_backend!(self.conn(), |c| {
            sqlx::query(
            "UPDATE organizers SET pin_tag = $1, pin_length = $2, pin_set_at = $3, updated_at = $3 \
             WHERE id = $4",
        )
        .bind(tag.as_bytes().as_slice())
        .bind(i64::from(pin_length))
        .bind(now_unix)
        .bind(id)
        .execute(c)
        .await
        .map(|done| done.rows_affected())
        })
        .map_err(StoreError::query("saving a PIN tag"))?;
        if done == 0 {
            return Err(StoreError::OrganizerNotFound { id });
        }
        Ok(())
    }

    /// Enables or disables an organizer (a disabled one's conference ID stops answering).
    pub async fn set_organizer_enabled(
        &mut self,
        id: i64,
        enabled: bool,
        now_unix: i64,
    ) -> Result<(), StoreError> {
        let done = on_backend!(self.conn(), |c| sqlx::query(
            "UPDATE organizers SET enabled = $1, updated_at = $2 WHERE id = $3"
        )
        .bind(enabled)
        .bind(now_unix)
        .bind(id)
        .execute(c)
        .await
        .map(|done| done.rows_affected()))
        .map_err(StoreError::query("enabling or disabling an organizer"))?;
        if done == 0 {
            return Err(StoreError::OrganizerNotFound { id });
        }
        Ok(())
    }

    /// One organizer by id as this change sees it, `None` if there is none.
    pub async fn organizer(&mut self, id: i64) -> Result<Option<OrganizerRecord>, StoreError> {
        organizer_on(self.conn(), id).await
    }

    /// Changes an organizer's name, addresses or start rule; `None` leaves a field as it is.
    pub async fn update_organizer(
        &mut self,
        id: i64,
        changes: &OrganizerChanges<'_>,
        now_unix: i64,
    ) -> Result<(), StoreError> {
        let done = on_backend!(self.conn(), |c| sqlx::query(
            "UPDATE organizers SET \
               name = COALESCE($1, name), \
               email = COALESCE($2, email), \
               email_override = CASE WHEN $3 THEN $4 ELSE email_override END, \
               start_without_pin = COALESCE($5, start_without_pin), \
               updated_at = $6 \
             WHERE id = $7",
        )
        .bind(changes.name)
        .bind(changes.email)
        .bind(changes.email_override.is_some())
        .bind(changes.email_override.flatten())
        .bind(changes.start_without_pin)
        .bind(now_unix)
        .bind(id)
        .execute(c)
        .await
        .map(|done| done.rows_affected()))
        .map_err(StoreError::query("updating an organizer"))?;
        if done == 0 {
            return Err(StoreError::OrganizerNotFound { id });
        }
        Ok(())
    }

    /// Deletes an organizer, their reset tokens and PIN lockout; the audit log keeps their
    /// history.
    pub async fn delete_organizer(&mut self, id: i64) -> Result<(), StoreError> {
        on_backend!(self.conn(), |c| sqlx::query(
            "DELETE FROM reset_tokens WHERE organizer_id = $1"
        )
        .bind(id)
        .execute(c)
        .await
        .map(drop))
        .map_err(StoreError::query("deleting an organizer's reset tokens"))?;
        on_backend!(self.conn(), |c| sqlx::query(
            "DELETE FROM pin_lockouts WHERE organizer_id = $1"
        )
        .bind(id)
        .execute(c)
        .await
        .map(drop))
        .map_err(StoreError::query("deleting an organizer's PIN lockout"))?;
        let done = on_backend!(self.conn(), |c| sqlx::query(
            "DELETE FROM organizers WHERE id = $1"
        )
        .bind(id)
        .execute(c)
        .await
        .map(|done| done.rows_affected()))
        .map_err(StoreError::query("deleting an organizer"))?;
        if done == 0 {
            return Err(StoreError::OrganizerNotFound { id });
        }
        Ok(())
    }

    /// Gives an organizer a new random conference ID (same uniqueness and prefix rules as
    /// at creation); the old one stops answering when the change commits. Returns the new ID.
    pub async fn reassign_conference_id(
        &mut self,
        id: i64,
        now_unix: i64,
    ) -> Result<String, StoreError> {
        for attempt in 1..=MAX_CONFERENCE_ID_ATTEMPTS {
            let candidate = random_conference_id()?;
            if self.conference_id_clashes(&candidate, Some(id)).await? {
                tracing::debug!(attempt, "conference ID clash, retrying");
                continue;
            }
            let done = on_backend!(self.conn(), |c| sqlx::query(
                "UPDATE organizers SET conference_id = $1, updated_at = $2 WHERE id = $3"
            )
            .bind(candidate.as_str())
            .bind(now_unix)
            .bind(id)
            .execute(c)
            .await
            .map(|done| done.rows_affected()))
            .map_err(StoreError::query("changing a conference ID"))?;
            if done == 0 {
                return Err(StoreError::OrganizerNotFound { id });
            }
            return Ok(candidate);
        }
        Err(StoreError::ConferenceIdsExhausted {
            attempts: MAX_CONFERENCE_ID_ATTEMPTS,
        })
    }
}

impl Store {
    /// One organizer by id, `None` if there is none.
    pub async fn organizer(&self, id: i64) -> Result<Option<OrganizerRecord>, StoreError> {
        let mut conn = self.connection().await?;
        organizer_on(conn.as_conn(), id).await
    }

    /// The organizer owning a conference ID: one lookup on the UNIQUE index (call path).
    pub async fn organizer_by_conference_id(
        &self,
        conference_id: &str,
    ) -> Result<Option<OrganizerRecord>, StoreError> {
        on_backend!(&self.pool, |p| {
            let row = sqlx::query(concat!(
                "SELECT ",
                organizer_columns!(),
                " FROM organizers WHERE conference_id = $1"
            ))
            .bind(conference_id)
            .fetch_optional(p)
            .await
            .map_err(StoreError::query("looking up a conference ID"))?;
            row.as_ref().map(OrganizerRecord::from_row).transpose()
        })
    }

    /// The call path's lookup: the organizer owning a conference ID and the organization's
    /// "anonymous callers can start meetings" setting, in one query.
    pub async fn conference_lookup(
        &self,
        conference_id: &str,
    ) -> Result<Option<(OrganizerRecord, bool)>, StoreError> {
        on_backend!(&self.pool, |p| {
            let row = sqlx::query(concat!(
                "SELECT ",
                organizer_columns!(),
                ", (SELECT value FROM settings WHERE key = 'anonymous_start') AS anonymous_start \
                 FROM organizers WHERE conference_id = $1"
            ))
            .bind(conference_id)
            .fetch_optional(p)
            .await
            .map_err(StoreError::query("looking up a conference ID"))?;
            let Some(row) = row else {
                return Ok(None);
            };
            let anonymous = row
                .opt_text("anonymous_start")
                .map_err(StoreError::query("reading the anonymous start setting"))?;
            Ok(Some((
                OrganizerRecord::from_row(&row)?,
                anonymous.as_deref() == Some("true"),
            )))
        })
    }

    /// How many organizers have a PIN, to tell "fresh install" from "lost key file".
    pub async fn organizers_with_pin_count(&self) -> Result<i64, StoreError> {
        on_backend!(&self.pool, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM organizers WHERE pin_tag IS NOT NULL"
        )
        .fetch_one(p)
        .await)
        .map_err(StoreError::query("counting organizers with a PIN"))
    }

    /// Organizers whose address or override address is `email` (case-insensitive).
    pub async fn organizers_by_email(
        &self,
        email: &str,
    ) -> Result<Vec<OrganizerRecord>, StoreError> {
        on_backend!(&self.pool, |p| {
            let rows = sqlx::query(concat!(
                "SELECT ",
                organizer_columns!(),
                " FROM organizers WHERE lower(email) = lower($1) OR lower(email_override) = lower($1) ORDER BY id"
            ))
            .bind(email)
            .fetch_all(p)
            .await
            .map_err(StoreError::query("looking organizers up by e-mail"))?;
            rows.iter().map(OrganizerRecord::from_row).collect()
        })
    }

    /// All organizers in creation order, for listings.
    pub async fn organizers(&self) -> Result<Vec<OrganizerRecord>, StoreError> {
        on_backend!(&self.pool, |p| {
            let rows = sqlx::query(concat!(
                "SELECT ",
                organizer_columns!(),
                " FROM organizers ORDER BY id"
            ))
            .fetch_all(p)
            .await
            .map_err(StoreError::query("listing organizers"))?;
            rows.iter().map(OrganizerRecord::from_row).collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).await.expect("open");
        (dir, store)
    }

    fn scripted(ids: &[&str]) -> impl FnMut() -> Result<String, StoreError> {
        let mut queue: VecDeque<String> = ids.iter().map(|s| s.to_string()).collect();
        move || Ok(queue.pop_front().unwrap_or_else(|| "999999999".to_string()))
    }

    both_backends!(created_organizer_reads_back_with_defaults, |store| {
        let id = in_change!(store, |c| c
            .create_organizer("Grace Hopper", "grace@example.org", 1_700_000_000)
            .await)
        .expect("create");
        let rec = store.organizer(id).await.expect("read").expect("exists");
        assert_eq!(rec.name, "Grace Hopper");
        assert_eq!(rec.email, "grace@example.org");
        assert_eq!(rec.email_override, None);
        assert_eq!(rec.conference_id.len(), CONFERENCE_ID_LEN);
        assert_eq!(rec.pin_tag, None);
        assert_eq!(rec.pin_length, None);
        assert_eq!(rec.pin_set_at, None);
        assert!(rec.enabled);
        assert!(!rec.start_without_pin);
        assert_eq!(
            (rec.created_at, rec.updated_at),
            (1_700_000_000, 1_700_000_000)
        );
        let by_conf = store
            .organizer_by_conference_id(&rec.conference_id)
            .await
            .expect("lookup");
        assert_eq!(by_conf, Some(rec));
        store.close().await.expect("close");
    });

    both_backends!(equal_conference_id_is_retried, |store| {
        let first = in_change!(store, |c| c
            .create_organizer_with_ids("A", "a@x", 1, scripted(&["123456789"]))
            .await)
        .expect("first");
        let second = in_change!(store, |c| c
            .create_organizer_with_ids("B", "b@x", 1, scripted(&["123456789", "223456789"]))
            .await)
        .expect("second");
        let a = store.organizer(first).await.expect("read").expect("a");
        let b = store.organizer(second).await.expect("read").expect("b");
        assert_eq!(a.conference_id, "123456789");
        assert_eq!(b.conference_id, "223456789");
        assert_eq!(store.organizers().await.expect("list").len(), 2);
        store.close().await.expect("close");
    });

    both_backends!(
        conference_id_that_is_a_prefix_either_way_is_retried,
        |store| {
            in_change!(store, |c| c
                .create_organizer_with_ids("A", "a@x", 1, scripted(&["12345"]))
                .await)
            .expect("short id");
            // A longer ID starting with an existing one is refused...
            let b = in_change!(store, |c| c
                .create_organizer_with_ids("B", "b@x", 1, scripted(&["123456789", "555555555"]))
                .await)
            .expect("second");
            assert_eq!(
                store
                    .organizer(b)
                    .await
                    .expect("read")
                    .map(|r| r.conference_id),
                Some("555555555".to_string())
            );
            // ...and so is a shorter one that starts an existing one.
            let c = in_change!(store, |c| c
                .create_organizer_with_ids("C", "c@x", 1, scripted(&["5555", "1234", "777"]))
                .await)
            .expect("third");
            assert_eq!(
                store
                    .organizer(c)
                    .await
                    .expect("read")
                    .map(|r| r.conference_id),
                Some("777".to_string())
            );
            // The refused candidates left no rows behind.
            assert_eq!(store.organizers().await.expect("list").len(), 3);
            store.close().await.expect("close");
        }
    );

    both_backends!(
        concurrent_creations_all_succeed_with_distinct_ids,
        |store| {
            let mut tasks = Vec::new();
            for t in 0..4 {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    let mut ids = Vec::new();
                    for i in 0..25 {
                        let id = in_change!(store, |c| c
                            .create_organizer(&format!("T{t} {i}"), "x@y", 1)
                            .await)
                        .expect("create under contention");
                        ids.push(id);
                    }
                    ids
                }));
            }
            let mut all = Vec::new();
            for task in tasks {
                all.extend(task.await.expect("task"));
            }
            all.sort_unstable();
            all.dedup();
            assert_eq!(all.len(), 100);
            let confs: std::collections::HashSet<String> = store
                .organizers()
                .await
                .expect("list")
                .into_iter()
                .map(|r| r.conference_id)
                .collect();
            assert_eq!(confs.len(), 100);
            store.close().await.expect("close");
        }
    );

    both_backends!(persistent_clashes_give_up_with_an_error, |store| {
        in_change!(store, |c| c
            .create_organizer_with_ids("A", "a@x", 1, scripted(&["123456789"]))
            .await)
        .expect("first");
        let err = in_change!(store, |c| c
            .create_organizer_with_ids("B", "b@x", 1, || Ok("123456789".to_string()))
            .await)
        .expect_err("always clashing");
        assert!(matches!(
            err,
            StoreError::ConferenceIdsExhausted {
                attempts: MAX_CONFERENCE_ID_ATTEMPTS
            }
        ));
        assert_eq!(store.organizers().await.expect("list").len(), 1);
        store.close().await.expect("close");
    });

    both_backends!(set_pin_tag_stores_tag_length_and_time, |store| {
        let id = in_change!(store, |c| c.create_organizer("A", "a@x", 10).await).expect("create");
        let tag = PinTag::from_bytes([7u8; 32]);
        in_change!(store, |c| c.set_pin_tag(id, &tag, 6, 20).await).expect("set tag");
        let rec = store.organizer(id).await.expect("read").expect("exists");
        assert_eq!(rec.pin_tag, Some(tag));
        assert_eq!(rec.pin_length, Some(6));
        assert_eq!(rec.pin_set_at, Some(20));
        assert_eq!(rec.updated_at, 20);
        assert_eq!(rec.created_at, 10);
        store.close().await.expect("close");
    });

    both_backends!(updates_on_unknown_organizer_report_not_found, |store| {
        let tag = PinTag::from_bytes([1u8; 32]);
        assert!(matches!(
            in_change!(store, |c| c.set_pin_tag(99, &tag, 5, 1).await),
            Err(StoreError::OrganizerNotFound { id: 99 })
        ));
        assert!(matches!(
            in_change!(store, |c| c.set_organizer_enabled(99, false, 1).await),
            Err(StoreError::OrganizerNotFound { id: 99 })
        ));
        assert_eq!(store.organizer(99).await.expect("read"), None);
        assert_eq!(
            store.organizer_by_conference_id("123").await.expect("read"),
            None
        );
        store.close().await.expect("close");
    });

    both_backends!(record_debug_hides_the_tag_bytes, |store| {
        let id = in_change!(store, |c| c.create_organizer("A", "a@x", 1).await).expect("create");
        in_change!(store, |c| c
            .set_pin_tag(id, &PinTag::from_bytes([0xAB; 32]), 5, 2)
            .await)
        .expect("tag");
        let rec = store.organizer(id).await.expect("read").expect("exists");
        let text = format!("{rec:?}");
        assert!(text.contains("PinTag(..)"), "{text}");
        // The bytes as Debug prints an array (decimal); a lone "171" can be in a timestamp.
        assert!(!text.contains("171, 171"), "{text}");
        assert!(!text.to_lowercase().contains("ab, ab"), "{text}");
        store.close().await.expect("close");
    });

    #[tokio::test]
    async fn corrupt_tag_in_database_is_reported_not_panicked() {
        let (_dir, store) = store().await;
        let id = in_change!(store, |c| c.create_organizer("A", "a@x", 1).await).expect("create");
        // The schema's CHECK refuses a short tag, so drop to a raw connection that has
        // the checks off to simulate a hand-edited or foreign database.
        let mut conn = store.sqlite_pool().acquire().await.expect("conn");
        sqlx::query("PRAGMA ignore_check_constraints = ON")
            .execute(&mut *conn)
            .await
            .expect("pragma");
        sqlx::query(
            "UPDATE organizers SET pin_tag = x'0102', pin_length = 5, pin_set_at = 1 WHERE id = ?",
        )
        .bind(id)
        .execute(&mut *conn)
        .await
        .expect("corrupt");
        sqlx::query("PRAGMA ignore_check_constraints = OFF")
            .execute(&mut *conn)
            .await
            .expect("pragma");
        drop(conn);
        let err = store.organizer(id).await.expect_err("corrupt row");
        assert!(
            matches!(
                err,
                StoreError::CorruptOrganizer {
                    column: "pin_tag",
                    ..
                }
            ),
            "{err}"
        );
        store.close().await.expect("close");
    }

    both_backends!(schema_refuses_half_set_pins, |store| {
        let id = in_change!(store, |c| c.create_organizer("A", "a@x", 1).await).expect("create");
        let res = on_backend!(&store.pool, |p| sqlx::query(
            "UPDATE organizers SET pin_tag = $1 WHERE id = $2"
        )
        .bind(vec![0u8; 32])
        .bind(id)
        .execute(p)
        .await
        .map(drop));
        assert!(res.is_err(), "tag without length and time must be refused");
        store.close().await.expect("close");
    });

    #[test]
    fn random_conference_ids_are_nine_digits_without_leading_zero() {
        for _ in 0..1_000 {
            let id = random_conference_id().expect("random source works");
            assert_eq!(id.len(), CONFERENCE_ID_LEN);
            assert!(id.bytes().all(|b| b.is_ascii_digit()));
            assert_ne!(id.as_bytes().first(), Some(&b'0'));
        }
    }
}
