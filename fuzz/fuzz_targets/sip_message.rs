//! The SIP message parser (`sip::message`) and the typed header views (`sip::header`) on raw
//! bytes, checking the invariants the parser's own tests claim:
//! - `used` never exceeds the input;
//! - `to_bytes` then `parse` gives back the same start line, headers and body (or a size limit
//!   that the canonical form can cross: expanded compact names, an added Content-Length);
//! - datagram and stream framing agree on a complete message that has Content-Length;
//! - `Via` and name-addr values that parse write back (`Display`) to text that parses equal.
#![no_main]

use dialbridge::sip::header::{CSeq, NameAddr, SipUri, Via, split_comma_list};
use dialbridge::sip::message::{
    self, Framing, Header, HeaderName, Message, ParseError, response_to, salvage,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for framing in [Framing::Datagram, Framing::Stream] {
        if let Ok((msg, used)) = message::parse(data, framing) {
            assert!(used <= data.len(), "used {used} of {} bytes", data.len());
            exercise(&msg);
            assert_round_trip(&msg);
            typed_headers_round_trip(&msg);
        }
    }
    if let Ok((dgram, used)) = message::parse(data, Framing::Datagram)
        && dgram.header(&HeaderName::ContentLength).is_some()
    {
        let stream = message::parse(data, Framing::Stream);
        assert_eq!(
            stream,
            Ok((dgram, used)),
            "stream framing disagrees with datagram framing"
        );
    }
    if let Some(head) = salvage(data) {
        exercise(&head);
    }
});

/// Every accessor and the serialiser on a parsed message; none may panic.
fn exercise(msg: &Message) {
    let _ = (msg.method(), msg.status(), msg.request_uri(), msg.version());
    let _ = (msg.call_id(), msg.cseq(), msg.vias(), msg.top_via());
    let _ = (msg.from_header(), msg.to_header(), msg.contact());
    let _ = (msg.content_type(), msg.max_forwards(), msg.validate());
    let _ = msg.content_type_is("application/sdp");
    let _ = (
        msg.tokens(&HeaderName::Allow),
        msg.tokens(&HeaderName::Require),
    );
    if let Some(uri) = msg.request_uri() {
        let _ = SipUri::parse(uri);
    }
    if let Err(e) = msg.validate() {
        let _ = e.to_string();
    }
    let _ = response_to(msg, 400, "Bad Request").to_bytes();
}

fn without_content_length(m: &Message) -> Vec<Header> {
    m.headers
        .iter()
        .filter(|h| h.name != HeaderName::ContentLength)
        .cloned()
        .collect()
}

fn assert_round_trip(msg: &Message) {
    let wire = msg.to_bytes();
    match message::parse(&wire, Framing::Stream) {
        Ok((again, used)) => {
            assert_eq!(used, wire.len(), "re-parse did not use the whole message");
            assert_eq!(again.start, msg.start, "start line changed on re-parse");
            assert_eq!(
                without_content_length(&again),
                without_content_length(msg),
                "headers changed on re-parse"
            );
            assert_eq!(again.body, msg.body, "body changed on re-parse");
        }
        Err(ParseError::TooLarge | ParseError::LineTooLong | ParseError::TooManyHeaders) => {}
        Err(e) => panic!("our own serialisation does not parse: {e:?}"),
    }
}

/// Values that parse must survive `Display` then `parse` unchanged: the endpoint writes a
/// stamped Via back this way, and responses copy it.
fn typed_headers_round_trip(msg: &Message) {
    for value in msg.headers_named(&HeaderName::Via) {
        for item in split_comma_list(value) {
            if let Ok(via) = Via::parse(item) {
                let _ = (via.branch(), via.has_rport(), via.param("received"));
                let text = via.to_string();
                assert_eq!(Via::parse(&text), Ok(via), "Via {item:?} wrote {text:?}");
            }
        }
    }
    for name in [HeaderName::From, HeaderName::To, HeaderName::Contact] {
        for value in msg.headers_named(&name) {
            if let Ok(na) = NameAddr::parse(value) {
                let _ = (na.tag(), SipUri::parse(&na.uri));
                let text = na.to_string();
                assert_eq!(
                    NameAddr::parse(&text),
                    Ok(na),
                    "{name} {value:?} wrote {text:?}"
                );
            }
        }
    }
    for value in msg.headers_named(&HeaderName::CSeq) {
        if let Ok(cseq) = CSeq::parse(value) {
            let text = cseq.to_string();
            assert_eq!(
                CSeq::parse(&text),
                Ok(cseq),
                "CSeq {value:?} wrote {text:?}"
            );
        }
    }
}
