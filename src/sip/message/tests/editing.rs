//! Accessors and editing a parsed message.

use super::torture_invalid::SCALAR02;
use super::torture_valid::{DBLREQ, WSINV, intmeth};
use super::*;

#[test]
fn accessors_read_the_invite() {
    let msg = ok(INVITE);
    assert_eq!(msg.method(), Some(&Method::Invite));
    assert_eq!(msg.status(), None);
    assert_eq!(msg.request_uri(), Some("sip:1000@bridge.example.com"));
    assert_eq!(msg.call_id(), Some("a84b4c76e66710@pc33.example.com"));
    assert_eq!(
        msg.cseq().unwrap(),
        CSeq {
            seq: 314159,
            method: Method::Invite
        }
    );
    let vias = msg.vias().unwrap();
    assert_eq!(vias.len(), 2);
    assert_eq!(msg.top_via().unwrap(), vias[0]);
    assert_eq!(vias[0].port, Some(5060));
    assert_eq!(
        msg.from_header().unwrap().display_name.as_deref(),
        Some("Alice")
    );
    assert_eq!(msg.to_header().unwrap().tag(), None);
    assert_eq!(
        msg.contact().unwrap().unwrap().uri,
        "sip:alice@192.0.2.10:5060"
    );
    assert_eq!(msg.max_forwards(), Ok(Some(70)));
    assert_eq!(
        msg.tokens(&HeaderName::Allow),
        ["INVITE", "ACK", "BYE", "CANCEL", "INFO"]
    );
    assert_eq!(msg.tokens(&HeaderName::Supported), ["timer", "replaces"]);
    assert!(msg.tokens(&HeaderName::Require).is_empty());
    assert_eq!(msg.headers_named(&HeaderName::Allow).count(), 2);
    assert_eq!(msg.validate(), Ok(()));
}

#[test]
fn missing_headers_are_reported() {
    let msg = ok("OPTIONS sip:a@b SIP/2.0\n\n");
    assert_eq!(msg.cseq(), Err(HeaderError::Missing("CSeq")));
    assert_eq!(msg.top_via(), Err(HeaderError::Missing("Via")));
    assert_eq!(msg.vias(), Ok(vec![]));
    assert_eq!(msg.from_header(), Err(HeaderError::Missing("From")));
    assert_eq!(msg.contact(), Ok(None));
    assert_eq!(msg.max_forwards(), Ok(None));
    assert_eq!(msg.content_type(), None);
    assert!(!msg.content_type_is("application/sdp"));
    assert_eq!(
        HeaderError::Missing("CSeq").to_string(),
        "the message has no CSeq header field; a SIP request must carry it (RFC 3261 §8.1.1)"
    );
}

#[test]
fn content_type_is_ignores_case_params_and_spaces() {
    let mut msg = request(Method::Info, "sip:a@b");
    msg.add_header(
        HeaderName::ContentType,
        "Application / DTMF-Relay ; charset=utf-8",
    );
    assert!(msg.content_type_is("application/dtmf-relay"));
    assert!(!msg.content_type_is("application/sdp"));
    assert!(!msg.content_type_is("application"));
    assert_eq!(
        msg.content_type(),
        Some("Application / DTMF-Relay ; charset=utf-8")
    );
}

#[test]
fn accepts_follows_accept_media_ranges_and_defaults_to_sdp() {
    let mut msg = request(Method::Invite, "sip:a@b");
    assert!(
        msg.accepts("application/sdp"),
        "no Accept means application/sdp"
    );
    assert!(!msg.accepts("text/plain"));
    // RFC 4475 sdp01.
    msg.set_header(HeaderName::Accept, "text/nobodyKnowsThis");
    assert!(!msg.accepts("application/sdp"));
    for (accept, sdp) in [
        ("application/sdp", true),
        ("Application/SDP;level=1", true),
        ("text/plain, application / sdp", true),
        ("application/*", true),
        ("*/*", true),
        ("application/sdp;q=0, text/plain", false),
        ("application/sdp; q=0.0", false),
        ("application/sdp;q=0.5", true),
        ("", false),
        ("application", false),
        ("application/pidf+xml, multipart/mixed", false),
    ] {
        msg.set_header(HeaderName::Accept, accept);
        assert_eq!(msg.accepts("application/sdp"), sdp, "Accept: {accept}");
    }
    // Several Accept fields are one list.
    msg.set_header(HeaderName::Accept, "text/plain");
    msg.add_header(HeaderName::Accept, "application/sdp");
    assert!(msg.accepts("application/sdp"));
}

