//! Tests of `registration` with a fake clock and a registrar played by the test.

use super::*;
use crate::sip::digest::Algorithm;
use crate::sip::message::{Framing, StartLine};
use md5::Md5;
use rand::SeedableRng;
use sha2::{Digest, Sha256};

const REGISTRAR: &str = "192.0.2.10:5060";
const PASSWORD: &str = "s3cret-Pa55";

fn config(transport: Transport) -> RegistrationConfig {
    let addr: SocketAddr = REGISTRAR.parse().unwrap();
    RegistrationConfig {
        aor: match transport {
            Transport::Udp => "sip:4930123456@192.0.2.10".into(),
            _ => "sip:4930123456@192.0.2.10;transport=tcp".into(),
        },
        registrar: Peer { addr, transport },
        auth_user: "4930123456".into(),
        password: Password::new(PASSWORD.into()),
        expires: 600,
        contact_ip: IpAddr::from([10, 0, 0, 5]),
        contact_port: 5060,
        fixed_address: false,
        timers: Timers::default(),
        user_agent: "dialbridge".into(),
    }
}

struct Harness {
    reg: Registration,
    now: Instant,
    events: Vec<RegistrationEvent>,
}

impl Harness {
    fn new(config: RegistrationConfig) -> Self {
        let now = Instant::now();
        let mut reg = Registration::new(now, config, StdRng::seed_from_u64(7)).unwrap();
        reg.handle_timeout(now);
        Harness {
            reg,
            now,
            events: Vec::new(),
        }
    }

    fn udp() -> Self {
        Self::new(config(Transport::Udp))
    }

    /// Moves the clock to `at`, running every timer due on the way (as the driver does).
    fn run_until(&mut self, at: Instant) {
        while let Some(t) = self.reg.poll_timeout() {
            if t > at {
                break;
            }
            self.now = t.max(self.now);
            self.reg.handle_timeout(self.now);
        }
        self.now = at;
        self.collect();
    }

    fn advance(&mut self, d: Duration) {
        let at = self.now + d;
        self.run_until(at);
    }

    fn collect(&mut self) {
        while let Some(e) = self.reg.poll_event() {
            self.events.push(e);
        }
    }

    fn take_events(&mut self) -> Vec<RegistrationEvent> {
        self.collect();
        std::mem::take(&mut self.events)
    }

    /// Every message sent since the last call.
    fn sent(&mut self) -> Vec<Transmit> {
        std::iter::from_fn(|| self.reg.poll_transmit()).collect()
    }

    /// The one REGISTER sent since the last call (keep-alives aside), parsed.
    fn register(&mut self) -> Message {
        let sent: Vec<Transmit> = self
            .sent()
            .into_iter()
            .filter(|t| t.bytes != b"\r\n\r\n")
            .collect();
        assert_eq!(sent.len(), 1, "expected one REGISTER, got {sent:?}");
        let t = &sent[0];
        assert_eq!(t.dest, REGISTRAR.parse::<SocketAddr>().unwrap());
        let (msg, _) = message::parse(&t.bytes, Framing::Datagram).unwrap();
        assert_eq!(msg.method(), Some(&Method::Register));
        msg
    }

    fn answer(&mut self, req: &Message, code: u16, headers: &[(&str, &str)]) {
        let resp = response(req, code, headers, None);
        assert!(self.reg.handle_response(self.now, &resp), "not consumed");
        self.collect();
    }
}

fn response(
    req: &Message,
    code: u16,
    headers: &[(&str, &str)],
    via_params: Option<&str>,
) -> Message {
    let mut resp = message::response_to(req, code, message::reason_phrase(code));
    if let Some(extra) = via_params {
        // The registrar fills in our empty `rport`.
        let via = resp.header(&HeaderName::Via).unwrap().replace(";rport", "");
        resp.set_header(HeaderName::Via, format!("{via}{extra}"));
    }
    for (name, value) in headers {
        resp.add_header(HeaderName::parse(name), *value);
    }
    // Through the wire form, as a real response would come.
    message::parse(&resp.to_bytes(), Framing::Datagram)
        .unwrap()
        .0
}

