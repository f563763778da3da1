//! Shared pieces of the fuzz targets: a driver for the sans-IO SIP endpoint with a fake clock
//! that plays the server's part (answering events) and checks what the endpoint sends.
//!
//! `Endpoint::handle_datagram` is called in exactly one place, [`Driver::deliver`], so a
//! change to its signature touches one line here.

pub mod script;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use dialbridge::call::CallId;
use dialbridge::sip::endpoint::{Endpoint, EndpointConfig, Event};
use dialbridge::sip::message::{self, Framing, ParseError};
use dialbridge::sip::sdp::{LocalMedia, PTIME_MS};

/// Where fuzzed datagrams claim to come from (loopback only, v4 and v6, several ports).
pub const SOURCES: [&str; 4] = [
    "127.0.0.1:5061",
    "127.0.0.1:5062",
    "127.0.0.2:5060",
    "[::1]:5064",
];

/// How the driver answers `Event::IncomingCall`, like the server's admission decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Accept with a media address (the server's normal path).
    Accept,
    /// Reject at once with this status (403 untrusted, 503 overload or no port).
    Reject(u16),
    /// Leave the call offered; a later explicit `accept`/`reject`/`hangup` decides.
    Hold,
}

/// What the driver knows about one call, to check the endpoint's event order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    Offered,
    Accepted,
    Gone,
}

/// The endpoint, a fake clock and the application's side of the event protocol.
pub struct Driver {
    /// The endpoint under test.
    pub ep: Endpoint,
    /// The fake clock.
    pub now: Instant,
    /// What to do with the next incoming calls.
    pub policy: Policy,
    /// Calls in the order they were offered.
    pub calls: Vec<CallId>,
    seen: HashMap<CallId, Seen>,
    /// To tags the endpoint put in its responses, newest last.
    pub tags: Vec<String>,
    /// Via branches of the requests the endpoint sent (its BYEs), newest last; a
    /// retransmission adds none.
    pub branches: Vec<String>,
    /// Digits reported by `Event::Dtmf`, with their call.
    pub digits: Vec<(CallId, char)>,
    /// Status codes of every response sent, in order.
    pub statuses: Vec<u16>,
    /// `Event::MediaUpdate`s received.
    pub media_updates: usize,
    sources: HashSet<IpAddr>,
    next_port: u16,
}

impl Driver {
    /// A fresh endpoint with this answer delay (0 answers at once).
    pub fn new(answer_delay: Duration) -> Self {
        let config = EndpointConfig {
            answer_delay,
            ..EndpointConfig::default()
        };
        Driver {
            ep: Endpoint::new(config, rand::SeedableRng::seed_from_u64(1)),
            now: Instant::now(),
            policy: Policy::Accept,
            calls: Vec::new(),
            seen: HashMap::new(),
            tags: Vec::new(),
            branches: Vec::new(),
            digits: Vec::new(),
            statuses: Vec::new(),
            media_updates: 0,
            sources: HashSet::new(),
            next_port: 20_000,
        }
    }

    /// One datagram from `source` into the endpoint, then everything it does in response.
    pub fn deliver(&mut self, source: SocketAddr, datagram: &[u8]) {
        self.sources.insert(source.ip());
        self.ep.handle_datagram(self.now, source, datagram);
        self.settle();
    }

