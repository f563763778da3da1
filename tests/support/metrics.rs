//! Values from the bridge's Prometheus `/metrics` page, read one way for every test: a value
//! is the sum of the samples of one metric (its exact name, never a prefix) whose labels
//! include each of the labels asked for, so `[]` sums every series of the metric and
//! `["reason=\"auth\""]` picks one series of a metric labelled only by `reason`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::Bridge;
use super::http::{request, try_request};

/// The sum of every sample of `name` whose labels include each of `labels`
/// (`place="lobby"`) in the Prometheus text `text`; 0 when none has them.
pub fn metric_in(text: &str, name: &str, labels: &[&str]) -> f64 {
    samples(text, name, labels).sum()
}

/// `metric_in` at `http`'s `/metrics`; None while it cannot be read (a server starting up).
pub fn metric(http: SocketAddr, name: &str, labels: &[&str]) -> Option<f64> {
    let response = try_request(http, "GET", "/metrics", &[], None).ok()?;
    if response.status != 200 {
        return None;
    }
    Some(metric_in(&response.body, name, labels))
}

/// Waits up to `timeout` until `metric(http, name, labels)` is `want`; panics with `what`
/// otherwise.
pub fn wait_metric(
    http: SocketAddr,
    name: &str,
    labels: &[&str],
    want: f64,
    timeout: Duration,
    what: &str,
) {
    let deadline = Instant::now() + timeout;
    let mut last = None;
    while Instant::now() < deadline {
        last = metric(http, name, labels);
        if last == Some(want) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: {name}{labels:?} is {last:?}, not {want}, after {timeout:?}");
}

impl Bridge {
    /// `metric_in` at this bridge's `/metrics`, as the whole number a counter or gauge is;
    /// panics with the page when it cannot be read.
    pub fn metric(&self, name: &str, labels: &[&str]) -> u64 {
        let text = self.metrics_text();
        whole(metric_in(&text, name, labels), name, labels, &text)
    }

    /// `metric`, but panics when no sample matches: for a series the bridge always exports,
    /// whose absence is a fault to report, not a 0 to compare.
    pub fn expect_metric(&self, name: &str, labels: &[&str]) -> u64 {
        let text = self.metrics_text();
        let found: Vec<f64> = samples(&text, name, labels).collect();
        assert!(
            !found.is_empty(),
            "{name}{labels:?} not in /metrics:\n{text}"
        );
        whole(found.iter().sum(), name, labels, &text)
    }

    /// Polls `metric` until it reads `want` or `within` passes; returns what it read last,
    /// for the caller to assert on.
    pub fn wait_metric(&self, name: &str, labels: &[&str], want: u64, within: Duration) -> u64 {
        super::settle(within, || self.metric(name, labels), |got| *got == want)
    }

    /// The page as a scraper gets it (no token), for the readers above.
    fn metrics_text(&self) -> String {
        let http = self.http.expect("bridge started with http: true");
        let response = request(http, "GET", "/metrics", &[], None);
        assert_eq!(response.status, 200, "/metrics: {}", response.body);
        response.body
    }
}

/// The values of the samples `metric_in` sums.
fn samples<'a>(
    text: &'a str,
    name: &'a str,
    labels: &'a [&'a str],
) -> impl Iterator<Item = f64> + 'a {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(move |l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, label_text) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            let have = split_labels(label_text);
            let wanted = metric == name && labels.iter().all(|want| have.contains(want));
            wanted.then(|| value.parse::<f64>().ok()).flatten()
        })
}

/// `a="x",b="y"` as its `name="value"` pairs; a comma inside a quoted value (an address of
/// record may hold any text) does not split.
fn split_labels(text: &str) -> Vec<&str> {
    let mut pairs = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                pairs.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < text.len() {
        pairs.push(&text[start..]);
    }
    pairs
}

/// A counter's or gauge's value as the integer it is; panics on anything else (a histogram's
/// sum in seconds, say), which no caller of `Bridge::metric` means to read.
fn whole(value: f64, name: &str, labels: &[&str], text: &str) -> u64 {
    assert!(
        value >= 0.0 && value.fract() == 0.0,
        "{name}{labels:?} is {value}, not a whole number:\n{text}"
    );
    value as u64
}