fn header<'a>(msg: &'a Message, name: &str) -> &'a str {
    msg.header(&HeaderName::parse(name))
        .unwrap_or_else(|| panic!("no {name}"))
}

fn cseq(msg: &Message) -> u32 {
    msg.cseq().unwrap().seq
}

fn digest_param(value: &str, name: &str) -> String {
    let key = format!(" {name}=");
    let at = value
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {value}"))
        + key.len();
    let rest = &value[at..];
    let rest = rest.strip_prefix('"').unwrap_or(rest);
    rest[..rest.find(['"', ',']).unwrap_or(rest.len())].to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks an Authorization the way a registrar does: recomputes the response from the
/// password it knows and the cnonce and nc the client sent.
fn verify(auth: &str, algorithm: Algorithm, nonce: &str, password: &str) -> bool {
    let h = |s: String| match algorithm {
        Algorithm::Md5 => hex(&Md5::digest(s.as_bytes())),
        Algorithm::Sha256 => hex(&Sha256::digest(s.as_bytes())),
    };
    let user = digest_param(auth, "username");
    let realm = digest_param(auth, "realm");
    let uri = digest_param(auth, "uri");
    let cnonce = digest_param(auth, "cnonce");
    let nc = digest_param(auth, "nc");
    assert_eq!(digest_param(auth, "nonce"), nonce);
    assert_eq!(digest_param(auth, "qop"), "auth");
    let ha1 = h(format!("{user}:{realm}:{password}"));
    let ha2 = h(format!("REGISTER:{uri}"));
    digest_param(auth, "response") == h(format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"))
}

const MD5_CHALLENGE: &str = "Digest realm=\"voip.example\", nonce=\"n-one\", qop=\"auth\"";

/// Runs the usual first exchange: REGISTER, 401, REGISTER with credentials, 200.
fn register_ok(h: &mut Harness, granted: &str) -> Message {
    let first = h.register();
    h.answer(&first, 401, &[("WWW-Authenticate", MD5_CHALLENGE)]);
    let second = h.register();
    h.answer(&second, 200, &[("Contact", granted)]);
    second
}

#[test]
fn registers_with_digest_after_a_401_and_refreshes_at_half_the_granted_time() {
    let mut h = Harness::udp();
    let first = h.register();
    assert_eq!(first.request_uri(), Some("sip:192.0.2.10"));
    assert_eq!(header(&first, "To"), "<sip:4930123456@192.0.2.10>");
    assert_eq!(header(&first, "Contact"), "<sip:4930123456@10.0.0.5:5060>");
    assert_eq!(header(&first, "Expires"), "600");
    assert!(first.header(&HeaderName::parse("Authorization")).is_none());
    assert!(header(&first, "Via").contains(";rport"));
    assert_eq!(cseq(&first), 1);

    h.answer(&first, 401, &[("WWW-Authenticate", MD5_CHALLENGE)]);
    assert!(h.take_events().is_empty(), "a first 401 is no failure");
    let second = h.register();
    assert_eq!(second.call_id(), first.call_id(), "one Call-ID per AoR");
    assert_eq!(cseq(&second), 2);
    let auth = header(&second, "Authorization");
    assert!(verify(auth, Algorithm::Md5, "n-one", PASSWORD), "{auth}");
    assert_eq!(digest_param(auth, "nc"), "00000001");
    assert_eq!(digest_param(auth, "username"), "4930123456");
    assert!(!String::from_utf8_lossy(&second.to_bytes()).contains(PASSWORD));

    h.answer(
        &second,
        200,
        &[("Contact", "<sip:4930123456@10.0.0.5:5060>;expires=300")],
    );
    assert_eq!(
        h.take_events(),
        [RegistrationEvent::Registered {
            expires: Duration::from_secs(300),
            contact: "<sip:4930123456@10.0.0.5:5060>".into()
        }]
    );
    assert!(h.reg.is_up());

    // Nothing but keep-alives before half of the 300 s granted.
    h.advance(Duration::from_secs(149));
    assert!(h.sent().iter().all(|t| t.bytes == b"\r\n\r\n"));
    h.advance(Duration::from_secs(1));
    let refresh = h.register();
    assert_eq!(refresh.call_id(), first.call_id());
    assert_eq!(cseq(&refresh), 3);
    let auth = header(&refresh, "Authorization");
    assert!(verify(auth, Algorithm::Md5, "n-one", PASSWORD));
    assert_eq!(
        digest_param(auth, "nc"),
        "00000002",
        "the nonce count grows"
    );
    assert!(h.reg.is_up(), "still up while the refresh is under way");
}

#[test]
fn the_expires_header_counts_when_the_contact_carries_none() {
    let mut h = Harness::udp();
    let first = h.register();
    h.answer(
        &first,
        200,
        &[
            ("Contact", "<sip:4930123456@10.0.0.5:5060>"),
            ("Expires", "120"),
        ],
    );
    assert!(matches!(
        h.take_events().as_slice(),
        [RegistrationEvent::Registered { expires, .. }] if *expires == Duration::from_secs(120)
    ));
    assert_eq!(h.reg.poll_timeout(), Some(h.now + Duration::from_secs(25)));
    h.advance(Duration::from_secs(59));
    h.sent();
    h.advance(Duration::from_secs(1));
    assert_eq!(header(&h.register(), "Expires"), "600");
}

#[test]
fn sha256_is_chosen_when_the_registrar_offers_both() {
    let mut h = Harness::udp();
    let first = h.register();
    let resp = {
        let mut r = response(&first, 401, &[], None);
        r.add_header(
            HeaderName::parse("WWW-Authenticate"),
            "Digest realm=\"r\", nonce=\"m\", algorithm=MD5, qop=\"auth\"",
        );
        r.add_header(
            HeaderName::parse("WWW-Authenticate"),
            "Digest realm=\"r\", nonce=\"s\", algorithm=SHA-256, qop=\"auth\"",
        );
        r
    };
    assert!(h.reg.handle_response(h.now, &resp));
    let second = h.register();
    let auth = header(&second, "Authorization");
    assert!(auth.contains("algorithm=SHA-256"));
    assert!(verify(auth, Algorithm::Sha256, "s", PASSWORD));
}

#[test]
fn a_stale_nonce_is_retried_at_once_and_is_no_failure() {
    let mut h = Harness::udp();
    register_ok(&mut h, "<sip:4930123456@10.0.0.5:5060>;expires=600");
    h.take_events();
    h.advance(Duration::from_secs(300));
    let refresh = h.register();
    h.answer(
        &refresh,
        401,
        &[(
            "WWW-Authenticate",
            "Digest realm=\"voip.example\", nonce=\"n-two\", qop=\"auth\", stale=true",
        )],
    );
    assert!(h.take_events().is_empty(), "stale is not a failure");
    let again = h.register();
    let auth = header(&again, "Authorization");
    assert!(verify(auth, Algorithm::Md5, "n-two", PASSWORD));
    assert_eq!(
        digest_param(auth, "nc"),
        "00000001",
        "a new nonce counts from 1"
    );
    h.answer(&again, 200, &[("Expires", "600")]);
    assert!(matches!(
        h.take_events().as_slice(),
        [RegistrationEvent::Registered { .. }]
    ));
}

#[test]
fn a_wrong_password_fails_and_retries_with_growing_spaced_out_backoff() {
    let mut h = Harness::udp();
    let first = h.register();
    h.answer(&first, 401, &[("WWW-Authenticate", MD5_CHALLENGE)]);
    let second = h.register();
    h.answer(&second, 401, &[("WWW-Authenticate", MD5_CHALLENGE)]);
    let events = h.take_events();
    let [RegistrationEvent::Failed { why, retry_in }] = events.as_slice() else {
        panic!("{events:?}");
    };
    assert!(matches!(why, Failure::Credentials { code: 401, .. }));
    assert!(why.to_string().contains("401 Unauthorized"), "{why}");
    assert!(!why.to_string().contains(PASSWORD));
    assert!(
        (Duration::from_secs(24)..=Duration::from_secs(30)).contains(retry_in),
        "{retry_in:?}"
    );
    assert!(!h.reg.is_up());

    // Each failure waits longer, never less than the base, at most 30 minutes.
    let mut last = *retry_in;
    let mut waits = vec![last];
    for _ in 0..10 {
        let before = h.now;
        h.run_until(before + last - Duration::from_millis(1));
        assert!(h.sent().is_empty(), "nothing before the backoff ends");
        h.advance(Duration::from_millis(1));
        let retry = h.register();
        assert!(retry.header(&HeaderName::parse("Authorization")).is_some());
        h.answer(&retry, 401, &[("WWW-Authenticate", MD5_CHALLENGE)]);
        let events = h.take_events();
        let [RegistrationEvent::Failed { retry_in, .. }] = events.as_slice() else {
            panic!("{events:?}");
        };
        last = *retry_in;
        waits.push(last);
    }
    assert!(waits[1] > waits[0] && waits[2] > waits[1] && waits[3] > waits[2]);
    assert!(waits.iter().all(|w| *w >= Duration::from_secs(24)));
    assert!(waits.iter().all(|w| *w <= BACKOFF_MAX));
    assert!(waits.last().unwrap() >= &(BACKOFF_MAX.mul_f64(0.8)));
    assert_eq!(h.reg.failures_in_row(), 11);
}

#[test]
fn a_success_after_failures_starts_the_backoff_over() {
    let mut h = Harness::udp();
    let first = h.register();
    h.answer(&first, 503, &[]);
    let events = h.take_events();
    let [
        RegistrationEvent::Failed {
            why: Failure::Status { code: 503, .. },
            retry_in,
        },
    ] = events.as_slice()
    else {
        panic!("{events:?}");
    };
    h.advance(*retry_in);
    let second = h.register();
    h.answer(&second, 500, &[]);
    let events = h.take_events();
    let [RegistrationEvent::Failed { retry_in, .. }] = events.as_slice() else {
        panic!("{events:?}");
    };
    assert!(*retry_in >= Duration::from_secs(48));
    h.advance(*retry_in);
    let third = h.register();
    h.answer(&third, 200, &[("Expires", "600")]);
    assert_eq!(h.reg.failures_in_row(), 0);
    h.take_events();
    // The refresh fails: the first wait is the base again.
    h.advance(Duration::from_secs(300));
    let refresh = h.register();
    h.answer(&refresh, 500, &[]);
    let events = h.take_events();
    let [RegistrationEvent::Failed { retry_in, .. }] = events.as_slice() else {
        panic!("{events:?}");
    };
    assert!(*retry_in <= BACKOFF_BASE, "{retry_in:?}");
    assert_eq!(h.reg.failures_in_row(), 1);
}

#[test]
fn no_answer_retransmits_then_times_out_into_backoff() {
    let mut h = Harness::udp();
    let first = h.register();
    // Timer E: 0.5, 1, 2, 4, 4... s; all copies of the same request.
    h.advance(Duration::from_millis(500));
    let copies = h.sent();
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0].bytes, first.to_bytes());
    h.advance(Duration::from_millis(31_000));
    assert!(h.sent().len() >= 5);
    assert!(h.take_events().is_empty());
    h.advance(Duration::from_millis(500));
    let events = h.take_events();
    assert!(
        matches!(
            events.as_slice(),
            [RegistrationEvent::Failed {
                why: Failure::Timeout,
                ..
            }]
        ),
        "{events:?}"
    );
    // The late response to the timed-out request is not ours any more.
    let late = response(&first, 200, &[], None);
    assert!(!h.reg.handle_response(h.now, &late));
}

