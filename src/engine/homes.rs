//! Which media worker hosts each meeting. A new meeting goes to the least loaded worker at
//! that moment, and its home is forgotten when it empties, so that big meetings spread over
//! the workers instead of landing where a hash of their conference ID points.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What a meeting a worker hosts counts for in its load, beside its calls: a meeting starts
/// with one caller and grows, so meetings that start together would otherwise all go to
/// whichever worker had a call fewer at that instant.
const CALLS_PER_MEETING: usize = 20;

/// The meetings' homes and the workers' loads, shared by the workers and the runtime.
#[derive(Debug)]
pub struct MeetingHomes {
    homes: Mutex<Homes>,
    /// Calls on each worker, as each last said.
    loads: Vec<AtomicUsize>,
    /// Where the search for the least loaded worker starts, so ties rotate.
    next: AtomicUsize,
}

/// The homes, and how many meetings each worker hosts.
#[derive(Debug, Default)]
struct Homes {
    by_conference: HashMap<String, usize>,
    hosted: Vec<usize>,
}

impl Homes {
    fn insert(&mut self, conference_id: &str, worker: usize) {
        self.by_conference.insert(conference_id.to_string(), worker);
        if let Some(n) = self.hosted.get_mut(worker) {
            *n += 1;
        }
    }
}

impl MeetingHomes {
    /// Homes for `workers` workers (at least one).
    pub fn new(workers: usize) -> Self {
        MeetingHomes {
            homes: Mutex::new(Homes {
                by_conference: HashMap::new(),
                hosted: vec![0; workers.max(1)],
            }),
            loads: (0..workers.max(1)).map(|_| AtomicUsize::new(0)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// The worker hosting `conference_id`; for a meeting nobody hosts, the least loaded
    /// worker, which becomes its home.
    pub fn home(&self, conference_id: &str) -> usize {
        self.place(conference_id, |hosted| self.least_loaded(hosted))
    }

    /// The worker hosting `conference_id`, if a meeting is hosted (asking never places one).
    pub fn find(&self, conference_id: &str) -> Option<usize> {
        self.lock().by_conference.get(conference_id).copied()
    }

    /// Called by `worker` before it hosts the meeting: the meeting's home, which is
    /// `worker` itself unless another worker took the meeting since the caller or command was
    /// sent here (its home was given up and chosen again meanwhile).
    pub fn settle(&self, conference_id: &str, worker: usize) -> usize {
        self.place(conference_id, |_| worker)
    }

    /// The meeting on `worker` emptied: its next caller may be placed anew.
    pub fn vacate(&self, conference_id: &str, worker: usize) {
        let mut homes = self.lock();
        if homes.by_conference.get(conference_id) == Some(&worker) {
            homes.by_conference.remove(conference_id);
            if let Some(n) = homes.hosted.get_mut(worker) {
                *n = n.saturating_sub(1);
            }
        }
    }

    /// `worker` now has `calls` calls.
    pub fn set_load(&self, worker: usize, calls: usize) {
        if let Some(load) = self.loads.get(worker) {
            load.store(calls, Ordering::Relaxed);
        }
    }

    /// The meeting's home; if it has none, `choose` picks one (given the meetings each
    /// worker hosts), under the same lock, so two workers never both take a meeting.
    fn place(&self, conference_id: &str, choose: impl FnOnce(&[usize]) -> usize) -> usize {
        let mut homes = self.lock();
        if let Some(&w) = homes.by_conference.get(conference_id) {
            return w;
        }
        let w = choose(&homes.hosted);
        homes.insert(conference_id, w);
        w
    }

    fn least_loaded(&self, hosted: &[usize]) -> usize {
        let n = self.loads.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let load = |i: usize| {
            let calls = self
                .loads
                .get(i)
                .map_or(usize::MAX, |l| l.load(Ordering::Relaxed));
            let meetings = hosted.get(i).copied().unwrap_or(0);
            calls.saturating_add(meetings.saturating_mul(CALLS_PER_MEETING))
        };
        (0..n)
            .map(|i| (start + i) % n)
            .min_by_key(|&i| load(i))
            .unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Homes> {
        // A panic elsewhere while holding the lock leaves a map that is still whole.
        self.homes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_meeting_goes_to_the_least_loaded_worker_and_stays_there_until_it_empties() {
        let homes = MeetingHomes::new(2);
        homes.set_load(0, 7_500);
        homes.set_load(1, 4_500);
        assert_eq!(homes.home("111"), 1);
        homes.set_load(1, 9_000);
        assert_eq!(
            homes.home("111"),
            1,
            "a meeting does not move while it runs"
        );
        assert_eq!(homes.find("111"), Some(1));
        assert_eq!(
            homes.home("222"),
            0,
            "the next one goes where there is room"
        );
        homes.vacate("111", 1);
        assert_eq!(homes.find("111"), None);
        assert_eq!(homes.home("111"), 0, "placed anew once it emptied");
    }

    #[test]
    fn meetings_that_start_together_spread_even_if_one_worker_had_a_call_fewer() {
        let homes = MeetingHomes::new(2);
        homes.set_load(0, 3);
        homes.set_load(1, 5);
        let placed: Vec<usize> = (0..16).map(|i| homes.home(&format!("{i}"))).collect();
        let on_zero = placed.iter().filter(|&&w| w == 0).count();
        assert_eq!(on_zero, 8, "{placed:?}");
        // A worker hosting one meeting of 3,000 gets the next ones less often.
        let homes = MeetingHomes::new(2);
        homes.set_load(0, 3_000);
        assert_eq!(homes.home("big"), 1);
        homes.set_load(1, 3_000);
        homes.set_load(0, 10);
        let placed: Vec<usize> = (0..10).map(|i| homes.home(&format!("s{i}"))).collect();
        assert!(placed.iter().all(|&w| w == 0), "{placed:?}");
    }

    #[test]
    fn equal_loads_take_turns_and_asking_never_places_a_meeting() {
        let homes = MeetingHomes::new(3);
        let placed: Vec<usize> = ["a", "b", "c"].iter().map(|c| homes.home(c)).collect();
        let mut sorted = placed.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![0, 1, 2], "{placed:?}");
        assert_eq!(homes.find("d"), None);
        assert_eq!(homes.find("d"), None);
    }

    #[test]
    fn a_worker_settling_a_meeting_another_took_meanwhile_is_told_where_it_is() {
        let homes = MeetingHomes::new(2);
        homes.set_load(1, 10);
        assert_eq!(homes.home("123"), 0);
        // Worker 0's meeting empties while a caller is on its way there...
        homes.vacate("123", 0);
        // ...and another caller's join places it on worker 1.
        homes.set_load(0, 20);
        homes.set_load(1, 0);
        assert_eq!(homes.home("123"), 1);
        // The caller on its way arrives at worker 0, which must send it on.
        assert_eq!(homes.settle("123", 0), 1);
        // A worker settling a meeting nobody hosts takes it.
        assert_eq!(homes.settle("456", 0), 0);
        assert_eq!(homes.find("456"), Some(0));
        // Only the hosting worker gives a home up.
        homes.vacate("456", 1);
        assert_eq!(homes.find("456"), Some(0));
    }
}
