//! Tests of `outbound_call` with a fake clock and the far end played by the test.

use super::*;
use crate::sip::message::Framing;
use rand::SeedableRng;
use std::time::Duration;

const PEER: &str = "192.0.2.20:5060";
const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";
const ANSWER: &str = "v=0\r\no=- 2 2 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\nm=audio 50000 RTP/AVP 0\r\n";

fn config(transport: Transport) -> OutboundCallConfig {
    OutboundCallConfig {
        peer: Peer {
            addr: PEER.parse().unwrap(),
            transport,
        },
        request_uri: "sip:conf-42@192.0.2.20:5060".into(),
        local_addr: "192.0.2.10:5060".parse().unwrap(),
        from_uri: "sip:relay@192.0.2.10".into(),
        to_uri: "sip:conf-42@192.0.2.20".into(),
        extra_headers: vec![
            (HeaderName::parse("X-Dialbridge-Conference"), "42".into()),
            (HeaderName::parse("X-Dialbridge-Role"), "relay".into()),
            (HeaderName::parse("X-Dialbridge-Auth"), "t0ken".into()),
        ],
        sdp_offer: OFFER.into(),
        timers: Timers::default(),
        user_agent: "dialbridge".into(),
        call_id: None,
    }
}

fn parse(bytes: &[u8]) -> Message {
    message::parse(bytes, Framing::Datagram).unwrap().0
}

fn header<'a>(msg: &'a Message, name: &str) -> &'a str {
    msg.header(&HeaderName::parse(name))
        .unwrap_or_else(|| panic!("no {name}"))
}

fn branch(msg: &Message) -> String {
    msg.top_via().unwrap().branch().unwrap().to_string()
}

struct Harness {
    call: OutboundCall,
    now: Instant,
    start: Instant,
    invite: Message,
}

impl Harness {
    fn new(config: OutboundCallConfig) -> Self {
        let now = Instant::now();
        let mut call = OutboundCall::new(now, config, StdRng::seed_from_u64(11)).unwrap();
        let sent: Vec<Transmit> = std::iter::from_fn(|| call.poll_transmit()).collect();
        assert_eq!(sent.len(), 1, "the INVITE goes out at once");
        assert_eq!(sent[0].dest, PEER.parse::<SocketAddr>().unwrap());
        let invite = parse(&sent[0].bytes);
        Harness {
            call,
            now,
            start: now,
            invite,
        }
    }

    fn udp() -> Self {
        Self::new(config(Transport::Udp))
    }

    /// Moves the clock to `at`, running every timer due on the way (as the driver does).
    fn run_until(&mut self, at: Instant) {
        while let Some(t) = self.call.poll_timeout() {
            if t > at {
                break;
            }
            self.now = t.max(self.now);
            self.call.handle_timeout(self.now);
        }
        self.now = at;
    }

    fn advance(&mut self, d: Duration) {
        let at = self.now + d;
        self.run_until(at);
    }

    fn events(&mut self) -> Vec<OutboundEvent> {
        std::iter::from_fn(|| self.call.poll_event()).collect()
    }

    /// Every message sent since the last call, parsed.
    fn sent(&mut self) -> Vec<Message> {
        std::iter::from_fn(|| self.call.poll_transmit())
            .map(|t| {
                assert_eq!(t.dest, PEER.parse::<SocketAddr>().unwrap());
                parse(&t.bytes)
            })
            .collect()
    }

    /// The one message sent since the last call, which must be a `method`.
    fn sent_one(&mut self, method: Method) -> Message {
        let sent = self.sent();
        assert_eq!(sent.len(), 1, "expected one {method}, got {sent:?}");
        let msg = sent.into_iter().next().unwrap();
        assert_eq!(msg.method(), Some(&method));
        msg
    }

    /// The far end answers `req` (through the wire form, as a real response would come).
    fn respond(&mut self, req: &Message, code: u16, headers: &[(&str, &str)], body: &str) -> bool {
        let resp = response(req, code, headers, body);
        self.call.handle_response(self.now, &resp)
    }

    fn invite(&self) -> Message {
        self.invite.clone()
    }