    /// Moves the fake clock forward by `by`, running every timer that falls due on the way
    /// at its own time, as the server's timer loop does.
    pub fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        // Each round either runs a due timer or stops; the cap only guards against a timer
        // that keeps re-arming itself in the past, which would be a bug worth a panic.
        for _ in 0..1_000_000 {
            match self.ep.poll_timeout() {
                Some(at) if at <= end => {
                    self.now = self.now.max(at);
                    self.ep.handle_timeout(self.now);
                    self.settle();
                }
                _ => {
                    self.now = end;
                    return;
                }
            }
        }
        panic!("timers never settle: a timer keeps firing without time passing");
    }

    /// The `n`-th offered call (modulo the count), if any call was offered.
    pub fn pick(&self, n: usize) -> Option<CallId> {
        let len = self.calls.len();
        (len > 0)
            .then(|| self.calls.get(n % len).copied())
            .flatten()
    }

    /// The application accepts a call (as the server does after binding a media port).
    pub fn accept(&mut self, call: CallId) {
        let local = self.local_media();
        self.ep.accept(self.now, call, local);
        if self.seen.get(&call) == Some(&Seen::Offered) {
            self.seen.insert(call, Seen::Accepted);
        }
        self.settle();
    }

    /// The application refuses a call.
    pub fn reject(&mut self, call: CallId, code: u16, retry_after: Option<u32>) {
        let before = self.ep.call_count();
        self.ep.reject(self.now, call, code, retry_after);
        // A refused call is removed without a CallEnded event.
        if self.ep.call_count() < before {
            self.seen.insert(call, Seen::Gone);
        }
        self.settle();
    }

    /// The application hangs up a call.
    pub fn hangup(&mut self, call: CallId) {
        self.ep.hangup(self.now, call);
        self.settle();
    }

    /// The application hangs up every call (the server's shutdown).
    pub fn hangup_all(&mut self) {
        self.ep.hangup_all(self.now);
        self.settle();
    }

    /// Shutdown: hang up everything, then let every timer run out. Afterwards no call and no
    /// transaction may be left (a leak would grow a long-running server without bound).
    pub fn shut_down(&mut self) {
        self.hangup_all();
        // Longest chain: a 2xx waiting for its ACK (64·T1), then our BYE (64·T1), then the
        // transaction's linger (T4); 10 minutes is far more.
        self.advance(Duration::from_secs(600));
        assert_eq!(self.ep.call_count(), 0, "calls left after shutdown");
        assert_eq!(
            self.ep.transaction_count(),
            0,
            "transactions left after shutdown"
        );
        assert_eq!(self.ep.poll_timeout(), None, "timers left after shutdown");
    }

    fn local_media(&mut self) -> LocalMedia {
        self.next_port = self.next_port.wrapping_add(2).max(20_000);
        LocalMedia {
            ip: IpAddr::from([127, 0, 0, 1]),
            port: self.next_port,
            session_id: u64::from(self.next_port),
            session_version: 1,
        }
    }

    /// Drains what the endpoint sent and told, checking both, and answers new calls.
    fn settle(&mut self) {
        loop {
            while let Some(t) = self.ep.poll_transmit() {
                self.check_transmit(t.dest, &t.bytes);
            }
            let Some(event) = self.ep.poll_event() else {
                return;
            };
            self.on_event(event);
        }
    }

    fn check_transmit(&mut self, dest: SocketAddr, bytes: &[u8]) {
        assert!(
            self.sources.contains(&dest.ip()),
            "sent to {dest}, an address that never sent us anything (reflection)"
        );
        let msg = match message::parse(bytes, Framing::Datagram) {
            Ok((msg, _)) => msg,
            // Responses copy the request's headers; near the size limit they can cross it.
            Err(ParseError::TooLarge | ParseError::LineTooLong | ParseError::TooManyHeaders) => {
                return;
            }
            Err(e) => panic!(
                "the endpoint sent a message our parser refuses ({e:?}): {:?}",
                String::from_utf8_lossy(bytes)
            ),
        };
        if let Some(code) = msg.status() {
            self.statuses.push(code);
            if let Some(tag) = msg
                .to_header()
                .ok()
                .and_then(|t| t.tag().map(str::to_owned))
                && self.tags.last() != Some(&tag)
            {
                self.tags.push(tag);
            }
        } else {
            assert!(
                msg.validate().is_ok(),
                "the endpoint sent an invalid request: {:?}",
                String::from_utf8_lossy(bytes)
            );
            if let Some(branch) = msg
                .top_via()
                .ok()
                .and_then(|v| v.branch().map(str::to_owned))
                && self.branches.last() != Some(&branch)
            {
                self.branches.push(branch);
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::IncomingCall { call, .. } => {
                assert!(!self.seen.contains_key(&call), "{call} offered twice");
                self.seen.insert(call, Seen::Offered);
                self.calls.push(call);
                match self.policy {
                    Policy::Accept => self.accept(call),
                    Policy::Reject(code) => self.reject(call, code, Some(5)),
                    Policy::Hold => {}
                }
            }
            Event::MediaUpdate { call, params } => {
                assert_eq!(
                    self.seen.get(&call),
                    Some(&Seen::Accepted),
                    "media for {call}, which is not an accepted call"
                );
                assert_eq!(params.ptime_ms, PTIME_MS);
                self.media_updates += 1;
            }
            Event::Dtmf { call, digit } => {
                assert!(
                    matches!(self.seen.get(&call), Some(Seen::Offered | Seen::Accepted)),
                    "a digit for {call}, which is not live"
                );
                self.digits.push((call, digit.as_char()));
            }
            Event::CallEnded { call, .. } => {
                assert!(
                    matches!(self.seen.get(&call), Some(Seen::Offered | Seen::Accepted)),
                    "{call} ended but was not live ({:?})",
                    self.seen.get(&call)
                );
                self.seen.insert(call, Seen::Gone);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The seeds reach the states they were written for, so the engine target is not
    //! fuzzing a harness that stalls at the first message.
    use super::*;

    fn digits(d: &Driver) -> String {
        d.digits.iter().map(|&(_, c)| c).collect()
    }

    #[test]
    fn a_call_gets_info_digits_then_ends_by_bye() {
        let mut d = script::run(include_bytes!("../corpus/engine/call_info_bye"));
        assert_eq!(digits(&d), "4#");
        assert_eq!(d.media_updates, 1);
        assert_eq!(d.ep.call_count(), 0, "the BYE ended the call");
        d.shut_down();
    }

    #[test]
    fn the_sipp_scenario_plays_through() {
        let mut d = script::run(include_bytes!("../corpus/engine/sipp_attendee_info"));
        assert_eq!(digits(&d), "5");
        assert_eq!(d.ep.call_count(), 0);
        d.shut_down();
    }

    #[test]
    fn our_bye_is_matched_by_the_scripted_200() {
        let mut d = script::run(include_bytes!("../corpus/engine/our_bye_answered"));
        assert_eq!(
            d.branches.len(),
            1,
            "one BYE sent (and re-sent once by Timer E)"
        );
        assert_eq!(
            d.ep.stats().stray_responses,
            0,
            "$BRANCH made the 200 match"
        );
        d.shut_down();
    }

    #[test]
    fn a_late_offer_is_answered_in_the_ack() {
        let mut d = script::run(include_bytes!("../corpus/engine/late_offer"));
        assert_eq!(d.media_updates, 1);
        assert_eq!(d.ep.call_count(), 1);
        d.shut_down();
    }

    #[test]
    fn a_cancelled_call_gets_487_and_policies_apply() {
        let mut d = script::run(include_bytes!("../corpus/engine/cancel_while_offered"));
        assert!(d.statuses.contains(&487), "{:?}", d.statuses);
        d.shut_down();
        let mut d = script::run(include_bytes!("../corpus/engine/reject_503"));
        assert!(d.statuses.contains(&503), "{:?}", d.statuses);
        assert_eq!(d.ep.call_count(), 0);
        d.shut_down();
    }

    #[test]
    fn the_bye_while_ringing_regression_shuts_down_clean() {
        let mut d = script::run(include_bytes!(
            "../corpus/engine/regression-bye-while-ringing"
        ));
        assert!(d.statuses.contains(&487), "{:?}", d.statuses);
        d.shut_down();
    }

    #[test]
    fn the_malformed_contact_regression_shuts_down_clean() {
        script::run(include_bytes!(
            "../corpus/engine/regression-bye-uri-malformed-contact"
        ))
        .shut_down();
    }
}
