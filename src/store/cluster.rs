//! The cluster's shared tables: the nodes running on this directory (a heartbeat each) and
//! which node hosts each active meeting (a lease its owner renews).
//!
//! Unlike the rest of the store, these queries read the database's clock: a lease is judged
//! by one clock for every node, so nodes whose clocks disagree by a second still agree on
//! who owns a meeting.

// The SQL built with `format!` here only ever splices in the constant NOW_* expressions.
use sqlx::AssertSqlSafe;

use super::backend::{Backend, DirRow, on_backend};
use super::{Store, StoreError};

/// The database's "now" in unix milliseconds, per driver.
const NOW_PG: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::BIGINT";
const NOW_SQLITE: &str = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

/// The NOTIFY channel that wakes a node asked to start a meeting (payload: the node's name;
/// the request itself is a `meeting_starts` row).
pub const START_CHANNEL: &str = "dialbridge_start";

/// How a node describes itself in its heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeBeat<'a> {
    /// The node's name (`--node-name`), unique in the cluster.
    pub name: &'a str,
    /// Random per process: tells a restarted node from a second process with the same name.
    pub instance: &'a str,
    /// Where other nodes reach it for SIP (`--cluster-advertise`).
    pub advertise: &'a str,
    /// Calls it holds now.
    pub calls: i64,
    /// Whether it is draining (takes no new calls).
    pub draining: bool,
}

/// A node as `dialbridge cluster status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeStatus {
    /// Its name.
    pub name: String,
    /// Where other nodes reach it for SIP.
    pub advertise: String,
    /// When it started (unix milliseconds, database clock).
    pub started_at_ms: i64,
    /// How long ago its last heartbeat was (milliseconds).
    pub last_seen_ago_ms: i64,
    /// Calls it held at its last heartbeat.
    pub calls: i64,
    /// Whether it was draining.
    pub draining: bool,
    /// Meetings whose lease it holds (expired leases not counted).
    pub meetings_owned: i64,
}

/// Who hosts a meeting after a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingOwner {
    /// The owning node's name.
    pub node: String,
    /// Where it takes SIP from other nodes (None if it has no heartbeat row).
    pub advertise: Option<String>,
}

/// What the other live nodes hold, for the cluster's admission limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClusterLoad {
    /// Callers the other live nodes answered, as of their last heartbeats.
    pub callers_elsewhere: i64,
    /// Live nodes taking new calls (not draining), this one included if it is.
    pub sharing_nodes: i64,
}