#[test]
fn max_forwards_range() {
    let mut msg = request(Method::Options, "sip:a@b");
    for (value, expected) in [
        ("0", Ok(Some(0))),
        ("000", Ok(Some(0))),
        ("255", Ok(Some(255))),
        ("00255", Ok(Some(255))),
    ] {
        msg.set_header(HeaderName::MaxForwards, value);
        assert_eq!(msg.max_forwards(), expected, "{value}");
    }
    for value in ["256", "-1", "", "7a", "99999999999999999999"] {
        msg.set_header(HeaderName::MaxForwards, value);
        assert!(msg.max_forwards().is_err(), "{value}");
    }
}

#[test]
fn set_add_and_remove_headers() {
    let mut msg = ok(INVITE);
    msg.set_header(HeaderName::Allow, "INVITE, BYE");
    assert_eq!(
        msg.headers_named(&HeaderName::Allow).collect::<Vec<_>>(),
        ["INVITE, BYE"]
    );
    let pos = msg
        .headers
        .iter()
        .position(|h| h.name == HeaderName::Allow)
        .unwrap();
    assert_eq!(
        msg.headers[pos - 1].name,
        HeaderName::Supported,
        "kept in place"
    );
    msg.set_header(HeaderName::UserAgent, "dialbridge");
    assert_eq!(msg.headers.last().unwrap().name, HeaderName::UserAgent);
    msg.add_header(HeaderName::parse("X-Test"), "1");
    msg.add_header(HeaderName::parse("x-test"), "2");
    assert_eq!(msg.headers_named(&HeaderName::parse("X-TEST")).count(), 2);
    msg.remove_header(&HeaderName::parse("x-TEST"));
    assert_eq!(msg.header(&HeaderName::parse("X-Test")), None);
    msg.remove_header(&HeaderName::Via);
    assert_eq!(msg.top_via(), Err(HeaderError::Missing("Via")));
}

#[test]
fn to_bytes_writes_canonical_form_with_real_content_length() {
    let mut msg =
        ok("MESSAGE sip:a@b SIP/2.0\nv: SIP/2.0/UDP h;branch=z9hG4bK1\nl: 3\nx-custom: v\n\nabc");
    msg.body = b"hello".to_vec();
    let wire = msg.to_bytes();
    assert_eq!(
            wire,
            b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nx-custom: v\r\nContent-Length: 5\r\n\r\nhello"
        );
    let mut buf = b"prefix".to_vec();
    msg.write_to(&mut buf);
    assert_eq!(&buf[6..], &wire[..]);
}

#[test]
fn to_bytes_cannot_be_used_for_header_injection() {
    let mut msg = response_to(&ok(INVITE), 200, "OK\r\nX-Evil: 1");
    msg.add_header(HeaderName::Subject, "a\r\nX-Evil: 2\nb");
    let wire = msg.to_bytes();
    let (parsed, _) = parse(&wire, Framing::Stream).unwrap();
    assert_eq!(parsed.header(&HeaderName::parse("X-Evil")), None);
    assert_eq!(parsed.header(&HeaderName::Subject), Some("a  X-Evil: 2 b"));
}

#[test]
fn parse_to_bytes_parse_round_trips() {
    for text in [INVITE, WSINV, DBLREQ, SCALAR02] {
        let (first, _) = parse(&crlf(text), Framing::Datagram).unwrap();
        let (second, used) = parse(&first.to_bytes(), Framing::Stream).unwrap();
        assert_eq!(used, first.to_bytes().len());
        assert_eq!(second.start, first.start);
        assert_eq!(second.body, first.body);
        let strip = |m: &Message| -> Vec<Header> {
            m.headers
                .iter()
                .filter(|h| h.name != HeaderName::ContentLength)
                .cloned()
                .collect()
        };
        assert_eq!(strip(&second), strip(&first));
    }
    let (intmeth_msg, _) = parse(&intmeth(), Framing::Datagram).unwrap();
    assert_eq!(
        parse(&intmeth_msg.to_bytes(), Framing::Datagram).unwrap().0,
        intmeth_msg
    );
}

