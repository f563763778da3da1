//! The cluster driver: this node's heartbeat and meeting leases in the shared PostgreSQL
//! directory. The decisions are [`crate::cluster::ownership`]'s; this task does the
//! queries, asks the media workers which meetings they host, and keeps the figures.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::{mpsc, watch};

use super::telemetry::{ClusterGauges, SipGauges};
use crate::admin::service::LiveMeetings;
use crate::cluster::ownership::{LeaseHealth, Ownership};
use crate::cluster::{LEASE, NODE_GONE_AFTER, NodeIdentity};
use crate::store::{HeartbeatError, NodeBeat, Store, StoreError};

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Who owns a meeting, as a look-up here sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Owner {
    /// This node: the caller joins here.
    Here,
    /// Another node, reachable for SIP at `advertise` (when it beats).
    Elsewhere {
        /// Its name.
        node: String,
        /// Where it takes SIP from other nodes.
        advertise: Option<String>,
    },
}

/// What the look-ups share with the driver: claims go to the database directly (they are on
/// a caller's path) and are reported to the driver, which owns the lease bookkeeping.
#[derive(Clone)]
pub(super) struct ClusterHandle {
    store: Store,
    name: Arc<str>,
    claimed: mpsc::UnboundedSender<String>,
    gauges: Arc<ClusterGauges>,
}

impl ClusterHandle {
    /// Claims `conference_id` for this node unless another holds a live lease on it.
    pub(super) async fn claim(&self, conference_id: &str) -> Result<Owner, StoreError> {
        let owner = self
            .store
            .claim_meeting(conference_id, &self.name, millis(LEASE))
            .await
            .inspect_err(|_| {
                self.gauges.database_errors.fetch_add(1, Ordering::Relaxed);
            })?;
        if owner.node == *self.name {
            self.gauges.claims_won.fetch_add(1, Ordering::Relaxed);
            // The driver is gone only while the server stops.
            let _ = self.claimed.send(conference_id.to_string());
            Ok(Owner::Here)
        } else {
            self.gauges.claims_elsewhere.fetch_add(1, Ordering::Relaxed);
            Ok(Owner::Elsewhere {
                node: owner.node,
                advertise: owner.advertise,
            })
        }
    }
}

impl ClusterHandle {
    /// The first shared guessing counter of this caller that reached its limit (None also
    /// when the database cannot say: the look-up that follows fails on its own then).
    pub(super) async fn guesses_over(
        &self,
        counters: &[crate::auth::guessing::SharedCounter],
    ) -> Option<crate::auth::guessing::CutOff> {
        for counter in counters {
            match self.store.guesses_over(&counter.key, counter.limit).await {
                Ok(true) => return Some(counter.cut_off),
                Ok(false) => {}
                Err(err) => {
                    self.gauges.database_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %err, "cannot read the cluster's guessing counters");
                }
            }
        }
        None
    }

    /// Counts an unknown conference ID on every shared counter of its caller.
    pub(super) async fn count_guess(
        &self,
        counters: &[crate::auth::guessing::SharedCounter],
        window: std::time::Duration,
    ) {
        for counter in counters {
            if let Err(err) = self.store.count_guess(&counter.key, millis(window)).await {
                self.gauges.database_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %err, "cannot count an unknown conference ID for the cluster");
            }
        }
    }
}

/// Renewals between sweeps of the guessing counters whose window ended.
const SWEEP_EVERY: u64 = 60;

/// The driver's state between renewals.
pub(super) struct ClusterDriver {
    store: Store,
    identity: NodeIdentity,
    instance: String,
    ownership: Ownership,
    claimed: mpsc::UnboundedReceiver<String>,
    media: Arc<dyn LiveMeetings>,
    sip: Arc<SipGauges>,
    gauges: Arc<ClusterGauges>,
    /// Whether the last failure was already logged (one line per outage, not per second).
    failing: bool,
    /// Renewals so far (every `SWEEP_EVERY`th also sweeps the guessing counters).
    rounds: u64,
}

