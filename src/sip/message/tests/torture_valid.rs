//! The RFC 4475 §3.1.1 valid messages: each parses as the RFC says.

use super::*;

pub(super) const WSINV: &str = r#"INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
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

pub(super) fn intmeth() -> Vec<u8> {
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

pub(super) const DBLREQ: &str = "REGISTER sip:example.com SIP/2.0
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