    /// INVITE → 180 → 200 with a Contact and two Record-Routes; returns the ACK.
    fn answered(&mut self) -> Message {
        let invite = self.invite();
        assert!(self.respond(&invite, 180, &[("To-Tag", "far1")], ""));
        assert!(self.respond(&invite, 200, &ok_headers(), ANSWER));
        assert_eq!(
            self.events(),
            vec![
                OutboundEvent::Ringing,
                OutboundEvent::Answered { sdp: ANSWER.into() }
            ]
        );
        self.sent_one(Method::Ack)
    }
}

fn ok_headers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("To-Tag", "far1"),
        ("Contact", "<sip:conf-42@192.0.2.20:5070;transport=udp>"),
        ("Record-Route", "<sip:p1.example;lr>, <sip:p2.example;lr>"),
        ("Content-Type", "application/sdp"),
    ]
}

/// A response to `req`; the pseudo-header `To-Tag` adds a tag to To.
fn response(req: &Message, code: u16, headers: &[(&str, &str)], body: &str) -> Message {
    let mut resp = message::response_to(req, code, message::reason_phrase(code));
    for (name, value) in headers {
        if *name == "To-Tag" {
            let to = format!("{};tag={value}", resp.header(&HeaderName::To).unwrap());
            resp.set_header(HeaderName::To, to);
        } else {
            resp.add_header(HeaderName::parse(name), *value);
        }
    }
    resp.body = body.as_bytes().to_vec();
    parse(&resp.to_bytes())
}

/// A request from the far end within the dialog.
fn remote_request(h: &Harness, method: &str, seq: u32, from_tag: &str) -> Message {
    let text = format!(
        "{method} sip:192.0.2.10:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.20:5070;branch=z9hG4bKfar{seq}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:conf-42@192.0.2.20>{from_tag}\r\n\
         To: <sip:relay@192.0.2.10>;tag={}\r\n\
         Call-ID: {}\r\n\
         CSeq: {seq} {method}\r\n\
         Content-Length: 0\r\n\r\n",
        h.call.local_tag(),
        h.call.call_id()
    );
    parse(text.as_bytes())
}

#[test]
fn the_invite_carries_the_offer_our_headers_and_the_cluster_headers() {
    let h = Harness::udp();
    let inv = h.invite();
    assert_eq!(inv.request_uri(), Some("sip:conf-42@192.0.2.20:5060"));
    assert_eq!(header(&inv, "Max-Forwards"), "70");
    assert_eq!(header(&inv, "CSeq"), "1 INVITE");
    assert_eq!(header(&inv, "To"), "<sip:conf-42@192.0.2.20>");
    let from = inv.from_header().unwrap();
    assert_eq!(from.uri, "sip:relay@192.0.2.10");
    assert_eq!(from.tag(), Some(h.call.local_tag()));
    assert_eq!(h.call.local_tag().len(), 16);
    assert_eq!(inv.call_id(), Some(h.call.call_id()));
    assert!(h.call.call_id().ends_with("@dialbridge"));
    assert_eq!(header(&inv, "Contact"), "<sip:192.0.2.10:5060>");
    assert_eq!(header(&inv, "Allow"), ALLOW);
    assert!(inv.content_type_is("application/sdp"));
    assert_eq!(header(&inv, "Content-Length"), OFFER.len().to_string());
    assert_eq!(inv.body, OFFER.as_bytes());
    let via = inv.top_via().unwrap();
    assert!(via.branch().unwrap().starts_with("z9hG4bK"));
    assert!(header(&inv, "Via").starts_with("SIP/2.0/UDP 192.0.2.10:5060;"));
    assert_eq!(header(&inv, "X-Dialbridge-Conference"), "42");
    assert_eq!(header(&inv, "X-Dialbridge-Role"), "relay");
    assert_eq!(header(&inv, "X-Dialbridge-Auth"), "t0ken");
    inv.validate().unwrap();
}

