//! The engine target's input language: a script of raw datagrams, clock steps and
//! application decisions, played against a `Driver`.
//!
//! The input is text so that seeds are readable SIP and mutations stay meaningful. Bytes
//! before the first `%%` line are one datagram from the first source. Each line starting with
//! `%%` is a command; what follows it up to the next `%%` line is its payload:
//!
//! - `%%recv N` — the payload is a datagram from source `N` (of four loopback addresses);
//!   `$TAG` in it becomes the newest To tag the endpoint sent, `$BRANCH` the branch of the
//!   newest request it sent (its BYE), so in-dialog requests and responses can match.
//! - `%%wait MS` — the fake clock moves on, running the timers that fall due.
//! - `%%policy accept|hold|reject CODE` — how the next incoming calls are answered.
//! - `%%accept N`, `%%reject N CODE`, `%%hangup N`, `%%hangupall` — the application acts on the
//!   N-th offered call.
//! - `%%delay MS` — ring this long before answering (the first one anywhere counts).

use std::net::SocketAddr;
use std::time::Duration;

use crate::{Driver, Policy, SOURCES};

/// Longest single clock step, so a script cannot overflow `Instant`.
const MAX_WAIT_MS: u64 = 3_600_000;

/// Plays a script against a fresh endpoint; returns the driver for checks (and shutdown).
pub fn run(data: &[u8]) -> Driver {
    let steps = split_steps(data);
    let delay = steps
        .iter()
        .find_map(|(cmd, _)| match words(cmd).as_slice() {
            ["delay", ms, ..] => Some(Duration::from_millis(number(ms).min(60_000))),
            _ => None,
        })
        .unwrap_or(Duration::ZERO);
    let sources: Vec<SocketAddr> = SOURCES.iter().filter_map(|s| s.parse().ok()).collect();
    let mut d = Driver::new(delay);
    for (cmd, payload) in steps {
        let w = words(cmd);
        let arg = |i: usize| w.get(i).map_or(0, |s| number(s));
        match w.first().copied().unwrap_or("recv") {
            "recv" => {
                let source = sources[(arg(1) as usize) % sources.len()];
                let datagram = substitute(payload, &d);
                d.deliver(source, &datagram);
            }
            "wait" => d.advance(Duration::from_millis(arg(1).min(MAX_WAIT_MS))),
            "policy" => {
                d.policy = match w.get(1).copied() {
                    Some("hold") => Policy::Hold,
                    Some("reject") => Policy::Reject(status(arg(2))),
                    _ => Policy::Accept,
                }
            }
            "accept" => {
                if let Some(call) = d.pick(arg(1) as usize) {
                    d.accept(call);
                }
            }
            "reject" => {
                if let Some(call) = d.pick(arg(1) as usize) {
                    d.reject(call, status(arg(2)), None);
                }
            }
            "hangup" => {
                if let Some(call) = d.pick(arg(1) as usize) {
                    d.hangup(call);
                }
            }
            "hangupall" => d.hangup_all(),
            _ => {}
        }
    }
    d
}

/// Splits the script into (command line, payload) pairs; see the module comment.
fn split_steps(data: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut starts: Vec<usize> = Vec::new();
    if data.starts_with(b"%%") {
        starts.push(0);
    }
    starts.extend(
        data.windows(3)
            .enumerate()
            .filter(|(_, w)| *w == b"\n%%")
            .map(|(i, _)| i + 1),
    );
    let mut steps = Vec::with_capacity(starts.len() + 1);
    let first = starts.first().copied().unwrap_or(data.len());
    if first > 0 {
        steps.push((&b""[..], &data[..first]));
    }
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(data.len());
        let step = &data[start + 2..end];
        let (cmd, payload) = match step.iter().position(|&b| b == b'\n') {
            Some(nl) => (&step[..nl], &step[nl + 1..]),
            None => (step, &b""[..]),
        };
        steps.push((cmd, payload));
    }
    steps
}

fn words(cmd: &[u8]) -> Vec<&str> {
    std::str::from_utf8(cmd)
        .unwrap_or("")
        .split_ascii_whitespace()
        .collect()
}

fn number(s: &str) -> u64 {
    s.parse().unwrap_or(0)
}

/// A final status for `reject`; anything else becomes 486 Busy Here.
fn status(n: u64) -> u16 {
    u16::try_from(n)
        .ok()
        .filter(|code| (300..=699).contains(code))
        .unwrap_or(486)
}

/// Replaces `$TAG` and `$BRANCH` with what the endpoint sent last.
fn substitute(payload: &[u8], d: &Driver) -> Vec<u8> {
    let tag = d.tags.last().map_or("none", String::as_str);
    let branch = d.branches.last().map_or("none", String::as_str);
    let mut out = Vec::with_capacity(payload.len() + 32);
    let mut rest = payload;
    while let Some(pos) = rest.iter().position(|&b| b == b'$') {
        out.extend_from_slice(&rest[..pos]);
        let after = &rest[pos..];
        if after.starts_with(b"$TAG") {
            out.extend_from_slice(tag.as_bytes());
            rest = &after[4..];
        } else if after.starts_with(b"$BRANCH") {
            out.extend_from_slice(branch.as_bytes());
            rest = &after[7..];
        } else {
            out.push(b'$');
            rest = &after[1..];
        }
    }
    out.extend_from_slice(rest);
    out
}
