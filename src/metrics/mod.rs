//! Counters and histograms the bridge exports in the Prometheus text format at `/metrics`.
//!
//! Plain atomics: the media threads update them on the hot path without locks, the HTTP
//! handler reads them. A fixed-bucket histogram keeps percentiles cheap to compute.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Something that renders the Prometheus text exposition: what `/metrics` serves. A trait,
/// so the admin server that serves it does not depend on the process shells that fill it.
pub trait Exposition: Send + Sync {
    /// The whole exposition, as text.
    fn render(&self) -> String;
}

/// A histogram of durations in microseconds with fixed, fine buckets.
#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds in µs (inclusive), ascending; the last bucket is "+Inf".
    bounds: &'static [u64],
    counts: Vec<AtomicU64>,
    sum_us: AtomicU64,
}

/// Buckets for media tick lateness: 50 µs steps to 2 ms, then coarser to 100 ms.
pub const LATENESS_BOUNDS_US: &[u64] = &[
    50, 100, 150, 200, 250, 300, 400, 500, 600, 700, 800, 900, 1000, 1250, 1500, 1750, 2000, 2500,
    3000, 4000, 5000, 6000, 8000, 10_000, 15_000, 20_000, 30_000, 50_000, 100_000,
];

impl Default for Histogram {
    /// Latency buckets from 50 µs to 100 ms.
    fn default() -> Self {
        Histogram::new(LATENESS_BOUNDS_US)
    }
}

impl Histogram {
    /// An empty histogram over `bounds`.
    pub fn new(bounds: &'static [u64]) -> Self {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe_us(&self, us: u64) {
        let i = self.bounds.partition_point(|&b| b < us);
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// The bucket bound under which fraction `q` of observations fall (None if empty; the
    /// last finite bound + 1 if they fall in "+Inf").
    pub fn quantile_us(&self, q: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let target = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c.load(Ordering::Relaxed);
            if seen >= target {
                return Some(match self.bounds.get(i) {
                    Some(b) => *b,
                    None => self.bounds.last().copied().unwrap_or(0) + 1,
                });
            }
        }
        None
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c.load(Ordering::Relaxed);
            let le = match self.bounds.get(i) {
                Some(b) => format!("{}", *b as f64 / 1e6),
                None => "+Inf".into(),
            };
            let sep = if labels.is_empty() { "" } else { "," };
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
            );
        }
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(
            out,
            "{name}_sum{braces} {}",
            self.sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count{braces} {cumulative}");
    }
}

/// Renders one counter or gauge line with its HELP/TYPE header.
pub fn render_value(out: &mut String, name: &str, kind: &str, help: &str, values: &[(&str, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, v) in values {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {v}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    }
}

/// Renders a histogram with its HELP/TYPE header.
pub fn render_histogram(out: &mut String, name: &str, help: &str, series: &[(&str, &Histogram)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} histogram");
    for (labels, h) in series {
        h.render(out, name, labels);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_bucket_bounds() {
        let h = Histogram::new(LATENESS_BOUNDS_US);
        assert_eq!(h.quantile_us(0.99), None);
        for _ in 0..98 {
            h.observe_us(40);
        }
        h.observe_us(900);
        h.observe_us(7000);
        assert_eq!(h.quantile_us(0.5), Some(50));
        assert_eq!(h.quantile_us(0.99), Some(900));
        assert_eq!(h.quantile_us(1.0), Some(8000));
        h.observe_us(10_000_000);
        assert_eq!(h.quantile_us(1.0), Some(100_001), "beyond the last bound");
        assert_eq!(h.count(), 101);
    }

    #[test]
    fn renders_prometheus_text() {
        let h = Histogram::new(&[100, 200]);
        h.observe_us(150);
        let mut out = String::new();
        render_histogram(&mut out, "x_seconds", "help", &[("worker=\"0\"", &h)]);
        assert!(
            out.contains("x_seconds_bucket{worker=\"0\",le=\"0.0001\"} 0"),
            "{out}"
        );
        assert!(out.contains("x_seconds_bucket{worker=\"0\",le=\"0.0002\"} 1"));
        assert!(out.contains("x_seconds_bucket{worker=\"0\",le=\"+Inf\"} 1"));
        assert!(out.contains("x_seconds_count{worker=\"0\"} 1"));
    }
}
