//! The mailer's bookkeeping without any I/O: when each mail is due again, and the bounded
//! table of delivery statuses. The worker task feeds it the clock; tests feed it fake time.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::MailStatus;

/// The delay before the next attempt after `failures` failed ones (1-based), or `None` once
/// the schedule is used up and the mail should be given up.
pub(crate) fn retry_delay(delays: &[Duration], failures: u32) -> Option<Duration> {
    let index = usize::try_from(failures.checked_sub(1)?).ok()?;
    delays.get(index).copied()
}

/// Whole seconds until a retry, rounded up so a pending retry never reads as "in 0 s".
pub(crate) fn secs_rounded_up(d: Duration) -> u64 {
    d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0))
}

/// Jobs ready now (in arrival order) and jobs waiting for a retry time.
#[derive(Debug)]
pub(crate) struct RetryQueue<J> {
    ready: VecDeque<J>,
    waiting: BinaryHeap<Waiting<J>>,
    /// Tie-breaker so jobs due at the same instant keep the order they failed in.
    seq: u64,
}

#[derive(Debug)]
struct Waiting<J> {
    due: Instant,
    seq: u64,
    job: J,
}

impl<J> PartialEq for Waiting<J> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<J> Eq for Waiting<J> {}

impl<J> PartialOrd for Waiting<J> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<J> Ord for Waiting<J> {
    // BinaryHeap pops the greatest: reverse so the earliest due comes out first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

impl<J> Default for RetryQueue<J> {
    fn default() -> Self {
        RetryQueue {
            ready: VecDeque::new(),
            waiting: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<J> RetryQueue<J> {
    /// A new job, to be tried as soon as the jobs before it are done.
    pub(crate) fn push(&mut self, job: J) {
        self.ready.push_back(job);
    }

    /// A failed job, to be tried again at `due`.
    pub(crate) fn defer(&mut self, job: J, due: Instant) {
        self.seq = self.seq.wrapping_add(1);
        self.waiting.push(Waiting {
            due,
            seq: self.seq,
            job,
        });
    }

    /// The next job to try at `now`: retries that fell due join the back of the line, so new
    /// mails and retries take turns instead of one starving the other.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<J> {
        while self.waiting.peek().is_some_and(|w| w.due <= now) {
            if let Some(w) = self.waiting.pop() {
                self.ready.push_back(w.job);
            }
        }
        self.ready.pop_front()
    }

    /// When the earliest waiting job falls due (ready jobs are due already).
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.waiting.peek().map(|w| w.due)
    }

    /// Everything, ready jobs first then waiting ones by due time, for the final flush.
    pub(crate) fn drain(&mut self) -> Vec<J> {
        let mut all: Vec<J> = self.ready.drain(..).collect();
        let mut waiting = std::mem::take(&mut self.waiting).into_sorted_vec();
        // Sorted ascending by our reversed order means latest first: flip it.
        waiting.reverse();
        all.extend(waiting.into_iter().map(|w| w.job));
        all
    }

    /// Jobs held, ready or waiting.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ready.len() + self.waiting.len()
    }
}

/// Why a mail was not admitted into the table.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Full {
    /// The limit of mails in flight that was reached.
    pub(crate) limit: usize,
}

/// Statuses of every mail in flight plus the last `keep_finished` finished ones.
///
/// In-flight entries are never evicted (the caller would lose track of a mail that is still
/// being delivered); instead admission stops at `max_in_flight`, which bounds the table.
#[derive(Debug)]
pub(crate) struct StatusTable {
    entries: HashMap<u64, MailStatus>,
    finished: VecDeque<u64>,
    in_flight: usize,
    max_in_flight: usize,
    keep_finished: usize,
}

impl StatusTable {
    /// An empty table with both bounds (each at least 1).
    pub(crate) fn new(max_in_flight: usize, keep_finished: usize) -> Self {
        StatusTable {
            entries: HashMap::new(),
            finished: VecDeque::new(),
            in_flight: 0,
            max_in_flight: max_in_flight.max(1),
            keep_finished: keep_finished.max(1),
        }
    }

    /// Records a new mail as `Queued`, unless too many are in flight already.
    pub(crate) fn admit(&mut self, ticket: u64) -> Result<(), Full> {
        if self.in_flight >= self.max_in_flight {
            return Err(Full {
                limit: self.max_in_flight,
            });
        }
        self.set(ticket, MailStatus::Queued);
        Ok(())
    }

    /// Records a status change; final statuses count towards the kept history.
    pub(crate) fn set(&mut self, ticket: u64, status: MailStatus) {
        let now_final = status.is_final();
        let before = self.entries.insert(ticket, status);
        let was_open = before.as_ref().is_some_and(|s| !s.is_final());
        let was_final = before.as_ref().is_some_and(MailStatus::is_final);
        match (was_open, now_final) {
            (true, true) => self.in_flight = self.in_flight.saturating_sub(1),
            (false, false) if !was_final => self.in_flight += 1,
            _ => {}
        }
        if now_final && !was_final {
            self.finished.push_back(ticket);
            while self.finished.len() > self.keep_finished {
                if let Some(old) = self.finished.pop_front() {
                    self.entries.remove(&old);
                }
            }
        }
    }