#[test]
fn response_to_copies_via_from_to_call_id_cseq_in_order() {
    let mut req = ok(INVITE);
    req.add_header(
        HeaderName::Via,
        "SIP/2.0/TCP late.example.com;branch=z9hG4bKlate",
    );
    req.add_header(HeaderName::parse("Timestamp"), "54");
    let resp = response_to(&req, 180, reason_phrase(180));
    assert_eq!(resp.status(), Some(180));
    let names: Vec<&str> = resp.headers.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        ["Via", "Via", "Via", "From", "To", "Call-ID", "CSeq"]
    );
    let vias: Vec<&str> = resp.headers_named(&HeaderName::Via).collect();
    assert_eq!(
        vias,
        [
            "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport",
            "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKproxy",
            "SIP/2.0/TCP late.example.com;branch=z9hG4bKlate",
        ]
    );
    assert_eq!(
        resp.header(&HeaderName::From),
        req.header(&HeaderName::From)
    );
    assert!(resp.body.is_empty());
    let wire = String::from_utf8(resp.to_bytes()).unwrap();
    assert!(wire.starts_with("SIP/2.0 180 Ringing\r\nVia: "));
    assert!(wire.ends_with("Content-Length: 0\r\n\r\n"));
    let trying = response_to(&req, 100, "Trying");
    assert_eq!(trying.header(&HeaderName::parse("timestamp")), Some("54"));
}

#[test]
fn request_builder_keeps_header_order() {
    let mut bye = request(Method::Bye, "sip:alice@192.0.2.10:5060");
    bye.add_header(
        HeaderName::Via,
        "SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKb1;rport",
    );
    bye.add_header(HeaderName::MaxForwards, "70");
    bye.add_header(HeaderName::From, "<sip:1000@bridge.example.com>;tag=b");
    bye.add_header(HeaderName::To, "\"Alice\" <sip:alice@example.com>;tag=a");
    bye.add_header(HeaderName::CallId, "c1");
    bye.add_header(HeaderName::CSeq, "2 BYE");
    assert_eq!(
        String::from_utf8(bye.to_bytes()).unwrap(),
        "BYE sip:alice@192.0.2.10:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKb1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:1000@bridge.example.com>;tag=b\r\nTo: \"Alice\" <sip:alice@example.com>;tag=a\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    assert_eq!(
        parse(&bye.to_bytes(), Framing::Datagram)
            .unwrap()
            .0
            .validate(),
        Ok(())
    );
}

#[test]
fn reason_phrases() {
    assert_eq!(reason_phrase(200), "OK");
    assert_eq!(reason_phrase(180), "Ringing");
    assert_eq!(reason_phrase(487), "Request Terminated");
    assert_eq!(reason_phrase(503), "Service Unavailable");
    assert_eq!(reason_phrase(505), "Version Not Supported");
    assert_eq!(reason_phrase(416), "Unsupported URI Scheme");
    assert_eq!(reason_phrase(499), "Client Error");
    assert_eq!(reason_phrase(42), "Unknown");
}

#[test]
fn parse_error_response_codes() {
    assert_eq!(ParseError::Incomplete.response_code(), None);
    assert_eq!(ParseError::KeepAlive.response_code(), None);
    assert_eq!(ParseError::BadHeaderLine.response_code(), Some(400));
    assert_eq!(ParseError::HeadersUnterminated.response_code(), Some(400));
}

#[test]
fn salvage_skips_bad_lines_and_refuses_responses() {
    let input = b"INVITE  sip:a@b  SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nbroken line\r\nCall-ID: x\r\nContent-Length: -3\r\n\r\nbody";
    let head = salvage(input).unwrap();
    assert_eq!(head.call_id(), Some("x"));
    assert_eq!(head.headers.len(), 3);
    assert!(head.body.is_empty());
    assert_eq!(salvage(b"SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\n"), None);
    assert_eq!(salvage(b"\x00\x01garbage"), None);
    assert_eq!(salvage(b""), None);
}