#[test]
fn happy_path_ringing_answer_ack_reack_and_remote_bye() {
    let mut h = Harness::udp();
    let invite = h.invite();
    assert!(h.respond(&invite, 100, &[], ""));
    assert!(h.events().is_empty(), "100 Trying is not ringing");
    assert!(h.respond(&invite, 180, &[("To-Tag", "far1")], ""));
    assert!(h.respond(&invite, 180, &[("To-Tag", "far1")], ""));
    assert_eq!(h.events(), vec![OutboundEvent::Ringing], "reported once");
    h.advance(Duration::from_secs(5));
    assert!(h.sent().is_empty(), "no INVITE retransmission after a 1xx");

    assert!(h.respond(&invite, 200, &ok_headers(), ANSWER));
    assert_eq!(
        h.events(),
        vec![OutboundEvent::Answered { sdp: ANSWER.into() }]
    );
    assert!(h.call.is_established());
    let ack = h.sent_one(Method::Ack);
    assert_eq!(
        ack.request_uri(),
        Some("sip:conf-42@192.0.2.20:5070;transport=udp"),
        "the remote target from the 2xx Contact"
    );
    let routes: Vec<&str> = ack.headers_named(&HeaderName::Route).collect();
    assert_eq!(
        routes,
        vec!["<sip:p2.example;lr>", "<sip:p1.example;lr>"],
        "Record-Route reversed"
    );
    assert_eq!(header(&ack, "CSeq"), "1 ACK");
    assert_ne!(
        branch(&ack),
        branch(&invite),
        "a 2xx ACK has its own branch"
    );
    assert_eq!(ack.to_header().unwrap().tag(), Some("far1"));
    assert_eq!(ack.from_header().unwrap().tag(), Some(h.call.local_tag()));
    assert_eq!(ack.call_id(), Some(h.call.call_id()));
    assert!(ack.body.is_empty());
    ack.validate().unwrap();

    // The 2xx is retransmitted (our ACK was lost): the same ACK goes out again.
    h.advance(Duration::from_millis(500));
    assert!(h.respond(&invite, 200, &ok_headers(), ANSWER));
    let again = h.sent_one(Method::Ack);
    assert_eq!(again, ack);
    assert!(h.events().is_empty(), "answered once");

    // The far end hangs up.
    h.advance(Duration::from_secs(10));
    let bye = remote_request(&h, "BYE", 7, ";tag=far1");
    assert!(h.call.owns_request(&bye));
    let resp = h.call.handle_request(h.now, &bye).unwrap();
    assert_eq!(resp.status(), Some(200));
    assert_eq!(resp.to_header().unwrap().tag(), Some(h.call.local_tag()));
    assert_eq!(resp.header(&HeaderName::CSeq), Some("7 BYE"));
    assert_eq!(h.events(), vec![OutboundEvent::Ended { by_remote: true }]);
    let resp = h.call.handle_request(h.now, &bye).unwrap();
    assert_eq!(
        resp.status(),
        Some(200),
        "a retransmitted BYE is answered again"
    );
    assert!(h.events().is_empty());
    h.call.hangup(h.now);
    assert!(h.sent().is_empty(), "nothing to hang up any more");
    assert!(
        !h.call.is_finished(),
        "BYE retransmissions are still answered"
    );
    h.advance(Duration::from_secs(64));
    assert!(h.call.is_finished());
    assert_eq!(h.call.poll_timeout(), None);
}

#[test]
fn local_hangup_after_answer_sends_bye_and_ends_on_its_response() {
    let mut h = Harness::udp();
    let ack = h.answered();
    h.advance(Duration::from_secs(3));
    h.call.hangup(h.now);
    let bye = h.sent_one(Method::Bye);
    assert_eq!(header(&bye, "CSeq"), "2 BYE");
    assert_eq!(bye.request_uri(), ack.request_uri());
    assert_eq!(
        bye.headers_named(&HeaderName::Route).collect::<Vec<_>>(),
        vec!["<sip:p2.example;lr>", "<sip:p1.example;lr>"]
    );
    assert_eq!(bye.to_header().unwrap().tag(), Some("far1"));
    assert_eq!(bye.from_header().unwrap().tag(), Some(h.call.local_tag()));
    assert_ne!(branch(&bye), branch(&ack));
    bye.validate().unwrap();
    h.call.hangup(h.now);
    assert!(h.sent().is_empty(), "a second hangup does nothing");
    assert!(h.events().is_empty(), "ended once the BYE is answered");

    assert!(h.respond(&bye, 200, &[], ""));
    assert_eq!(h.events(), vec![OutboundEvent::Ended { by_remote: false }]);
    assert!(
        h.respond(&bye, 200, &[], ""),
        "a retransmitted 200 is absorbed"
    );
    assert!(h.events().is_empty());
    h.advance(Duration::from_secs(40));
    assert!(h.sent().is_empty());
    assert!(h.call.is_finished());
}