/// Why a heartbeat was refused.
#[derive(Debug, thiserror::Error)]
pub enum HeartbeatError {
    /// Another process beats under the same name.
    #[error(
        "another running node already uses the node name {name} (its last heartbeat was {ago_ms} ms ago): \
         give every node its own --node-name"
    )]
    NameInUse {
        /// The name.
        name: String,
        /// How long ago the other process beat.
        ago_ms: i64,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    fn now_sql(&self) -> &'static str {
        match &self.pool {
            Backend::Sqlite(_) => NOW_SQLITE,
            Backend::Postgres(_) => NOW_PG,
        }
    }

    /// Records that `beat.name` is alive. Refused when another process (another `instance`)
    /// beat under that name within `fresh_ms`, so two nodes never share one name's leases.
    pub async fn cluster_heartbeat(
        &self,
        beat: &NodeBeat<'_>,
        fresh_ms: i64,
    ) -> Result<(), HeartbeatError> {
        let now = self.now_sql();
        let upsert = format!(
            "INSERT INTO cluster_nodes (name, instance, advertise, started_at, last_seen, calls, draining) \
             VALUES ($1, $2, $3, {now}, {now}, $4, $5) \
             ON CONFLICT (name) DO UPDATE SET instance = excluded.instance, advertise = excluded.advertise, \
               started_at = CASE WHEN cluster_nodes.instance = excluded.instance \
                            THEN cluster_nodes.started_at ELSE excluded.started_at END, \
               last_seen = excluded.last_seen, calls = excluded.calls, draining = excluded.draining \
             WHERE cluster_nodes.instance = excluded.instance OR cluster_nodes.last_seen < {now} - $6 \
             RETURNING name"
        );
        let stored = on_backend!(&self.pool, |p| sqlx::query(AssertSqlSafe(upsert.as_str()))
            .bind(beat.name)
            .bind(beat.instance)
            .bind(beat.advertise)
            .bind(beat.calls)
            .bind(beat.draining)
            .bind(fresh_ms)
            .fetch_optional(p)
            .await
            .map(|row| row.is_some()))
        .map_err(StoreError::query("recording this node's heartbeat"))?;
        if stored {
            return Ok(());
        }
        let ago = format!("SELECT {now} - last_seen AS ago FROM cluster_nodes WHERE name = $1");
        let ago_ms = on_backend!(&self.pool, |p| sqlx::query(AssertSqlSafe(ago.as_str()))
            .bind(beat.name)
            .fetch_optional(p)
            .await
            .and_then(|row| row.as_ref().map(|r| r.int("ago")).transpose()))
        .map_err(StoreError::query("reading the other node's heartbeat"))?
        .unwrap_or(0);
        Err(HeartbeatError::NameInUse {
            name: beat.name.to_string(),
            ago_ms,
        })
    }

    /// Takes a meeting for `node` if nobody holds a live lease on it (or `node` already
    /// does, which renews it), and says who owns it now.
    pub async fn claim_meeting(
        &self,
        conference_id: &str,
        node: &str,
        lease_ms: i64,
    ) -> Result<MeetingOwner, StoreError> {
        let now = self.now_sql();
        let claim = format!(
            "INSERT INTO meeting_owners (conference_id, node, claimed_at, lease_until) \
             VALUES ($1, $2, {now}, {now} + $3) \
             ON CONFLICT (conference_id) DO UPDATE SET node = excluded.node, \
               claimed_at = CASE WHEN meeting_owners.node = excluded.node \
                            THEN meeting_owners.claimed_at ELSE excluded.claimed_at END, \
               lease_until = excluded.lease_until \
             WHERE meeting_owners.node = excluded.node OR meeting_owners.lease_until < {now}"
        );
        on_backend!(&self.pool, |p| sqlx::query(AssertSqlSafe(claim.as_str()))
            .bind(conference_id)
            .bind(node)
            .bind(lease_ms)
            .execute(p)
            .await
            .map(drop))
        .map_err(StoreError::query("claiming a meeting"))?;
        let owner = on_backend!(&self.pool, |p| sqlx::query(
            "SELECT o.node AS node, n.advertise AS advertise FROM meeting_owners o \
             LEFT JOIN cluster_nodes n ON n.name = o.node WHERE o.conference_id = $1",
        )
        .bind(conference_id)
        .fetch_optional(p)
        .await
        .and_then(|row| {
            row.as_ref()
                .map(|r| {
                    Ok(MeetingOwner {
                        node: r.text("node")?,
                        advertise: r.opt_text("advertise")?,
                    })
                })
                .transpose()
        }))
        .map_err(StoreError::query("reading a meeting's owner"))?;
        // The row was written just above; it is gone only if its owner released it in
        // between, which leaves it to us on the next claim.
        Ok(owner.unwrap_or_else(|| MeetingOwner {
            node: node.to_string(),
            advertise: None,
        }))
    }

    /// Extends every lease `node` holds (expired ones too, unless another node took them
    /// meanwhile) and answers the meetings it still owns.
    pub async fn renew_meetings(
        &self,
        node: &str,
        lease_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let now = self.now_sql();
        let renew = format!(
            "UPDATE meeting_owners SET lease_until = {now} + $2 WHERE node = $1 RETURNING conference_id"
        );
        on_backend!(&self.pool, |p| sqlx::query(AssertSqlSafe(renew.as_str()))
            .bind(node)
            .bind(lease_ms)
            .fetch_all(p)
            .await
            .and_then(|rows| rows
                .iter()
                .map(|r| r.text("conference_id"))
                .collect()))
        .map_err(StoreError::query("renewing this node's meetings"))
    }

    /// The other live nodes' callers and how many nodes take calls (a node is live when it
    /// beat within `fresh_ms`).
    pub async fn cluster_load(&self, node: &str, fresh_ms: i64) -> Result<ClusterLoad, StoreError> {
        let now = self.now_sql();
        let load = format!(
            "SELECT CAST(COALESCE(SUM(CASE WHEN name <> $1 THEN calls ELSE 0 END), 0) AS BIGINT) AS elsewhere, \
               CAST(COALESCE(SUM(CASE WHEN draining THEN 0 ELSE 1 END), 0) AS BIGINT) AS sharing \
             FROM cluster_nodes WHERE last_seen >= {now} - $2"
        );
        on_backend!(&self.pool, |p| sqlx::query(AssertSqlSafe(load.as_str()))
            .bind(node)
            .bind(fresh_ms)
            .fetch_one(p)
            .await
            .and_then(|row| Ok(ClusterLoad {
                callers_elsewhere: row.int("elsewhere")?,
                sharing_nodes: row.int("sharing")?,
            })))
        .map_err(StoreError::query("reading the other nodes' calls"))
    }

    /// Gives up `node`'s lease on these meetings (they ended here).
    pub async fn release_meetings(
        &self,
        node: &str,
        conference_ids: &[String],
    ) -> Result<(), StoreError> {
        for id in conference_ids {
            on_backend!(&self.pool, |p| sqlx::query(
                "DELETE FROM meeting_owners WHERE node = $1 AND conference_id = $2"
            )
            .bind(node)
            .bind(id)
            .execute(p)
            .await
            .map(drop))
            .map_err(StoreError::query("releasing a meeting"))?;
        }
        Ok(())
    }

    /// Gives up every lease of `node` and removes its heartbeat row (a clean stop).
    pub async fn leave_cluster(&self, node: &str, instance: &str) -> Result<(), StoreError> {
        on_backend!(&self.pool, |p| sqlx::query(
            "DELETE FROM meeting_owners WHERE node = $1"
        )
        .bind(node)
        .execute(p)
        .await
        .map(drop))
        .map_err(StoreError::query("releasing this node's meetings"))?;
        on_backend!(&self.pool, |p| sqlx::query(
            "DELETE FROM cluster_nodes WHERE name = $1 AND instance = $2"
        )
        .bind(node)
        .bind(instance)
        .execute(p)
        .await
        .map(drop))
        .map_err(StoreError::query("removing this node from the cluster"))
    }

    /// Whether `key` reached `limit` unknown conference IDs in its current window.
    pub async fn guesses_over(&self, key: &str, limit: u32) -> Result<bool, StoreError> {
        let now = self.now_sql();
        let read = format!("SELECT count FROM guess_counts WHERE key = $1 AND window_end > {now}");
        let count = on_backend!(&self.pool, |p| sqlx::query(AssertSqlSafe(read.as_str()))
            .bind(key)
            .fetch_optional(p)
            .await
            .and_then(|row| row.as_ref().map(|r| r.int("count")).transpose()))
        .map_err(StoreError::query("reading a guessing counter"))?;
        Ok(count.is_some_and(|n| n >= i64::from(limit)))
    }

    /// Counts one unknown conference ID for `key`; a window that ended starts again.
    pub async fn count_guess(&self, key: &str, window_ms: i64) -> Result<(), StoreError> {
        let now = self.now_sql();
        let count = format!(
            "INSERT INTO guess_counts (key, count, window_end) VALUES ($1, 1, {now} + $2) \
             ON CONFLICT (key) DO UPDATE SET \
               count = CASE WHEN guess_counts.window_end <= {now} THEN 1 ELSE guess_counts.count + 1 END, \
               window_end = CASE WHEN guess_counts.window_end <= {now} THEN excluded.window_end \
                            ELSE guess_counts.window_end END"
        );
        on_backend!(&self.pool, |p| sqlx::query(AssertSqlSafe(count.as_str()))
            .bind(key)
            .bind(window_ms)
            .execute(p)
            .await
            .map(drop))
        .map_err(StoreError::query("counting an unknown conference ID"))
    }

    /// Forgets counters whose window ended (they would count from zero anyway).
    pub async fn sweep_guesses(&self) -> Result<u64, StoreError> {
        let now = self.now_sql();
        let sweep = format!("DELETE FROM guess_counts WHERE window_end <= {now}");
        on_backend!(&self.pool, |p| sqlx::query(AssertSqlSafe(sweep.as_str()))
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(StoreError::query("forgetting old guessing counters"))
    }

    /// Asks node `node` to start `conference_id`'s meeting, which it hosts: a row it takes
    /// (the truth, kept while its listening connection is away) and a NOTIFY that wakes it,
    /// sent together when the transaction commits. PostgreSQL only: a single SQLite node has
    /// no one to tell.
    pub async fn notify_start(&self, node: &str, conference_id: &str) -> Result<(), StoreError> {
        let Backend::Postgres(pool) = &self.pool else {
            return Err(StoreError::NotShared);
        };
        let fail = || StoreError::query("asking another node to start a meeting");
        let mut tx = pool.begin().await.map_err(fail())?;
        let insert = format!(
            "INSERT INTO meeting_starts (node, conference_id, asked_at) VALUES ($1, $2, {NOW_PG})"
        );
        sqlx::query(AssertSqlSafe(insert.as_str()))
            .bind(node)
            .bind(conference_id)
            .execute(&mut *tx)
            .await
            .map_err(fail())?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(START_CHANNEL)
            .bind(node)
            .execute(&mut *tx)
            .await
            .map_err(fail())?;
        tx.commit().await.map_err(fail())
    }

    /// Takes the meeting starts asked of `node` within the last `fresh_ms` (older ones are
    /// dropped: the asker has long seen nothing happen), oldest first.
    pub async fn take_starts(&self, node: &str, fresh_ms: i64) -> Result<Vec<String>, StoreError> {
        let now = self.now_sql();
        let take = format!(
            "DELETE FROM meeting_starts WHERE node = $1 \
             RETURNING id, conference_id, asked_at >= {now} - $2 AS fresh"
        );
        let mut rows = on_backend!(&self.pool, |p| sqlx::query(AssertSqlSafe(take.as_str()))
            .bind(node)
            .bind(fresh_ms)
            .fetch_all(p)
            .await
            .and_then(|rows| rows
                .iter()
                .map(|r| Ok((r.int("id")?, r.text("conference_id")?, r.flag("fresh")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()))
        .map_err(StoreError::query(
            "taking the meeting starts asked of this node",
        ))?;
        rows.sort_by_key(|(id, _, _)| *id);
        Ok(rows
            .into_iter()
            .filter_map(|(_, id, fresh)| fresh.then_some(id))
            .collect())
    }

    /// A connection that hears the starts asked of any node (`notify_start`); it reconnects
    /// by itself when the server comes back.
    pub async fn start_listener(&self) -> Result<sqlx::postgres::PgListener, StoreError> {
        match &self.pool {
            Backend::Sqlite(_) => Err(StoreError::NotShared),
            Backend::Postgres(pool) => {
                let mut listener = sqlx::postgres::PgListener::connect_with(pool)
                    .await
                    .map_err(StoreError::query("listening for meeting starts"))?;
                listener
                    .listen(START_CHANNEL)
                    .await
                    .map_err(StoreError::query("listening for meeting starts"))?;
                Ok(listener)
            }
        }
    }

    /// Every node with a heartbeat row, by name, with the meetings it owns.
    pub async fn cluster_status(&self) -> Result<Vec<NodeStatus>, StoreError> {
        let now = self.now_sql();
        let list = format!(
            "SELECT n.name AS name, n.advertise AS advertise, n.started_at AS started_at, \
               {now} - n.last_seen AS ago, n.calls AS calls, n.draining AS draining, \
               (SELECT COUNT(*) FROM meeting_owners o WHERE o.node = n.name AND o.lease_until >= {now}) AS owned \
             FROM cluster_nodes n ORDER BY n.name"
        );
        on_backend!(&self.pool, |p| sqlx::query(AssertSqlSafe(list.as_str()))
            .fetch_all(p)
            .await
            .and_then(|rows| rows
                .iter()
                .map(|r| Ok(NodeStatus {
                    name: r.text("name")?,
                    advertise: r.text("advertise")?,
                    started_at_ms: r.int("started_at")?,
                    last_seen_ago_ms: r.int("ago")?,
                    calls: r.int("calls")?,
                    draining: r.flag("draining")?,
                    meetings_owned: r.int("owned")?,
                }))
                .collect()))
        .map_err(StoreError::query("reading the cluster's nodes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat<'a>(name: &'a str, instance: &'a str) -> NodeBeat<'a> {
        NodeBeat {
            name,
            instance,
            advertise: "127.0.0.1:5060",
            calls: 3,
            draining: false,
        }
    }

    both_backends!(a_live_lease_keeps_its_owner, |store| {
        store
            .cluster_heartbeat(&beat("a", "i1"), 5_000)
            .await
            .expect("beat a");
        store
            .cluster_heartbeat(&beat("b", "i2"), 5_000)
            .await
            .expect("beat b");
        let first = store
            .claim_meeting("1234", "a", 60_000)
            .await
            .expect("claim");
        assert_eq!(first.node, "a");
        assert_eq!(first.advertise.as_deref(), Some("127.0.0.1:5060"));
        let second = store
            .claim_meeting("1234", "b", 60_000)
            .await
            .expect("claim");
        assert_eq!(second.node, "a", "b must not take a live lease");
        assert_eq!(
            store.renew_meetings("a", 60_000).await.expect("renew"),
            vec!["1234"]
        );
        assert!(
            store
                .renew_meetings("b", 60_000)
                .await
                .expect("renew")
                .is_empty()
        );
        let status = store.cluster_status().await.expect("status");
        let owned: Vec<(String, i64)> = status
            .iter()
            .map(|n| (n.name.clone(), n.meetings_owned))
            .collect();
        assert_eq!(owned, vec![("a".to_string(), 1), ("b".to_string(), 0)]);
        store
            .release_meetings("a", &["1234".to_string()])
            .await
            .expect("release");
        assert_eq!(
            store
                .claim_meeting("1234", "b", 60_000)
                .await
                .expect("claim")
                .node,
            "b"
        );
    });

    both_backends!(the_load_counts_the_other_live_nodes_callers, |store| {
        store
            .cluster_heartbeat(&beat("a", "i1"), 5_000)
            .await
            .expect("beat a");
        let mut b = beat("b", "i2");
        b.calls = 7;
        store.cluster_heartbeat(&b, 5_000).await.expect("beat b");
        let mut c = beat("c", "i3");
        c.draining = true;
        store.cluster_heartbeat(&c, 5_000).await.expect("beat c");
        let load = store.cluster_load("a", 5_000).await.expect("load");
        assert_eq!(
            load,
            ClusterLoad {
                callers_elsewhere: 7 + 3,
                sharing_nodes: 2
            },
            "c drains: its callers count, it takes no share of new calls"
        );
        // Nodes whose last heartbeat is older than the freshness limit are gone.
        let gone = store.cluster_load("a", -1).await.expect("load");
        assert_eq!(gone, ClusterLoad::default());
    });

    #[tokio::test]
    async fn asked_starts_are_taken_once_in_order_and_stale_ones_dropped() {
        let db = crate::store::testing::TestDb::postgres().await;
        let store = &db.store;
        store.notify_start("a", "111").await.expect("ask");
        store.notify_start("b", "222").await.expect("ask");
        store.notify_start("a", "333").await.expect("ask");
        assert_eq!(
            store.take_starts("a", 60_000).await.expect("take"),
            vec!["111", "333"]
        );
        assert!(
            store
                .take_starts("a", 60_000)
                .await
                .expect("take")
                .is_empty()
        );
        // b's request, older than b cares for, is dropped rather than started late.
        assert!(store.take_starts("b", -1).await.expect("take").is_empty());
        assert!(
            store
                .take_starts("b", 60_000)
                .await
                .expect("take")
                .is_empty()
        );
        let sqlite = crate::store::testing::TestDb::sqlite().await;
        assert!(matches!(
            sqlite.store.notify_start("a", "1").await,
            Err(StoreError::NotShared)
        ));
    }

    both_backends!(an_expired_lease_goes_to_the_next_claimant, |store| {
        store.claim_meeting("77", "a", -1).await.expect("claim");
        let taken = store.claim_meeting("77", "b", 60_000).await.expect("claim");
        assert_eq!(taken.node, "b");
        assert_eq!(taken.advertise, None, "b has no heartbeat row");
        assert!(
            store
                .renew_meetings("a", 60_000)
                .await
                .expect("renew")
                .is_empty(),
            "a lost it"
        );
    });

    both_backends!(one_name_one_process, |store| {
        store
            .cluster_heartbeat(&beat("a", "i1"), 5_000)
            .await
            .expect("beat");
        store
            .cluster_heartbeat(&beat("a", "i1"), 5_000)
            .await
            .expect("the same process beats again");
        match store.cluster_heartbeat(&beat("a", "i2"), 5_000).await {
            Err(HeartbeatError::NameInUse { name, .. }) => assert_eq!(name, "a"),
            other => panic!("a second process under the same name must be refused: {other:?}"),
        }
        // Once the first one's heartbeat is stale, a restart under the name is fine.
        store
            .cluster_heartbeat(&beat("a", "i2"), -1)
            .await
            .expect("restart");
        store.claim_meeting("5", "a", 60_000).await.expect("claim");
        store.leave_cluster("a", "i2").await.expect("leave");
        assert!(store.cluster_status().await.expect("status").is_empty());
        assert_eq!(
            store
                .claim_meeting("5", "b", 60_000)
                .await
                .expect("claim")
                .node,
            "b"
        );
    });

    both_backends!(guess_counters_count_within_their_window, |store| {
        for _ in 0..2 {
            store
                .count_guess("number:+15550100", 60_000)
                .await
                .expect("count");
        }
        assert!(
            !store
                .guesses_over("number:+15550100", 3)
                .await
                .expect("read")
        );
        store
            .count_guess("number:+15550100", 60_000)
            .await
            .expect("count");
        assert!(
            store
                .guesses_over("number:+15550100", 3)
                .await
                .expect("read")
        );
        assert!(
            !store
                .guesses_over("number:+15550199", 1)
                .await
                .expect("another key")
        );
        // A window that ended starts again from one, and is swept.
        store
            .count_guess("source:192.0.2.9", -1)
            .await
            .expect("count");
        assert!(
            !store
                .guesses_over("source:192.0.2.9", 1)
                .await
                .expect("ended")
        );
        store
            .count_guess("source:192.0.2.9", 60_000)
            .await
            .expect("count");
        assert!(
            store
                .guesses_over("source:192.0.2.9", 1)
                .await
                .expect("one again")
        );
        assert!(
            !store
                .guesses_over("source:192.0.2.9", 2)
                .await
                .expect("just one")
        );
        store
            .count_guess("source:192.0.2.10", -1)
            .await
            .expect("count");
        assert_eq!(store.sweep_guesses().await.expect("sweep"), 1);
    });
}
