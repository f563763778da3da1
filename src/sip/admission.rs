//! Admission control for new calls: a cap on calls in progress and a token bucket on new
//! calls per second, for this node and (on a cluster) for all nodes together. Past any, a new INVITE gets `503 Service Unavailable` with
//! `Retry-After` at once, so an overload costs a few microseconds per refused call instead of
//! late answers, retransmissions and a collapse that takes the calls already up with it.

use std::time::Instant;

/// The limits; 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdmissionConfig {
    /// Calls in progress (answered and not yet ended) on this node.
    pub max_calls: usize,
    /// New calls per second on this node, on average.
    pub max_rate: f64,
    /// Callers in progress across a cluster (relay legs between nodes not counted twice).
    pub cluster_max_calls: usize,
    /// New callers per second across a cluster: each node taking calls admits its share.
    pub cluster_max_rate: f64,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            max_calls: 10_000,
            max_rate: 1_000.0,
            cluster_max_calls: 0,
            cluster_max_rate: 0.0,
        }
    }
}

/// Calls in progress, as one admission decision sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Load {
    /// Calls this node holds (relay legs from other nodes included: they use its capacity).
    pub here: usize,
    /// The cluster's figures; None on a single node, and for a relay leg (its caller was
    /// admitted by the node that answered it).
    pub cluster: Option<ClusterLoad>,
}

/// The cluster's figures, from this node's count and the other nodes' last heartbeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterLoad {
    /// Callers in progress on every node, each counted once (on the node that answered it).
    pub callers: usize,
    /// Nodes taking new calls (this one included), which share the cluster's rate.
    pub sharing_nodes: usize,
}

/// Whether to take a new call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Take it.
    Admit,
    /// Too many calls in progress: answer 503, try again after this many seconds.
    TooManyCalls {
        /// For `Retry-After`.
        retry_after_s: u32,
    },
    /// Too many new calls this second: answer 503, try again after this many seconds.
    TooFast {
        /// For `Retry-After`.
        retry_after_s: u32,
    },
    /// Too many callers across the cluster: answer 503.
    ClusterFull {
        /// For `Retry-After`.
        retry_after_s: u32,
    },
    /// This node's share of the cluster's new calls per second is used up: answer 503.
    ClusterTooFast {
        /// For `Retry-After`.
        retry_after_s: u32,
    },
}

/// A token bucket holding at most one second's worth of its rate.
#[derive(Debug, Clone, Default)]
struct Bucket {
    /// Tokens left and when they were counted; None: full, never used.
    state: Option<(f64, Instant)>,
}

impl Bucket {
    /// Refills for the time since the last call at `rate`; true when a token is there.
    fn ready(&mut self, now: Instant, rate: f64) -> bool {
        let burst = rate.max(1.0);
        let tokens = match self.state {
            Some((tokens, last)) => {
                let elapsed = now.saturating_duration_since(last).as_secs_f64();
                (tokens + elapsed * rate).min(burst)
            }
            None => burst,
        };
        self.state = Some((tokens, now));
        tokens >= 1.0
    }

    fn take(&mut self) {
        if let Some((tokens, _)) = self.state.as_mut() {
            *tokens -= 1.0;
        }
    }
}

/// The admission state (sans-IO: the caller passes the time and the calls in progress).
#[derive(Debug, Clone)]
pub struct Admission {
    config: AdmissionConfig,
    node: Bucket,
    cluster: Bucket,
}

impl Admission {
    /// Full buckets: one second's worth of calls may arrive at once.
    pub fn new(config: AdmissionConfig) -> Self {
        Admission {
            config,
            node: Bucket::default(),
            cluster: Bucket::default(),
        }
    }