/// Joins the cluster: the first heartbeat, which fails when another running node already
/// uses this name (so a misconfigured node stops at start, before it takes calls).
pub(super) async fn join(
    store: Store,
    identity: NodeIdentity,
    media: Arc<dyn LiveMeetings>,
    sip: Arc<SipGauges>,
    gauges: Arc<ClusterGauges>,
) -> Result<(ClusterHandle, ClusterDriver), HeartbeatError> {
    let instance = format!("{:032x}", rand::random::<u128>());
    store
        .cluster_heartbeat(
            &NodeBeat {
                name: &identity.name,
                instance: &instance,
                advertise: &identity.advertise,
                calls: 0,
                draining: false,
            },
            millis(NODE_GONE_AFTER),
        )
        .await?;
    tracing::info!(node = %identity.name, advertise = %identity.advertise, "joined the cluster");
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = ClusterHandle {
        store: store.clone(),
        name: identity.name.as_str().into(),
        claimed: tx,
        gauges: Arc::clone(&gauges),
    };
    let driver = ClusterDriver {
        store,
        identity,
        instance,
        ownership: Ownership::new(Instant::now()),
        claimed: rx,
        media,
        sip,
        gauges,
        failing: false,
        rounds: 0,
    };
    Ok((handle, driver))
}

impl ClusterDriver {
    /// Beats and renews until `stop`, then leaves the cluster (its leases are free at once
    /// for the other nodes).
    pub(super) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        tokio::pin!(stopped);
        loop {
            let due = tokio::time::Instant::from_std(self.ownership.poll_timeout());
            tokio::select! {
                _ = &mut stopped => break,
                Some(id) = self.claimed.recv() => self.ownership.claimed(Instant::now(), &id),
                _ = tokio::time::sleep_until(due) => self.renew().await,
            }
        }
        match self
            .store
            .leave_cluster(&self.identity.name, &self.instance)
            .await
        {
            Ok(()) => {
                tracing::info!(node = %self.identity.name, "left the cluster: its meetings are free for other nodes")
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot leave the cluster cleanly: its leases run out by themselves")
            }
        }
    }

    async fn renew(&mut self) {
        // Claims reported before this renewal count in it (select! may pick the timer first).
        while let Ok(id) = self.claimed.try_recv() {
            self.ownership.claimed(Instant::now(), &id);
        }
        let hosted: Vec<String> = self
            .media
            .meetings()
            .await
            .into_iter()
            .map(|m| m.conference_id)
            .collect();
        let now = Instant::now();
        let plan = self.ownership.plan(now, &hosted);
        let result = self.renew_with(plan).await;
        match result {
            Ok(()) => {
                if self.failing {
                    tracing::info!("cluster database reachable again: leases renewed");
                }
                self.failing = false;
            }
            Err(err) => {
                self.gauges.database_errors.fetch_add(1, Ordering::Relaxed);
                let health = self.ownership.renewal_failed(Instant::now());
                if !self.failing {
                    tracing::error!(error = %err, "cannot renew this node's meeting leases: its meetings go on; other nodes cannot take them while the database is away");
                }
                if health == LeaseHealth::Expired {
                    tracing::warn!(
                        leases = self.ownership.len(),
                        "meeting leases expired in the database: another node may claim these meetings once it is back"
                    );
                }
                self.failing = true;
            }
        }
        self.gauges
            .leases_held
            .store(self.ownership.len() as u64, Ordering::Relaxed);
    }

    async fn renew_with(
        &mut self,
        plan: crate::cluster::ownership::Plan,
    ) -> Result<(), HeartbeatError> {
        let name = self.identity.name.clone();
        self.store
            .cluster_heartbeat(
                &NodeBeat {
                    name: &name,
                    instance: &self.instance,
                    advertise: &self.identity.advertise,
                    calls: i64::try_from(self.sip.callers_answered_here()).unwrap_or(i64::MAX),
                    draining: self.sip.draining.load(Ordering::Relaxed),
                },
                millis(NODE_GONE_AFTER),
            )
            .await?;
        let load = self
            .store
            .cluster_load(&name, millis(NODE_GONE_AFTER))
            .await?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        self.gauges
            .callers_elsewhere
            .store(count(load.callers_elsewhere), Ordering::Relaxed);
        self.gauges
            .sharing_nodes
            .store(count(load.sharing_nodes), Ordering::Relaxed);
        if !plan.release.is_empty() {
            self.store.release_meetings(&name, &plan.release).await?;
            self.gauges
                .released
                .fetch_add(plan.release.len() as u64, Ordering::Relaxed);
            tracing::debug!(meetings = ?plan.release, "released the leases of meetings that ended here");
        }
        for id in &plan.unleased {
            let owner = self.store.claim_meeting(id, &name, millis(LEASE)).await?;
            if owner.node == name {
                self.ownership.claimed(Instant::now(), id);
            } else {
                tracing::debug!(conference = %id, owner = %owner.node, "a meeting hosted here is owned by another node: its callers are split between the two");
            }
        }
        let ours = self.store.renew_meetings(&name, millis(LEASE)).await?;
        let answer = self.ownership.renewed(Instant::now(), &ours);
        self.gauges.renewals.fetch_add(1, Ordering::Relaxed);
        if !answer.lost.is_empty() {
            self.gauges
                .leases_lost
                .fetch_add(answer.lost.len() as u64, Ordering::Relaxed);
            tracing::warn!(meetings = ?answer.lost, "meeting leases lost to another node (ours ran out while the database was away)");
        }
        if !answer.stray.is_empty() {
            self.store.release_meetings(&name, &answer.stray).await?;
        }
        self.rounds += 1;
        if self.rounds.is_multiple_of(SWEEP_EVERY) {
            self.store.sweep_guesses().await?;
        }
        Ok(())
    }
}

