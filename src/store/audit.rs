//! The append-only audit log: who changed what in the directory, and through which door.

use super::backend::{Conn, DirRow, on_backend};
use super::{Change, Store, StoreError};

/// Longest actor, source or action label accepted, in bytes.
pub const MAX_AUDIT_LABEL_LEN: usize = 200;
/// Longest free-text detail accepted, in bytes.
pub const MAX_AUDIT_DETAIL_LEN: usize = 4096;

/// An event to record; the caller supplies the time. Never put a PIN in any field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewAuditEntry<'a> {
    /// When it happened (unix seconds).
    pub at: i64,
    /// Who did it (an admin's name, "operator", "organizer:<id>"...).
    pub actor: &'a str,
    /// Through which interface ("cli", "admin-api", "directory"...).
    pub source: &'a str,
    /// What was done, a stable dotted name such as "pin.reset".
    pub action: &'a str,
    /// The organizer concerned, if any.
    pub organizer_id: Option<i64>,
    /// Extra context for a human reader.
    pub detail: &'a str,
}

/// A recorded audit event, for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Row id; increases with every entry.
    pub id: i64,
    /// When it happened (unix seconds).
    pub at: i64,
    /// Who did it.
    pub actor: String,
    /// Through which interface.
    pub source: String,
    /// What was done.
    pub action: String,
    /// The organizer concerned, if any.
    pub organizer_id: Option<i64>,
    /// Extra context.
    pub detail: String,
}

fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), StoreError> {
    if value.len() > max {
        return Err(StoreError::AuditFieldTooLong {
            field,
            actual: value.len(),
            max,
        });
    }
    Ok(())
}

/// Checks and inserts one entry on whichever connection (pool or change) asks.
async fn insert_audit(conn: Conn<'_>, entry: &NewAuditEntry<'_>) -> Result<i64, StoreError> {
    check_len("actor", entry.actor, MAX_AUDIT_LABEL_LEN)?;
    check_len("source", entry.source, MAX_AUDIT_LABEL_LEN)?;
    check_len("action", entry.action, MAX_AUDIT_LABEL_LEN)?;
    check_len("detail", entry.detail, MAX_AUDIT_DETAIL_LEN)?;
    on_backend!(conn, |c| sqlx::query_scalar(
        "INSERT INTO audit_log (at, actor, source, action, organizer_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(entry.at)
    .bind(entry.actor)
    .bind(entry.source)
    .bind(entry.action)
    .bind(entry.organizer_id)
    .bind(entry.detail)
    .fetch_one(c)
    .await)
    .map_err(StoreError::query("writing the audit log"))
}

impl Change {
    /// Appends one entry that commits (or vanishes) together with the change it records.
    pub async fn append_audit(&mut self, entry: &NewAuditEntry<'_>) -> Result<i64, StoreError> {
        insert_audit(self.conn(), entry).await
    }
}

impl Store {
    /// Appends one entry on its own, for events that change nothing else (a meeting
    /// start, an e-mail delivery); returns its id.
    pub async fn append_audit(&self, entry: &NewAuditEntry<'_>) -> Result<i64, StoreError> {
        let mut conn = self.connection().await?;
        insert_audit(conn.as_conn(), entry).await
    }

    /// The newest `limit` audit entries, newest first.
    pub async fn recent_audit(&self, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        on_backend!(&self.pool, |p| {
            let rows = sqlx::query(
                "SELECT id, at, actor, source, action, organizer_id, detail FROM audit_log \
                 ORDER BY id DESC LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(p)
            .await
            .map_err(StoreError::query("reading the audit log"))?;
            rows.iter()
                .map(audit_from_row)
                .collect::<Result<_, sqlx::Error>>()
                .map_err(StoreError::query("decoding the audit log"))
        })
    }
}

fn audit_from_row(row: &impl DirRow) -> Result<AuditRecord, sqlx::Error> {
    Ok(AuditRecord {
        id: row.int("id")?,
        at: row.int("at")?,
        actor: row.text("actor")?,
        source: row.text("source")?,
        action: row.text("action")?,
        organizer_id: row.opt_int("organizer_id")?,
        detail: row.text("detail")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(at: i64, action: &'a str, detail: &'a str) -> NewAuditEntry<'a> {
        NewAuditEntry {
            at,
            actor: "operator",
            source: "cli",
            action,
            organizer_id: Some(3),
            detail,
        }
    }

    both_backends!(appended_entries_come_back_newest_first, |store| {
        let first = in_change!(store, |c| c
            .append_audit(&entry(10, "organizer.create", ""))
            .await)
        .expect("1");
        let second = in_change!(store, |c| c
            .append_audit(&entry(11, "pin.reset", "by admin"))
            .await)
        .expect("2");
        assert!(second > first);
        let log = store.recent_audit(10).await.expect("read");
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].action, "pin.reset");
        assert_eq!(log[0].detail, "by admin");
        assert_eq!(log[0].organizer_id, Some(3));
        assert_eq!(log[1].action, "organizer.create");
        assert_eq!(log[1].at, 10);
        assert_eq!(store.recent_audit(1).await.expect("read").len(), 1);
        store.close().await.expect("close");
    });

    both_backends!(oversized_audit_fields_are_refused, |store| {
        let long = "x".repeat(MAX_AUDIT_DETAIL_LEN + 1);
        let err = in_change!(store, |c| c.append_audit(&entry(1, "a", &long)).await)
            .expect_err("too long");
        assert!(matches!(
            err,
            StoreError::AuditFieldTooLong {
                field: "detail",
                ..
            }
        ));
        let err = in_change!(store, |c| c
            .append_audit(&entry(1, &long[..MAX_AUDIT_LABEL_LEN + 1], ""))
            .await)
        .expect_err("too long");
        assert!(matches!(
            err,
            StoreError::AuditFieldTooLong {
                field: "action",
                ..
            }
        ));
        assert!(store.recent_audit(10).await.expect("read").is_empty());
        store.close().await.expect("close");
    });
}
