//! Tests of `endpoint`, beside it so the code reads on its own.

use super::*;

const PHONE: &str = "127.0.0.1:5061";

fn phone() -> SocketAddr {
    PHONE.parse().unwrap()
}

fn local() -> LocalMedia {
    LocalMedia {
        ip: IpAddr::from([127, 0, 0, 1]),
        port: 20000,
        session_id: 1,
        session_version: 1,
    }
}

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
        m=audio 6000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";

fn invite(branch: &str, call_id: &str, body: &str) -> String {
    format!(
        "INVITE sip:bridge@127.0.0.1:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP {PHONE};branch={branch};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bridge@127.0.0.1>\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@{PHONE}>\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn in_dialog(method: &str, branch: &str, call_id: &str, to_tag: &str, cseq: u32) -> String {
    format!(
        "{method} sip:bridge@127.0.0.1:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP {PHONE};branch={branch};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bridge@127.0.0.1>;tag={to_tag}\r\n\
             Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
    )
}

struct Harness {
    ep: Endpoint,
    now: Instant,
}

impl Harness {
    /// The one event so far must be a new call: its handle.
    fn incoming_call(&mut self) -> CallId {
        match self.events().as_slice() {
            [Event::IncomingCall { call, .. }] => *call,
            other => panic!("expected IncomingCall, got {other:?}"),
        }
    }

    fn new() -> Self {
        Self::with(EndpointConfig::default())
    }

    fn with(config: EndpointConfig) -> Self {
        Harness {
            ep: Endpoint::new(config, rand::SeedableRng::seed_from_u64(1)),
            now: Instant::now(),
        }
    }

    fn feed(&mut self, text: &str) -> Vec<Message> {
        self.ep.handle_datagram(self.now, phone(), text.as_bytes());
        self.sent()
    }

    fn sent(&mut self) -> Vec<Message> {
        std::iter::from_fn(|| self.ep.poll_transmit())
            .map(|t| {
                assert_eq!(t.dest, phone(), "answers go back to the source (rport)");
                message::parse(&t.bytes, message::Framing::Datagram)
                    .unwrap()
                    .0
            })
            .collect()
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.ep.poll_event()).collect()
    }

    /// Advances fake time, running every timer on the way; returns what was sent.
    fn advance(&mut self, by: Duration) -> Vec<(Duration, Message)> {
        let start = self.now;
        let end = self.now + by;
        let mut out = Vec::new();
        while let Some(at) = self.ep.poll_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.ep.handle_timeout(self.now);
            for m in self.sent() {
                out.push((self.now - start, m));
            }
        }
        self.now = end;
        out
    }

    /// Sets up an answered, acknowledged call; returns (call, to-tag).
    fn confirmed_call(&mut self) -> (CallId, String) {
        self.feed(&invite("z9hG4bKinv1", "c1@test", OFFER));
        let call = self.incoming_call();
        self.ep.accept(self.now, call, local());
        let ok = self.sent().pop().unwrap();
        assert_eq!(ok.status(), Some(200));
        let tag = ok.to_header().unwrap().tag().unwrap().to_string();
        self.events();
        self.feed(&in_dialog("ACK", "z9hG4bKack1", "c1@test", &tag, 1));
        (call, tag)
    }
}

fn statuses(msgs: &[Message]) -> Vec<u16> {
    msgs.iter().filter_map(Message::status).collect()
}