/// How long a relayed caller waits for its meeting's next owner before being told to call
/// again later: the dead owner's lease runs out within `LEASE` of its last renewal.
const REHOME_PATIENCE: std::time::Duration = std::time::Duration::from_secs(15);
/// How often the lease is tried meanwhile.
const REHOME_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Finds the next owner of a meeting whose owner `from_node` went silent, claiming it for
/// this node once the old lease ran out, and tells the caller's worker where to go.
pub(super) async fn rehome(
    cluster: ClusterHandle,
    media: Arc<super::media::MediaHandle>,
    call: crate::call::CallId,
    conference_id: String,
    from_node: String,
) {
    use crate::engine::{Command, RelayTarget};
    let deadline = tokio::time::Instant::now() + REHOME_PATIENCE;
    loop {
        match cluster.claim(&conference_id).await {
            Ok(Owner::Here) => {
                tracing::info!(call = call.0, conference = %conference_id, "re-homed: the meeting now lives on this node");
                media.send(call, Command::Rehome { call, target: None });
                return;
            }
            Ok(Owner::Elsewhere { node, advertise }) if node != from_node => {
                if let Some(sip) = advertise.as_deref().and_then(|a| a.parse().ok()) {
                    tracing::info!(call = call.0, conference = %conference_id, owner = %node, "re-homed: relaying to the meeting's new owner");
                    let target = RelayTarget { node, sip };
                    media.send(
                        call,
                        Command::Rehome {
                            call,
                            target: Some(target),
                        },
                    );
                    return;
                }
            }
            // The silent node's lease has not run out yet, or the database is away.
            Ok(Owner::Elsewhere { .. }) | Err(_) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(call = call.0, conference = %conference_id, "no new owner for the meeting: the caller is told to call again later");
            media.send(call, Command::RelayFailed { call });
            return;
        }
        tokio::time::sleep(REHOME_EVERY).await;
    }
}

/// The admin service's meetings on a cluster node: a start goes to the node that hosts the
/// meeting (this one, or another told through NOTIFY); views and controls are this node's.
pub(super) struct ClusterMeetings {
    local: Arc<super::media::MediaHandle>,
    cluster: ClusterHandle,
}

impl ClusterMeetings {
    /// Wraps this node's media workers.
    pub(super) fn new(local: Arc<super::media::MediaHandle>, cluster: ClusterHandle) -> Self {
        ClusterMeetings { local, cluster }
    }
}

