//! The RFC 4475 §3.1.2 invalid messages: each is refused or read as the RFC says.

use super::*;

fn sdp_invite(first_line: &str, extra: &str) -> String {
    format!(
        "{first_line}
To: sip:user@example.com
From: sip:caller@example.net;tag=341518
Max-Forwards: 7
Contact: <sip:caller@host39923.example.net>
Call-ID: test.23940-asdfhj
CSeq: 149209342 INVITE
Via: SIP/2.0/UDP host-of-the-hour.example.com;branch=z9hG4bKkdjuw
{extra}Content-Type: application/sdp
Content-Length: 150

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"
    )
}

#[test]
fn rfc4475_badinv01_extraneous_separators_fail_validation() {
    let msg = ok("INVITE sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;;,;,,
Contact: \"Joe\" <sip:joe@example.org>;;;;
Content-Length: 152
Content-Type: application/sdp

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.15
s=-
c=IN IP4 192.0.2.15
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
");
    assert!(matches!(
        msg.validate(),
        Err(HeaderError::Invalid { header: "Via", .. })
    ));
    assert!(msg.contact().is_err());
}

const CLERR: &str = "INVITE sip:user@example.com SIP/2.0
Max-Forwards: 80
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Contact: <sip:caller@hungry.example.net>
Call-ID: clerr.0ha0isndaksdjweiafasdk3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523
Content-Type: application/sdp
Content-Length: 9999

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.155
s=-
c=IN IP4 192.0.2.155
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
";

#[test]
fn rfc4475_clerr_content_length_beyond_datagram_is_body_truncated() {
    assert_eq!(dgram(CLERR), Err(ParseError::BodyTruncated));
    assert_eq!(ParseError::BodyTruncated.response_code(), Some(400));
    // On a stream the rest may still come.
    assert_eq!(
        parse(&crlf(CLERR), Framing::Stream),
        Err(ParseError::Incomplete)
    );
    // And the UAS still finds what it needs for its 400.
    let head = salvage(&crlf(CLERR)).unwrap();
    let resp = response_to(&head, 400, "Bad Request");
    assert_eq!(resp.call_id(), Some("clerr.0ha0isndaksdjweiafasdk3"));
    assert_eq!(resp.cseq().unwrap().seq, 8);
}

#[test]
fn rfc4475_ncl_negative_content_length_is_rejected() {
    let text = sdp_invite("INVITE sip:user@example.com SIP/2.0", "")
        .replace("Content-Length: 150", "Content-Length: -999");
    assert_eq!(dgram(&text), Err(ParseError::BadContentLength));
    assert_eq!(
        parse(&crlf(&text), Framing::Stream),
        Err(ParseError::BadContentLength)
    );
}

pub(super) const SCALAR02: &str = "REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3
To: <sip:user@example.com>
From: <sip:user@example.com>;tag=239232jh3
CSeq: 36893488147419103232 REGISTER
Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32
Max-Forwards: 300
Expires: 10000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000
Contact: <sip:user@host129.example.com>
  ;expires=280297596632815
Content-Length: 0

";

#[test]
fn rfc4475_scalar02_overlarge_cseq_and_max_forwards_fail_validation() {
    let msg = ok(SCALAR02);
    assert!(matches!(
        msg.validate(),
        Err(HeaderError::Invalid { header: "CSeq", .. })
    ));
    assert!(msg.cseq().is_err());
    assert!(msg.max_forwards().is_err());
    assert_eq!(
        msg.contact().unwrap().unwrap().param("expires"),
        Some(Some("280297596632815"))
    );
}

#[test]
fn rfc4475_scalarlg_response_parses_but_fails_validation() {
    let msg = ok(r#"SIP/2.0 503 Service Unavailable
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129
To: <sip:user@example.com>
From: <sip:other@example.net>;tag=2easdjfejw
CSeq: 9292394834772304023312 OPTIONS
Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r
Retry-After: 949302838503028349304023988
Warning: 1812 overture "In Progress"
Content-Length: 0

"#);
    assert_eq!(msg.status(), Some(503));
    assert!(msg.validate().is_err());
}

#[test]
fn rfc4475_quotbal_unterminated_quote_fails_validation() {
    let text = sdp_invite("INVITE sip:user@example.com SIP/2.0", "").replace(
        "To: sip:user@example.com",
        "To: \"Mr. J. User <sip:j.user@example.com>",
    );
    let msg = ok(&text);
    assert!(matches!(
        msg.validate(),
        Err(HeaderError::Invalid { header: "To", .. })
    ));
}

#[test]
fn rfc4475_malformed_request_lines_are_bad_request_line_answered_400() {
    let cases = [
        "INVITE <sip:user@example.com> SIP/2.0",           // ltgtruri
        "INVITE sip:user@example.com; lr SIP/2.0",         // lwsruri
        "INVITE  sip:user@example.com  SIP/2.0",           // lwsstart
        "OPTIONS sip:remote-target@example.com SIP/2.0  ", // trws
        "INVITE sip:user@example.com\tSIP/2.0 SIP/2.0",
        "INVITE user-without-scheme SIP/2.0",
    ];
    for line in cases {
        let text = sdp_invite(line, "");
        assert_eq!(dgram(&text), Err(ParseError::BadRequestLine), "{line:?}");
        assert_eq!(ParseError::BadRequestLine.response_code(), Some(400));
        let head = salvage(&crlf(&text)).unwrap();
        let expected = if line.starts_with("OPTIONS") {
            Method::Options
        } else {
            Method::Invite
        };
        assert_eq!(head.method(), Some(&expected));
        let resp = response_to(&head, 400, reason_phrase(400));
        assert_eq!(resp.call_id(), Some("test.23940-asdfhj"), "{line:?}");
        assert_eq!(resp.top_via().unwrap().branch(), Some("z9hG4bKkdjuw"));
    }
    let head = salvage(&crlf(&sdp_invite(
        "INVITE sip:user@example.com; lr SIP/2.0",
        "",
    )))
    .unwrap();
    assert_eq!(head.request_uri(), Some("sip:user@example.com; lr"));
}

#[test]
fn rfc4475_escruri_request_uri_with_headers_fails_validation() {
    let msg = ok(&sdp_invite(
        "INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0",
        "",
    ));
    assert!(matches!(
        msg.validate(),
        Err(HeaderError::Invalid {
            header: "Request-URI",
            ..
        })
    ));
}

#[test]
fn rfc4475_regbadct_badaspec_baddn_fail_validation() {
    let regbadct = ok("REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=998332
Max-Forwards: 70
Call-ID: regbadct.k345asrl3fdbv@10.0.0.1
CSeq: 1 REGISTER
Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw
Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E
l: 0

");
    assert!(matches!(
        regbadct.validate(),
        Err(HeaderError::Invalid {
            header: "Contact",
            ..
        })
    ));
    let badaspec = ok(r#"OPTIONS sip:user@example.org SIP/2.0
Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234
Max-Forwards: 70
From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423
To: "Watson, Thomas" < sip:t.watson@example.org >
Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3
Accept: application/sdp
CSeq: 3923239 OPTIONS
l: 0

"#);
    assert_eq!(
        badaspec.from_header().unwrap().display_name.as_deref(),
        Some("Bell, Alexander")
    );
    assert!(matches!(
        badaspec.validate(),
        Err(HeaderError::Invalid { header: "To", .. })
    ));
    let baddn = ok("OPTIONS sip:t.watson@example.org SIP/2.0
Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards:      70
From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43
To:      Watson, Thomas <sip:t.watson@example.org>
Call-ID: baddn.31415@c.example.com
Accept: application/sdp
CSeq:    3923239 OPTIONS
l: 0

");
    assert!(matches!(
        baddn.validate(),
        Err(HeaderError::Invalid { header: "From", .. })
    ));
}

#[test]
fn rfc4475_badvers_parses_with_version_kept_for_505() {
    let msg = ok("OPTIONS sip:t.watson@example.org SIP/7.0
Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw
Max-Forwards:     70
From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe
To:      T. Watson <sip:t.watson@example.org>
Call-ID: badvers.31417@c.example.com
CSeq:    1 OPTIONS
l: 0

");
    assert_eq!(msg.version(), "SIP/7.0");
    assert_eq!(msg.top_via().unwrap().protocol, "SIP/7.0");
}

#[test]
fn rfc4475_mismatch01_and_mismatch02_fail_validation() {
    let mismatch01 = ok("OPTIONS sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: mismatch01.dj0234sxdfl3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw
l: 0

");
    assert!(matches!(
        mismatch01.validate(),
        Err(HeaderError::Invalid { header: "CSeq", .. })
    ));
    let mismatch02 = ok("NEWMETHOD sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: mismatch02.dj0234sxdfl3
CSeq: 8 INVITE
Contact: <sip:caller@host.example.net>
Via: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw
Content-Type: application/sdp
l: 0

");
    assert_eq!(
        mismatch02.method(),
        Some(&Method::Extension("NEWMETHOD".into()))
    );
    assert!(mismatch02.validate().is_err());
}

#[test]
fn rfc4475_bigcode_status_line_is_garbage() {
    let text = "SIP/2.0 4294967301 better not break the receiver
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i
CSeq: 353494 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

";
    assert_eq!(dgram(text), Err(ParseError::BadStartLine));
    assert_eq!(ParseError::BadStartLine.response_code(), None);
    assert_eq!(salvage(&crlf(text)), None);
}