#[test]
fn invite_gets_100_at_once_then_200_with_sdp_answer_on_accept() {
    let mut h = Harness::new();
    let sent = h.feed(&invite("z9hG4bK1", "c1@test", OFFER));
    assert_eq!(statuses(&sent), vec![100]);
    let call = match h.events().as_slice() {
        [
            Event::IncomingCall {
                call,
                sip_call_id,
                from_user,
                from_uri,
                ..
            },
        ] => {
            assert_eq!(sip_call_id, "c1@test");
            assert_eq!(from_user.as_deref(), Some("alice"));
            assert_eq!(from_uri, "sip:alice@127.0.0.1", "the URI, without the tag");
            *call
        }
        other => panic!("{other:?}"),
    };
    h.ep.accept(h.now, call, local());
    let sent = h.sent();
    assert_eq!(statuses(&sent), vec![200]);
    let ok = &sent[0];
    assert!(
        ok.to_header().unwrap().tag().is_some(),
        "200 carries our To tag"
    );
    assert!(ok.content_type_is("application/sdp"));
    assert!(ok.header(&HeaderName::Contact).is_some());
    let via = ok.top_via().unwrap();
    assert_eq!(via.param("received"), Some(Some("127.0.0.1")));
    assert_eq!(
        via.param("rport"),
        Some(Some("5061")),
        "RFC 3581 rport filled in"
    );
    match h.events().as_slice() {
        [Event::MediaUpdate { params, .. }] => {
            assert_eq!(params.remote, Some("127.0.0.1:6000".parse().unwrap()));
            assert_eq!(params.telephone_event, Some(101));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn retransmitted_invite_gets_the_same_answer_and_never_a_second_call() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bK1", "c1@test", OFFER);
    h.feed(&inv);
    let call = h.incoming_call();
    assert_eq!(
        statuses(&h.feed(&inv)),
        vec![100],
        "100 repeated while proceeding"
    );
    h.ep.accept(h.now, call, local());
    let first = h.sent();
    let again = h.feed(&inv);
    assert_eq!(statuses(&again), vec![200]);
    assert_eq!(again[0], first[0], "the very same 200");
    assert!(
        h.events()
            .iter()
            .all(|e| !matches!(e, Event::IncomingCall { .. })),
        "no second call"
    );
    assert_eq!(h.ep.call_count(), 1);
}

#[test]
fn unacknowledged_200_is_retransmitted_then_the_call_ends_with_bye() {
    let mut h = Harness::new();
    h.feed(&invite("z9hG4bK1", "c1@test", OFFER));
    let call = h.incoming_call();
    h.ep.accept(h.now, call, local());
    h.sent();
    h.events();
    let sent = h.advance(Duration::from_secs(40));
    let times: Vec<u128> = sent
        .iter()
        .filter(|(_, m)| m.status() == Some(200))
        .map(|(t, _)| t.as_millis())
        .collect();
    assert_eq!(&times[..4], &[500, 1500, 3500, 7500], "T1 doubling");
    assert!(
        times.windows(2).all(|w| w[1] - w[0] <= 4000),
        "capped at T2"
    );
    let bye = sent
        .iter()
        .find(|(_, m)| m.method() == Some(&Method::Bye))
        .expect("a BYE after 64*T1 without ACK");
    assert_eq!(bye.0, Duration::from_secs(32));
    assert!(h.events().contains(&Event::CallEnded {
        call,
        reason: EndReason::AckTimeout
    }));
}

#[test]
fn ack_stops_200_retransmissions() {
    let mut h = Harness::new();
    h.confirmed_call();
    let sent = h.advance(Duration::from_secs(40));
    assert!(sent.is_empty(), "nothing re-sent after the ACK: {sent:?}");
}

#[test]
fn cancel_before_answer_gives_200_and_487() {
    let mut h = Harness::with(EndpointConfig {
        answer_delay: Duration::from_secs(2),
        ..EndpointConfig::default()
    });
    h.feed(&invite("z9hG4bK1", "c1@test", OFFER));
    let call = h.incoming_call();
    h.ep.accept(h.now, call, local());
    assert_eq!(
        statuses(&h.sent()),
        vec![180],
        "ringing during the answer delay"
    );
    let cancel = "CANCEL sip:bridge@127.0.0.1:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK1;rport\r\nMax-Forwards: 70\r\n\
             From: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bridge@127.0.0.1>\r\n\
             Call-ID: c1@test\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n";
    let sent = h.feed(cancel);
    assert_eq!(statuses(&sent), vec![200, 487]);
    assert_eq!(sent[0].cseq().unwrap().method, Method::Cancel);
    assert_eq!(sent[1].cseq().unwrap().method, Method::Invite);
    assert!(h.events().contains(&Event::CallEnded {
        call,
        reason: EndReason::Cancelled
    }));
    // The 487 is retransmitted until its ACK, and the answer timer does nothing.
    let later = h.advance(Duration::from_millis(2100));
    assert!(later.iter().all(|(_, m)| m.status() == Some(487)));
    assert!(!later.is_empty());
    let ack = "ACK sip:bridge@127.0.0.1:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK1;rport\r\nMax-Forwards: 70\r\n\
             From: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bridge@127.0.0.1>;tag=x\r\n\
             Call-ID: c1@test\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n";
    h.feed(ack);
    assert!(
        h.advance(Duration::from_secs(40)).is_empty(),
        "ACK ends the 487 retransmissions"
    );
    assert_eq!(h.ep.transaction_count(), 0, "all transactions cleaned up");
}

#[test]
fn cancel_for_an_unknown_transaction_is_481_and_after_answer_is_harmless() {
    let mut h = Harness::new();
    let cancel = "CANCEL sip:bridge@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKnope;rport\r\n\
            From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(statuses(&h.feed(cancel)), vec![481]);
    let (_call, _) = h.confirmed_call();
    let cancel = "CANCEL sip:bridge@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKinv1;rport\r\n\
            From: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bridge@127.0.0.1>\r\nCall-ID: c1@test\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(statuses(&h.feed(cancel)), vec![200], "no 487 after the 200");
    assert!(h.events().is_empty(), "the call goes on");
}

#[test]
fn bye_gets_200_ends_the_call_and_a_retransmitted_bye_gets_the_same_200() {
    let mut h = Harness::new();
    let (call, tag) = h.confirmed_call();
    let bye = in_dialog("BYE", "z9hG4bKbye", "c1@test", &tag, 2);
    let first = h.feed(&bye);
    assert_eq!(statuses(&first), vec![200]);
    assert_eq!(
        h.events(),
        vec![Event::CallEnded {
            call,
            reason: EndReason::RemoteBye
        }]
    );
    let again = h.feed(&bye);
    assert_eq!(
        again, first,
        "Timer J keeps the response for retransmissions"
    );
    assert!(h.events().is_empty());
    let other = in_dialog("BYE", "z9hG4bKbye2", "c1@test", &tag, 3);
    assert_eq!(statuses(&h.feed(&other)), vec![481], "dialog gone");
}

#[test]
fn our_bye_is_retransmitted_on_timer_e_until_answered() {
    let mut h = Harness::new();
    let (call, _) = h.confirmed_call();
    h.ep.hangup(h.now, call);
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    let bye = &sent[0];
    assert_eq!(bye.method(), Some(&Method::Bye));
    assert_eq!(
        bye.request_uri(),
        Some("sip:alice@127.0.0.1:5061"),
        "sent to the Contact"
    );
    assert_eq!(bye.to_header().unwrap().tag(), Some("a1"));
    assert!(h.events().contains(&Event::CallEnded {
        call,
        reason: EndReason::LocalHangup
    }));
    let resent = h.advance(Duration::from_millis(1600));
    assert_eq!(
        resent
            .iter()
            .map(|(t, _)| t.as_millis())
            .collect::<Vec<_>>(),
        vec![500, 1500]
    );
    let ok = message::response_to(bye, 200, "OK").to_bytes();
    h.ep.handle_datagram(h.now, phone(), &ok);
    assert!(
        h.advance(Duration::from_secs(40)).is_empty(),
        "answered: no more BYEs"
    );
    assert_eq!(h.ep.transaction_count(), 0, "every transaction has ended");
}

// Found by fuzzing (fuzz/corpus/engine/regression-bye-while-ringing): the INVITE's
// transaction stayed in Proceeding forever, one leaked per such call.
#[test]
fn bye_while_ringing_answers_the_invite_487_and_leaves_no_transaction() {
    let mut h = Harness::with(EndpointConfig {
        answer_delay: Duration::from_secs(2),
        ..EndpointConfig::default()
    });
    h.feed(&invite("z9hG4bKinv1", "c1@test", OFFER));
    let call = h.incoming_call();
    h.ep.accept(h.now, call, local());
    let ringing = h.sent().pop().unwrap();
    assert_eq!(ringing.status(), Some(180));
    let tag = ringing.to_header().unwrap().tag().unwrap().to_string();

    let sent = h.feed(&in_dialog("BYE", "z9hG4bKbye1", "c1@test", &tag, 2));
    assert_eq!(statuses(&sent), vec![200, 487]);
    assert_eq!(sent[1].cseq().unwrap().method, Method::Invite);
    assert_eq!(
        h.events(),
        vec![Event::CallEnded {
            call,
            reason: EndReason::RemoteBye
        }]
    );
    let later = h.advance(Duration::from_secs(40));
    assert!(
        later.iter().all(|(_, m)| m.status() == Some(487)),
        "no 200 after the call ended, only 487 retransmissions until Timer H"
    );
    assert_eq!(h.ep.transaction_count(), 0, "every transaction has ended");
    assert_eq!(h.ep.poll_timeout(), None);
}

/// The Request-URI of our BYE for a call whose INVITE carried this Contact.
fn bye_uri_for_contact(contact: &str) -> Option<String> {
    let mut h = Harness::new();
    let invite =
        invite("z9hG4bKinv1", "c1@test", OFFER).replace("<sip:alice@127.0.0.1:5061>", contact);
    h.feed(&invite);
    let call = match h.events().as_slice() {
        [Event::IncomingCall { call, .. }] => *call,
        _ => return None,
    };
    h.ep.accept(h.now, call, local());
    let tag = h.sent().pop()?.to_header().ok()?.tag()?.to_string();
    h.feed(&in_dialog("ACK", "z9hG4bKack1", "c1@test", &tag, 1));
    h.ep.hangup(h.now, call);
    let bye = h.sent().pop()?;
    assert_eq!(bye.validate(), Ok(()), "our BYE must be a valid request");
    bye.request_uri().map(str::to_owned)
}

// Found by fuzzing (fuzz/corpus/engine/regression-bye-uri-*): `validate` only checks the
// shape of a Contact, so a malformed URI inside <> became our BYE's Request-URI.
#[test]
fn bye_goes_to_the_from_uri_when_the_contact_uri_is_malformed() {
    assert_eq!(
        bye_uri_for_contact("<sip:alice@127.0.0.1application/dtmf:5061>").as_deref(),
        Some("sip:alice@127.0.0.1")
    );
    assert_eq!(
        bye_uri_for_contact("<mailto:alice@example.com>").as_deref(),
        Some("sip:alice@127.0.0.1"),
        "not a URI a BYE can go to"
    );
}

#[test]
fn bye_drops_the_headers_of_the_contact_uri() {
    assert_eq!(
        bye_uri_for_contact("<sip:alice@127.0.0.1:5061;ob?Subject=hi&Priority=urgent>").as_deref(),
        Some("sip:alice@127.0.0.1:5061;ob")
    );
}

#[test]
fn invite_without_a_usable_contact_or_from_uri_is_refused_with_400() {
    let mut h = Harness::new();
    let invite = invite("z9hG4bKinv1", "c1@test", OFFER)
        .replace("<sip:alice@127.0.0.1:5061>", "<sip:alice@bad/host>")
        .replace("<sip:alice@127.0.0.1>", "<sip:alice@bad/host>");
    assert_eq!(statuses(&h.feed(&invite)), vec![100, 400]);
    assert!(
        h.events().is_empty(),
        "no call is offered to the application"
    );
    assert_eq!(h.ep.call_count(), 0);
}

#[test]
fn unanswered_bye_gives_up_after_timer_f() {
    let mut h = Harness::new();
    let (call, _) = h.confirmed_call();
    h.ep.hangup(h.now, call);
    h.sent();
    let resent = h.advance(Duration::from_secs(40));
    assert!(resent.len() >= 8, "retransmitted until Timer F");
    assert!(resent.iter().all(|(t, _)| *t < Duration::from_secs(32)));
    assert_eq!(h.ep.transaction_count(), 0);
}

#[test]
fn hangup_before_the_ack_waits_for_it() {
    let mut h = Harness::new();
    h.feed(&invite("z9hG4bK1", "c1@test", OFFER));
    let call = h.incoming_call();
    h.ep.accept(h.now, call, local());
    let tag = h.sent()[0].to_header().unwrap().tag().unwrap().to_string();
    h.ep.hangup(h.now, call);
    assert!(h.sent().is_empty(), "no BYE before the ACK (RFC 3261 §15)");
    let sent = h.feed(&in_dialog("ACK", "z9hG4bKa", "c1@test", &tag, 1));
    assert_eq!(sent[0].method(), Some(&Method::Bye));
}

#[test]
fn info_dtmf_relay_and_dtmf_become_digits() {
    let mut h = Harness::new();
    let (call, tag) = h.confirmed_call();
    h.events();
    for (i, (ctype, body, key)) in [
        (
            "application/dtmf-relay",
            "Signal=5\r\nDuration=160\r\n",
            '5',
        ),
        ("application/dtmf", "#", '#'),
    ]
    .into_iter()
    .enumerate()
    {
        let req = in_dialog(
            "INFO",
            &format!("z9hG4bKinfo{i}"),
            "c1@test",
            &tag,
            2 + i as u32,
        )
        .replace(
            "Content-Length: 0\r\n",
            &format!(
                "Content-Type: {ctype}\r\nContent-Length: {}\r\n",
                body.len()
            ),
        ) + body;
        assert_eq!(statuses(&h.feed(&req)), vec![200]);
        assert_eq!(
            h.events(),
            vec![Event::Dtmf {
                call,
                digit: Digit::from_char(key).unwrap()
            }]
        );
    }
    let outside = in_dialog("INFO", "z9hG4bKx", "other@test", "zz", 1);
    assert_eq!(statuses(&h.feed(&outside)), vec![481]);
}

#[test]
fn reinvite_for_hold_is_answered_with_the_same_port_and_updates_media() {
    let mut h = Harness::new();
    let (call, tag) = h.confirmed_call();
    let hold = OFFER.replace(
        "a=rtpmap:101 telephone-event/8000\r\n",
        "a=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n",
    );
    let req = invite("z9hG4bKre", "c1@test", &hold)
        .replace(
            "To: <sip:bridge@127.0.0.1>",
            &format!("To: <sip:bridge@127.0.0.1>;tag={tag}"),
        )
        .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE");
    let sent = h.feed(&req);
    let ok = sent
        .iter()
        .find(|m| m.status() == Some(200))
        .expect("200 to re-INVITE");
    let body = String::from_utf8_lossy(&ok.body);
    assert!(body.contains("m=audio 20000 "), "same port: {body}");
    assert!(
        body.contains("a=recvonly"),
        "answers hold with recvonly: {body}"
    );
    match h.events().as_slice() {
        [Event::MediaUpdate { call: c, params }] => {
            assert_eq!(*c, call);
            assert!(!params.direction.we_send());
        }
        other => panic!("{other:?}"),
    }
    h.feed(&in_dialog("ACK", "z9hG4bKack2", "c1@test", &tag, 2));
    assert!(h.advance(Duration::from_secs(5)).is_empty());
}

#[test]
fn invite_without_sdp_gets_an_offer_and_the_answer_comes_in_the_ack() {
    let mut h = Harness::new();
    let req = invite("z9hG4bK1", "c1@test", "").replace("Content-Type: application/sdp\r\n", "");
    h.feed(&req);
    let call = h.incoming_call();
    h.ep.accept(h.now, call, local());
    let ok = h.sent().pop().unwrap();
    let offer = String::from_utf8_lossy(&ok.body).to_string();
    assert!(offer.contains("RTP/AVP 0 8 9 101"), "{offer}");
    assert!(h.events().is_empty(), "no media until the answer");
    let tag = ok.to_header().unwrap().tag().unwrap().to_string();
    let answer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 8\r\n";
    let ack = in_dialog("ACK", "z9hG4bKack", "c1@test", &tag, 1).replace(
        "Content-Length: 0\r\n",
        &format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n",
            answer.len()
        ),
    ) + answer;
    h.feed(&ack);
    match h.events().as_slice() {
        [Event::MediaUpdate { params, .. }] => {
            assert_eq!(params.codec, crate::media::codec::Codec::Pcma);
            assert_eq!(params.remote, Some("127.0.0.1:7000".parse().unwrap()));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_common_codec_is_488() {
    let mut h = Harness::new();
    let g729 = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 18\r\n";
    let sent = h.feed(&invite("z9hG4bK1", "c1@test", g729));
    assert_eq!(statuses(&sent), vec![100, 488]);
    assert!(h.events().is_empty());
}

#[test]
fn options_register_and_unknown_methods() {
    let mut h = Harness::new();
    let req = |m: &str| {
        format!(
            "{m} sip:bridge@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {PHONE};branch=z9hG4bK{m};rport\r\n\
                 From: <sip:a@b>;tag=1\r\nTo: <sip:bridge@127.0.0.1>\r\nCall-ID: {m}@x\r\nCSeq: 1 {m}\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let ok = h.feed(&req("OPTIONS"));
    assert_eq!(statuses(&ok), vec![200]);
    assert_eq!(ok[0].header(&HeaderName::Allow), Some(ALLOW));
    assert_eq!(ok[0].header(&HeaderName::Server), Some("dialbridge"));
    let reg = h.feed(&req("REGISTER"));
    assert_eq!(statuses(&reg), vec![405]);
    assert_eq!(reg[0].header(&HeaderName::Allow), Some(ALLOW));
    let unknown = h.feed(&req("FOOBAR"));
    assert_eq!(statuses(&unknown), vec![501]);
    assert_eq!(unknown[0].header(&HeaderName::Allow), Some(ALLOW));
}

#[test]
fn unknown_method_with_another_cseq_method_is_501_listing_allow() {
    // RFC 4475 3.1.2.18 mismatch02: 501 rather than 400.
    let mut h = Harness::new();
    let req = format!(
        "NEWMETHOD sip:user@example.com SIP/2.0\r\nTo: sip:j.user@example.com\r\n\
             From: sip:caller@example.net;tag=34525\r\nMax-Forwards: 6\r\nCall-ID: mismatch02@x\r\n\
             CSeq: 8 INVITE\r\nVia: SIP/2.0/UDP {PHONE};branch=z9hG4bKmm\r\nContent-Length: 0\r\n\r\n"
    );
    let r = h.feed(&req);
    assert_eq!(statuses(&r), vec![501]);
    assert_eq!(r[0].header(&HeaderName::Allow), Some(ALLOW));
    assert_eq!(r[0].header(&HeaderName::CSeq), Some("8 INVITE"));
    // A known method with the wrong CSeq method stays a 400 (RFC 4475 mismatch01).
    let known = req
        .replace("NEWMETHOD", "OPTIONS")
        .replace("mismatch02", "mismatch01");
    assert_eq!(statuses(&h.feed(&known)), vec![400]);
}

#[test]
fn request_whose_via_has_stray_separators_gets_400_at_its_sent_by() {
    // RFC 4475 3.1.2.1 badinv01: "should respond with a 400 Bad Request error".
    let mut h = Harness::new();
    let req = format!(
        "INVITE sip:user@example.com SIP/2.0\r\nTo: sip:j.user@example.com\r\n\
             From: sip:caller@example.net;tag=134161461246\r\nMax-Forwards: 7\r\n\
             Call-ID: badinv01@x\r\nCSeq: 8 INVITE\r\nVia: SIP/2.0/UDP 127.0.0.1:5077;;,;,,\r\n\
             Contact: \"Joe\" <sip:joe@example.org>;;;;\r\nContent-Length: {}\r\n\
             Content-Type: application/sdp\r\n\r\n{OFFER}",
        OFFER.len()
    );
    h.ep.handle_datagram(h.now, phone(), req.as_bytes());
    let t = h.ep.poll_transmit().expect("a 400");
    assert_eq!(
        t.dest,
        "127.0.0.1:5077".parse().unwrap(),
        "source IP, sent-by port"
    );
    let resp = message::parse(&t.bytes, message::Framing::Datagram)
        .unwrap()
        .0;
    assert_eq!(resp.status(), Some(400));
    assert_eq!(
        resp.header(&HeaderName::Via),
        Some("SIP/2.0/UDP 127.0.0.1:5077;;,;,,"),
        "the Via goes back as it came"
    );
    assert!(h.ep.poll_transmit().is_none());
    assert!(h.events().is_empty(), "no call for a malformed INVITE");
    assert_eq!(h.ep.stats().bad_requests, 1);
    // With rport the 400 goes to the source port; an ACK or an unreadable sent-by gets nothing.
    let rport = req.replace(";;,;,,", ";;rport;,;,,");
    assert_eq!(h.feed(&rport).len(), 1);
    h.ep.handle_datagram(h.now, phone(), rport.as_bytes());
    assert_eq!(h.ep.poll_transmit().map(|t| t.dest), Some(phone()));
    let ack = req
        .replace("INVITE sip", "ACK sip")
        .replace("8 INVITE", "8 ACK");
    assert!(h.feed(&ack).is_empty());
    let no_host = req.replace("127.0.0.1:5077;;", ";;");
    assert!(h.feed(&no_host).is_empty());
    assert_eq!(
        h.ep.stats().garbage,
        2,
        "the ACK and the hostless Via are dropped"
    );
}

#[test]
fn invite_whose_accept_excludes_sdp_gets_406_with_warning_399() {
    // RFC 4475 3.3.15 sdp01: our answer would be SDP, which Accept does not allow.
    let mut h = Harness::new();
    let req = invite("z9hG4bKacc", "sdp01@test", OFFER).replacen(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nAccept: text/nobodyKnowsThis\r\n",
        1,
    );
    let sent = h.feed(&req);
    assert_eq!(statuses(&sent), vec![100, 406]);
    let warning = sent[1]
        .header(&HeaderName::parse("Warning"))
        .unwrap_or_default();
    assert!(warning.starts_with("399 dialbridge \""), "{warning}");
    assert!(sent[1].body.is_empty(), "no SDP in the refusal");
    assert!(h.events().is_empty(), "no call");
    // Accept that covers SDP changes nothing.
    let ok = invite("z9hG4bKacc2", "sdp02@test", OFFER).replacen(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nAccept: application/*, text/html\r\n",
        1,
    );
    assert_eq!(statuses(&h.feed(&ok)), vec![100]);
    assert_eq!(h.events().len(), 1);
}

#[test]
fn compact_headers_and_folded_lines_are_understood() {
    let mut h = Harness::new();
    let req = format!(
        "INVITE sip:bridge@127.0.0.1 SIP/2.0\r\nv: SIP/2.0/UDP {PHONE};branch=z9hG4bKc;rport\r\n\
             f: <sip:alice@127.0.0.1>\r\n ;tag=a1\r\nt: <sip:bridge@127.0.0.1>\r\ni: compact@test\r\n\
             CSeq: 1 INVITE\r\nm: <sip:alice@{PHONE}>\r\nc: application/sdp\r\nl: {}\r\n\r\n{OFFER}trailing-junk",
        OFFER.len()
    );
    assert_eq!(statuses(&h.feed(&req)), vec![100]);
    assert!(
        matches!(h.events().as_slice(), [Event::IncomingCall { sip_call_id, .. }] if sip_call_id == "compact@test")
    );
}

#[test]
fn malformed_requests_get_400_and_garbage_is_dropped() {
    let mut h = Harness::new();
    let no_call_id = format!(
        "OPTIONS sip:bridge@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {PHONE};branch=z9hG4bKm;rport\r\n\
             From: <sip:a@b>;tag=1\r\nTo: <sip:bridge@127.0.0.1>\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    let r = h.feed(&no_call_id);
    assert_eq!(statuses(&r), vec![400]);
    let bad_cl = invite("z9hG4bKcl", "cl@test", OFFER).replace(
        &format!("Content-Length: {}", OFFER.len()),
        "Content-Length: 9999",
    );
    assert_eq!(
        statuses(&h.feed(&bad_cl)),
        vec![400],
        "body shorter than Content-Length"
    );
    assert!(h.feed("\x00\x01garbage\r\n\r\n").is_empty());
    assert!(h.feed("\r\n\r\n").is_empty(), "keep-alive");
    assert_eq!(h.ep.stats().garbage, 1);
    let v3 = invite("z9hG4bKv", "v@test", OFFER).replacen("SIP/2.0\r\n", "SIP/3.0\r\n", 1);
    assert_eq!(statuses(&h.feed(&v3)), vec![505]);
    let tel =
        invite("z9hG4bKu", "u@test", OFFER).replacen("sip:bridge@127.0.0.1:5060", "mailto:x@y", 1);
    assert_eq!(statuses(&h.feed(&tel)), vec![416]);
    let require = invite("z9hG4bKr", "r@test", OFFER).replacen(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRequire: 100rel, foo\r\n",
        1,
    );
    let r = h.feed(&require);
    assert_eq!(statuses(&r), vec![420]);
    assert_eq!(r[0].header(&HeaderName::Unsupported), Some("100rel, foo"));
    assert!(h.events().is_empty());
}

#[test]
fn responses_to_nothing_are_dropped_silently() {
    let mut h = Harness::new();
    let stray = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKnothing\r\n\
            From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: s\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n";
    assert!(h.feed(stray).is_empty());
    assert_eq!(h.ep.stats().stray_responses, 1);
}

#[test]
fn responses_without_rport_go_to_the_via_port() {
    let mut h = Harness::new();
    let req = "OPTIONS sip:bridge@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.9.9.9:5099;branch=z9hG4bKnr\r\n\
            From: <sip:a@b>;tag=1\r\nTo: <sip:bridge@127.0.0.1>\r\nCall-ID: nr@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    h.ep.handle_datagram(h.now, phone(), req.as_bytes());
    let t = h.ep.poll_transmit().unwrap();
    assert_eq!(
        t.dest,
        "127.0.0.1:5099".parse().unwrap(),
        "received IP, Via port (RFC 3261 §18.2.2)"
    );
    let msg = message::parse(&t.bytes, message::Framing::Datagram)
        .unwrap()
        .0;
    assert_eq!(
        msg.top_via().unwrap().param("received"),
        Some(Some("127.0.0.1"))
    );
}

/// Feeds one message as if it came over a TCP connection from `conn`; returns what was
/// sent, checking that all of it goes back on that connection.
fn feed_tcp(h: &mut Harness, conn: SocketAddr, text: &str) -> Vec<Message> {
    let (msg, _) = message::parse(text.as_bytes(), message::Framing::Stream).unwrap();
    h.ep.handle_message(h.now, Peer::tcp(conn), msg);
    sent_tcp(h, conn)
}

fn sent_tcp(h: &mut Harness, conn: SocketAddr) -> Vec<Message> {
    std::iter::from_fn(|| h.ep.poll_transmit())
        .map(|t| {
            assert_eq!(
                (t.dest, t.transport),
                (conn, Transport::Tcp),
                "over TCP everything goes back on the request's connection"
            );
            message::parse(&t.bytes, message::Framing::Stream)
                .unwrap()
                .0
        })
        .collect()
}

/// Runs every pending timer to the end; returns how many messages they sent (all of
/// them checked to go on `conn`).
fn run_every_timer_tcp(h: &mut Harness, conn: SocketAddr) -> usize {
    let mut sent = 0;
    while let Some(at) = h.ep.poll_timeout() {
        h.now = h.now.max(at);
        h.ep.handle_timeout(h.now);
        sent += sent_tcp(h, conn).len();
    }
    sent
}

fn over_tcp(text: &str) -> String {
    // No rport and a Via port that is not the connection's: §18.2.2 still says reply
    // on the connection.
    text.replace(
        &format!("SIP/2.0/UDP {PHONE};"),
        "SIP/2.0/TCP 127.0.0.1:5070;",
    )
    .replace(";rport", "")
}

#[test]
fn over_tcp_responses_use_the_connection_and_the_contact_says_tcp() {
    let conn: SocketAddr = "127.0.0.1:41000".parse().unwrap();
    let mut h = Harness::new();
    let sent = feed_tcp(
        &mut h,
        conn,
        &over_tcp(&invite("z9hG4bKt1", "t1@test", OFFER)),
    );
    assert_eq!(statuses(&sent), vec![100]);
    let call = match h.events().as_slice() {
        [
            Event::IncomingCall {
                call, transport, ..
            },
        ] => {
            assert_eq!(*transport, Transport::Tcp);
            *call
        }
        other => panic!("expected IncomingCall, got {other:?}"),
    };
    h.ep.accept(h.now, call, local());
    let ok = sent_tcp(&mut h, conn).pop().unwrap();
    assert_eq!(ok.status(), Some(200));
    assert!(
        ok.header(&HeaderName::Contact)
            .unwrap()
            .contains(";transport=tcp"),
        "{:?}",
        ok.header(&HeaderName::Contact)
    );
    let tag = ok.to_header().unwrap().tag().unwrap().to_string();
    feed_tcp(
        &mut h,
        conn,
        &over_tcp(&in_dialog("ACK", "z9hG4bKta", "t1@test", &tag, 1)),
    );
    // Our BYE goes on the same connection with a TCP Via, and is sent once: no Timer E.
    h.ep.hangup(h.now, call);
    let bye = sent_tcp(&mut h, conn);
    assert_eq!(bye.len(), 1);
    assert!(
        bye[0]
            .header(&HeaderName::Via)
            .unwrap()
            .starts_with("SIP/2.0/TCP "),
        "{:?}",
        bye[0].header(&HeaderName::Via)
    );
    let resent = run_every_timer_tcp(&mut h, conn);
    assert_eq!(resent, 0, "nothing is retransmitted over TCP");
}

#[test]
fn over_tcp_an_error_response_is_not_retransmitted() {
    let conn: SocketAddr = "127.0.0.1:41001".parse().unwrap();
    let mut h = Harness::new();
    feed_tcp(
        &mut h,
        conn,
        &over_tcp(&invite("z9hG4bKt2", "t2@test", OFFER)),
    );
    let call = h.incoming_call();
    h.ep.reject(h.now, call, 503, Some(5));
    assert_eq!(statuses(&sent_tcp(&mut h, conn)), vec![503]);
    let resent = run_every_timer_tcp(&mut h, conn);
    assert_eq!(resent, 0, "no Timer G on a reliable transport");
    assert_eq!(h.ep.transaction_count(), 0, "Timer H ended the transaction");
}

/// Feeds one message as if it came over a TLS connection from `conn`; returns what was
/// sent, checking that all of it goes back on that connection.
fn feed_tls(h: &mut Harness, conn: SocketAddr, text: &str) -> Vec<Message> {
    let (msg, _) = message::parse(text.as_bytes(), message::Framing::Stream).unwrap();
    h.ep.handle_message(h.now, Peer::tls(conn), msg);
    sent_tls(h, conn)
}

fn sent_tls(h: &mut Harness, conn: SocketAddr) -> Vec<Message> {
    std::iter::from_fn(|| h.ep.poll_transmit())
        .map(|t| {
            assert_eq!(
                (t.dest, t.transport),
                (conn, Transport::Tls),
                "over TLS everything goes back on the request's connection"
            );
            message::parse(&t.bytes, message::Framing::Stream)
                .unwrap()
                .0
        })
        .collect()
}

fn over_tls(text: &str) -> String {
    text.replace(
        &format!("SIP/2.0/UDP {PHONE};"),
        "SIP/2.0/TLS 127.0.0.1:5071;",
    )
    .replace(";rport", "")
}

/// A call over TLS: answered on its connection, our Contact and the BYE's Via name the
/// `--sip-domain` and the TLS port, and nothing is retransmitted (TLS is reliable).
fn call_over_tls(request_uri: &str, contact_starts: &str) {
    let conn: SocketAddr = "127.0.0.1:41010".parse().unwrap();
    let mut h = Harness::with(EndpointConfig {
        tls_port: 5061,
        sip_domain: Some("bridge.example.com".into()),
        ..EndpointConfig::default()
    });
    let invite = over_tls(&invite("z9hG4bKs1", "s1@test", OFFER)).replace(
        "INVITE sip:bridge@127.0.0.1:5060 ",
        &format!("INVITE {request_uri} "),
    );
    let sent = feed_tls(&mut h, conn, &invite);
    assert_eq!(statuses(&sent), vec![100]);
    let call = match h.events().as_slice() {
        [
            Event::IncomingCall {
                call, transport, ..
            },
        ] => {
            assert_eq!(*transport, Transport::Tls);
            *call
        }
        other => panic!("expected IncomingCall, got {other:?}"),
    };
    h.ep.accept(h.now, call, local());
    let ok = sent_tls(&mut h, conn).pop().unwrap();
    assert_eq!(ok.status(), Some(200));
    let contact = ok.header(&HeaderName::Contact).unwrap().to_string();
    assert!(contact.starts_with(contact_starts), "{contact}");
    let tag = ok.to_header().unwrap().tag().unwrap().to_string();
    feed_tls(
        &mut h,
        conn,
        &over_tls(&in_dialog("ACK", "z9hG4bKsa", "s1@test", &tag, 1)),
    );
    h.ep.hangup(h.now, call);
    let bye = sent_tls(&mut h, conn);
    assert_eq!(bye.len(), 1);
    let via = bye[0].header(&HeaderName::Via).unwrap();
    assert!(
        via.starts_with("SIP/2.0/TLS bridge.example.com:5061;"),
        "{via}"
    );
    let resent = std::iter::from_fn(|| {
        let at = h.ep.poll_timeout()?;
        h.now = h.now.max(at);
        h.ep.handle_timeout(h.now);
        Some(sent_tls(&mut h, conn).len())
    })
    .sum::<usize>();
    assert_eq!(resent, 0, "nothing is retransmitted over TLS");
}

#[test]
fn over_tls_the_contact_names_the_domain_with_transport_tls() {
    call_over_tls(
        "sip:bridge@bridge.example.com:5061;transport=tls",
        "<sip:bridge.example.com:5061;transport=tls>",
    );
}

#[test]
fn over_tls_a_sips_request_uri_gets_a_sips_contact() {
    call_over_tls(
        "sips:bridge@bridge.example.com",
        "<sips:bridge.example.com:5061>",
    );
}

const SRTP_OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
        m=audio 6000 RTP/SAVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
        a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^31\r\n";

#[test]
fn srtp_keys_are_answered_only_over_tls() {
    // Over UDP the offer's keys are already public: 488, and no key of ours goes out.
    let mut h = Harness::new();
    let sent = h.feed(&invite("z9hG4bKk1", "k1@test", SRTP_OFFER));
    assert_eq!(statuses(&sent), vec![100, 488]);
    assert!(sent[1].body.is_empty(), "no SDP, so no key, in the refusal");
    assert!(h.events().is_empty(), "the application never hears of it");

    // Over TLS: 200 with our own key under the offer's tag, and the keys reach the media.
    let conn: SocketAddr = "127.0.0.1:41020".parse().unwrap();
    let mut h = Harness::with(EndpointConfig::default());
    let sent = feed_tls(
        &mut h,
        conn,
        &over_tls(&invite("z9hG4bKk2", "k2@test", SRTP_OFFER)),
    );
    assert_eq!(statuses(&sent), vec![100]);
    let call = match h.events().as_slice() {
        [Event::IncomingCall { call, .. }] => *call,
        other => panic!("expected IncomingCall, got {other:?}"),
    };
    h.ep.accept(h.now, call, local());
    let ok = sent_tls(&mut h, conn).pop().unwrap();
    assert_eq!(ok.status(), Some(200));
    let body = String::from_utf8(ok.body.clone()).unwrap();
    assert!(body.contains("m=audio 20000 RTP/SAVP 0 101"), "{body}");
    let line = body
        .lines()
        .find_map(|l| l.strip_prefix("a=crypto:"))
        .expect("our key");
    let ours = crate::sip::sdes::parse(line).unwrap();
    assert_eq!(ours.tag, 3);
    match h.events().as_slice() {
        [Event::MediaUpdate { params, .. }] => {
            let keys = params.srtp.as_ref().expect("SRTP agreed");
            assert_eq!(keys.local, ours.key);
            assert_ne!(keys.local, keys.remote);
        }
        other => panic!("expected MediaUpdate, got {other:?}"),
    }
}

#[test]
fn srtp_require_refuses_plain_offers_and_cleartext_sip() {
    let require = EndpointConfig {
        srtp: SrtpMode::Require,
        ..EndpointConfig::default()
    };
    // A plain offer: 488.
    let mut h = Harness::with(require.clone());
    assert_eq!(
        statuses(&h.feed(&invite("z9hG4bKr1", "r1@test", OFFER))),
        vec![100, 488]
    );
    // No offer at all over UDP: our offer would have to carry keys in clear, so 488 too.
    let mut h = Harness::with(require.clone());
    assert_eq!(
        statuses(&h.feed(&invite("z9hG4bKr2", "r2@test", ""))),
        vec![100, 488]
    );
    // Unless the operator says keys over cleartext SIP are acceptable.
    let mut h = Harness::with(EndpointConfig {
        srtp_over_cleartext: true,
        ..require
    });
    assert_eq!(
        statuses(&h.feed(&invite("z9hG4bKr3", "r3@test", SRTP_OFFER))),
        vec![100]
    );
}

#[test]
fn a_draining_bridge_answers_options_503_so_dispatchers_send_calls_elsewhere() {
    let mut h = Harness::new();
    let options = |branch: &str| {
        format!(
            "OPTIONS sip:bridge@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {PHONE};branch=z9hG4bK{branch};rport\r\n\
             From: <sip:probe@b>;tag=1\r\nTo: <sip:bridge@127.0.0.1>\r\nCall-ID: {branch}@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
    };
    assert_eq!(statuses(&h.feed(&options("d1"))), vec![200]);
    h.ep.set_available(false);
    let refused = h.feed(&options("d2"));
    assert_eq!(statuses(&refused), vec![503]);
    assert_eq!(refused[0].header(&HeaderName::RetryAfter), Some("30"));
    h.ep.set_available(true);
    assert_eq!(statuses(&h.feed(&options("d3"))), vec![200]);
}

#[test]
fn the_200_carries_the_invites_record_route_so_the_ack_comes_back_through_the_proxy() {
    let mut h = Harness::new();
    let with_routes = invite("z9hG4bKrr", "rr@test", OFFER).replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 69\r\nRecord-Route: <sip:10.0.0.1;lr>\r\nRecord-Route: <sip:10.0.0.2;lr>\r\n",
    );
    h.feed(&with_routes);
    let call = h.incoming_call();
    h.ep.accept(h.now, call, local());
    let sent = h.sent();
    assert_eq!(statuses(&sent), vec![200]);
    let routes: Vec<&str> = sent[0].headers_named(&HeaderName::RecordRoute).collect();
    assert_eq!(
        routes,
        vec!["<sip:10.0.0.1;lr>", "<sip:10.0.0.2;lr>"],
        "in the INVITE's order"
    );
    // Not on a response that makes no dialog.
    h.feed(&in_dialog("OPTIONS", "z9hG4bKo", "rr@test", "x", 2));
    for m in h.sent() {
        assert_eq!(m.headers_named(&HeaderName::RecordRoute).count(), 0);
    }
}
