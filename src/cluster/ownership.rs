//! The meetings this node holds a lease on, sans-IO: when to renew, which leases to give up
//! and what a renewal's answer means. The driver does the database work and passes the
//! clock and the answers in.
//!
//! A lease is taken when a caller's conference ID is looked up here (the lobby will live
//! here), kept while this node hosts the meeting, and given up once the meeting is gone and
//! no claim is younger than [`super::CLAIM_GRACE`] (a caller may still be typing a PIN).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// What this node knows of one lease it holds.
#[derive(Clone, Copy, Debug)]
struct Held {
    /// The last claim (a look-up here) or the last renewal that found the meeting hosted.
    last_needed: Instant,
}

/// What to do at a renewal.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Leases to give up: the meeting is not hosted here any more.
    pub release: Vec<String>,
    /// Meetings hosted here without a lease (started through the API, or whose claim failed
    /// while the database was away): claim them.
    pub unleased: Vec<String>,
}

/// What a renewal's answer meant.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Renewed {
    /// Leases we held that the database no longer gives us: another node took them after
    /// ours ran out.
    pub lost: Vec<String>,
    /// Leases the database holds in our name that we did not know at two renewals in a row
    /// (left by an earlier run of this node): give them up. One renewal is not enough: a
    /// look-up claims on the caller's path and tells us afterwards, so a renewal that runs
    /// between the two finds a lease we do not know yet, which is ours.
    pub stray: Vec<String>,
}

/// Whether the leases can still be relied on after a failed renewal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseHealth {
    /// The last good renewal is younger than a lease.
    Held,
    /// No renewal for longer than a lease: another node may take our meetings once the
    /// database is back.
    Expired,
}

/// The leases of one node.
#[derive(Debug)]
pub struct Ownership {
    held: HashMap<String, Held>,
    /// Leases the last renewal found in our name that we did not hold.
    unknown: HashSet<String>,
    next_renewal: Instant,
    last_renewed: Instant,
    every: Duration,
    lease: Duration,
    grace: Duration,
}

impl Ownership {
    /// No leases yet; the first renewal is due at once (with the next, it clears leases a
    /// previous run left under our name).
    pub fn new(now: Instant) -> Self {
        Ownership::with_timing(now, super::RENEW_EVERY, super::LEASE, super::CLAIM_GRACE)
    }

    /// As `new`, with other intervals (tests).
    pub fn with_timing(now: Instant, every: Duration, lease: Duration, grace: Duration) -> Self {
        Ownership {
            held: HashMap::new(),
            unknown: HashSet::new(),
            next_renewal: now,
            last_renewed: now,
            every,
            lease,
            grace,
        }
    }

    /// A claim in the database gave us this meeting.
    pub fn claimed(&mut self, now: Instant, conference_id: &str) {
        self.held
            .entry(conference_id.to_string())
            .and_modify(|h| h.last_needed = now)
            .or_insert(Held { last_needed: now });
    }

    /// Whether we hold this meeting's lease.
    pub fn owns(&self, conference_id: &str) -> bool {
        self.held.contains_key(conference_id)
    }

    /// How many leases we hold.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether we hold no lease.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// When the next renewal is due.
    pub fn poll_timeout(&self) -> Instant {
        self.next_renewal
    }

    /// At a renewal, with the meetings hosted here now: which leases to give up and which
    /// hosted meetings lack one. Schedules the next renewal.
    pub fn plan(&mut self, now: Instant, hosted: &[String]) -> Plan {
        self.next_renewal = now + self.every;
        let hosted: HashSet<&str> = hosted.iter().map(String::as_str).collect();
        let mut plan = Plan::default();
        for (id, held) in &mut self.held {
            if hosted.contains(id.as_str()) {
                held.last_needed = now;
            } else if now.saturating_duration_since(held.last_needed) >= self.grace {
                plan.release.push(id.clone());
            }
        }
        for id in &plan.release {
            self.held.remove(id);
        }
        plan.unleased = hosted
            .into_iter()
            .filter(|id| !self.held.contains_key(*id))
            .map(str::to_string)
            .collect();
        plan.release.sort();
        plan.unleased.sort();
        plan
    }

    /// The database renewed these leases (all it holds in our name).
    pub fn renewed(&mut self, now: Instant, still_ours: &[String]) -> Renewed {
        self.last_renewed = now;
        let ours: HashSet<&str> = still_ours.iter().map(String::as_str).collect();
        let mut lost: Vec<String> = self
            .held
            .keys()
            .filter(|id| !ours.contains(id.as_str()))
            .cloned()
            .collect();
        for id in &lost {
            self.held.remove(id);
        }
        let unknown: HashSet<String> = ours
            .into_iter()
            .filter(|id| !self.held.contains_key(*id))
            .map(str::to_string)
            .collect();
        // Unknown twice in a row: not a claim of ours on its way to us, a leftover.
        let mut stray: Vec<String> = unknown.intersection(&self.unknown).cloned().collect();
        self.unknown = unknown
            .into_iter()
            .filter(|id| !stray.contains(id))
            .collect();
        lost.sort();
        stray.sort();
        Renewed { lost, stray }
    }

