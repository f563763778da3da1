//! Tests of `message`, beside it so the code reads on its own: the shared helpers here, the
//! cases by theme in the modules below.

use super::*;
use crate::sip::header::SipUri;

/// Test messages are written with LF; the RFC 4475 originals use CRLF throughout.
fn crlf(text: &str) -> Vec<u8> {
    text.replace('\n', "\r\n").into_bytes()
}

fn dgram(text: &str) -> Result<(Message, usize), ParseError> {
    parse(&crlf(text), Framing::Datagram)
}

fn ok(text: &str) -> Message {
    match dgram(text) {
        Ok((msg, _)) => msg,
        Err(e) => panic!("parse failed with {e:?}"),
    }
}

const INVITE: &str = "INVITE sip:1000@bridge.example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKproxy
Max-Forwards: 70
To: <sip:1000@bridge.example.com>
From: \"Alice\" <sip:alice@example.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.example.com
CSeq: 314159 INVITE
Contact: <sip:alice@192.0.2.10:5060>
Supported: timer, replaces
Allow: INVITE, ACK, BYE
Allow: CANCEL, INFO
Content-Type: application/sdp
Content-Length: 10

v=0
s=-
";

/// The headers but Content-Length, which the serialiser writes anew.
fn strip_content_length(m: &Message) -> Vec<Header> {
    m.headers
        .iter()
        .filter(|h| h.name != HeaderName::ContentLength)
        .cloned()
        .collect()
}

mod editing;
mod framing;
mod names;
mod props;
mod torture_application;
mod torture_invalid;
mod torture_valid;