    /// Decides on one new call at `now`; a refused call takes no token.
    pub fn admit(&mut self, now: Instant, load: Load) -> Verdict {
        let c = self.config;
        if c.max_calls > 0 && load.here >= c.max_calls {
            return Verdict::TooManyCalls { retry_after_s: 10 };
        }
        let cluster = load
            .cluster
            .filter(|_| c.cluster_max_calls > 0 || c.cluster_max_rate > 0.0);
        if let Some(cl) = cluster
            && c.cluster_max_calls > 0
            && cl.callers >= c.cluster_max_calls
        {
            return Verdict::ClusterFull { retry_after_s: 10 };
        }
        if c.max_rate > 0.0 && !self.node.ready(now, c.max_rate) {
            return Verdict::TooFast { retry_after_s: 1 };
        }
        if let Some(cl) = cluster
            && c.cluster_max_rate > 0.0
        {
            let share = c.cluster_max_rate / cl.sharing_nodes.max(1) as f64;
            if !self.cluster.ready(now, share) {
                return Verdict::ClusterTooFast { retry_after_s: 1 };
            }
            self.cluster.take();
        }
        if c.max_rate > 0.0 {
            self.node.take();
        }
        Verdict::Admit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn here(calls: usize) -> Load {
        Load {
            here: calls,
            cluster: None,
        }
    }

    fn cluster(here: usize, callers: usize, sharing_nodes: usize) -> Load {
        Load {
            here,
            cluster: Some(ClusterLoad {
                callers,
                sharing_nodes,
            }),
        }
    }

    #[test]
    fn the_call_cap_refuses_at_the_limit_and_admits_below_it() {
        let mut a = Admission::new(AdmissionConfig {
            max_calls: 3,
            max_rate: 0.0,
            ..Default::default()
        });
        let t = Instant::now();
        assert_eq!(a.admit(t, here(2)), Verdict::Admit);
        assert_eq!(
            a.admit(t, here(3)),
            Verdict::TooManyCalls { retry_after_s: 10 }
        );
        assert_eq!(a.admit(t, here(2)), Verdict::Admit);
    }

    #[test]
    fn the_rate_allows_a_second_of_burst_then_refills_with_time() {
        let mut a = Admission::new(AdmissionConfig {
            max_calls: 0,
            max_rate: 10.0,
            ..Default::default()
        });
        let t = Instant::now();
        let admitted = (0..25)
            .filter(|_| a.admit(t, here(0)) == Verdict::Admit)
            .count();
        assert_eq!(admitted, 10, "one second's worth at once");
        assert_eq!(a.admit(t, here(0)), Verdict::TooFast { retry_after_s: 1 });
        // 100 ms later, one more token.
        let t2 = t + Duration::from_millis(100);
        assert_eq!(a.admit(t2, here(0)), Verdict::Admit);
        assert_eq!(a.admit(t2, here(0)), Verdict::TooFast { retry_after_s: 1 });
        // Over 10 s at exactly the rate, every call gets in.
        let mut now = t2;
        let mut ok = 0;
        for _ in 0..100 {
            now += Duration::from_millis(100);
            if a.admit(now, here(0)) == Verdict::Admit {
                ok += 1;
            }
        }
        assert_eq!(ok, 100);
        // A long pause does not bank more than the burst.
        let later = now + Duration::from_secs(3600);
        let burst = (0..50)
            .filter(|_| a.admit(later, here(0)) == Verdict::Admit)
            .count();
        assert_eq!(burst, 10);
    }

    #[test]
    fn zero_means_unlimited() {
        let mut a = Admission::new(AdmissionConfig {
            max_calls: 0,
            max_rate: 0.0,
            ..Default::default()
        });
        let t = Instant::now();
        assert!((0..10_000).all(|i| a.admit(t, here(i)) == Verdict::Admit));
    }

    #[test]
    fn the_cluster_cap_counts_every_nodes_callers_and_spares_relay_legs() {
        let mut a = Admission::new(AdmissionConfig {
            max_calls: 100,
            max_rate: 0.0,
            cluster_max_calls: 10,
            cluster_max_rate: 0.0,
        });
        let t = Instant::now();
        assert_eq!(a.admit(t, cluster(2, 9, 3)), Verdict::Admit);
        assert_eq!(
            a.admit(t, cluster(2, 10, 3)),
            Verdict::ClusterFull { retry_after_s: 10 }
        );
        // A relay leg's caller was admitted where it was answered.
        assert_eq!(a.admit(t, here(2)), Verdict::Admit);
        // The node's own cap still protects the node.
        assert_eq!(
            a.admit(t, cluster(100, 0, 3)),
            Verdict::TooManyCalls { retry_after_s: 10 }
        );
    }

    #[test]
    fn each_node_takes_its_share_of_the_cluster_rate_and_the_share_follows_the_nodes() {
        let mut a = Admission::new(AdmissionConfig {
            max_calls: 0,
            max_rate: 1000.0,
            cluster_max_calls: 0,
            cluster_max_rate: 30.0,
        });
        let t = Instant::now();
        let admitted = (0..100)
            .filter(|_| a.admit(t, cluster(0, 0, 3)) == Verdict::Admit)
            .count();
        assert_eq!(admitted, 10, "a third of 30 per second");
        assert_eq!(
            a.admit(t, cluster(0, 0, 3)),
            Verdict::ClusterTooFast { retry_after_s: 1 }
        );
        // One second later with two nodes left: 15 per second here.
        let t2 = t + Duration::from_secs(1);
        let admitted = (0..100)
            .filter(|_| a.admit(t2, cluster(0, 0, 2)) == Verdict::Admit)
            .count();
        assert_eq!(admitted, 15);
    }

    #[test]
    fn a_call_the_cluster_refuses_takes_no_token_from_the_node() {
        let mut a = Admission::new(AdmissionConfig {
            max_calls: 0,
            max_rate: 12.0,
            cluster_max_calls: 0,
            cluster_max_rate: 30.0,
        });
        let t = Instant::now();
        let admitted = (0..50)
            .filter(|_| a.admit(t, cluster(0, 0, 3)) == Verdict::Admit)
            .count();
        assert_eq!(admitted, 10);
        // 12 − 10 node tokens are left for relay legs, whatever the refusals above.
        let legs = (0..50)
            .filter(|_| a.admit(t, here(0)) == Verdict::Admit)
            .count();
        assert_eq!(legs, 2);
    }

    #[test]
    fn cluster_limits_of_zero_leave_only_the_nodes_own() {
        let mut a = Admission::new(AdmissionConfig {
            max_calls: 5,
            max_rate: 0.0,
            ..Default::default()
        });
        let t = Instant::now();
        assert_eq!(a.admit(t, cluster(4, 1_000_000, 1)), Verdict::Admit);
    }
}