#[test]
fn crossing_byes_end_the_call_once_as_our_hangup() {
    let mut h = Harness::udp();
    h.answered();
    h.call.hangup(h.now);
    let ours = h.sent_one(Method::Bye);
    let theirs = remote_request(&h, "BYE", 9, ";tag=far1");
    assert_eq!(
        h.call.handle_request(h.now, &theirs).unwrap().status(),
        Some(200)
    );
    assert_eq!(h.events(), vec![OutboundEvent::Ended { by_remote: false }]);
    assert!(h.respond(&ours, 481, &[], ""));
    assert!(h.events().is_empty());
    h.advance(Duration::from_secs(64));
    assert!(h.call.is_finished());
}

#[test]
fn an_unanswered_bye_is_retransmitted_on_timer_e_and_timer_f_still_ends_the_call() {
    let mut h = Harness::udp();
    h.answered();
    h.call.hangup(h.now);
    let bye = h.sent_one(Method::Bye);
    let t0 = h.now;
    let mut times = Vec::new();
    while let Some(at) = h.call.poll_timeout() {
        if at > t0 + Duration::from_secs(40) {
            break;
        }
        h.run_until(at);
        for msg in h.sent() {
            assert_eq!(msg, bye, "the same BYE again");
            times.push((at - t0).as_millis());
        }
        let events = h.events();
        if !events.is_empty() {
            assert_eq!(events, vec![OutboundEvent::Ended { by_remote: false }]);
            assert_eq!(at - t0, Duration::from_secs(32), "Timer F");
        }
    }
    assert_eq!(&times[..5], &[500, 1500, 3500, 7500, 11500]);
    assert!(times.iter().all(|&t| t < 32_000));
    assert!(h.call.is_finished());
}

#[test]
fn hangup_after_a_provisional_response_cancels_and_the_487_is_acked() {
    let mut h = Harness::udp();
    let invite = h.invite();
    assert!(h.respond(&invite, 180, &[("To-Tag", "far1")], ""));
    assert_eq!(h.events(), vec![OutboundEvent::Ringing]);
    h.call.hangup(h.now);
    let cancel = h.sent_one(Method::Cancel);
    assert_eq!(cancel.request_uri(), invite.request_uri());
    assert_eq!(
        branch(&cancel),
        branch(&invite),
        "same branch as the INVITE"
    );
    assert_eq!(header(&cancel, "CSeq"), "1 CANCEL");
    assert_eq!(header(&cancel, "From"), header(&invite, "From"));
    assert_eq!(header(&cancel, "To"), header(&invite, "To"), "no To tag");
    assert_eq!(cancel.call_id(), invite.call_id());
    cancel.validate().unwrap();

    assert!(h.respond(&cancel, 200, &[("To-Tag", "far1")], ""));
    assert!(h.events().is_empty());
    assert!(h.respond(&invite, 487, &[("To-Tag", "far1")], ""));
    let ack = h.sent_one(Method::Ack);
    assert_eq!(branch(&ack), branch(&invite), "the transaction's own ACK");
    assert_eq!(header(&ack, "CSeq"), "1 ACK");
    assert_eq!(ack.to_header().unwrap().tag(), Some("far1"));
    assert_eq!(
        h.events(),
        vec![OutboundEvent::Ended { by_remote: false }],
        "after hangup the end is Ended, not Failed"
    );
    assert!(h.respond(&invite, 487, &[("To-Tag", "far1")], ""));
    assert_eq!(
        h.sent_one(Method::Ack),
        ack,
        "a retransmitted 487 is ACKed again"
    );
    assert!(h.events().is_empty());
    assert!(!h.call.is_finished(), "Timer D still running");
    h.advance(Duration::from_secs(32));
    assert!(h.call.is_finished());
}