    /// The renewal failed (the database is away).
    pub fn renewal_failed(&self, now: Instant) -> LeaseHealth {
        if now.saturating_duration_since(self.last_renewed) > self.lease {
            LeaseHealth::Expired
        } else {
            LeaseHealth::Held
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY: Duration = Duration::from_secs(1);
    const LEASE: Duration = Duration::from_secs(3);
    const GRACE: Duration = Duration::from_secs(10);

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn renewals_come_every_interval_from_the_start() {
        let t0 = Instant::now();
        let mut own = Ownership::with_timing(t0, EVERY, LEASE, GRACE);
        assert_eq!(
            own.poll_timeout(),
            t0,
            "the first renewal clears what an earlier run left"
        );
        own.plan(t0, &[]);
        assert_eq!(own.poll_timeout(), t0 + EVERY);
        own.plan(t0 + Duration::from_millis(1_300), &[]);
        assert_eq!(own.poll_timeout(), t0 + Duration::from_millis(2_300));
    }

    #[test]
    fn a_hosted_meeting_is_kept_and_released_after_the_grace_once_gone() {
        let t0 = Instant::now();
        let mut own = Ownership::with_timing(t0, EVERY, LEASE, GRACE);
        own.claimed(t0, "42");
        // The caller is still typing the PIN: no room yet, the claim stays.
        assert_eq!(own.plan(t0 + Duration::from_secs(5), &[]), Plan::default());
        assert!(own.owns("42"));
        // The meeting runs for a while.
        let running = t0 + Duration::from_secs(60);
        assert_eq!(own.plan(running, &ids(&["42"])), Plan::default());
        // It ended: kept for the grace (a caller dialling back in), then released.
        assert_eq!(own.plan(running + GRACE - EVERY, &[]), Plan::default());
        let plan = own.plan(running + GRACE, &[]);
        assert_eq!(plan.release, ids(&["42"]));
        assert!(!own.owns("42"));
        assert!(own.is_empty());
    }

    #[test]
    fn a_hosted_meeting_without_a_lease_is_to_be_claimed() {
        let t0 = Instant::now();
        let mut own = Ownership::with_timing(t0, EVERY, LEASE, GRACE);
        own.claimed(t0, "1");
        let plan = own.plan(t0, &ids(&["2", "1", "3"]));
        assert_eq!(plan.unleased, ids(&["2", "3"]));
        assert!(plan.release.is_empty());
    }

    #[test]
    fn the_database_answer_tells_lost_and_stray_leases() {
        let t0 = Instant::now();
        let mut own = Ownership::with_timing(t0, EVERY, LEASE, GRACE);
        own.claimed(t0, "1");
        own.claimed(t0, "2");
        let answer = own.renewed(t0 + EVERY, &ids(&["2", "9"]));
        assert_eq!(answer.lost, ids(&["1"]));
        // "9" is unknown once: perhaps a claim still on its way to us; kept for now.
        assert!(answer.stray.is_empty());
        assert!(!own.owns("1") && own.owns("2") && own.len() == 1);
        // Unknown at the next renewal too: left by an earlier run, given up.
        let answer = own.renewed(t0 + EVERY * 2, &ids(&["2", "9"]));
        assert_eq!(answer.stray, ids(&["9"]));
        assert!(answer.lost.is_empty());
    }

    #[test]
    fn a_claim_the_renewal_saw_before_we_heard_of_it_is_not_given_up() {
        let t0 = Instant::now();
        let mut own = Ownership::with_timing(t0, EVERY, LEASE, GRACE);
        // A look-up wrote the claim in the database while a renewal ran; the renewal's
        // answer has it before the look-up's report reaches us.
        let answer = own.renewed(t0, &ids(&["7"]));
        assert!(answer.stray.is_empty(), "a new claim is not a stray");
        own.claimed(t0 + Duration::from_millis(5), "7");
        let answer = own.renewed(t0 + EVERY, &ids(&["7"]));
        assert_eq!(answer, Renewed::default());
        assert!(own.owns("7"));
    }

    #[test]
    fn failed_renewals_expire_the_leases_after_one_lease() {
        let t0 = Instant::now();
        let mut own = Ownership::with_timing(t0, EVERY, LEASE, GRACE);
        own.claimed(t0, "1");
        own.renewed(t0, &ids(&["1"]));
        assert_eq!(own.renewal_failed(t0 + LEASE), LeaseHealth::Held);
        assert_eq!(
            own.renewal_failed(t0 + LEASE + Duration::from_millis(1)),
            LeaseHealth::Expired
        );
        // Back: the database still had it in our name.
        own.renewed(t0 + LEASE * 2, &ids(&["1"]));
        assert_eq!(
            own.renewal_failed(t0 + LEASE * 2 + EVERY),
            LeaseHealth::Held
        );
        assert!(own.owns("1"));
    }
}
