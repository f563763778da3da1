//! What a run measured: HDR histograms of the latencies (microseconds), counters, and the
//! generator's own CPU and lag, merged over the shards.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Longest latency a histogram holds (an hour, in µs); longer ones are clamped to it.
const MAX_US: u64 = 3_600_000_000;

/// A latency histogram in microseconds, 3 significant digits.
#[derive(Clone)]
pub struct Latency(Histogram<u64>);

impl Latency {
    /// An empty histogram.
    pub fn new() -> Latency {
        Latency(
            Histogram::new_with_bounds(1, MAX_US, 3)
                .expect("1 µs to 1 h at 3 significant digits is a valid histogram"),
        )
    }

    /// Records one duration.
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros())
            .unwrap_or(MAX_US)
            .clamp(1, MAX_US);
        self.0.saturating_record(us);
    }

    /// Adds another histogram's samples.
    pub fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides, so `add` cannot fail; a failure would only lose samples.
        let _ = self.0.add(&other.0);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The summary printed and put in JSON.
    pub fn summary(&self) -> Summary {
        let ms = |q: f64| self.0.value_at_quantile(q) as f64 / 1000.0;
        Summary {
            count: self.count(),
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: self.0.max() as f64 / 1000.0,
        }
    }
}

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

/// Quantiles of one latency, in milliseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

/// What the calls answered by one node did (nodes told apart by the address of their SDP
/// answers: behind a proxy, which node of a cluster answered).
#[derive(Clone, Default)]
pub struct NodeStats {
    /// Calls it answered with 200.
    pub answered: u64,
    /// The organizer's PIN `#` sent → first meeting frame, for lobby callers it answered.
    pub pin_to_meeting: Latency,
}

/// One node's part of a run, as printed and as JSON.
#[derive(Clone, Debug, Serialize)]
pub struct NodeSummary {
    /// Calls it answered.
    pub answered: u64,
    /// PIN `#` → meeting audio for the lobby callers it answered.
    pub pin_to_meeting: Summary,
}

impl NodeStats {
    /// The summary printed and put in JSON.
    pub fn summary(&self) -> NodeSummary {
        NodeSummary {
            answered: self.answered,
            pin_to_meeting: self.pin_to_meeting.summary(),
        }
    }
}

/// Counters and histograms of one shard (or, merged, of a run).
#[derive(Clone, Default)]
pub struct Stats {
    /// Calls planned.
    pub planned: u64,
    /// Calls whose INVITE went out.
    pub started: u64,
    /// Calls answered with 200.
    pub answered: u64,
    /// Calls that did everything asked and ended with a 200 to our BYE.
    pub succeeded: u64,
    /// Failed calls by reason.
    pub failed: BTreeMap<&'static str, u64>,
    /// Requests we had to send again (Timers A and E).
    pub retransmissions_sent: u64,
    /// Responses and requests the bridge sent again (a 200 we had already acknowledged…).
    pub retransmissions_received: u64,
    /// RTP packets sent and received.
    pub rtp_sent: u64,
    /// RTP packets received.
    pub rtp_received: u64,
    /// Sends refused by a full socket buffer (the generator's own drops).
    pub send_errors: u64,
    /// 1 ms media slots skipped because the shard was late by more than a frame.
    pub skipped_slots: u64,
    /// INVITE → 200, from when the call should have started.
    pub invite_200: Latency,
    /// INVITE → 200, from when the INVITE actually left (what SIPp's response time is).
    pub invite_200_sent: Latency,
    /// Last `#` sent → first lobby frame (lobby prompt or hold music).
    pub lobby: Latency,
    /// The organizer's PIN `#` sent → each lobby caller's first meeting frame.
    pub pin_to_meeting: Latency,
    /// How late each INVITE left against its schedule.
    pub start_lag: Latency,
    /// How late each media slot's last packet left against its 1 ms deadline.
    pub send_lag: Latency,
    /// CPU seconds of the shard threads.
    pub cpu_seconds: f64,
    /// Per answering node (the IP address of its SDP answers).
    pub by_node: BTreeMap<IpAddr, NodeStats>,
}

impl Stats {
    /// Counts a failed call.
    pub fn fail(&mut self, why: &'static str) {
        *self.failed.entry(why).or_default() += 1;
    }

    /// Failed calls.
    pub fn failed_calls(&self) -> u64 {
        self.failed.values().sum()
    }

    /// Adds another shard's numbers.
    pub fn merge(&mut self, o: &Stats) {
        self.planned += o.planned;
        self.started += o.started;
        self.answered += o.answered;
        self.succeeded += o.succeeded;
        for (k, v) in &o.failed {
            *self.failed.entry(k).or_default() += v;
        }
        self.retransmissions_sent += o.retransmissions_sent;
        self.retransmissions_received += o.retransmissions_received;
        self.rtp_sent += o.rtp_sent;
        self.rtp_received += o.rtp_received;
        self.send_errors += o.send_errors;
        self.skipped_slots += o.skipped_slots;
        self.invite_200.merge(&o.invite_200);
        self.invite_200_sent.merge(&o.invite_200_sent);
        self.lobby.merge(&o.lobby);
        self.pin_to_meeting.merge(&o.pin_to_meeting);
        self.start_lag.merge(&o.start_lag);
        self.send_lag.merge(&o.send_lag);
        self.cpu_seconds += o.cpu_seconds;
        for (ip, n) in &o.by_node {
            let mine = self.by_node.entry(*ip).or_default();
            mine.answered += n.answered;
            mine.pin_to_meeting.merge(&n.pin_to_meeting);
        }
    }
}

/// CPU seconds (user + system) the calling thread has used.
pub fn thread_cpu_seconds() -> f64 {
    rusage_seconds(libc::RUSAGE_THREAD)
}

/// CPU seconds (user + system) the whole process has used.
pub fn process_cpu_seconds() -> f64 {
    rusage_seconds(libc::RUSAGE_SELF)
}

fn rusage_seconds(who: libc::c_int) -> f64 {
    // SAFETY: getrusage writes into the struct we pass; zeroed is a valid `rusage`.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable rusage; `who` is RUSAGE_SELF or RUSAGE_THREAD.
    if unsafe { libc::getrusage(who, &mut u) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}