#[test]
fn a_hangup_before_any_response_defers_the_cancel_until_the_first_provisional() {
    let mut h = Harness::udp();
    let invite = h.invite();
    h.call.hangup(h.now);
    assert!(h.sent().is_empty(), "no CANCEL before a provisional (§9.1)");
    h.advance(Duration::from_millis(500));
    assert_eq!(
        h.sent_one(Method::Invite),
        invite,
        "the INVITE is still retransmitted"
    );
    assert!(h.respond(&invite, 100, &[], ""));
    let cancel = h.sent_one(Method::Cancel);
    assert_eq!(branch(&cancel), branch(&invite));
    assert!(h.respond(&invite, 180, &[("To-Tag", "far1")], ""));
    assert!(h.sent().is_empty(), "one CANCEL");
    assert!(h.events().is_empty(), "no Ringing once hung up");
    assert!(h.respond(&invite, 487, &[("To-Tag", "far1")], ""));
    h.sent_one(Method::Ack);
    assert_eq!(h.events(), vec![OutboundEvent::Ended { by_remote: false }]);
}

#[test]
fn a_deferred_cancel_gives_up_at_timer_b() {
    let mut h = Harness::udp();
    h.call.hangup(h.now);
    h.advance(Duration::from_secs(31));
    assert!(h.events().is_empty());
    assert!(
        h.sent().iter().all(|m| m.method() == Some(&Method::Invite)),
        "only INVITE retransmissions, never a CANCEL"
    );
    h.advance(Duration::from_secs(1));
    assert_eq!(h.events(), vec![OutboundEvent::Ended { by_remote: false }]);
    assert!(
        !h.call.is_finished(),
        "an INVITE retransmission is still to be sent"
    );
    h.sent();
    assert!(h.call.is_finished());
}

#[test]
fn a_cancelled_invite_without_final_response_is_given_up_64_t1_after_the_cancel() {
    let mut h = Harness::udp();
    let invite = h.invite();
    assert!(h.respond(&invite, 180, &[("To-Tag", "far1")], ""));
    h.events();
    h.advance(Duration::from_secs(100));
    assert!(h.events().is_empty(), "no Timer B in Proceeding");
    h.call.hangup(h.now);
    let cancel = h.sent_one(Method::Cancel);
    assert!(h.respond(&cancel, 200, &[("To-Tag", "far1")], ""));
    h.advance(Duration::from_secs(31));
    assert!(h.events().is_empty());
    h.advance(Duration::from_secs(1));
    assert_eq!(h.events(), vec![OutboundEvent::Ended { by_remote: false }]);
    assert!(h.call.is_finished());
}

#[test]
fn busy_fails_with_its_code_and_is_acked() {
    let mut h = Harness::udp();
    let invite = h.invite();
    assert!(h.respond(&invite, 486, &[("To-Tag", "far1")], ""));
    assert_eq!(h.events(), vec![OutboundEvent::Failed { code: Some(486) }]);
    let ack = h.sent_one(Method::Ack);
    assert_eq!(branch(&ack), branch(&invite));
    assert_eq!(ack.request_uri(), invite.request_uri());
    assert_eq!(header(&ack, "Via"), header(&invite, "Via"));
    ack.validate().unwrap();
    h.call.hangup(h.now);
    assert!(h.sent().is_empty(), "a failed call has nothing to hang up");
    assert!(h.events().is_empty());
    h.advance(Duration::from_secs(32));
    assert!(h.call.is_finished());
}

#[test]
fn no_response_retransmits_on_timer_a_and_fails_at_timer_b() {
    let mut h = Harness::udp();
    let invite = h.invite();
    let mut times = Vec::new();
    while let Some(at) = h.call.poll_timeout() {
        h.run_until(at);
        for msg in h.sent() {
            assert_eq!(msg, invite);
            times.push((at - h.start).as_millis());
        }
        if !h.events().is_empty() {
            assert_eq!(at - h.start, Duration::from_secs(32));
            break;
        }
    }
    assert_eq!(times, vec![500, 1500, 3500, 7500, 15500, 31500]);
    assert!(h.call.is_finished());
    // The far end reads the events only at the end: Failed with no code.
    let mut h = Harness::udp();
    h.advance(Duration::from_secs(32));
    assert_eq!(h.events(), vec![OutboundEvent::Failed { code: None }]);
}