#[test]
fn interval_too_brief_asks_again_with_min_expires() {
    let mut h = Harness::udp();
    let first = h.register();
    h.answer(&first, 423, &[("Min-Expires", "3600")]);
    assert!(h.take_events().is_empty());
    let second = h.register();
    assert_eq!(header(&second, "Expires"), "3600");
    h.answer(&second, 200, &[]);
    assert!(matches!(
        h.take_events().as_slice(),
        [RegistrationEvent::Registered { expires, .. }] if *expires == Duration::from_secs(3600)
    ));
    // A 423 that asks for less than we did is a failure, not a loop.
    let mut h = Harness::udp();
    let first = h.register();
    h.answer(&first, 423, &[("Min-Expires", "60")]);
    assert!(matches!(
        h.take_events().as_slice(),
        [RegistrationEvent::Failed {
            why: Failure::Status { code: 423, .. },
            ..
        }]
    ));
    assert!(h.sent().is_empty());
}

#[test]
fn a_changed_public_address_is_learned_and_registered() {
    let mut h = Harness::udp();
    let first = h.register();
    let resp = response(
        &first,
        200,
        &[("Expires", "600")],
        Some(";received=203.0.113.7;rport=40000"),
    );
    assert!(h.reg.handle_response(h.now, &resp));
    assert_eq!(
        h.take_events(),
        [RegistrationEvent::AddressLearned {
            addr: "203.0.113.7:40000".parse().unwrap()
        }]
    );
    let second = h.register();
    let contact = header(&second, "Contact");
    assert!(
        contact.starts_with("<sip:4930123456@203.0.113.7:40000>"),
        "{contact}"
    );
    assert!(
        contact.contains("<sip:4930123456@10.0.0.5:5060>;expires=0"),
        "the old Contact is removed: {contact}"
    );
    assert!(header(&second, "Via").contains("203.0.113.7:40000"));
    let resp = response(
        &second,
        200,
        &[("Expires", "600")],
        Some(";received=203.0.113.7;rport=40000"),
    );
    assert!(h.reg.handle_response(h.now, &resp));
    assert!(matches!(
        h.take_events().as_slice(),
        [RegistrationEvent::Registered { contact, .. }] if contact == "<sip:4930123456@203.0.113.7:40000>"
    ));
    assert_eq!(h.reg.contact(), "203.0.113.7:40000".parse().unwrap());
    h.advance(Duration::from_secs(300));
    let refresh = h.register();
    assert_eq!(
        header(&refresh, "Contact"),
        "<sip:4930123456@203.0.113.7:40000>"
    );
}

