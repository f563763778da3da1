//! The generator's SIP: requests written straight into a buffer (cheaper than building a
//! `Message` per send at thousands of calls a second) and the bridge's replies read with the
//! project's own bounded parser, `dialbridge::sip::message`. Nothing here panics on input.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use dialbridge::media::srtp::MasterKey;
use dialbridge::sip::header::{NameAddr, SipUri, split_comma_list};
use dialbridge::sip::message::{self, Message, Method, StartLine};
use dialbridge::sip::sdes;

use crate::link::Transport;

/// One caller's dialog with the bridge, as far as the requests need it.
#[derive(Clone, Debug)]
pub struct Dialog {
    /// Call-ID (calls are told apart by it on the shard's one SIP socket).
    pub call_id: String,
    /// Our From tag.
    pub from_tag: String,
    /// The bridge's To tag, from its 200.
    pub to_tag: Option<String>,
    /// Request-URI of in-dialog requests: the bridge's Contact, else the first URI.
    pub target_uri: String,
    /// Our SIP address (Via, Contact).
    pub local: SocketAddr,
    /// The bridge's address, for the To header.
    pub target: SocketAddr,
    /// CSeq of the last request we sent.
    pub cseq: u32,
    /// The SIP transport, for Via and Contact.
    pub transport: Transport,
    /// The route set (RFC 3261 §12.1.2): the 2xx's Record-Route URIs in reverse order, so
    /// that ACK, INFO and BYE pass the proxies that asked to stay on the path (Kamailio's
    /// `record_route`). Empty when the bridge was called directly.
    pub route: Vec<String>,
}

impl Dialog {
    /// A new dialog towards `target`.
    pub fn new(call_id: String, from_tag: String, local: SocketAddr, target: SocketAddr) -> Dialog {
        Dialog {
            call_id,
            from_tag,
            to_tag: None,
            target_uri: format!("sip:bridge@{target}"),
            local,
            target,
            cseq: 1,
            transport: Transport::Udp,
            route: Vec::new(),
        }
    }

    /// Takes what a 2xx to the INVITE fixes for the dialog (RFC 3261 §12.1.2): the To tag,
    /// the remote target (its Contact) and the route set. The tag and Contact are taken out
    /// of `r`.
    pub fn establish(&mut self, r: &mut Response) {
        self.to_tag = r.to_tag.take();
        if let Some(uri) = r.contact.take() {
            self.target_uri = uri;
        }
        // Through a proxy (Kamailio's record_route) the ACK, INFOs and BYE follow the
        // route set, not the Contact.
        self.set_route(&r.record_route);
    }

    /// Takes the route set from the 2xx's Record-Route values (in the order received).
    pub fn set_route(&mut self, record_route: &[String]) {
        self.route = record_route.iter().rev().cloned().collect();
    }

    /// The Request-URI and the Route header of an in-dialog request (RFC 3261 §12.2.1.1):
    /// with a loose router first (`;lr`, as Kamailio's `record_route` adds) the remote
    /// target and the whole route set; with a strict router first its URI, then the rest of
    /// the route set and the remote target.
    fn in_dialog_uri_and_route(&self, target_uri: &str) -> (String, Vec<String>) {
        let Some(first) = self.route.first() else {
            return (target_uri.to_string(), Vec::new());
        };
        let first_uri = route_uri(first);
        let loose = first_uri
            .as_deref()
            .and_then(|u| SipUri::parse(u).ok())
            .is_none_or(|u| u.param("lr").is_some());
        if loose {
            return (target_uri.to_string(), self.route.clone());
        }
        let mut rest: Vec<String> = self.route.iter().skip(1).cloned().collect();
        rest.push(format!("<{target_uri}>"));
        (first_uri.unwrap_or_else(|| target_uri.to_string()), rest)
    }

    /// Where in-dialog requests go: the first route's address (an IP literal), else `fallback`
    /// (the address the INVITE went to, which is that proxy's address when there is one).
    pub fn next_hop(&self, fallback: SocketAddr) -> SocketAddr {
        self.route
            .first()
            .and_then(|r| route_uri(r))
            .and_then(|u| SipUri::parse(&u).ok())
            .and_then(|u| {
                let ip: IpAddr = u.host.trim_matches(['[', ']']).parse().ok()?;
                Some(SocketAddr::new(ip, u.port.unwrap_or(5060)))
            })
            .unwrap_or(fallback)
    }