#[test]
fn a_2xx_crossing_our_cancel_is_acked_then_byed() {
    let mut h = Harness::udp();
    let invite = h.invite();
    assert!(h.respond(&invite, 180, &[("To-Tag", "far1")], ""));
    h.events();
    h.call.hangup(h.now);
    let cancel = h.sent_one(Method::Cancel);
    assert!(h.respond(&invite, 200, &ok_headers(), ANSWER));
    let sent = h.sent();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0].method(), Some(&Method::Ack));
    assert_eq!(sent[1].method(), Some(&Method::Bye));
    assert_eq!(header(&sent[1], "CSeq"), "2 BYE");
    assert!(h.events().is_empty(), "not reported as answered");
    // The CANCEL came too late: the far end says so; nothing changes.
    assert!(h.respond(&cancel, 481, &[], ""));
    assert!(h.respond(&sent[1], 200, &[], ""));
    assert_eq!(h.events(), vec![OutboundEvent::Ended { by_remote: false }]);
    h.advance(Duration::from_secs(40));
    assert!(h.call.is_finished());
}

#[test]
fn a_late_2xx_after_timer_b_is_acked_and_byed_without_a_second_event() {
    let mut h = Harness::udp();
    let invite = h.invite();
    h.advance(Duration::from_secs(32));
    assert_eq!(h.events(), vec![OutboundEvent::Failed { code: None }]);
    h.sent();
    assert!(h.respond(&invite, 200, &ok_headers(), ANSWER));
    let sent = h.sent();
    assert_eq!(
        sent.iter().map(|m| m.method().cloned()).collect::<Vec<_>>(),
        vec![Some(Method::Ack), Some(Method::Bye)]
    );
    assert!(h.respond(&sent[1], 200, &[], ""));
    assert!(h.events().is_empty());
}

#[test]
fn over_tcp_nothing_is_retransmitted() {
    let mut h = Harness::new(config(Transport::Tcp));
    let invite = h.invite();
    assert!(header(&invite, "Via").starts_with("SIP/2.0/TCP "));
    assert_eq!(
        header(&invite, "Contact"),
        "<sip:192.0.2.10:5060;transport=tcp>"
    );
    h.advance(Duration::from_secs(31));
    assert!(h.sent().is_empty(), "no Timer A over TCP");
    h.advance(Duration::from_secs(1));
    assert_eq!(h.events(), vec![OutboundEvent::Failed { code: None }]);

    let mut h = Harness::new(config(Transport::Tcp));
    h.answered();
    h.call.hangup(h.now);
    h.sent_one(Method::Bye);
    h.advance(Duration::from_secs(31));
    assert!(h.sent().is_empty(), "no Timer E over TCP");
    h.advance(Duration::from_secs(1));
    assert_eq!(h.events(), vec![OutboundEvent::Ended { by_remote: false }]);

    // A remote BYE needs no lingering: TCP does not retransmit it.
    let mut h = Harness::new(config(Transport::Tcp));
    h.answered();
    let bye = remote_request(&h, "BYE", 3, ";tag=far1");
    assert_eq!(
        h.call.handle_request(h.now, &bye).unwrap().status(),
        Some(200)
    );
    assert_eq!(h.events(), vec![OutboundEvent::Ended { by_remote: true }]);
    h.advance(Duration::from_secs(32));
    assert!(h.call.is_finished(), "only Timer M was left");
}

#[test]
fn responses_and_requests_of_other_calls_are_not_claimed() {
    let mut h = Harness::udp();
    let invite = h.invite();
    let mut other = invite.clone();
    other.set_header(HeaderName::CallId, "someone-else@example");
    assert!(!h.respond(&other, 200, &ok_headers(), ANSWER));
    let mut other_branch = invite.clone();
    other_branch.set_header(
        HeaderName::Via,
        "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnotours",
    );
    assert!(!h.respond(&other_branch, 200, &ok_headers(), ANSWER));
    let mut register = invite.clone();
    register.set_header(HeaderName::CSeq, "1 REGISTER");
    assert!(!h.respond(&register, 200, &[], ""));
    assert!(h.events().is_empty());
    assert!(h.sent().is_empty());

    let request = parse(
        b"BYE sip:192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bKx\r\n\
          From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: nope\r\nCSeq: 1 BYE\r\n\
          Content-Length: 0\r\n\r\n",
    );
    assert!(!h.call.owns_request(&request));
    assert_eq!(h.call.handle_request(h.now, &request), None);
    assert!(
        !h.call.handle_response(h.now, &request),
        "a request is no response"
    );
}