#[test]
fn a_stated_public_address_is_not_overridden() {
    let mut c = config(Transport::Udp);
    c.fixed_address = true;
    let mut h = Harness::new(c);
    let first = h.register();
    let resp = response(&first, 200, &[], Some(";received=203.0.113.7;rport=40000"));
    assert!(h.reg.handle_response(h.now, &resp));
    assert!(matches!(
        h.take_events().as_slice(),
        [RegistrationEvent::Registered { .. }]
    ));
    assert_eq!(h.reg.contact(), "10.0.0.5:5060".parse().unwrap());
}

#[test]
fn stop_unregisters_with_expires_zero() {
    let mut h = Harness::udp();
    register_ok(&mut h, "<sip:4930123456@10.0.0.5:5060>;expires=600");
    h.take_events();
    h.reg.stop(h.now);
    let unreg = h.register();
    assert_eq!(header(&unreg, "Expires"), "0");
    assert_eq!(header(&unreg, "Contact"), "<sip:4930123456@10.0.0.5:5060>");
    assert!(verify(
        header(&unreg, "Authorization"),
        Algorithm::Md5,
        "n-one",
        PASSWORD
    ));
    assert!(!h.reg.is_stopped());
    h.answer(&unreg, 200, &[]);
    assert_eq!(h.take_events(), [RegistrationEvent::Unregistered]);
    assert!(h.reg.is_stopped());
    assert!(!h.reg.is_up());
    assert_eq!(h.reg.poll_timeout(), None, "no keep-alive, no refresh");

    // A refresh that failed leaves the binding until it expires: a stop still removes it.
    let mut h = Harness::udp();
    register_ok(&mut h, "<sip:4930123456@10.0.0.5:5060>;expires=600");
    h.advance(Duration::from_secs(300));
    let refresh = h.register();
    h.answer(&refresh, 503, &[]);
    assert!(!h.reg.is_up());
    h.take_events();
    h.reg.stop(h.now);
    assert_eq!(header(&h.register(), "Expires"), "0");

    // Never registered: nothing to send.
    let mut h = Harness::udp();
    let first = h.register();
    h.answer(&first, 403, &[]);
    h.take_events();
    h.reg.stop(h.now);
    assert!(h.sent().is_empty());
    assert!(h.reg.is_stopped());
}

