//! SIP INFO DTMF bodies (`application/dtmf-relay`, `application/dtmf`): the parsers in
//! `media::dtmf`, checked against a reference reading of their documented grammar, and the
//! same body sent as an INFO inside a confirmed call through the real endpoint, whose `Dtmf`
//! event must report exactly what the parser reads.
//!
//! Input: the first byte picks the Content-Type, the rest is the body.
#![no_main]

use std::time::Duration;

use dialbridge::media::dtmf::{Digit, parse_application_dtmf, parse_dtmf_relay};
use dialbridge_fuzz::{Driver, SOURCES};
use libfuzzer_sys::fuzz_target;

const CONTENT_TYPES: [&str; 5] = [
    "application/dtmf-relay",
    "application/dtmf",
    "Application/DTMF-Relay ; charset=utf-8",
    "APPLICATION / dtmf",
    "text/plain",
];

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
    m=audio 6000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let relay = parse_dtmf_relay(body);
    let plain = parse_application_dtmf(body);
    assert_eq!(relay, reference_relay(body), "dtmf-relay body {body:?}");
    assert_eq!(
        plain,
        reference_signal(body),
        "application/dtmf body {body:?}"
    );
    for digit in [relay, plain].into_iter().flatten() {
        assert_eq!(Digit::from_char(digit.as_char()), Some(digit));
        assert_eq!(Digit::from_event(digit.event()), Some(digit));
    }

    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    let expected = match usize::from(selector) % CONTENT_TYPES.len() {
        0 | 2 => relay,
        1 | 3 => plain,
        _ => None,
    };
    let digits = info_in_a_call(content_type, body);
    assert_eq!(
        digits,
        expected.map(Digit::as_char).into_iter().collect::<Vec<_>>(),
        "the endpoint reported other digits than the parser reads ({content_type})"
    );
});

/// Sets up a confirmed call, sends the INFO, returns the digits the endpoint reported.
fn info_in_a_call(content_type: &str, body: &[u8]) -> Vec<char> {
    let source = SOURCES[0].parse().expect("SOURCES are socket addresses");
    let mut d = Driver::new(Duration::ZERO);
    let invite = format!(
        "INVITE sip:bridge@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKinv1;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bridge@127.0.0.1>\r\n\
         Call-ID: info@fuzz\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:5061>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{OFFER}",
        OFFER.len()
    );
    d.deliver(source, invite.as_bytes());
    let tag = d
        .tags
        .last()
        .cloned()
        .expect("the call was answered with a To tag");
    let ack = in_dialog("ACK", "z9hG4bKack1", &tag, 1, None);
    d.deliver(source, &ack);
    let info = in_dialog("INFO", "z9hG4bKinfo1", &tag, 2, Some((content_type, body)));
    let before = d.statuses.len();
    d.deliver(source, &info);
    let answer = d.statuses.get(before..).unwrap_or_default().to_vec();
    let unsupported = content_type == "text/plain" && !body.is_empty();
    let want = if unsupported { 415 } else { 200 };
    if info.len() <= 65_535 {
        assert_eq!(answer, [want], "answer to the INFO");
    }
    let digits = d.digits.iter().map(|&(_, c)| c).collect();
    d.shut_down();
    digits
}

fn in_dialog(
    method: &str,
    branch: &str,
    tag: &str,
    cseq: u32,
    body: Option<(&str, &[u8])>,
) -> Vec<u8> {
    let mut out = format!(
        "{method} sip:bridge@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5061;branch={branch};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\n\
         To: <sip:bridge@127.0.0.1>;tag={tag}\r\nCall-ID: info@fuzz\r\nCSeq: {cseq} {method}\r\n"
    )
    .into_bytes();
    let (content_type, body) = body.unwrap_or(("", b""));
    if !content_type.is_empty() {
        out.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

/// The dtmf-relay grammar as documented: lines end at CR or LF; the first line whose text
/// before its first `=` is `Signal` (any case, spaces around) decides, by its value.
fn reference_relay(body: &[u8]) -> Option<Digit> {
    let text: Vec<&[u8]> = body.split(|&b| b == b'\r' || b == b'\n').collect();
    for line in text {
        let Some(eq) = line.iter().position(|&b| b == b'=') else {
            continue;
        };
        let key = String::from_utf8_lossy(&line[..eq]);
        if key
            .trim_matches(|c: char| c.is_ascii_whitespace())
            .eq_ignore_ascii_case("signal")
        {
            return reference_signal(&line[eq + 1..]);
        }
    }
    None
}

/// One key character (0-9, *, #, A-D in either case) or a two-digit event code (00-15),
/// surrounding ASCII whitespace ignored.
fn reference_signal(value: &[u8]) -> Option<Digit> {
    let v = value.trim_ascii();
    match v {
        [c] => {
            let c = char::from(*c).to_ascii_uppercase();
            "0123456789*#ABCD"
                .find(c)
                .and_then(|i| Digit::from_event(u8::try_from(i).ok()?))
        }
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => {
            Digit::from_event((a - b'0') * 10 + (b - b'0'))
        }
        _ => None,
    }
}