#[test]
fn in_dialog_requests_get_sensible_answers() {
    let mut h = Harness::udp();
    // Before the dialog exists, a request naming our tag has no dialog to go to.
    let early = remote_request(&h, "BYE", 1, ";tag=far1");
    assert_eq!(
        h.call.handle_request(h.now, &early).unwrap().status(),
        Some(481)
    );
    h.answered();
    let status = |h: &mut Harness, method: &str, from_tag: &str| {
        let req = remote_request(h, method, 5, from_tag);
        h.call.handle_request(h.now, &req).map(|r| {
            (
                r.status().unwrap(),
                r.header(&HeaderName::Allow).map(str::to_string),
            )
        })
    };
    assert_eq!(
        status(&mut h, "OPTIONS", ";tag=far1"),
        Some((200, Some(ALLOW.to_string())))
    );
    assert_eq!(status(&mut h, "INFO", ";tag=far1"), Some((200, None)));
    assert_eq!(status(&mut h, "INVITE", ";tag=far1"), Some((488, None)));
    assert_eq!(
        status(&mut h, "MESSAGE", ";tag=far1"),
        Some((501, Some(ALLOW.to_string())))
    );
    assert_eq!(status(&mut h, "CANCEL", ";tag=far1"), Some((481, None)));
    assert_eq!(status(&mut h, "ACK", ";tag=far1"), None);
    assert_eq!(
        status(&mut h, "BYE", ";tag=someone"),
        Some((481, None)),
        "another far end's tag is not this dialog"
    );
    assert!(h.events().is_empty());
    assert!(h.sent().is_empty());

    // After the far end's BYE only a BYE is still confirmed.
    let bye = remote_request(&h, "BYE", 6, ";tag=far1");
    assert_eq!(
        h.call.handle_request(h.now, &bye).unwrap().status(),
        Some(200)
    );
    assert_eq!(status(&mut h, "OPTIONS", ";tag=far1"), Some((481, None)));
    assert_eq!(status(&mut h, "BYE", ";tag=far1"), Some((200, None)));
}

#[test]
fn over_tls_with_a_sips_request_uri_the_contact_is_sips() {
    let mut c = config(Transport::Tls);
    c.request_uri = "sips:conf-42@192.0.2.20:5061".into();
    let h = Harness::new(c);
    assert_eq!(header(&h.invite, "Contact"), "<sips:192.0.2.10:5060>");
    assert!(header(&h.invite, "Via").starts_with("SIP/2.0/TLS "));
    let h = Harness::new(config(Transport::Tls));
    assert_eq!(
        header(&h.invite, "Contact"),
        "<sip:192.0.2.10:5060;transport=tls>"
    );
}

#[test]
fn a_2xx_without_to_tag_or_contact_still_forms_a_dialog() {
    // RFC 3261 §12.1.2: a missing To tag is a null remote tag; a missing Contact leaves the
    // Request-URI we used as the remote target.
    let mut h = Harness::udp();
    let invite = h.invite();
    assert!(h.respond(&invite, 200, &[], ANSWER));
    assert_eq!(
        h.events(),
        vec![OutboundEvent::Answered { sdp: ANSWER.into() }]
    );
    let ack = h.sent_one(Method::Ack);
    assert_eq!(ack.request_uri(), invite.request_uri());
    assert_eq!(ack.to_header().unwrap().tag(), None);
    assert_eq!(ack.headers_named(&HeaderName::Route).count(), 0);
    // The far end's BYE then has no From tag either, and matches.
    let bye = remote_request(&h, "BYE", 2, "");
    assert_eq!(
        h.call.handle_request(h.now, &bye).unwrap().status(),
        Some(200)
    );
    assert_eq!(h.events(), vec![OutboundEvent::Ended { by_remote: true }]);
}