#[test]
fn an_unanswered_unregistration_ends_at_timer_f() {
    let mut h = Harness::udp();
    register_ok(&mut h, "<sip:4930123456@10.0.0.5:5060>;expires=600");
    h.take_events();
    h.reg.stop(h.now);
    h.register();
    h.advance(Duration::from_secs(33));
    assert_eq!(h.take_events(), [RegistrationEvent::Unregistered]);
    assert!(h.reg.is_stopped());
}

#[test]
fn keep_alives_go_out_while_registered() {
    let mut h = Harness::udp();
    register_ok(&mut h, "<sip:4930123456@10.0.0.5:5060>;expires=600");
    h.advance(KEEPALIVE_UDP - Duration::from_millis(1));
    assert!(h.sent().is_empty());
    h.advance(Duration::from_millis(1));
    let pings = h.sent();
    assert_eq!(pings.len(), 1);
    assert_eq!(pings[0].bytes, b"\r\n\r\n");
    assert_eq!(pings[0].transport, Transport::Udp);
    h.advance(KEEPALIVE_UDP);
    assert_eq!(h.sent().len(), 1);
}

#[test]
fn over_tcp_nothing_is_retransmitted_and_only_the_ip_is_learned() {
    let mut h = Harness::new(config(Transport::Tcp));
    let first = h.register();
    assert_eq!(first.request_uri(), Some("sip:192.0.2.10;transport=tcp"));
    assert_eq!(
        header(&first, "Contact"),
        "<sip:4930123456@10.0.0.5:5060;transport=tcp>"
    );
    assert!(header(&first, "Via").starts_with("SIP/2.0/TCP "));
    h.advance(Duration::from_secs(10));
    assert!(h.sent().is_empty(), "TCP delivers: no Timer E");
    let resp = response(
        &first,
        200,
        &[("Expires", "600")],
        Some(";received=203.0.113.7;rport=51234"),
    );
    assert!(h.reg.handle_response(h.now, &resp));
    h.take_events();
    assert_eq!(h.reg.contact(), "203.0.113.7:5060".parse().unwrap());
    // A lost connection fails the binding; the next attempt follows the backoff.
    h.register();
    h.reg.transport_failed(h.now);
    assert!(matches!(
        h.take_events().as_slice(),
        [RegistrationEvent::Failed {
            why: Failure::Transport,
            ..
        }]
    ));
    h.advance(KEEPALIVE_TCP);
    let pings: Vec<_> = h
        .sent()
        .into_iter()
        .filter(|t| t.bytes == b"\r\n\r\n")
        .collect();
    assert!(pings.is_empty(), "no keep-alive without a binding");
}