impl LiveMeetings for ClusterMeetings {
    fn start_meeting(&self, conference: crate::call::Conference) {
        let local = Arc::clone(&self.local);
        let cluster = self.cluster.clone();
        tokio::spawn(async move {
            let id = conference.conference_id.clone();
            match cluster.claim(&id).await {
                Ok(Owner::Here) => local.start_meeting(conference),
                Ok(Owner::Elsewhere { node, .. }) => {
                    match cluster.store.notify_start(&node, &id).await {
                        Ok(()) => {
                            tracing::info!(conference = %id, owner = %node, "meeting start passed to the node hosting it")
                        }
                        Err(err) => {
                            tracing::error!(conference = %id, owner = %node, error = %err, "cannot pass the meeting start to the node hosting it")
                        }
                    }
                }
                Err(err) => {
                    tracing::error!(conference = %id, error = %err, "cannot claim the meeting to start it")
                }
            }
        });
    }

    fn meetings(&self) -> crate::admin::live::LiveAnswer<Vec<crate::admin::live::Meeting>> {
        self.local.meetings()
    }

    fn meeting(
        &self,
        conference_id: &str,
    ) -> crate::admin::live::LiveAnswer<Option<crate::admin::live::Meeting>> {
        self.local.meeting(conference_id)
    }

    fn control(
        &self,
        conference_id: &str,
        action: crate::admin::live::MeetingAction,
    ) -> crate::admin::live::LiveAnswer<
        Result<crate::admin::live::Meeting, crate::admin::live::ActionRefused>,
    > {
        self.local.control(conference_id, action)
    }
}

/// How long a start asked of this node stays worth doing (later, the asker has long seen
/// nothing happen and may have started the meeting another way).
const START_FRESH: std::time::Duration = std::time::Duration::from_secs(60);
/// How often the asked starts are read without a wake-up: a NOTIFY sent while the listening
/// connection was being re-made is not heard.
const STARTS_SWEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// Starts the meetings other nodes ask this one to start (`Store::notify_start`), until `stop`:
/// the `meeting_starts` rows are the requests, read when a NOTIFY wakes this node, each time
/// the listening connection is (re)made, and every few seconds.
pub(super) async fn serve_starts(
    directory: crate::directory::Directory,
    name: String,
    media: Arc<super::media::MediaHandle>,
    mut stop: watch::Receiver<bool>,
) {
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    // Two loops in one task, neither cancelled until the stop (a listener's read is not
    // safe to cancel half-way through a message).
    let sweeper = async {
        let mut sweep = tokio::time::interval(STARTS_SWEEP);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            sweep.tick().await;
            take_starts(&directory, &name, &media).await;
        }
    };
    let listen = async {
        let mut away = false;
        loop {
            let mut listener = match directory.store().start_listener().await {
                Ok(l) => l,
                Err(err) => {
                    if !away {
                        tracing::warn!(error = %err, "cannot listen for meeting starts from other nodes; trying again every second");
                    }
                    away = true;
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
            };
            if away {
                tracing::info!("listening for meeting starts from other nodes again");
            }
            // What was asked while the connection was being made.
            take_starts(&directory, &name, &media).await;
            loop {
                match listener.try_recv().await {
                    Ok(Some(note)) if note.payload() == name => {
                        take_starts(&directory, &name, &media).await
                    }
                    Ok(Some(_)) => {}
                    // The connection is gone: make a new one, then read what was asked.
                    Ok(None) | Err(_) => break,
                }
            }
            tracing::warn!("the meeting start listener lost its connection; it reconnects");
            away = true;
        }
    };
    tokio::select! {
        _ = stopped => {}
        _ = sweeper => {}
        _ = listen => {}
    }
}

/// Starts the meetings asked of this node since the last read.
async fn take_starts(
    directory: &crate::directory::Directory,
    name: &str,
    media: &super::media::MediaHandle,
) {
    let asked = match directory
        .store()
        .take_starts(name, millis(START_FRESH))
        .await
    {
        Ok(asked) => asked,
        Err(err) => {
            tracing::debug!(error = %err, "cannot read the meeting starts asked of this node");
            return;
        }
    };
    for conference_id in asked {
        match directory.lookup_conference(&conference_id).await {
            Ok(Some(conference)) => {
                tracing::info!(conference = %conference_id, "meeting start asked by another node");
                media.start_meeting(conference);
            }
            Ok(None) => {
                tracing::warn!(conference = %conference_id, "another node asked to start an unknown meeting")
            }
            Err(err) => {
                tracing::error!(conference = %conference_id, error = %err, "cannot read the meeting another node asked to start")
            }
        }
    }
}