    fn head(
        &self,
        out: &mut String,
        method: &str,
        uri: &str,
        branch: &str,
        cseq: u32,
        route: &[String],
    ) {
        let to_tag = self
            .to_tag
            .as_deref()
            .map(|t| format!(";tag={t}"))
            .unwrap_or_default();
        // `write!` to a String cannot fail.
        let _ = write!(
            out,
            "{method} {uri} SIP/2.0\r\n\
             Via: SIP/2.0/{via} {local};branch={branch}\r\n\
             From: \"load\" <sip:load@{local}>;tag={from}\r\n\
             To: <sip:bridge@{target}>{to_tag}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:load@{local}{contact_transport}>\r\n\
             Max-Forwards: 70\r\n\
             User-Agent: dialbridge-load\r\n\
             {route}",
            local = self.local,
            via = self.transport.via(),
            contact_transport = match self.transport {
                Transport::Udp => "",
                Transport::Tcp => ";transport=tcp",
                Transport::Tls => ";transport=tls",
            },
            from = self.from_tag,
            target = self.target,
            call_id = self.call_id,
            route = if route.is_empty() {
                String::new()
            } else {
                format!("Route: {}\r\n", route.join(", "))
            },
        );
    }

    /// The INVITE with an SDP offer of PCMU and telephone-event/8000 on `rtp`; SRTP
    /// (`RTP/SAVP`, one `a=crypto` line with tag 1) when `srtp` gives our key.
    pub fn invite(
        &self,
        branch: &str,
        rtp: SocketAddr,
        first_uri: &str,
        srtp: Option<&MasterKey>,
    ) -> Vec<u8> {
        let ip = match rtp.ip() {
            IpAddr::V4(_) => "IP4",
            IpAddr::V6(_) => "IP6",
        };
        let (proto, crypto) = match srtp {
            Some(key) => ("RTP/SAVP", format!("a=crypto:{}\r\n", sdes::write(1, key))),
            None => ("RTP/AVP", String::new()),
        };
        let sdp = format!(
            "v=0\r\no=load 1 1 IN {ip} {addr}\r\ns=-\r\nc=IN {ip} {addr}\r\nt=0 0\r\n\
             m=audio {port} {proto} 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n\
             {crypto}",
            addr = rtp.ip(),
            port = rtp.port(),
        );
        let mut out = String::with_capacity(700);
        self.head(&mut out, "INVITE", first_uri, branch, 1, &[]);
        let _ = write!(
            out,
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        out.into_bytes()
    }

    /// The ACK of a 2xx: a new transaction (`branch` fresh) to the remote target along the
    /// route set.
    pub fn ack_2xx(&self, branch: &str) -> Vec<u8> {
        let (uri, route) = self.in_dialog_uri_and_route(&self.target_uri);
        let mut out = String::with_capacity(400);
        self.head(&mut out, "ACK", &uri, branch, 1, &route);
        out.push_str("Content-Length: 0\r\n\r\n");
        out.into_bytes()
    }

    /// The ACK of an error: part of the INVITE transaction (same branch, the INVITE's URI,
    /// no route set), RFC 3261 §17.1.1.3.
    pub fn ack_error(&self, branch: &str, uri: &str) -> Vec<u8> {
        let mut out = String::with_capacity(400);
        self.head(&mut out, "ACK", uri, branch, 1, &[]);
        out.push_str("Content-Length: 0\r\n\r\n");
        out.into_bytes()
    }

    /// An in-dialog BYE or INFO (one key as `application/dtmf-relay`) with the next CSeq.
    pub fn request(&mut self, method: Method, branch: &str, key: Option<u8>) -> Vec<u8> {
        self.cseq += 1;
        let mut out = String::with_capacity(500);
        let (uri, route) = self.in_dialog_uri_and_route(&self.target_uri);
        self.head(&mut out, method.as_str(), &uri, branch, self.cseq, &route);
        match key {
            Some(k) => {
                let body = format!("Signal={}\r\nDuration=160\r\n", char::from(k));
                let _ = write!(
                    out,
                    "Content-Type: application/dtmf-relay\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
            }
            None => out.push_str("Content-Length: 0\r\n\r\n"),
        }
        out.into_bytes()
    }
}

/// A message from the bridge, reduced to what a caller acts on.
#[derive(Debug)]
pub enum Incoming {
    /// A response.
    Response(Response),
    /// A request (BYE from the bridge, …) and its parsed form, to answer it.
    Request(Box<Message>, Method),
}

/// A response's fields the caller needs.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub code: u16,
    /// CSeq method and number.
    pub method: Method,
    /// CSeq number.
    pub cseq: u32,
    /// The To tag.
    pub to_tag: Option<String>,
    /// The Contact URI.
    pub contact: Option<String>,
    /// Where the bridge wants RTP (from the SDP answer).
    pub media: Option<SocketAddr>,
    /// The bridge's SRTP key from the answer's `a=crypto` line, if any.
    pub crypto: Option<sdes::CryptoLine>,
    /// Record-Route values, one per URI, in the order received.
    pub record_route: Vec<String>,
}

/// Parses one datagram from the bridge; None for garbage or keep-alives.
#[cfg(test)]
pub fn parse(datagram: &[u8]) -> Option<(Incoming, String)> {
    let (msg, _) = message::parse(datagram, message::Framing::Datagram).ok()?;
    parse_message(msg)
}

/// What the shard needs of one message from the bridge.
pub fn parse_message(msg: Message) -> Option<(Incoming, String)> {
    let call_id = msg.call_id()?.to_string();
    match &msg.start {
        StartLine::Response { code, .. } => {
            let cseq = msg.cseq().ok()?;
            let to_tag = msg
                .to_header()
                .ok()
                .and_then(|t| t.tag().map(str::to_string));
            let contact = msg.contact().ok().flatten().map(|c: NameAddr| c.uri);
            Some((
                Incoming::Response(Response {
                    code: *code,
                    method: cseq.method,
                    cseq: cseq.seq,
                    to_tag,
                    contact,
                    media: media_address(&msg.body),
                    crypto: answer_crypto(&msg.body),
                    record_route: msg
                        .headers_named(&message::HeaderName::RecordRoute)
                        .flat_map(split_comma_list)
                        .map(|r| r.trim().to_string())
                        .filter(|r| !r.is_empty())
                        .collect(),
                }),
                call_id,
            ))
        }
        StartLine::Request { method, .. } => {
            let method = method.clone();
            Some((Incoming::Request(Box::new(msg), method), call_id))
        }
    }
}

/// The URI inside a route entry (`<sip:…;lr>` or a bare URI).
fn route_uri(entry: &str) -> Option<String> {
    NameAddr::parse(entry).ok().map(|n| n.uri)
}

/// The answer's audio address: `c=` (session or media level) and the `m=audio` port.
pub fn media_address(sdp: &[u8]) -> Option<SocketAddr> {
    let text = std::str::from_utf8(sdp).ok()?;
    let mut ip: Option<IpAddr> = None;
    let mut port: Option<u16> = None;
    for line in text.lines().map(str::trim) {
        if let Some(c) = line.strip_prefix("c=IN ") {
            let addr = c.split_whitespace().nth(1)?;
            // A media-level c= after m=audio wins; a session-level one applies until then.
            if port.is_none() || ip.is_none() {
                ip = addr.split('/').next()?.parse().ok();
            }
        } else if let Some(m) = line.strip_prefix("m=audio ") {
            port = m.split_whitespace().next()?.parse().ok();
        }
    }
    Some(SocketAddr::new(ip?, port?))
}

/// The first usable `a=crypto` line of an SDP answer.
fn answer_crypto(sdp: &[u8]) -> Option<sdes::CryptoLine> {
    std::str::from_utf8(sdp)
        .ok()?
        .lines()
        .filter_map(|l| l.trim().strip_prefix("a=crypto:"))
        .find_map(|value| sdes::parse(value).ok())
}

/// A 200 (or `code`) to a request from the bridge.
pub fn answer(request: &Message, code: u16) -> Vec<u8> {
    let mut r = message::response_to(request, code, message::reason_phrase(code));
    r.set_header(message::HeaderName::ContentLength, "0");
    r.to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dialbridge::sip::message::Framing;

    #[test]
    fn an_invite_parses_with_the_bridges_own_parser() {
        let d = Dialog::new(
            "c1@x".into(),
            "t1".into(),
            "127.0.0.1:5070".parse().unwrap(),
            "127.0.0.1:5060".parse().unwrap(),
        );
        let bytes = d.invite(
            "z9hG4bK1",
            "127.0.0.1:6000".parse().unwrap(),
            "sip:bridge@127.0.0.1:5060",
            None,
        );
        let (m, _) = message::parse(&bytes, Framing::Datagram).unwrap();
        m.validate().unwrap();
        assert_eq!(
            media_address(&m.body),
            Some("127.0.0.1:6000".parse().unwrap())
        );
        // With SRTP: RTP/SAVP and our key, which the bridge's own SDP code reads back.
        let key = MasterKey::from_bytes(
            dialbridge::media::srtp::SrtpSuite::AesCm128HmacSha1_80,
            &[7; 30],
        )
        .unwrap();
        let bytes = d.invite(
            "z9hG4bK2",
            "127.0.0.1:6000".parse().unwrap(),
            "sip:bridge@127.0.0.1:5060",
            Some(&key),
        );
        let (m, _) = message::parse(&bytes, Framing::Datagram).unwrap();
        let (_, answer) = dialbridge::sip::sdp::answer_with(
            &m.body,
            &dialbridge::sip::sdp::LocalMedia {
                ip: "127.0.0.1".parse().unwrap(),
                port: 9000,
                session_id: 1,
                session_version: 1,
            },
            dialbridge::sip::sdp::SrtpPolicy {
                mode: dialbridge::sip::sdp::SrtpMode::Require,
                keys_allowed: true,
            },
            &mut |suite| MasterKey::from_bytes(suite, &[8; 46][..suite.key_material_len()]),
        )
        .unwrap();
        let crypto = answer_crypto(answer.as_bytes()).unwrap();
        assert_eq!(crypto.tag, 1);
    }

    #[test]
    fn a_response_gives_tag_contact_and_media() {
        let text = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
            From: <sip:load@127.0.0.1>;tag=a\r\nTo: <sip:bridge@127.0.0.1>;tag=b\r\n\
            Call-ID: c1@x\r\nCSeq: 1 INVITE\r\nContact: <sip:bridge@127.0.0.1:5060>\r\n\
            Content-Length: 48\r\n\r\nv=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 10000 RTP/AVP 0\r\n";
        let (Incoming::Response(r), _) = parse(text.as_bytes()).unwrap() else {
            panic!("a response")
        };
        assert_eq!((r.code, r.to_tag.as_deref()), (200, Some("b")));
        assert_eq!(r.contact.as_deref(), Some("sip:bridge@127.0.0.1:5060"));
        assert_eq!(r.media, Some("127.0.0.1:10000".parse().unwrap()));
        assert!(parse(b"garbage").is_none());
    }

    #[test]
    fn in_dialog_requests_follow_the_record_route_of_a_proxy() {
        let text = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
            Record-Route: <sip:127.0.0.1:5060;lr=on>\r\n\
            Record-Route: <sip:10.0.0.1;lr>, <sip:10.0.0.2:5080;lr>\r\n\
            From: <sip:load@127.0.0.1>;tag=a\r\nTo: <sip:bridge@127.0.0.1>;tag=b\r\n\
            Call-ID: c1@x\r\nCSeq: 1 INVITE\r\nContact: <sip:bridge@127.0.0.12:5060>\r\n\
            Content-Length: 0\r\n\r\n";
        let (Incoming::Response(mut r), _) = parse(text.as_bytes()).unwrap() else {
            panic!("a response")
        };
        assert_eq!(r.record_route.len(), 3);
        let proxy: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        let mut d = Dialog::new(
            "c1@x".into(),
            "a".into(),
            "127.0.0.1:5070".parse().unwrap(),
            proxy,
        );
        // Called directly: no Route header, requests go to the target.
        let bye = d.clone().request(Method::Bye, "z9hG4bK2", None);
        let (m, _) = message::parse(&bye, message::Framing::Datagram).unwrap();
        assert_eq!(m.headers_named(&message::HeaderName::Route).count(), 0);
        assert_eq!(d.next_hop(proxy), proxy);

        let contact = r.contact.clone().unwrap();
        d.establish(&mut r);
        assert_eq!(d.target_uri, contact);
        // The route set is the Record-Route reversed; the next hop is its first entry.
        assert_eq!(
            d.next_hop("127.0.0.9:5060".parse().unwrap()),
            "10.0.0.2:5080".parse().unwrap()
        );
        for bytes in [
            d.ack_2xx("z9hG4bK3"),
            d.request(Method::Bye, "z9hG4bK4", None),
        ] {
            let (m, _) = message::parse(&bytes, message::Framing::Datagram).unwrap();
            m.validate().unwrap();
            assert_eq!(m.request_uri(), Some("sip:bridge@127.0.0.12:5060"));
            let route: Vec<&str> = m
                .headers_named(&message::HeaderName::Route)
                .flat_map(split_comma_list)
                .collect();
            assert_eq!(
                route,
                [
                    "<sip:10.0.0.2:5080;lr>",
                    "<sip:10.0.0.1;lr>",
                    "<sip:127.0.0.1:5060;lr=on>"
                ]
            );
        }
        // A strict router first: its URI is the Request-URI, the remote target the last route.
        d.route = vec!["<sip:10.0.0.3>".into()];
        let (m, _) = message::parse(
            &d.request(Method::Bye, "z9hG4bK5", None),
            message::Framing::Datagram,
        )
        .unwrap();
        assert_eq!(m.request_uri(), Some("sip:10.0.0.3"));
        assert_eq!(
            m.header(&message::HeaderName::Route),
            Some("<sip:bridge@127.0.0.12:5060>")
        );
        // The error ACK stays in the INVITE transaction, without the route set.
        let (m, _) = message::parse(
            &d.ack_error("z9hG4bK1", "sip:bridge@127.0.0.1:5060"),
            message::Framing::Datagram,
        )
        .unwrap();
        assert_eq!(m.headers_named(&message::HeaderName::Route).count(), 0);
    }
}
