//! The RFC 4475 §3.3 application-layer messages: parsed, left to the layers above.

use super::*;

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