#[test]
fn malformed_responses_never_panic() {
    let mut h = Harness::udp();
    let invite = h.invite();
    let call_id = h.call.call_id().to_string();
    let via = header(&invite, "Via").to_string();
    let cases = [
        // No Via: cannot be matched.
        format!(
            "SIP/2.0 200 OK\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        ),
        // No CSeq.
        format!("SIP/2.0 200 OK\r\nVia: {via}\r\nCall-ID: {call_id}\r\nContent-Length: 0\r\n\r\n"),
        // Unreadable CSeq.
        format!(
            "SIP/2.0 200 OK\r\nVia: {via}\r\nCall-ID: {call_id}\r\nCSeq: x\r\nContent-Length: 0\r\n\r\n"
        ),
        // Unreadable Via.
        format!(
            "SIP/2.0 200 OK\r\nVia: ???\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        ),
    ];
    for text in &cases {
        let msg = parse(text.as_bytes());
        assert!(!h.call.handle_response(h.now, &msg), "{text}");
    }
    assert!(h.events().is_empty());
    assert!(h.sent().is_empty());

    // Matched, but with no From/To and a Contact that is not a URI: the dialog falls back
    // to what the INVITE used.
    let text = format!(
        "SIP/2.0 200 OK\r\nVia: {via}\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
         Contact: <<<\r\nRecord-Route: ,,\r\nContent-Length: 0\r\n\r\n"
    );
    assert!(h.call.handle_response(h.now, &parse(text.as_bytes())));
    assert_eq!(
        h.events(),
        vec![OutboundEvent::Answered { sdp: String::new() }]
    );
    let ack = h.sent_one(Method::Ack);
    assert_eq!(ack.request_uri(), invite.request_uri());
    assert_eq!(header(&ack, "To"), header(&invite, "To"));
    assert_eq!(ack.headers_named(&HeaderName::Route).count(), 0);
    // A 1xx and an error after the 2xx change nothing.
    let late = format!(
        "SIP/2.0 503 Service Unavailable\r\nVia: {via}\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
         Content-Length: 0\r\n\r\n"
    );
    assert!(h.call.handle_response(h.now, &parse(late.as_bytes())));
    assert!(h.events().is_empty());
    assert!(h.sent().is_empty());
}

#[test]
fn the_config_debug_form_hides_the_extra_header_values() {
    let text = format!("{:?}", config(Transport::Udp));
    assert!(text.contains("X-Dialbridge-Auth"));
    assert!(!text.contains("t0ken"), "{text}");
}

#[test]
fn unusable_configurations_are_refused() {
    let now = Instant::now();
    let rng = || StdRng::seed_from_u64(1);
    let mut c = config(Transport::Udp);
    c.request_uri = "mailto:x@y".into();
    assert_eq!(
        OutboundCall::new(now, c, rng()).err(),
        Some(OutboundCallError::Uri {
            field: "Request",
            value: "mailto:x@y".into()
        })
    );
    let mut c = config(Transport::Udp);
    c.from_uri = "sip:a@b>;tag=forged".into();
    assert!(matches!(
        OutboundCall::new(now, c, rng()),
        Err(OutboundCallError::Uri { field: "From", .. })
    ));
    let mut c = config(Transport::Udp);
    c.extra_headers.push((
        HeaderName::parse("X-Dialbridge-Auth"),
        "a\r\nVia: evil".into(),
    ));
    assert!(matches!(
        OutboundCall::new(now, c, rng()),
        Err(OutboundCallError::Unsafe(_))
    ));
    let mut c = config(Transport::Udp);
    c.extra_headers.push((HeaderName::CallId, "x".into()));
    assert!(matches!(
        OutboundCall::new(now, c, rng()),
        Err(OutboundCallError::Reserved(_))
    ));
    let mut c = config(Transport::Udp);
    c.to_uri = "sip:a@b\r\nX: y".into();
    assert!(matches!(
        OutboundCall::new(now, c, rng()),
        Err(OutboundCallError::Uri { field: "To", .. })
    ));
    let mut c = config(Transport::Udp);
    c.user_agent = "x\ny".into();
    assert!(matches!(
        OutboundCall::new(now, c, rng()),
        Err(OutboundCallError::Unsafe(_))
    ));
}

#[test]
fn a_chosen_call_id_is_used_and_a_bad_one_refused() {
    let mut cfg = config(Transport::Udp);
    cfg.call_id = Some("leg-1@node-b".into());
    let call =
        OutboundCall::new(Instant::now(), cfg.clone(), StdRng::seed_from_u64(1)).expect("valid");
    assert_eq!(call.call_id(), "leg-1@node-b");
    cfg.call_id = Some("a\r\nVia: x".into());
    assert!(OutboundCall::new(Instant::now(), cfg, StdRng::seed_from_u64(1)).is_err());
}