#[test]
fn a_separate_auth_user_signs_while_the_aor_stays_the_number() {
    let mut c = config(Transport::Udp);
    c.auth_user = "acct-77".into();
    let mut h = Harness::new(c);
    let first = h.register();
    h.answer(&first, 401, &[("WWW-Authenticate", MD5_CHALLENGE)]);
    let second = h.register();
    let auth = header(&second, "Authorization");
    assert_eq!(digest_param(auth, "username"), "acct-77");
    assert!(verify(auth, Algorithm::Md5, "n-one", PASSWORD));
    assert_eq!(header(&second, "To"), "<sip:4930123456@192.0.2.10>");
}

#[test]
fn a_proxy_challenge_is_answered_with_proxy_authorization() {
    let mut h = Harness::udp();
    let first = h.register();
    h.answer(
        &first,
        407,
        &[(
            "Proxy-Authenticate",
            "Digest realm=\"p\", nonce=\"x\", qop=\"auth\"",
        )],
    );
    let second = h.register();
    assert!(second.header(&HeaderName::parse("Authorization")).is_none());
    assert!(verify(
        header(&second, "Proxy-Authorization"),
        Algorithm::Md5,
        "x",
        PASSWORD
    ));
}

#[test]
fn a_401_without_a_usable_challenge_is_a_failure_not_a_loop() {
    let mut h = Harness::udp();
    let first = h.register();
    h.answer(&first, 401, &[("WWW-Authenticate", "Basic realm=\"x\"")]);
    assert!(matches!(
        h.take_events().as_slice(),
        [RegistrationEvent::Failed {
            why: Failure::Challenge { code: 401, .. },
            ..
        }]
    ));
    assert!(h.sent().is_empty());
}

