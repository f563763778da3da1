//! Tests of `message`, beside it so the code reads on its own.

use super::*;
use crate::sip::header::SipUri;
use proptest::prelude::*;
use std::collections::hash_map::DefaultHasher;

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

// ---- RFC 4475 §3.1.1 valid messages --------------------------------------------------

const WSINV: &str = r#"INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : 150
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \"\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.3
s=-
c=IN IP4 192.0.2.4
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"#;

#[test]
fn rfc4475_wsinv_unfolds_lws_and_compact_forms() {
    let msg = ok(WSINV);
    assert_eq!(msg.method(), Some(&Method::Invite));
    assert_eq!(
        msg.request_uri(),
        Some("sip:vivekg@chair-dnrc.example.com;unknownparam")
    );
    assert_eq!(
        msg.header(&HeaderName::To),
        Some("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n")
    );
    assert_eq!(msg.to_header().unwrap().tag(), Some("1918181833n"));
    let from = msg.from_header().unwrap();
    assert_eq!(from.display_name.as_deref(), Some(r#"J Rosenberg \""#));
    assert_eq!(from.tag(), Some("98asjd8"));
    assert_eq!(msg.max_forwards(), Ok(Some(68)));
    assert_eq!(msg.call_id(), Some("wsinv.ndaksdj@192.0.2.1"));
    assert_eq!(
        msg.cseq().unwrap(),
        CSeq {
            seq: 9,
            method: Method::Invite
        }
    );
    assert_eq!(msg.header(&HeaderName::Subject), Some(""));
    assert_eq!(
        msg.header(&HeaderName::parse("newfangledheader")),
        Some("newfangled value continued newfangled value")
    );
    let vias = msg.vias().unwrap();
    assert_eq!(vias.len(), 3);
    assert_eq!(
        (vias[0].transport.as_str(), vias[0].host.as_str()),
        ("UDP", "192.0.2.2")
    );
    assert_eq!(vias[0].branch(), Some("390skdjuw"));
    assert_eq!(
        (vias[1].transport.as_str(), vias[1].branch()),
        ("TCP", Some("z9hG4bK9ikj8"))
    );
    assert_eq!(
        (vias[2].host.as_str(), vias[2].branch()),
        ("192.168.255.111", Some("z9hG4bK30239"))
    );
    let contact = msg.contact().unwrap().unwrap();
    assert_eq!(contact.display_name.as_deref(), Some(r#"Quoted string """#));
    assert_eq!(contact.param("newparam"), Some(Some("newvalue")));
    assert_eq!(contact.param("secondparam"), Some(None));
    assert_eq!(contact.param("q"), Some(Some("0.33")));
    assert!(msg.content_type_is("application/sdp"));
    assert_eq!(msg.body.len(), 150);
    assert!(msg.body.starts_with(b"v=0\r\n") && msg.body.ends_with(b"LPC\r\n"));
    assert_eq!(msg.validate(), Ok(()));
}

fn intmeth() -> Vec<u8> {
    crlf(concat!(
        "!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0\n",
        "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\n",
        "To: \"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7F\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>\n",
        "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"работающий\";tag=_token~1'+`*%!-.\n",
        "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\n",
        "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\n",
        "Max-Forwards: 255\n",
        "extensionHeader-!.%*+_`'~:\u{feff}大停電\n",
        "Content-Length: 0\n",
        "\n",
    ))
}

#[test]
fn rfc4475_intmeth_accepts_unusual_method_token_and_characters() {
    let (msg, used) = parse(&intmeth(), Framing::Datagram).unwrap();
    let method = Method::Extension("!interesting-Method0123456789_*+`.%indeed'~".into());
    assert_eq!(msg.method(), Some(&method));
    assert_eq!(msg.cseq().unwrap().method, method);
    assert_eq!(used, intmeth().len());
    let to = msg.to_header().unwrap();
    assert_eq!(
        to.display_name.as_deref(),
        Some("BEL:\x07 NUL:\x00 DEL:\x7F")
    );
    let from = msg.from_header().unwrap();
    assert_eq!(
        from.display_name.as_deref(),
        Some("token1~` token2'+_ token3*%!.-")
    );
    assert_eq!(
        from.param("fromParam''~+*_!.-%"),
        Some(Some("\"работающий\""))
    );
    assert_eq!(from.tag(), Some("_token~1'+`*%!-."));
    assert_eq!(
        msg.call_id(),
        Some("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{")
    );
    assert_eq!(
        msg.header(&HeaderName::parse("extensionHeader-!.%*+_`'~")),
        Some("\u{feff}大停電")
    );
    assert_eq!(msg.top_via().unwrap().branch(), Some("z9hG4bK-.!%66*_+`'~"));
    let uri = SipUri::parse(msg.request_uri().unwrap()).unwrap();
    assert_eq!(uri.host, "example.com");
    assert_eq!(msg.validate(), Ok(()));
}

#[test]
fn rfc4475_esc01_keeps_escapes_in_values_and_decodes_uri_user() {
    let msg = ok("INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
C: application/sdp
Contact:
  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
Content-Length: 150

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
");
    assert_eq!(msg.call_id(), Some("esc01.239409asdfakjkn23onasd0-3234"));
    assert_eq!(msg.content_type(), Some("application/sdp"));
    let ruri = SipUri::parse(msg.request_uri().unwrap()).unwrap();
    assert_eq!(ruri.user.as_deref(), Some("sips:user@example.com"));
    let to = SipUri::parse(&msg.to_header().unwrap().uri).unwrap();
    assert_eq!(to.user.as_deref(), Some("user"));
    let contact = msg.contact().unwrap().unwrap();
    assert_eq!(
        contact.uri,
        "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31"
    );
    assert_eq!(msg.body.len(), 150);
    assert_eq!(msg.validate(), Ok(()));
}

#[test]
fn rfc4475_escnull_is_valid() {
    // RFC 4475 §3.1.1.4 lists escnull among the *valid* messages: %00 in a user part.
    let msg = ok("REGISTER sip:example.com SIP/2.0
To: sip:null-%00-null@example.com
From: sip:null-%00-null@example.com;tag=839923423
Max-Forwards: 70
Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
Contact: <sip:%00@host5.example.com>
Contact: <sip:%00%00@host5.example.com>
L:0

");
    assert_eq!(msg.validate(), Ok(()));
    assert_eq!(msg.headers_named(&HeaderName::Contact).count(), 2);
    assert_eq!(msg.from_header().unwrap().tag(), Some("839923423"));
    let to = SipUri::parse(&msg.to_header().unwrap().uri).unwrap();
    assert_eq!(to.user.as_deref(), Some("null-\0-null"));
}

#[test]
fn rfc4475_esc02_percent_in_method_and_header_name_is_not_unescaped() {
    let msg = ok(r#"RE%47IST%45R sip:registrar.example.com SIP/2.0
To: "%Z%45" <sip:resource@example.com>
From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23
Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf
Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234
CSeq: 29344 RE%47IST%45R
Max-Forwards: 70
Contact: <sip:alias1@host1.example.com>
C%6Fntact: <sip:alias2@host2.example.com>
Contact: <sip:alias3@host3.example.com>
l: 0

"#);
    assert_eq!(
        msg.method(),
        Some(&Method::Extension("RE%47IST%45R".into()))
    );
    assert_eq!(msg.headers_named(&HeaderName::Contact).count(), 2);
    assert_eq!(
        msg.header(&HeaderName::parse("c%6fntact")),
        Some("<sip:alias2@host2.example.com>")
    );
    assert_eq!(
        msg.to_header().unwrap().display_name.as_deref(),
        Some("%Z%45")
    );
    assert_eq!(msg.validate(), Ok(()));
}

#[test]
fn rfc4475_lwsdisp_display_name_without_space() {
    let msg = ok("OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw
l: 0

");
    assert_eq!(
        msg.from_header().unwrap().display_name.as_deref(),
        Some("caller")
    );
    assert_eq!(msg.validate(), Ok(()));
}

#[test]
fn rfc4475_longreq_many_vias_and_long_values() {
    let long = "long".repeat(20);
    let mut text = format!(
            "INVITE sip:user@example.com SIP/2.0
To: \"I have a user name of {ext} proportion\"<sip:user@example.com:6000;unknownparam1=very{long}value;longparam{names}=shortvalue;very{long}ParameterNameWithNoValue>
F: sip:{caller}@example.net;tag=12982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982424;unknownheaderparam{names}=unknowheaderparam{values};unknownValuelessparam{pn}
Call-ID: longreq.one{really}longcallid
CSeq: 3882340 INVITE
Unknown-{longcap}-Name: unknown-{long}-value; unknown-{long}-parameter-name = unknown-{long}-parameter-value
",
            ext = "extreme".repeat(10),
            names = "name".repeat(25),
            values = "value".repeat(15),
            caller = "amazinglylongcallername".repeat(5),
            pn = "paramname".repeat(10),
            really = "really".repeat(20),
            longcap = "Long".repeat(20),
        );
    for n in (1..=33).rev() {
        text.push_str(&format!("Via: SIP/2.0/TCP sip{n}.example.com\n"));
    }
    text.push_str(&format!(
        "Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch=very{}branchvalue
Max-Forwards: 70
Contact: <sip:{}@host5.example.net>
Content-Type: application/sdp
l: 150

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
",
        "long".repeat(50),
        "amazinglylongcallername".repeat(5)
    ));
    let msg = ok(&text);
    assert_eq!(msg.vias().unwrap().len(), 34);
    assert_eq!(msg.top_via().unwrap().host, "sip33.example.com");
    assert!(msg.to_header().unwrap().uri.len() > 300);
    assert_eq!(msg.validate(), Ok(()));
}

const DBLREQ: &str = "REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=43251j3j324
Max-Forwards: 8
I: dblreq.0ha0isndaksdj99sdfafnl3lk233412
Contact: sip:j.user@host.example.com
CSeq: 8 REGISTER
Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492
Content-Length: 0

INVITE sip:joe@example.com SIP/2.0
t: sip:joe@example.com
From: sip:caller@example.net;tag=141334
Max-Forwards: 8
Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234
Content-Type: application/sdp
Content-Length: 150

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.15
s=-
c=IN IP4 192.0.2.15
t=0 0
m=audio 49217 RTP/AVP 0 12
m =video 3227 RTP/AVP 31
a=rtpmap:31 LPC
";

#[test]
fn rfc4475_dblreq_parses_first_request_and_used_points_after_it() {
    let input = crlf(DBLREQ);
    let (msg, used) = parse(&input, Framing::Datagram).unwrap();
    assert_eq!(msg.method(), Some(&Method::Register));
    assert_eq!(
        msg.call_id(),
        Some("dblreq.0ha0isndaksdj99sdfafnl3lk233412")
    );
    assert!(msg.body.is_empty());
    assert!(input[used..].starts_with(b"INVITE sip:joe@example.com"));
    assert_eq!(msg.validate(), Ok(()));
}

#[test]
fn rfc4475_semiuri_user_part_with_semicolon() {
    let msg = ok("OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Call-ID: semiuri.0ha0isndaksdj
CSeq: 8 OPTIONS
Accept: application/sdp, application/pkcs7-mime,
        multipart/mixed, multipart/signed,
        message/sip, message/sipfrag
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw
l: 0

");
    let uri = SipUri::parse(msg.request_uri().unwrap()).unwrap();
    assert_eq!(uri.user.as_deref(), Some("user;par=u@example.net"));
    assert_eq!(uri.host, "example.com");
    assert!(uri.params.is_empty());
    assert_eq!(msg.tokens(&HeaderName::Accept).len(), 6);
    assert_eq!(msg.validate(), Ok(()));
}

#[test]
fn rfc4475_transports_all_via_transports_accepted() {
    let msg = ok("OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: <sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID:  transports.kijh4akdnaqjkwendsasfdj
Accept: application/sdp
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee
l: 0

");
    let transports: Vec<String> = msg
        .vias()
        .unwrap()
        .into_iter()
        .map(|v| v.transport)
        .collect();
    assert_eq!(transports, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
    assert_eq!(msg.call_id(), Some("transports.kijh4akdnaqjkwendsasfdj"));
    assert_eq!(msg.validate(), Ok(()));
}

/// Equivalent of RFC 4475 "mpart01" (the RFC's binary part is not reproduced byte for
/// byte here): a multipart body whose binary part holds every byte value, CRLFCRLF and NULs.
fn mpart01() -> (Vec<u8>, Vec<u8>) {
    let mut body = b"--7a9cbec02ceef655\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n\r\nHello\r\n--7a9cbec02ceef655\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n".to_vec();
    body.extend(0u8..=255);
    body.extend_from_slice(b"\r\n\r\n\0\0\xff\xfe\r\n--7a9cbec02ceef655--\r\n");
    let mut msg = crlf(&format!(
            "MESSAGE sip:kumiko@example.org SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport
Max-Forwards: 70
Route: <sip:127.0.0.1:5080>
Identity: r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuLIK0YWVKZhKv9Mj8UeXqkMVbnVq37CD+813gvYjcBUaZngQmXc9WNZSDNGCzA+fWl9MEUHWIZo1CeJebdY/XlgKeTa0Olvq0rt70Q5jiSfbqMJmQFteeivUhkMWYUA=
Contact: <sip:fluffy@127.0.0.1:5070>
To: <sip:kumiko@example.org>
From: <sip:fluffy@example.com>;tag=2fb0dcc9
Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..
CSeq: 1 MESSAGE
Content-Transfer-Encoding: binary
Content-Type: multipart/mixed;boundary=7a9cbec02ceef655
Date: Sat, 15 Oct 2005 04:44:56 GMT
User-Agent: SIPimp.org/0.2.5 (curses)
Content-Length: {}

",
            body.len()
        ));
    msg.extend_from_slice(&body);
    (msg, body)
}

#[test]
fn rfc4475_mpart01_binary_body_is_byte_exact() {
    let (input, body) = mpart01();
    let (msg, used) = parse(&input, Framing::Datagram).unwrap();
    assert_eq!(msg.body, body);
    assert_eq!(used, input.len());
    assert!(msg.content_type_is("Multipart/Mixed"));
    assert_eq!(msg.validate(), Ok(()));
    let (again, _) = parse(&msg.to_bytes(), Framing::Stream).unwrap();
    assert_eq!(again.body, body);
}

#[test]
fn rfc4475_unreason_utf8_reason_phrase() {
    let msg = ok("SIP/2.0 200 = 2**3 * 5**2 но сто девяносто девять - простое
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Call-ID: unreason.1234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: 154
Content-Type: application/sdp
Contact: <sip:user@host198.example.com>

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.198
s=-
c=IN IP4 192.0.2.198
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
");
    assert_eq!(msg.status(), Some(200));
    assert_eq!(
        msg.start,
        StartLine::Response {
            version: "SIP/2.0".into(),
            code: 200,
            reason: "= 2**3 * 5**2 но сто девяносто девять - простое".into()
        }
    );
    assert_eq!(msg.body.len(), 154);
    assert_eq!(msg.validate(), Ok(()));
}

#[test]
fn rfc4475_noreason_empty_reason_phrase() {
    let msg = ok(concat!(
        "SIP/2.0 100 \n",
        "Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\n",
        "Call-ID: noreason.asndj203insdf99223ndf\n",
        "CSeq: 35 INVITE\n",
        "From: <sip:user@example.com>;tag=39ansfi3\n",
        "To: <sip:user@example.edu>;tag=902jndnke3\n",
        "Content-Length: 0\n",
        "Contact: <sip:user@host105.example.com>\n",
        "\n",
    ));
    assert_eq!(msg.status(), Some(100));
    assert!(matches!(&msg.start, StartLine::Response { reason, .. } if reason.is_empty()));
    // Without even the SP (not RFC grammar, but harmless to accept).
    let bare = ok("SIP/2.0 180\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n\n");
    assert_eq!(bare.status(), Some(180));
}

// ---- RFC 4475 §3.1.2 invalid messages ------------------------------------------------

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

const SCALAR02: &str = "REGISTER sip:example.com SIP/2.0
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

// ---- RFC 4475 §3.3 application-layer messages ----------------------------------------

#[test]
fn rfc4475_insuf_missing_headers_fail_validation() {
    let msg = ok("INVITE sip:user@example.com SIP/2.0
CSeq: 193942 INVITE
Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf
Content-Type: application/sdp
l: 0

");
    assert_eq!(msg.validate(), Err(HeaderError::Missing("Call-ID")));
}

#[test]
fn rfc4475_unkscm_and_novelsc_parse_with_other_scheme_for_416() {
    for uri in [
        "nobodyKnowsThisScheme:totallyopaquecontent",
        "soap.beep://192.0.2.103:3002",
    ] {
        let msg = ok(&format!(
            "OPTIONS {uri} SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=384
Max-Forwards: 3
Call-ID: unkscm.nasdfasser0q239nwsdfasdkl34
CSeq: 3923423 OPTIONS
Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234
Content-Length: 0

"
        ));
        assert_eq!(msg.validate(), Ok(()));
        let parsed = SipUri::parse(msg.request_uri().unwrap()).unwrap();
        assert!(matches!(parsed.scheme, UriScheme::Other(_)));
    }
}

#[test]
fn rfc4475_unksm2_unknown_schemes_in_headers_are_accepted() {
    let msg = ok("REGISTER sip:example.com SIP/2.0
To: isbn:2983792873
From: <http://www.example.com>;tag=3234233
Call-ID: unksm2.daksdj@hyphenated-host.example.com
CSeq: 234902 REGISTER
Max-Forwards: 70
Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw
Contact: <name:John_Smith>
l: 0

");
    assert_eq!(msg.validate(), Ok(()));
    assert_eq!(msg.to_header().unwrap().uri, "isbn:2983792873");
}

#[test]
fn rfc4475_multi01_repeated_single_value_headers_fail_validation() {
    let msg = ok("INVITE sip:user@company.com SIP/2.0
Contact: <sip:caller@host25.example.net>
Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw
Max-Forwards: 70
CSeq: 5 INVITE
Call-ID: multi01.98asdh@192.0.2.1
CSeq: 59 INVITE
Call-ID: multi01.98asdh@192.0.2.2
From: sip:caller@example.com;tag=3413415
To: sip:user@example.com
To: sip:other@example.net
From: sip:caller@example.net;tag=2923420123
Content-Type: application/sdp
l: 0
Contact: <sip:caller@host36.example.net>
Max-Forwards: 5

");
    assert_eq!(msg.validate(), Err(HeaderError::Duplicate("Call-ID")));
    assert_eq!(msg.cseq(), Err(HeaderError::Duplicate("CSeq")));
    assert_eq!(msg.to_header(), Err(HeaderError::Duplicate("To")));
}

#[test]
fn rfc4475_mcl01_conflicting_content_lengths_are_rejected() {
    let text = "OPTIONS sip:user@example.com SIP/2.0
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423
To: sip:user@example.com
From: sip:other@example.net;tag=3923942
Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf
CSeq: 15932 OPTIONS
Content-Length: 13
Max-Forwards: 60
Content-Length: 5
Content-Type: text/plain

There's no way to know how many octets are supposed to be here.
";
    assert_eq!(dgram(text), Err(ParseError::BadContentLength));
}

#[test]
fn rfc4475_inv2543_without_max_forwards_or_content_length_is_accepted() {
    let msg = ok("INVITE sip:UserB@example.com SIP/2.0
Via: SIP/2.0/UDP iftgw.example.com
From: <sip:+13035551111@ift.client.example.net;user=phone>
Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>
To: sip:+16505552222@ss1.example.net;user=phone
Call-ID: inv2543.1717@ift.client.example.com
CSeq: 56 INVITE
Content-Type: application/sdp

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 49217 RTP/AVP 0
");
    assert_eq!(msg.max_forwards(), Ok(None));
    assert!(msg.body.starts_with(b"v=0\r\n") && msg.body.ends_with(b"RTP/AVP 0\r\n"));
    assert_eq!(msg.top_via().unwrap().branch(), None);
    assert_eq!(msg.validate(), Ok(()));
}

#[test]
fn rfc4475_zeromf_and_cparams() {
    let zeromf = ok("OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=3ghsd41
Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas
CSeq: 39234321 OPTIONS
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i
Max-Forwards: 0
Content-Length: 0

");
    assert_eq!(zeromf.max_forwards(), Ok(Some(0)));
    let cparam01 = ok("REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe
To: sip:watson@example.com
Call-ID: cparam01.70710@saturn.example.com
CSeq: 2 REGISTER
Contact: sip:+19725552222@gw1.example.net;unknownparam
l: 0

");
    let contact = cparam01.contact().unwrap().unwrap();
    assert_eq!(contact.uri, "sip:+19725552222@gw1.example.net");
    assert_eq!(contact.param("unknownparam"), Some(None));
    let cparam02 = ok("REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: sip:watson@example.com;tag=838293
To: sip:watson@example.com
Call-ID: cparam02.70710@saturn.example.com
CSeq: 3 REGISTER
Contact: <sip:+19725552222@gw1.example.net;unknownparam>
l: 0

");
    let contact = cparam02.contact().unwrap().unwrap();
    assert_eq!(contact.uri, "sip:+19725552222@gw1.example.net;unknownparam");
    assert!(contact.params.is_empty());
    assert_eq!(cparam02.validate(), Ok(()));
}

// ---- framing --------------------------------------------------------------------------

#[test]
fn lf_only_line_ends_parse_like_crlf() {
    // The LF-only body is two bytes shorter.
    let lf_text = INVITE.replace("Content-Length: 10", "Content-Length: 8");
    let (lf, used) = parse(lf_text.as_bytes(), Framing::Datagram).unwrap();
    let (crlf_msg, _) = parse(&crlf(INVITE), Framing::Datagram).unwrap();
    assert_eq!(used, lf_text.len());
    assert_eq!(strip_content_length(&lf), strip_content_length(&crlf_msg));
    assert_eq!(lf.start, crlf_msg.start);
    assert_eq!(lf.body, b"v=0\ns=-\n");
    // Mixed line ends in one message.
    let mixed = b"OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: x\n\r\n";
    let (msg, _) = parse(mixed, Framing::Stream).unwrap();
    assert_eq!(msg.call_id(), Some("x"));
}

#[test]
fn compact_header_names_are_normalised() {
    let msg = ok("INVITE sip:a@b SIP/2.0
v: SIP/2.0/UDP h;branch=z9hG4bK1
i: cid
f: <sip:x@y>;tag=1
t: <sip:a@b>
m: <sip:x@h>
c: application/sdp
e: gzip
k: timer
s: hello
o: dialog
r: <sip:c@d>
x: 1800
l: 0

");
    let names: Vec<&str> = msg.headers.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Via",
            "Call-ID",
            "From",
            "To",
            "Contact",
            "Content-Type",
            "Content-Encoding",
            "Supported",
            "Subject",
            "Event",
            "Refer-To",
            "Session-Expires",
            "Content-Length"
        ]
    );
    assert_eq!(msg.call_id(), Some("cid"));
    let out = String::from_utf8(msg.to_bytes()).unwrap();
    assert!(out.contains("\r\nCall-ID: cid\r\n") && out.contains("\r\nSession-Expires: 1800\r\n"));
}

#[test]
fn folded_lines_are_unfolded_into_one_space() {
    let msg = ok("OPTIONS sip:a@b SIP/2.0
Subject: first
\t  second\t
   third
Call-ID: x

");
    assert_eq!(msg.header(&HeaderName::Subject), Some("first second third"));
    assert_eq!(msg.call_id(), Some("x"));
}

#[test]
fn datagram_trailing_bytes_after_content_length_are_ignored() {
    let mut input = crlf(INVITE);
    input.extend_from_slice(b"GARBAGE\0\xff");
    let (msg, used) = parse(&input, Framing::Datagram).unwrap();
    assert_eq!(msg.body, b"v=0\r\ns=-\r\n");
    assert_eq!(used, input.len() - 9);
}

#[test]
fn datagram_without_content_length_takes_rest_as_body() {
    let (msg, used) = parse(
        b"MESSAGE sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\nhello\0world",
        Framing::Datagram,
    )
    .unwrap();
    assert_eq!(msg.body, b"hello\0world");
    assert_eq!(used, 50);
}

#[test]
fn stream_without_content_length_has_empty_body() {
    let input = b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\nOPTIONS sip:c@d SIP/2.0\r\n";
    let (msg, used) = parse(input, Framing::Stream).unwrap();
    assert!(msg.body.is_empty());
    assert!(input[used..].starts_with(b"OPTIONS sip:c@d"));
}

#[test]
fn stream_pipelined_messages_are_framed_by_content_length() {
    let mut input = crlf(INVITE);
    let first_len = input.len();
    input.extend_from_slice(b"\r\n\r\n");
    input.extend(crlf(INVITE));
    let (first, used) = parse(&input, Framing::Stream).unwrap();
    assert_eq!(used, first_len);
    // The keep-alive between the two is skipped and counted.
    let (second, used2) = parse(&input[used..], Framing::Stream).unwrap();
    assert_eq!(used + used2, input.len());
    assert_eq!(first, second);
}

#[test]
fn stream_every_proper_prefix_is_incomplete() {
    let input = crlf(INVITE);
    for cut in 0..input.len() {
        assert_eq!(
            parse(&input[..cut], Framing::Stream).map(|(_, u)| u),
            Err(ParseError::Incomplete),
            "cut at {cut}"
        );
    }
    assert!(parse(&input, Framing::Stream).is_ok());
}

#[test]
fn stream_partial_field_after_a_long_field_is_incomplete() {
    let mut input = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: ".to_vec();
    input.extend(std::iter::repeat_n(b'a', MAX_LINE - 100));
    input.extend_from_slice(b"\r\nCall-ID: 12345");
    assert_eq!(parse(&input, Framing::Stream), Err(ParseError::Incomplete));
    input.extend(std::iter::repeat_n(b' ', 200));
    assert_eq!(parse(&input, Framing::Stream), Err(ParseError::Incomplete));
    // A partial continuation line does count towards the open field.
    let mut folded = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: ".to_vec();
    folded.extend(std::iter::repeat_n(b'a', MAX_LINE - 100));
    folded.extend_from_slice(b"\r\n ");
    folded.extend(std::iter::repeat_n(b'b', 200));
    assert_eq!(
        parse(&folded, Framing::Stream),
        Err(ParseError::LineTooLong)
    );
}

#[test]
fn stream_garbage_start_line_is_refused_before_headers_end() {
    assert_eq!(
        parse(b"GET / HTTP/1.1\r\nHost: x\r\n", Framing::Stream),
        Err(ParseError::BadStartLine)
    );
    assert_eq!(
        parse(
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n",
            Framing::Stream
        ),
        Err(ParseError::BadStartLine)
    );
}

#[test]
fn keepalives_are_skipped_and_reported() {
    assert_eq!(
        parse(b"\r\n\r\n", Framing::Datagram),
        Err(ParseError::KeepAlive)
    );
    assert_eq!(
        parse(b"\r\n", Framing::Datagram),
        Err(ParseError::KeepAlive)
    );
    assert_eq!(parse(b"", Framing::Datagram), Err(ParseError::KeepAlive));
    assert_eq!(
        parse(b"\r\n\r\n", Framing::Stream),
        Err(ParseError::Incomplete)
    );
    assert_eq!(
        parse(b"\r\n\r", Framing::Stream),
        Err(ParseError::Incomplete)
    );
    assert_eq!(skip_keepalive(b"\r\n\n\r\nX"), 5);
    assert_eq!(
        parse(&vec![b'\n'; MAX_MESSAGE_SIZE + 1], Framing::Stream),
        Err(ParseError::TooLarge)
    );
    let mut input = b"\r\n\r\n".to_vec();
    input.extend(crlf(INVITE));
    let (_, used) = parse(&input, Framing::Datagram).unwrap();
    assert_eq!(used, input.len());
}

#[test]
fn datagram_over_max_size_is_too_large() {
    let mut input = crlf(INVITE);
    input.resize(MAX_MESSAGE_SIZE + 1, b'x');
    assert_eq!(parse(&input, Framing::Datagram), Err(ParseError::TooLarge));
    assert_eq!(ParseError::TooLarge.response_code(), Some(513));
}

#[test]
fn stream_header_section_or_body_over_max_size_is_too_large() {
    let mut endless = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
    while endless.len() <= MAX_MESSAGE_SIZE + 100 {
        endless.extend_from_slice(b"X-Filler: 0123456789012345678901234567890123456789\r\n");
    }
    // Stops at the header-count limit first; without it, the size limit.
    assert_eq!(
        parse(&endless, Framing::Stream),
        Err(ParseError::TooManyHeaders)
    );
    let mut big_fields = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
    for _ in 0..100 {
        big_fields.extend_from_slice(b"X-Big: ");
        big_fields.extend(std::iter::repeat_n(b'a', 8000));
        big_fields.extend_from_slice(b"\r\n");
    }
    assert_eq!(
        parse(&big_fields, Framing::Stream),
        Err(ParseError::TooLarge)
    );
    let huge_cl = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 70000\r\n\r\nabc";
    assert_eq!(parse(huge_cl, Framing::Stream), Err(ParseError::TooLarge));
    let overflow_cl =
        b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 99999999999999999999999999\r\n\r\n";
    assert_eq!(
        parse(overflow_cl, Framing::Stream),
        Err(ParseError::BadContentLength)
    );
}

#[test]
fn header_count_limit_is_exact() {
    let build = |n: usize| {
        let mut m = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
        for i in 0..n {
            m.extend_from_slice(format!("X-H{i}: {i}\r\n").as_bytes());
        }
        m.extend_from_slice(b"\r\n");
        m
    };
    assert_eq!(
        parse(&build(MAX_HEADERS), Framing::Datagram)
            .unwrap()
            .0
            .headers
            .len(),
        MAX_HEADERS
    );
    assert_eq!(
        parse(&build(MAX_HEADERS + 1), Framing::Datagram),
        Err(ParseError::TooManyHeaders)
    );
}

#[test]
fn overlong_lines_and_endless_folding_are_line_too_long() {
    let mut long_value = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: ".to_vec();
    long_value.extend(std::iter::repeat_n(b'a', MAX_LINE));
    long_value.extend_from_slice(b"\r\n\r\n");
    assert_eq!(
        parse(&long_value, Framing::Datagram),
        Err(ParseError::LineTooLong)
    );

    let mut folding = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: a\r\n".to_vec();
    while folding.len() < 20_000 {
        folding.extend_from_slice(b" and more\r\n");
    }
    assert_eq!(
        parse(&folding, Framing::Stream),
        Err(ParseError::LineTooLong)
    );
    folding.extend_from_slice(b"\r\n");
    assert_eq!(
        parse(&folding, Framing::Datagram),
        Err(ParseError::LineTooLong)
    );

    let mut long_start = b"OPTIONS sip:".to_vec();
    long_start.extend(std::iter::repeat_n(b'a', MAX_LINE));
    assert_eq!(
        parse(&long_start, Framing::Stream),
        Err(ParseError::LineTooLong)
    );
    long_start.extend_from_slice(b" SIP/2.0\r\n\r\n");
    assert_eq!(
        parse(&long_start, Framing::Datagram),
        Err(ParseError::LineTooLong)
    );

    // A just-fitting field is fine.
    let mut fits = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: ".to_vec();
    fits.extend(std::iter::repeat_n(b'a', MAX_LINE - "Subject: ".len()));
    fits.extend_from_slice(b"\r\n\r\n");
    assert!(parse(&fits, Framing::Datagram).is_ok());
}

#[test]
fn malformed_header_lines_are_bad_header_line() {
    for line in [
        "NoColonHere",
        ": empty name",
        "Bad Name: x",
        "Bad(Name): x",
        "Ünïcode: x",
        "Subject: bare\rCR",
        "Subject: x\r",
    ] {
        let mut input = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
        input.extend_from_slice(line.as_bytes());
        input.extend_from_slice(b"\r\nCall-ID: x\r\n\r\n");
        assert_eq!(
            parse(&input, Framing::Datagram),
            Err(ParseError::BadHeaderLine),
            "{line:?}"
        );
    }
    assert_eq!(
        parse(
            b"OPTIONS sip:a@b SIP/2.0\r\n continuation first\r\n\r\n",
            Framing::Datagram
        ),
        Err(ParseError::BadHeaderLine)
    );
}

#[test]
fn whitespace_before_colon_is_allowed() {
    let msg = ok("OPTIONS sip:a@b SIP/2.0\nCall-ID \t : x\n\n");
    assert_eq!(msg.call_id(), Some("x"));
}

#[test]
fn content_length_must_be_a_single_number() {
    for value in [
        "",
        "abc",
        "-1",
        "+5",
        "1 2",
        "5, 5",
        "0x10",
        "99999999999999999999999999",
    ] {
        let input = format!("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: {value}\r\n\r\n");
        assert_eq!(
            parse(input.as_bytes(), Framing::Datagram),
            Err(ParseError::BadContentLength),
            "{value:?}"
        );
    }
    let same_twice = b"MESSAGE sip:a@b SIP/2.0\r\nl: 3\r\nContent-Length: 003\r\n\r\nabcdef";
    let (msg, used) = parse(same_twice, Framing::Datagram).unwrap();
    assert_eq!(msg.body, b"abc");
    assert_eq!(used, same_twice.len() - 3);
}

#[test]
fn non_utf8_header_values_are_converted_lossily_not_rejected() {
    let input = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: caf\xe9 \xff\r\nCall-ID: x\r\n\r\n";
    let (msg, _) = parse(input, Framing::Datagram).unwrap();
    assert_eq!(
        msg.header(&HeaderName::Subject),
        Some("caf\u{fffd} \u{fffd}")
    );
}

#[test]
fn binary_body_with_nul_bytes_is_kept_exact() {
    let body: Vec<u8> = (0..=255u8)
        .rev()
        .chain([0, 0, b'\r', b'\n', b'\r', b'\n'])
        .collect();
    let mut msg = request(Method::Info, "sip:a@b");
    msg.add_header(HeaderName::CallId, "x");
    msg.body = body.clone();
    let wire = msg.to_bytes();
    for framing in [Framing::Datagram, Framing::Stream] {
        let (parsed, used) = parse(&wire, framing).unwrap();
        assert_eq!(parsed.body, body);
        assert_eq!(used, wire.len());
    }
}

#[test]
fn datagram_without_empty_line_is_headers_unterminated() {
    assert_eq!(
        parse(
            b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n",
            Framing::Datagram
        ),
        Err(ParseError::HeadersUnterminated)
    );
    assert_eq!(
        parse(b"OPTIONS sip:a@b SIP/2.0", Framing::Datagram),
        Err(ParseError::HeadersUnterminated)
    );
    assert_eq!(
        parse(b"hello", Framing::Datagram),
        Err(ParseError::BadStartLine)
    );
}

#[test]
fn start_line_grammar() {
    let bad_start = [
        "GET / HTTP/1.1",
        "INVITE",
        "INVITE sip:a@b",
        "INV\u{e9}TE sip:a@b SIP/2.0",
        "SIP/2.0 99 Too Low",
        "SIP/2.0 700 Too High",
        "SIP/2.0 2000 OK",
        "SIP/2.0 20 OK",
        "SIP/2.0  200 OK",
        "SIP/x.0 200 OK",
        "SIP/2.0",
        "SIP/2.0 200\tOK",
    ];
    for line in bad_start {
        let input = format!("{line}\r\nCall-ID: x\r\n\r\n");
        assert_eq!(
            parse(input.as_bytes(), Framing::Datagram),
            Err(ParseError::BadStartLine),
            "{line:?}"
        );
    }
    assert_eq!(
        parse(b"SIP/2.0 200 O\rK\r\n\r\n", Framing::Datagram),
        Err(ParseError::BadStartLine)
    );
    let msg = ok("sip/2.0 486 Busy Here\nCall-ID: x\n\n");
    assert_eq!(msg.status(), Some(486));
    assert_eq!(msg.version(), "sip/2.0");
    let msg = ok("INVITE sip:a@b SIP/2.0.1x\nCall-ID: x\n\n"
        .replace(".1x", "")
        .as_str());
    assert_eq!(msg.version(), "SIP/2.0");
    assert_eq!(
        parse(b"INVITE sip:a@b SIP/2.x\r\n\r\n", Framing::Datagram),
        Err(ParseError::BadRequestLine)
    );
}

// ---- names and methods ----------------------------------------------------------------

#[test]
fn method_parse_is_case_sensitive_and_keeps_extensions() {
    assert_eq!(Method::parse("INVITE"), Some(Method::Invite));
    assert_eq!(Method::parse("PUBLISH"), Some(Method::Publish));
    assert_eq!(
        Method::parse("invite"),
        Some(Method::Extension("invite".into()))
    );
    assert_eq!(Method::parse("FOO"), Some(Method::Extension("FOO".into())));
    assert_eq!(Method::parse(""), None);
    assert_eq!(Method::parse("IN VITE"), None);
    assert_eq!(Method::parse("INVITE:"), None);
    assert_eq!(Method::Extension("FOO".into()).to_string(), "FOO");
    assert_eq!(Method::Info.as_str(), "INFO");
}

#[test]
fn header_names_compare_case_insensitively() {
    assert_eq!(HeaderName::parse("CALL-id"), HeaderName::CallId);
    assert_eq!(HeaderName::parse("I"), HeaderName::CallId);
    assert_eq!(HeaderName::parse("cseq").as_str(), "CSeq");
    let a = HeaderName::parse("X-Foo");
    let b = HeaderName::parse("x-FOO");
    assert_eq!(a, b);
    assert_ne!(a, HeaderName::parse("X-Bar"));
    assert_eq!(a.as_str(), "X-Foo");
    let hash = |h: &HeaderName| {
        let mut s = DefaultHasher::new();
        h.hash(&mut s);
        s.finish()
    };
    assert_eq!(hash(&a), hash(&b));
    assert_ne!(HeaderName::Via, HeaderName::From);
    assert_eq!(
        HeaderName::parse("a-header-name-longer-than-twenty"),
        HeaderName::Other("A-HEADER-NAME-LONGER-THAN-TWENTY".into())
    );
}

// ---- accessors and editing ------------------------------------------------------------

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

// ---- property tests -------------------------------------------------------------------

/// Exercises every accessor and the serialiser on a parsed message; none may panic.
fn exercise(msg: &Message) {
    let _ = (
        msg.method(),
        msg.status(),
        msg.request_uri(),
        msg.version(),
        msg.call_id(),
    );
    let _ = (
        msg.cseq(),
        msg.vias(),
        msg.top_via(),
        msg.from_header(),
        msg.to_header(),
    );
    let _ = (
        msg.contact(),
        msg.content_type(),
        msg.max_forwards(),
        msg.validate(),
    );
    let _ = msg.content_type_is("application/sdp");
    let _ = (
        msg.tokens(&HeaderName::Allow),
        msg.tokens(&HeaderName::Supported),
    );
    if let Some(uri) = msg.request_uri() {
        let _ = SipUri::parse(uri);
    }
    let _ = response_to(msg, 400, "Bad Request").to_bytes();
}

fn strip_content_length(m: &Message) -> Vec<Header> {
    m.headers
        .iter()
        .filter(|h| h.name != HeaderName::ContentLength)
        .cloned()
        .collect()
}

/// What `to_bytes` then `parse` must give back: same start line, headers and body.
fn assert_round_trip(msg: &Message) -> Result<(), TestCaseError> {
    let wire = msg.to_bytes();
    match parse(&wire, Framing::Stream) {
        Ok((again, used)) => {
            prop_assert_eq!(used, wire.len());
            prop_assert_eq!(&again.start, &msg.start);
            prop_assert_eq!(strip_content_length(&again), strip_content_length(msg));
            prop_assert_eq!(&again.body, &msg.body);
        }
        // Expanding compact names or adding Content-Length can push a message that was
        // just under a limit over it.
        Err(ParseError::TooLarge | ParseError::LineTooLong | ParseError::TooManyHeaders) => {}
        Err(e) => prop_assert!(false, "re-parse failed: {e:?}"),
    }
    Ok(())
}

#[derive(Clone, Debug)]
enum Mutation {
    Replace(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    InsertText(usize, &'static str),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let special = prop::sample::select(vec![
        "\r\n",
        "\n",
        "\r",
        " ",
        "\t",
        ":",
        ";",
        ",",
        "\"",
        "<",
        ">",
        "\\",
        "%",
        "\r\n ",
        "\r\n\r\n",
        "\0",
        "\u{ff}",
        "SIP/2.0",
        "Content-Length: 99\r\n",
        "l: -1\r\n",
    ]);
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), special).prop_map(|(i, s)| Mutation::InsertText(i, s)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut input: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = input.len().max(1);
        match *m {
            Mutation::Replace(i, b) => {
                if let Some(x) = input.get_mut(i % len) {
                    *x = b;
                }
            }
            Mutation::Insert(i, b) => input.insert(i % (input.len() + 1), b),
            Mutation::Delete(i) => {
                if !input.is_empty() {
                    input.remove(i % len);
                }
            }
            Mutation::InsertText(i, s) => {
                let at = i % (input.len() + 1);
                input.splice(at..at, s.bytes());
            }
            Mutation::Truncate(i) => input.truncate(i % len),
        }
    }
    input
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(input in prop::collection::vec(any::<u8>(), 0..2048)) {
        for framing in [Framing::Datagram, Framing::Stream] {
            if let Ok((msg, used)) = parse(&input, framing) {
                prop_assert!(used <= input.len());
                exercise(&msg);
            }
        }
        if let Some(head) = salvage(&input) {
            exercise(&head);
        }
    }

    #[test]
    fn parse_never_panics_on_mutated_invite(mutations in prop::collection::vec(mutation(), 1..8)) {
        for base in [crlf(INVITE), crlf(WSINV), intmeth()] {
            let input = mutate(base, &mutations);
            for framing in [Framing::Datagram, Framing::Stream] {
                if let Ok((msg, used)) = parse(&input, framing) {
                    prop_assert!(used <= input.len());
                    exercise(&msg);
                    assert_round_trip(&msg)?;
                }
            }
            if let Some(head) = salvage(&input) {
                exercise(&head);
            }
        }
    }

    #[test]
    fn stream_and_datagram_agree_on_complete_messages(mutations in prop::collection::vec(mutation(), 0..4)) {
        let input = mutate(crlf(INVITE), &mutations);
        if let Ok((dgram_msg, used)) = parse(&input, Framing::Datagram)
            && dgram_msg.header(&HeaderName::ContentLength).is_some()
        {
            let (stream_msg, stream_used) = parse(&input, Framing::Stream).unwrap();
            prop_assert_eq!(stream_msg, dgram_msg);
            prop_assert_eq!(stream_used, used);
        }
    }
}
