//! Which media worker hosts each meeting. A new meeting goes to the worker with the fewest
//! calls at that moment, and its home is forgotten when it empties, so that big meetings
//! spread over the workers instead of landing where a hash of their conference ID points.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The meetings' homes and the workers' loads, shared by the workers and the runtime.
#[derive(Debug)]
pub struct MeetingHomes {
    homes: Mutex<HashMap<String, usize>>,
    /// Calls on each worker, as each last said.
    loads: Vec<AtomicUsize>,
    /// Where the search for the least loaded worker starts, so ties rotate.
    next: AtomicUsize,
}

impl MeetingHomes {
    /// Homes for `workers` workers (at least one).
    pub fn new(workers: usize) -> Self {
        MeetingHomes {
            homes: Mutex::new(HashMap::new()),
            loads: (0..workers.max(1)).map(|_| AtomicUsize::new(0)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.loads.len()
    }

    /// The worker hosting `conference_id`; for a meeting nobody hosts, the least loaded
    /// worker, which becomes its home.
    pub fn home(&self, conference_id: &str) -> usize {
        let mut homes = self.lock();
        if let Some(&w) = homes.get(conference_id) {
            return w;
        }
        let w = self.least_loaded();
        homes.insert(conference_id.to_string(), w);
        w
    }

    /// The worker hosting `conference_id`, if a meeting is hosted (asking never places one).
    pub fn find(&self, conference_id: &str) -> Option<usize> {
        self.lock().get(conference_id).copied()
    }

    /// Called by `worker` before it hosts the meeting: the meeting's home, which is
    /// `worker` itself unless another worker took the meeting since the caller or command was
    /// sent here (its home was given up and chosen again meanwhile).
    pub fn settle(&self, conference_id: &str, worker: usize) -> usize {
        *self
            .lock()
            .entry(conference_id.to_string())
            .or_insert(worker)
    }

    /// The meeting on `worker` emptied: its next caller may be placed anew.
    pub fn vacate(&self, conference_id: &str, worker: usize) {
        let mut homes = self.lock();
        if homes.get(conference_id) == Some(&worker) {
            homes.remove(conference_id);
        }
    }

    /// `worker` now has `calls` calls.
    pub fn set_load(&self, worker: usize, calls: usize) {
        if let Some(load) = self.loads.get(worker) {
            load.store(calls, Ordering::Relaxed);
        }
    }

    fn least_loaded(&self) -> usize {
        let n = self.loads.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        (0..n)
            .map(|i| (start + i) % n)
            .min_by_key(|&i| {
                self.loads
                    .get(i)
                    .map_or(usize::MAX, |l| l.load(Ordering::Relaxed))
            })
            .unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
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