#[test]
fn responses_to_others_are_left_alone() {
    let mut h = Harness::udp();
    let first = h.register();
    let mut other = response(&first, 200, &[], None);
    other.set_header(
        HeaderName::Via,
        "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKsomeonesbye",
    );
    assert!(!h.reg.handle_response(h.now, &other));
    let request = first.clone();
    assert!(matches!(request.start, StartLine::Request { .. }));
    assert!(!h.reg.handle_response(h.now, &request));
}

#[test]
fn addresses_of_record_are_checked() {
    assert_eq!(
        Aor::parse("sip:4930123456@sipconnect.example.net").unwrap(),
        Aor {
            user: "4930123456".into(),
            host: "sipconnect.example.net".into(),
            port: None,
            transport: Transport::Udp,
            sips: false,
        }
    );
    assert_eq!(
        Aor::parse("sip:a@127.0.0.1:5070;transport=TCP")
            .unwrap()
            .transport,
        Transport::Tcp
    );
    let tls = Aor::parse("sip:4930123456@x;transport=tls").unwrap();
    assert_eq!(
        (tls.transport, tls.sips, tls.port_or_default()),
        (Transport::Tls, false, 5061)
    );
    let sips = Aor::parse("sips:a@x:5071").unwrap();
    assert_eq!(
        (sips.transport, sips.sips, sips.port_or_default()),
        (Transport::Tls, true, 5071)
    );
    assert!(matches!(
        Aor::parse("sip:a@x;transport=sctp"),
        Err(AorError::Transport(_))
    ));
    assert!(matches!(
        Aor::parse("sip:x.example"),
        Err(AorError::NoUser(_))
    ));
    assert!(matches!(Aor::parse("tel:+4930"), Err(AorError::NotSip(_))));
    assert!(matches!(Aor::parse("nonsense"), Err(AorError::NotSip(_))));
}

#[test]
fn the_password_never_appears_in_debug_output() {
    let h = Harness::udp();
    assert!(!format!("{:?}", h.reg.config).contains(PASSWORD));
}

#[test]
fn over_tls_the_uris_say_so_and_a_sips_address_of_record_stays_sips() {
    let mut tls = config(Transport::Tls);
    tls.aor = "sip:4930123456@192.0.2.10;transport=tls".into();
    let mut h = Harness::new(tls);
    let req = h.register();
    let text = String::from_utf8(req.to_bytes()).unwrap();
    assert!(
        text.starts_with("REGISTER sip:192.0.2.10;transport=tls SIP/2.0\r\n"),
        "{text}"
    );
    assert!(text.contains("Via: SIP/2.0/TLS 10.0.0.5:5060;"), "{text}");
    assert!(
        text.contains("Contact: <sip:4930123456@10.0.0.5:5060;transport=tls>"),
        "{text}"
    );

    let mut sips = config(Transport::Tls);
    sips.aor = "sips:4930123456@192.0.2.10".into();
    let mut h = Harness::new(sips);
    let text = String::from_utf8(h.register().to_bytes()).unwrap();
    assert!(
        text.starts_with("REGISTER sips:192.0.2.10 SIP/2.0\r\n"),
        "{text}"
    );
    assert!(text.contains("To: <sips:4930123456@192.0.2.10>"), "{text}");
    assert!(
        text.contains("Contact: <sips:4930123456@10.0.0.5:5060>"),
        "{text}"
    );
}