    /// The latest status of a mail, if still kept.
    pub(crate) fn get(&self, ticket: u64) -> Option<&MailStatus> {
        self.entries.get(&ticket)
    }

    /// Mails admitted and not yet sent or failed.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Entries held in total.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::DeliveryError;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn backoff_follows_the_schedule_then_gives_up() {
        let delays = [secs(5), secs(30), secs(120), secs(600), secs(1800)];
        let got: Vec<_> = (1..=6).map(|f| retry_delay(&delays, f)).collect();
        assert_eq!(
            got,
            vec![
                Some(secs(5)),
                Some(secs(30)),
                Some(secs(120)),
                Some(secs(600)),
                Some(secs(1800)),
                None
            ]
        );
        assert_eq!(retry_delay(&delays, 0), None);
        assert_eq!(retry_delay(&[], 1), None);
    }

    #[test]
    fn retry_seconds_round_up() {
        assert_eq!(secs_rounded_up(Duration::from_millis(100)), 1);
        assert_eq!(secs_rounded_up(secs(30)), 30);
        assert_eq!(secs_rounded_up(Duration::ZERO), 0);
    }

    #[test]
    fn deferred_job_waits_until_due() {
        let t0 = Instant::now();
        let mut q = RetryQueue::default();
        q.defer("a", t0 + secs(5));
        assert_eq!(q.pop_due(t0), None);
        assert_eq!(q.next_due(), Some(t0 + secs(5)));
        assert_eq!(q.pop_due(t0 + secs(4)), None);
        assert_eq!(q.pop_due(t0 + secs(5)), Some("a"));
        assert_eq!(q.next_due(), None);
    }

    #[test]
    fn earliest_retry_comes_first_and_ties_keep_order() {
        let t0 = Instant::now();
        let mut q = RetryQueue::default();
        q.defer("late", t0 + secs(30));
        q.defer("first", t0 + secs(5));
        q.defer("second", t0 + secs(5));
        let later = t0 + secs(60);
        assert_eq!(q.pop_due(later), Some("first"));
        assert_eq!(q.pop_due(later), Some("second"));
        assert_eq!(q.pop_due(later), Some("late"));
    }

    #[test]
    fn due_retries_queue_behind_new_mail() {
        let t0 = Instant::now();
        let mut q = RetryQueue::default();
        q.push("new");
        q.defer("retry", t0);
        q.push("newer");
        assert_eq!(q.pop_due(t0), Some("new"));
        assert_eq!(q.pop_due(t0), Some("newer"));
        assert_eq!(q.pop_due(t0), Some("retry"));
    }

    #[test]
    fn drain_returns_ready_then_waiting_by_due_time() {
        let t0 = Instant::now();
        let mut q = RetryQueue::default();
        q.defer("w2", t0 + secs(20));
        q.defer("w1", t0 + secs(10));
        q.push("r");
        assert_eq!(q.drain(), vec!["r", "w1", "w2"]);
        assert_eq!(q.len(), 0);
    }

    fn failed() -> MailStatus {
        MailStatus::Failed {
            last_error: DeliveryError::ShutDown,
        }
    }

    #[test]
    fn finished_statuses_are_bounded() {
        let mut t = StatusTable::new(100, 3);
        for ticket in 1..=5 {
            t.admit(ticket).unwrap();
            t.set(ticket, MailStatus::Sent);
        }
        assert_eq!(t.len(), 3);
        assert!(t.get(1).is_none() && t.get(2).is_none());
        assert!(matches!(t.get(5), Some(MailStatus::Sent)));
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn in_flight_mails_are_never_evicted_and_admission_stops_at_the_limit() {
        let mut t = StatusTable::new(2, 1);
        t.admit(1).unwrap();
        t.admit(2).unwrap();
        assert_eq!(t.admit(3), Err(Full { limit: 2 }));
        for n in 10..20 {
            t.set(n, failed());
        }
        assert!(matches!(t.get(1), Some(MailStatus::Queued)));
        assert!(matches!(t.get(2), Some(MailStatus::Queued)));
        t.set(1, MailStatus::Sending);
        t.set(1, MailStatus::Sent);
        assert_eq!(t.in_flight(), 1);
        t.admit(3).unwrap();
    }

    #[test]
    fn retrying_is_still_in_flight() {
        let mut t = StatusTable::new(10, 10);
        t.admit(1).unwrap();
        t.set(
            1,
            MailStatus::Retrying {
                attempt: 1,
                next_in_secs: 5,
                last_error: DeliveryError::ShutDown,
            },
        );
        assert_eq!(t.in_flight(), 1);
        t.set(1, failed());
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn mail_refused_before_admission_is_kept_as_finished() {
        let mut t = StatusTable::new(10, 10);
        t.set(7, failed());
        assert!(matches!(t.get(7), Some(MailStatus::Failed { .. })));
        assert_eq!(t.in_flight(), 0);
    }
}
