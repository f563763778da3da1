//! End-to-end: every message of RFC 4475 (SIP torture tests) and RFC 5118 (IPv6 torture
//! tests), sent to the real binary, gets the handling the RFC text asks of a UAS.
//!
//! The corpus is the RFCs' own bit-exact archives (`tests/data/sip-torture/`, see its
//! README); what each message must get back is `tests/data/sip-torture/expected.json`, one
//! entry per message with the RFC's words. Messages name hosts all over the world in Via,
//! Contact, Route and SDP; `loopback` rewrites exactly those to 127.0.0.1 (IPv6 references to
//! `[::1]`) and their ports to the test's own sockets, and changes nothing else.
//!
//! Everything goes through `exchange(transport, ..)`, so the same corpus and expectations run
//! over UDP, over TCP (whole, and split at every byte) and over TLS.

#[path = "support/tls.rs"]
mod pki;
mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Deserialize;
use support::{Bridge, BridgeOptions};

// ---- the corpus and what the RFCs ask ------------------------------------------------------

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/sip-torture")
}

#[derive(Debug, Deserialize)]
struct Manifest {
    messages: Vec<Entry>,
}

/// One message and the handling the RFC asks for (see expected.json's `about`).
#[derive(Debug, Deserialize, Clone)]
struct Entry {
    file: String,
    rfc: String,
    title: String,
    wire: String,
    /// Allowed outcomes: the final statuses sent back, in order, without repeats.
    expect: Vec<Vec<u16>>,
    #[serde(default)]
    expect_tcp: Option<Vec<Vec<u16>>>,
    #[serde(default)]
    prefer: Option<Vec<Vec<u16>>>,
    #[serde(default)]
    trying: bool,
    /// Over TCP the framing is lost (bad Content-Length): the bridge must close the
    /// connection after its answer (RFC 4475 §3.1.2.x: "the connection should be closed").
    #[serde(default)]
    tcp_closes: bool,
    /// status -> header name -> tokens the header must hold (all of them, and for
    /// Unsupported nothing else).
    #[serde(default)]
    headers: std::collections::BTreeMap<String, std::collections::BTreeMap<String, Vec<String>>>,
    why: String,
}

impl Entry {
    fn name(&self) -> &str {
        self.file.rsplit('/').next().unwrap_or(&self.file)
    }

    fn allowed(&self, transport: Transport) -> &[Vec<u16>] {
        match transport {
            Transport::Udp => &self.expect,
            Transport::Tcp(_) | Transport::Tls => {
                self.expect_tcp.as_deref().unwrap_or(&self.expect)
            }
        }
    }

    /// Whether silence is the only allowed outcome (then a short wait is enough).
    fn only_silence(&self, transport: Transport) -> bool {
        self.allowed(transport).iter().all(Vec::is_empty)
    }

    /// The message as it goes on the wire, before addresses are rewritten.
    fn bytes(&self) -> Vec<u8> {
        let raw = std::fs::read(corpus_dir().join(&self.file))
            .unwrap_or_else(|e| panic!("reading {}: {e}", self.file));
        match self.wire.as_str() {
            "as-is" => raw,
            "rfc5118-wire" => rfc5118_wire(&raw),
            other => panic!("{}: unknown wire form {other}", self.file),
        }
    }
}

fn manifest() -> Vec<Entry> {
    let text = std::fs::read_to_string(corpus_dir().join("expected.json")).expect("expected.json");
    serde_json::from_str::<Manifest>(&text)
        .expect("expected.json parses")
        .messages
}

/// RFC 5118's archive as wire bytes (README.md says why): its files end lines with a bare LF,
/// two leave the header section open, and the three with SDP declare a Content-Length that
/// matches neither line-end convention. LF becomes CRLF, an open header section is closed,
/// and Content-Length is set to the body's length; no other octet changes.
fn rfc5118_wire(archived: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(archived.len() + 64);
    for &b in archived {
        if b == b'\n' && out.last() != Some(&b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    let Some(blank) = find(&out, b"\r\n\r\n") else {
        if !out.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        return out;
    };
    let body_len = out.len() - (blank + 4);
    let head = String::from_utf8_lossy(&out[..blank + 2]).into_owned();
    let mut fixed = String::new();
    for line in head.split_inclusive("\r\n") {
        let name = line.split(':').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("Content-Length") || name.eq_ignore_ascii_case("l") {
            fixed.push_str(&format!(
                "{}: {body_len}\r\n",
                &line[..line.find(':').unwrap()]
            ));
        } else {
            fixed.push_str(line);
        }
    }
    let mut wire = fixed.into_bytes();
    wire.extend_from_slice(&out[blank + 2..]);
    wire
}

// ---- rewriting hosts to loopback -----------------------------------------------------------

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Where a rewritten message points: the test's SIP socket and its RTP sink.
#[derive(Clone, Copy, Debug)]
struct Ports {
    sip: u16,
    rtp: u16,
}

/// Rewrites the addresses a UAS could send to, and nothing else, so the bridge only ever
/// talks to this test on 127.0.0.1:
/// - every Via sent-by (`v` and `Via`, folded or not): host to 127.0.0.1 (an IPv6 reference to
///   `[::1]`), port to `ports.sip`;
/// - every `sip:`/`sips:` URI in Contact (`m`), Route and Record-Route: host and port the same
///   way, and a `maddr` parameter to 127.0.0.1;
/// - SDP `c=` lines to `IN IP4 127.0.0.1` (`IN IP6 ::1`) and `m=` ports to `ports.rtp`;
/// - Content-Length by exactly as many octets as the body grew or shrank, so a right length
///   stays right and a wrong one (RFC 4475 clerr) stays exactly as wrong.
///
/// Octets after the first message of a datagram (RFC 4475 dblreq) are rewritten as a message
/// of their own. Received parameters, Request-URI, To and From are left alone: the bridge
/// never sends to them.
fn loopback(message: &[u8], ports: Ports) -> Vec<u8> {
    let Some((head_end, sep_len)) = header_end(message) else {
        return rewrite_head(message, ports);
    };
    let head = &message[..head_end];
    let rest = &message[head_end + sep_len..];
    let declared = content_length(head);
    let body_len = match declared {
        Some(n) if n <= rest.len() => n,
        _ => rest.len(),
    };
    let (body, trailer) = rest.split_at(body_len);
    let new_body = rewrite_sdp(body, ports);
    let mut new_head = rewrite_head(head, ports);
    if new_body.len() != body.len()
        && let Some(n) = declared
    {
        let grown = new_body.len() as i64 - body.len() as i64;
        new_head = set_content_length(&new_head, (n as i64 + grown) as usize);
    }
    let mut out = new_head;
    out.extend_from_slice(&message[head_end..head_end + sep_len]);
    out.extend_from_slice(&new_body);
    if !trailer.is_empty() {
        out.extend_from_slice(&loopback(trailer, ports));
    }
    out
}

/// End of the header section and the length of the separator (CRLFCRLF or LFLF).
fn header_end(message: &[u8]) -> Option<(usize, usize)> {
    let crlf = find(message, b"\r\n\r\n").map(|i| (i, 4));
    let lf = find(message, b"\n\n").map(|i| (i, 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// Header fields of a header section, each with its continuation lines: (start, end) spans.
fn fields(head: &[u8]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut pos = 0;
    while pos < head.len() {
        let end = head[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(head.len(), |i| pos + i + 1);
        let continues = matches!(head[pos], b' ' | b'\t');
        match out.last_mut() {
            Some(last) if continues => last.1 = end,
            _ => out.push((pos, end)),
        }
        pos = end;
    }
    out
}

fn field_name(field: &[u8]) -> String {
    let colon = field.iter().position(|&b| b == b':').unwrap_or(0);
    String::from_utf8_lossy(&field[..colon])
        .trim()
        .to_ascii_lowercase()
}

fn content_length(head: &[u8]) -> Option<usize> {
    fields(head).into_iter().skip(1).find_map(|(s, e)| {
        let f = &head[s..e];
        let name = field_name(f);
        (name == "content-length" || name == "l")
            .then(|| {
                let colon = f.iter().position(|&b| b == b':')?;
                String::from_utf8_lossy(&f[colon + 1..]).trim().parse().ok()
            })
            .flatten()
    })
}

fn set_content_length(head: &[u8], n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.len() + 4);
    let mut done = false;
    for (i, (s, e)) in fields(head).into_iter().enumerate() {
        let f = &head[s..e];
        let name = field_name(f);
        if i > 0 && !done && (name == "content-length" || name == "l") {
            let colon = f.iter().position(|&b| b == b':').unwrap_or(0);
            let value = &f[colon + 1..];
            let lead = value
                .iter()
                .take_while(|&&b| b == b' ' || b == b'\t')
                .count();
            let digits = value[lead..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            out.extend_from_slice(&f[..colon + 1 + lead]);
            out.extend_from_slice(n.to_string().as_bytes());
            out.extend_from_slice(&value[lead + digits..]);
            done = true;
        } else {
            out.extend_from_slice(f);
        }
    }
    out
}

fn rewrite_head(head: &[u8], ports: Ports) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.len() + 64);
    for (i, (s, e)) in fields(head).into_iter().enumerate() {
        let f = &head[s..e];
        if i == 0 {
            out.extend_from_slice(f); // the start line, Request-URI included, stays as it is
            continue;
        }
        match field_name(f).as_str() {
            "via" | "v" => out.extend_from_slice(&rewrite_via(f, ports.sip)),
            "contact" | "m" | "route" | "record-route" => {
                out.extend_from_slice(&rewrite_uris(f, ports.sip))
            }
            _ => out.extend_from_slice(f),
        }
    }
    out
}

fn loopback_hostport(was_ipv6: bool, port: u16) -> String {
    if was_ipv6 {
        format!("[::1]:{port}")
    } else {
        format!("127.0.0.1:{port}")
    }
}

fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// The end of a host (and `:port`) starting at `i`, and whether it is an IPv6 reference.
fn host_port_end(f: &[u8], mut i: usize) -> Option<(usize, bool)> {
    let ipv6 = f.get(i) == Some(&b'[');
    if ipv6 {
        i += f[i..].iter().position(|&b| b == b']')? + 1;
    } else {
        let start = i;
        while f
            .get(i)
            .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    // `host : port` may have LWS around the colon in a Via (RFC 4475 longreq, wsinv).
    let mut j = i;
    while f.get(j).copied().is_some_and(is_lws) {
        j += 1;
    }
    if f.get(j) == Some(&b':') {
        j += 1;
        while f.get(j).copied().is_some_and(is_lws) {
            j += 1;
        }
        let digits = f[j..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits > 0 {
            i = j + digits;
        }
    }
    Some((i, ipv6))
}

/// Rewrites the sent-by of every via-parm in one Via field (commas outside quotes split them).
fn rewrite_via(f: &[u8], port: u16) -> Vec<u8> {
    let colon = f.iter().position(|&b| b == b':').unwrap_or(0);
    let mut out = f[..=colon].to_vec();
    let mut i = colon + 1;
    while i < f.len() {
        // sent-protocol: name LWS? "/" LWS? version LWS? "/" LWS? transport LWS
        let mut j = i;
        let mut ok = true;
        for part in 0..3 {
            while f.get(j).copied().is_some_and(is_lws) {
                j += 1;
            }
            let start = j;
            while f.get(j).copied().is_some_and(is_token) {
                j += 1;
            }
            if j == start {
                ok = false;
                break;
            }
            while f.get(j).copied().is_some_and(is_lws) {
                j += 1;
            }
            if part < 2 {
                if f.get(j) != Some(&b'/') {
                    ok = false;
                    break;
                }
                j += 1;
            }
        }
        let sent_by = ok.then(|| host_port_end(f, j)).flatten();
        let next = next_comma(f, i);
        match sent_by {
            Some((end, ipv6)) if end <= next => {
                out.extend_from_slice(&f[i..j]);
                out.extend_from_slice(loopback_hostport(ipv6, port).as_bytes());
                out.extend_from_slice(&f[end..next.min(f.len())]);
            }
            _ => out.extend_from_slice(&f[i..next.min(f.len())]),
        }
        if next < f.len() {
            out.push(b',');
        }
        i = next + 1;
    }
    out
}

fn next_comma(f: &[u8], from: usize) -> usize {
    let mut quoted = false;
    let mut i = from;
    while let Some(&b) = f.get(i) {
        match b {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b',' if !quoted => return i,
            _ => {}
        }
        i += 1;
    }
    f.len()
}

/// Rewrites host and port of each `sip:`/`sips:` URI that starts a name-addr or addr-spec in
/// the field (not ones escaped inside another URI's headers), and `maddr=` parameters.
fn rewrite_uris(f: &[u8], port: u16) -> Vec<u8> {
    let colon = f.iter().position(|&b| b == b':').unwrap_or(0);
    let mut out = f[..=colon].to_vec();
    let mut i = colon + 1;
    let lower = f.to_ascii_lowercase();
    while i < f.len() {
        let starts_uri = |k: usize| {
            let prev = if k == colon + 1 { b' ' } else { f[k - 1] };
            let scheme = if lower[k..].starts_with(b"sips:") {
                5
            } else if lower[k..].starts_with(b"sip:") {
                4
            } else {
                0
            };
            (scheme > 0 && (is_lws(prev) || matches!(prev, b'<' | b',' | b':'))).then_some(scheme)
        };
        if let Some(scheme) = starts_uri(i) {
            let uri_start = i + scheme;
            // The URI runs to `>` when bracketed, else to LWS, `;`, `,` or the end; `@` inside
            // it ends the userinfo (the last one: users may hold `;` and `:`).
            let bracketed = i > 0 && f[i - 1] == b'<';
            let uri_end = if bracketed {
                f[uri_start..]
                    .iter()
                    .position(|&b| b == b'>')
                    .map_or(f.len(), |p| uri_start + p)
            } else {
                f[uri_start..]
                    .iter()
                    .position(|&b| is_lws(b) || b == b',')
                    .map_or(f.len(), |p| uri_start + p)
            };
            let host_start = f[uri_start..uri_end]
                .iter()
                .rposition(|&b| b == b'@')
                .map_or(uri_start, |p| uri_start + p + 1);
            if let Some((host_end, ipv6)) = host_port_end(&f[..uri_end], host_start) {
                out.extend_from_slice(&f[i..host_start]);
                out.extend_from_slice(loopback_hostport(ipv6, port).as_bytes());
                i = host_end;
                continue;
            }
        }
        if lower[i..].starts_with(b"maddr=") {
            let v = i + 6;
            if let Some((end, ipv6)) = host_port_end(f, v) {
                out.extend_from_slice(&f[i..v]);
                out.extend_from_slice(if ipv6 { b"[::1]" } else { b"127.0.0.1" });
                i = end;
                continue;
            }
        }
        out.push(f[i]);
        i += 1;
    }
    out
}

/// SDP `c=` addresses to loopback and `m=` ports to the RTP sink; other lines untouched.
fn rewrite_sdp(body: &[u8], ports: Ports) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 32);
    for line in body.split_inclusive(|&b| b == b'\n') {
        let (content, ending) = match line {
            [c @ .., b'\r', b'\n'] => (c, &b"\r\n"[..]),
            [c @ .., b'\n'] => (c, &b"\n"[..]),
            c => (c, &b""[..]),
        };
        if content.starts_with(b"c=IN IP4 ") {
            out.extend_from_slice(b"c=IN IP4 127.0.0.1");
        } else if content.starts_with(b"c=IN IP6 ") {
            out.extend_from_slice(b"c=IN IP6 ::1");
        } else if let Some(rest) = content.strip_prefix(b"m=") {
            let media_end = rest.iter().position(|&b| b == b' ');
            let port_end = media_end.and_then(|m| {
                rest[m + 1..]
                    .iter()
                    .position(|&b| b == b' ')
                    .map(|p| m + 1 + p)
            });
            match (media_end, port_end) {
                (Some(m), Some(p)) if rest[m + 1..p].iter().all(u8::is_ascii_digit) => {
                    out.extend_from_slice(b"m=");
                    out.extend_from_slice(&rest[..=m]);
                    out.extend_from_slice(ports.rtp.to_string().as_bytes());
                    out.extend_from_slice(&rest[p..]);
                }
                _ => out.extend_from_slice(content),
            }
        } else {
            out.extend_from_slice(content);
        }
        out.extend_from_slice(ending);
    }
    out
}

// ---- transports and responses --------------------------------------------------------------

/// How a TCP message is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Split {
    /// One write.
    Whole,
    /// One byte per write, each flushed on its own segment.
    EveryByte,
}

/// What a message travels over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Udp,
    Tcp(Split),
    /// TLS to the bridge's TLS port, each message in one write (`TLS_CLIENT`'s settings).
    Tls,
}

/// The rustls client settings of the TLS run (trusting the test CA of its bridge).
static TLS_CLIENT: std::sync::OnceLock<std::sync::Arc<rustls::ClientConfig>> =
    std::sync::OnceLock::new();

/// A stream to the bridge: a TCP connection, or TLS over one.
trait SipStream: Read + Write {
    /// The TCP connection underneath.
    fn tcp(&self) -> &TcpStream;
    /// True when the bridge has closed the stream; what it sent before goes to `buffered`.
    fn gone(&mut self, buffered: &mut Vec<u8>) -> bool;
}

impl SipStream for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }

    fn gone(&mut self, _buffered: &mut Vec<u8>) -> bool {
        let mut probe = [0u8; 1];
        self.set_nonblocking(true).ok();
        let gone = matches!(self.peek(&mut probe), Ok(0));
        self.set_nonblocking(false).ok();
        gone
    }
}

impl SipStream for rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }

    fn gone(&mut self, buffered: &mut Vec<u8>) -> bool {
        // TLS records cannot be peeked at: read what is there (a close_notify reads as 0).
        let mut buf = [0u8; 4096];
        self.sock.set_nonblocking(true).ok();
        let gone = loop {
            match self.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => buffered.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
                Err(_) => break true,
            }
        };
        self.sock.set_nonblocking(false).ok();
        gone
    }
}

/// A response as received, read without the bridge's own parser.
#[derive(Clone, Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    raw: Vec<u8>,
}

impl Response {
    fn parse(raw: &[u8]) -> Option<Response> {
        let (head_end, _) = header_end(raw)?;
        let head = String::from_utf8_lossy(&raw[..head_end]);
        let mut lines = head.split("\r\n");
        let status_line = lines.next()?;
        let mut words = status_line.splitn(3, ' ');
        if words.next()? != "SIP/2.0" {
            return None;
        }
        let status = words.next()?.parse().ok()?;
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        Some(Response {
            status,
            headers,
            raw: raw.to_vec(),
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn top_via(&self) -> &str {
        let via = self.header("Via").unwrap_or_default();
        via.split(',').next().unwrap_or(via).trim()
    }

    fn cseq_number(&self) -> u32 {
        self.header("CSeq")
            .and_then(|c| c.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(1)
    }

    fn contact_uri(&self) -> Option<String> {
        let c = self.header("Contact")?;
        Some(
            c.trim()
                .trim_start_matches('<')
                .split('>')
                .next()?
                .to_string(),
        )
    }
}

/// A socket (UDP) or connection (TCP) of the test towards the bridge.
enum Link {
    Udp(UdpSocket),
    /// A TCP connection, or TLS over one.
    Tcp {
        stream: Box<dyn SipStream>,
        buffered: Vec<u8>,
        split: Split,
        closed: bool,
        tls: bool,
    },
}

impl Link {
    fn open(transport: Transport, bridge: SocketAddr) -> Link {
        match transport {
            Transport::Udp => {
                let socket = UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
                socket.connect(bridge).expect("connect UDP");
                Link::Udp(socket)
            }
            Transport::Tcp(split) => {
                let stream = TcpStream::connect_timeout(&bridge, Duration::from_secs(2))
                    .expect("connect to the bridge's SIP port over TCP");
                stream.set_nodelay(true).expect("nodelay");
                Link::Tcp {
                    stream: Box::new(stream),
                    buffered: Vec::new(),
                    split,
                    closed: false,
                    tls: false,
                }
            }
            Transport::Tls => {
                let config = TLS_CLIENT.get().expect("TLS client settings").clone();
                let stream = pki::handshake(bridge, config)
                    .expect("TLS handshake with the bridge's SIP TLS port");
                stream.sock.set_nodelay(true).expect("nodelay");
                Link::Tcp {
                    stream: Box::new(stream),
                    buffered: Vec::new(),
                    split: Split::Whole,
                    closed: false,
                    tls: true,
                }
            }
        }
    }

    /// What this link was opened as (a closed one is reopened the same way).
    fn transport(&self) -> Transport {
        match self {
            Link::Udp(_) => Transport::Udp,
            Link::Tcp { tls: true, .. } => Transport::Tls,
            Link::Tcp { split, .. } => Transport::Tcp(*split),
        }
    }

    fn local_port(&self) -> u16 {
        match self {
            Link::Udp(s) => s.local_addr().expect("addr").port(),
            Link::Tcp { stream, .. } => stream.tcp().local_addr().expect("addr").port(),
        }
    }

    fn transport_token(&self) -> &'static str {
        match self {
            Link::Udp(_) => "UDP",
            Link::Tcp { tls: true, .. } => "TLS",
            Link::Tcp { .. } => "TCP",
        }
    }

    /// Sends a message; Err when the OS refuses it (a datagram too large for UDP).
    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Link::Udp(s) => s.send(bytes).map(|_| ()),
            Link::Tcp { stream, split, .. } => match split {
                Split::Whole => {
                    stream.write_all(bytes)?;
                    stream.flush()
                }
                Split::EveryByte => {
                    for b in bytes {
                        stream.write_all(std::slice::from_ref(b))?;
                        stream.flush()?;
                    }
                    Ok(())
                }
            },
        }
    }

    /// The next response, waiting at most until `deadline`.
    fn recv(&mut self, deadline: Instant) -> Option<Response> {
        let mut buf = vec![0u8; 65_536];
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let left = left.max(Duration::from_millis(1));
            match self {
                Link::Udp(s) => {
                    s.set_read_timeout(Some(left)).ok();
                    match s.recv(&mut buf) {
                        Ok(n) => {
                            if let Some(r) = Response::parse(&buf[..n]) {
                                return Some(r);
                            }
                        }
                        Err(e)
                            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                        {
                            return None;
                        }
                        // ICMP errors from earlier datagrams surface here; keep listening.
                        Err(_) => {}
                    }
                }
                Link::Tcp {
                    stream,
                    buffered,
                    closed,
                    ..
                } => {
                    if let Some(r) = take_stream_response(buffered) {
                        return Some(r);
                    }
                    if *closed {
                        return None;
                    }
                    stream.tcp().set_read_timeout(Some(left)).ok();
                    match stream.read(&mut buf) {
                        Ok(0) => *closed = true,
                        Ok(n) => buffered.extend_from_slice(&buf[..n]),
                        Err(e)
                            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                        {
                            return None;
                        }
                        Err(_) => *closed = true,
                    }
                }
            }
        }
    }
}

/// One response framed by Content-Length off the front of a stream buffer.
fn take_stream_response(buffered: &mut Vec<u8>) -> Option<Response> {
    let lead = buffered
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    buffered.drain(..lead);
    let (head_end, sep) = header_end(buffered)?;
    let length = content_length(&buffered[..head_end]).unwrap_or(0);
    let total = head_end + sep + length;
    if buffered.len() < total {
        return None;
    }
    let raw: Vec<u8> = buffered.drain(..total).collect();
    Response::parse(&raw)
}

/// How long to listen for answers.
#[derive(Clone, Copy)]
enum Wait {
    /// Nothing is expected: listen this long to be sure nothing comes.
    Silence(Duration),
    /// Answers are expected: wait for a final one this long at most.
    Answer(Duration),
}

const SILENCE: Duration = Duration::from_millis(500);
const ANSWER: Duration = Duration::from_secs(5);
/// After a final response, how long to keep listening for anything more (a second answer
/// to octets that should have been ignored, say).
const LINGER: Duration = Duration::from_millis(200);

/// What came back for one message, and the link to clean up over.
struct Exchange {
    sent: Vec<u8>,
    responses: Vec<Response>,
    link: Link,
    /// Where the bridge listens (a closed TCP link is reopened there for the clean-up).
    bridge: SocketAddr,
    /// The OS refused to send it (UDP datagram too large).
    send_error: Option<std::io::Error>,
}

impl Exchange {
    /// The final statuses in order of arrival, repeats (retransmissions) left out.
    fn finals(&self) -> Vec<u16> {
        let mut out: Vec<u16> = Vec::new();
        for r in self.responses.iter().filter(|r| r.status >= 200) {
            if out.last() != Some(&r.status) {
                out.push(r.status);
            }
        }
        out
    }
}

/// Sends one message to the bridge over `transport` from a fresh socket or connection, with
/// its addresses rewritten by `loopback` to point back at it, and collects what comes back.
fn exchange(transport: Transport, bridge: SocketAddr, message: &[u8], wait: Wait) -> Exchange {
    let rtp = rtp_sink();
    let mut link = Link::open(transport, bridge);
    let ports = Ports {
        sip: link.local_port(),
        rtp,
    };
    let sent = loopback(message, ports);
    let mut send_error = link.send(&sent).err();
    // Over TCP the bridge may close a stream it can no longer frame while the rest of the
    // message is still being written (byte by byte, or on a busy machine): that is the
    // bridge's answer, not a failure to send. Whatever it said first is still read.
    if let (Some(e), Link::Tcp { closed, .. }) = (&send_error, &mut link)
        && matches!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
        )
    {
        *closed = true;
        send_error = None;
    }
    let mut responses = Vec::new();
    if send_error.is_none() {
        let mut deadline = Instant::now()
            + match wait {
                Wait::Silence(d) | Wait::Answer(d) => d,
            };
        while let Some(r) = link.recv(deadline) {
            if r.status >= 200 {
                deadline = deadline.min(Instant::now() + LINGER);
            }
            responses.push(r);
        }
    }
    Exchange {
        sent,
        responses,
        link,
        bridge,
        send_error,
    }
}

/// The port of a UDP socket that swallows the RTP of answered calls; it lives for the test.
fn rtp_sink() -> u16 {
    static SINK: std::sync::OnceLock<UdpSocket> = std::sync::OnceLock::new();
    SINK.get_or_init(|| UdpSocket::bind("127.0.0.1:0").expect("RTP sink"))
        .local_addr()
        .expect("addr")
        .port()
}

fn branch() -> String {
    format!("z9hG4bK{:016x}", rand::random::<u64>())
}

fn request_line_uri(sent: &[u8]) -> String {
    let line = sent.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.trim_end().splitn(2, ' ');
    words.next();
    let rest = words.next().unwrap_or("");
    rest.rsplit_once(' ')
        .map_or(rest, |(uri, _)| uri)
        .to_string()
}

fn answers_invite(r: &Response) -> bool {
    r.header("CSeq")
        .is_some_and(|c| c.trim_end().ends_with("INVITE"))
}

/// Leaves nothing behind: an INVITE's non-2xx final gets its ACK, an answered call gets ACK
/// and BYE (whose 200 is returned), and an INVITE still ringing is cancelled. The INVITE is
/// found by its responses, so one that followed another message on a stream counts too.
/// Sends a clean-up request; if the bridge closed the TCP connection meanwhile (after the
/// check in `clean_up`, before the write), sends it again over a new one, as a phone would.
fn send_or_reopen(x: &mut Exchange, bytes: &[u8]) -> Result<(), String> {
    match x.link.send(bytes) {
        Err(e)
            if matches!(x.link, Link::Tcp { .. })
                && matches!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::NotConnected
                ) =>
        {
            x.link = Link::open(x.link.transport(), x.bridge);
            x.link.send(bytes).map_err(|e| e.to_string())
        }
        other => other.map_err(|e| e.to_string()),
    }
}

fn clean_up(x: &mut Exchange) -> Result<(), String> {
    let Some(invite_reply) = x.responses.iter().find(|r| answers_invite(r)).cloned() else {
        return Ok(());
    };
    // The bridge closes a stream it cannot frame any further (e.g. a body without
    // Content-Length read as the next message); the dialog lives on, so clean up over a
    // new connection, as a phone would.
    if let Link::Tcp {
        stream,
        closed,
        buffered,
        ..
    } = &mut x.link
    {
        let gone = *closed || stream.gone(buffered);
        if gone {
            x.link = Link::open(x.link.transport(), x.bridge);
        }
    }
    let port = x.link.local_port();
    let tp = x.link.transport_token();
    let uri = request_line_uri(&x.sent);
    let call_id = invite_reply
        .header("Call-ID")
        .unwrap_or_default()
        .to_string();
    let from = invite_reply.header("From").unwrap_or_default().to_string();
    let n = invite_reply.cseq_number();
    let final_reply = x
        .responses
        .iter()
        .find(|r| r.status >= 200 && answers_invite(r))
        .cloned();
    let Some(final_reply) = final_reply else {
        // Still ringing: CANCEL (same branch as the INVITE), then ACK the 487.
        let cancel = format!(
            "CANCEL {uri} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {}\r\n\
             Call-ID: {call_id}\r\nCSeq: {n} CANCEL\r\nContent-Length: 0\r\n\r\n",
            invite_reply.top_via(),
            invite_reply.header("To").unwrap_or_default(),
        );
        send_or_reopen(x, cancel.as_bytes())?;
        let deadline = Instant::now() + ANSWER;
        while let Some(r) = x.link.recv(deadline) {
            if r.status == 487 {
                ack_non_2xx(x, &r, &uri)?;
                return Ok(());
            }
        }
        return Err("no 487 after CANCEL".into());
    };
    if final_reply.status >= 300 {
        return ack_non_2xx(x, &final_reply, &uri);
    }
    let to = final_reply.header("To").unwrap_or_default().to_string();
    let target = final_reply
        .contact_uri()
        .ok_or("the 200 OK has no Contact")?;
    let ack = format!(
        "ACK {target} SIP/2.0\r\nVia: SIP/2.0/{tp} 127.0.0.1:{port};branch={};rport\r\n\
         Max-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {n} ACK\r\n\
         Content-Length: 0\r\n\r\n",
        branch()
    );
    send_or_reopen(x, ack.as_bytes())?;
    let bye = format!(
        "BYE {target} SIP/2.0\r\nVia: SIP/2.0/{tp} 127.0.0.1:{port};branch={};rport\r\n\
         Max-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {} BYE\r\n\
         Content-Length: 0\r\n\r\n",
        branch(),
        n + 1
    );
    send_or_reopen(x, bye.as_bytes())?;
    let deadline = Instant::now() + ANSWER;
    while let Some(r) = x.link.recv(deadline) {
        if r.header("CSeq").is_some_and(|c| c.ends_with("BYE")) {
            // 481: the bridge hung up first (say, on an ACK without the answer it asked for);
            // /metrics' active calls, checked after the corpus, catch anything left behind.
            return if matches!(r.status, 200 | 481) {
                Ok(())
            } else {
                Err(format!("BYE answered {}", r.status))
            };
        }
    }
    Err("BYE not answered".into())
}

fn ack_non_2xx(x: &mut Exchange, reply: &Response, uri: &str) -> Result<(), String> {
    let ack = format!(
        "ACK {uri} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\n\
         Call-ID: {}\r\nCSeq: {} ACK\r\nContent-Length: 0\r\n\r\n",
        reply.top_via(),
        reply.header("From").unwrap_or_default(),
        reply.header("To").unwrap_or_default(),
        reply.header("Call-ID").unwrap_or_default(),
        reply.cseq_number(),
    );
    send_or_reopen(x, ack.as_bytes())
}

/// An OPTIONS answered 200 proves the bridge still works.
fn alive(transport: Transport, bridge: SocketAddr) -> bool {
    let options = format!(
        "OPTIONS sip:alive@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch={}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@example.com>;tag=p{}\r\nTo: <sip:alive@example.com>\r\n\
         Call-ID: alive-{}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        branch(),
        rand::random::<u32>(),
        rand::random::<u64>()
    );
    let x = exchange(transport, bridge, options.as_bytes(), Wait::Answer(ANSWER));
    x.finals() == [200]
}

// ---- judging one message -------------------------------------------------------------------

/// One row of the report: what the RFC allows, what came back, and whether that is right.
struct Outcome {
    name: String,
    rfc: String,
    allowed: Vec<Vec<u16>>,
    got: Vec<u16>,
    /// Allowed, but not the outcome the bridge is built to give.
    not_preferred: bool,
    problems: Vec<String>,
}

fn judge(entry: &Entry, transport: Transport, bridge: SocketAddr) -> Outcome {
    let wait = if entry.only_silence(transport) {
        Wait::Silence(SILENCE)
    } else {
        Wait::Answer(ANSWER)
    };
    let mut x = exchange(transport, bridge, &entry.bytes(), wait);
    let got = x.finals();
    let allowed = entry.allowed(transport).to_vec();
    let mut problems = Vec::new();
    if let Some(e) = &x.send_error {
        problems.push(format!("could not send: {e}"));
    }
    if !allowed.contains(&got) {
        problems.push(format!("got {got:?}, the RFC allows {allowed:?}"));
    }
    if entry.trying && got == [200] && x.responses.first().map(|r| r.status) != Some(100) {
        problems.push("no 100 Trying before the 200".into());
    }
    for r in x.responses.iter().filter(|r| r.status >= 200) {
        let Some(wanted) = entry.headers.get(&r.status.to_string()) else {
            continue;
        };
        for (name, tokens) in wanted {
            let values: Vec<&str> = r.headers_named(name).collect();
            if values.is_empty() {
                problems.push(format!("{} has no {name} header", r.status));
                continue;
            }
            let have: Vec<String> = values
                .iter()
                .flat_map(|v| v.split(','))
                .map(|t| t.trim().to_string())
                .collect();
            for t in tokens {
                if !have
                    .iter()
                    .any(|h| h == t || h.split_whitespace().next() == Some(t))
                {
                    problems.push(format!("{} {name}: {have:?} lacks {t}", r.status));
                }
            }
            if name == "Unsupported" && have.len() != tokens.len() {
                problems.push(format!("{} Unsupported lists {have:?}", r.status));
            }
        }
    }
    // Every response must go back along the Via the bridge was given (and copy it whole).
    let sent_vias = via_count(&x.sent);
    for r in &x.responses {
        let vias: usize = r.headers_named("Via").map(|v| v.split(',').count()).sum();
        if sent_vias > 0 && vias != sent_vias {
            problems.push(format!(
                "{} carries {vias} Via values of {sent_vias}",
                r.status
            ));
        }
    }
    if got.is_empty() && !alive(transport, bridge) {
        problems.push("the bridge no longer answers OPTIONS".into());
    }
    if entry.tcp_closes
        && let Link::Tcp { stream, closed, .. } = &mut x.link
    {
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut probe = [0u8; 1];
        stream
            .tcp()
            .set_read_timeout(Some(Duration::from_millis(50)))
            .ok();
        while !*closed && Instant::now() < deadline {
            match stream.read(&mut probe) {
                Ok(0) => *closed = true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => *closed = true,
            }
        }
        if !*closed {
            problems.push("the connection stayed open after a framing error".into());
        }
    }
    if let Err(e) = clean_up(&mut x) {
        problems.push(format!("clean-up: {e}"));
    }
    let not_preferred = entry.prefer.as_ref().is_some_and(|p| !p.contains(&got));
    if !problems.is_empty() {
        problems.push(format!("{} says: {}", entry.title, entry.why));
    }
    Outcome {
        name: entry.name().to_string(),
        rfc: entry.rfc.clone(),
        allowed,
        got,
        not_preferred,
        problems,
    }
}

/// Via values in the first message of `sent`, for messages whose Vias are all well-formed
/// enough to be copied one for one (0 = do not check).
fn via_count(sent: &[u8]) -> usize {
    let head_end = header_end(sent).map_or(sent.len(), |(h, _)| h);
    let head = &sent[..head_end];
    let mut n = 0;
    for (s, e) in fields(head).into_iter().skip(1) {
        let f = &head[s..e];
        if matches!(field_name(f).as_str(), "via" | "v") {
            let colon = f.iter().position(|&b| b == b':').unwrap_or(0);
            let value = &f[colon + 1..];
            if value.windows(2).any(|w| w == b";;") {
                return 0; // RFC 4475 badinv01: empty values are not copied one for one
            }
            let mut i = 0;
            loop {
                n += 1;
                let next = next_comma(value, i);
                if next >= value.len() {
                    break;
                }
                i = next + 1;
            }
        }
    }
    n
}

fn run_corpus(transport: Transport) {
    // Over TLS: a test CA, the bridge's certificate from it, and a client trusting it.
    let pki_dir = tempfile::tempdir().expect("tempdir");
    let tls_addr = pki::free_tcp_addr();
    let mut extra = Vec::new();
    if transport == Transport::Tls {
        let ca = pki::TestCa::new(pki_dir.path(), "torture");
        extra = pki::tls_flags(tls_addr, &ca.server("bridge"));
        TLS_CLIENT.get_or_init(|| ca.client_config(None));
    }
    let (bridge, _) = Bridge::start(
        &[],
        BridgeOptions {
            http: true,
            extra,
            ..Default::default()
        },
    );
    let target = if transport == Transport::Tls {
        tls_addr
    } else {
        bridge.sip
    };
    let entries = manifest();
    assert_eq!(
        entries.len(),
        62,
        "RFC 4475 has 50 archived files, RFC 5118 12"
    );
    let mut failures = 0;
    println!(
        "{:<32} {:<22} {:<24} {:<12} verdict",
        "message", "section", "allowed", "got"
    );
    for entry in &entries {
        let o = judge(entry, transport, target);
        let verdict = if o.problems.is_empty() && o.not_preferred {
            "pass (allowed, not the preferred answer)".to_string()
        } else if o.problems.is_empty() {
            "pass".to_string()
        } else {
            failures += 1;
            format!("FAIL: {}", o.problems.join("; "))
        };
        println!(
            "{:<32} {:<22} {:<24} {:<12} {verdict}",
            o.name,
            o.rfc,
            format!("{:?}", o.allowed),
            format!("{:?}", o.got)
        );
    }
    assert_eq!(
        failures, 0,
        "{failures} messages not handled as the RFC asks (table above)"
    );
    assert!(
        alive(transport, target),
        "the bridge answers after the corpus"
    );
    assert_eq!(calls_active(&bridge), 0, "every answered call was hung up");
}

/// `dialbridge_calls_active` from /metrics once it settles at 0, or its last value after 5 s.
fn calls_active(bridge: &Bridge) -> u64 {
    support::settle(
        Duration::from_secs(5),
        || bridge.expect_metric("dialbridge_calls_active", &[]),
        |active| *active == 0,
    )
}

// ---- the tests -----------------------------------------------------------------------------

#[test]
fn every_torture_message_over_udp_gets_the_handling_the_rfc_asks_of_a_uas() {
    run_corpus(Transport::Udp);
}

#[test]
fn every_torture_message_over_tcp_gets_the_handling_the_rfc_asks_of_a_uas() {
    run_corpus(Transport::Tcp(Split::Whole));
}

#[test]
fn every_torture_message_over_tls_gets_the_handling_the_rfc_asks_of_a_uas() {
    run_corpus(Transport::Tls);
}

#[test]
fn every_torture_message_over_tcp_split_at_every_byte_gets_the_same_handling() {
    run_corpus(Transport::Tcp(Split::EveryByte));
}

fn options_with(extra_headers: &str, body: &str) -> String {
    options_from("192.0.2.7", extra_headers, body)
}

/// An OPTIONS whose Via names `sent_by` (rewritten by `loopback` like any other).
fn options_from(sent_by: &str, extra_headers: &str, body: &str) -> String {
    format!(
        "OPTIONS sip:1000@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {sent_by};branch={}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:caller@example.com>;tag=t{}\r\nTo: <sip:1000@example.com>\r\n\
         Call-ID: {}@torture\r\nCSeq: 1 OPTIONS\r\n{extra_headers}Content-Length: {}\r\n\r\n{body}",
        branch(),
        rand::random::<u32>(),
        rand::random::<u64>(),
        body.len()
    )
}

#[test]
fn trailing_octets_after_content_length_in_a_datagram_are_ignored() {
    let (bridge, _) = Bridge::start(&[], BridgeOptions::default());
    let mut datagram = options_with("", "").into_bytes();
    // Noise that looks like a second request, and bytes that are not text at all.
    datagram.extend_from_slice(
        b"OPTIONS sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.8;branch=z9hG4bKnoise\r\n\0\xff\xfe",
    );
    let x = exchange(Transport::Udp, bridge.sip, &datagram, Wait::Answer(ANSWER));
    assert_eq!(x.finals(), [200], "one answer, to the first request only");
    assert_eq!(
        x.responses.len(),
        1,
        "the trailing octets got no answer of their own"
    );
    let r = &x.responses[0];
    assert!(
        r.top_via().contains("127.0.0.1") && !r.raw.windows(10).any(|w| w == b"z9hG4bKnoi"),
        "the answer is to the first request"
    );

    // A body shorter than the datagram: the octets after Content-Length are not the body.
    let mut with_body = options_with("Content-Type: text/plain\r\n", "hello").into_bytes();
    with_body.extend_from_slice(b"world, this is not body");
    let x = exchange(Transport::Udp, bridge.sip, &with_body, Wait::Answer(ANSWER));
    assert_eq!(x.finals(), [200]);
}

#[test]
fn oversized_datagrams_are_refused_or_dropped_and_the_bridge_keeps_working() {
    let (bridge, _) = Bridge::start(&[], BridgeOptions::default());
    // 70 kB cannot travel in one UDP datagram over IPv4 (65,507 octets at most): the kernel
    // refuses to send it, so over UDP the bridge never sees one (TCP: see the ignored test).
    let big = options_with("", &"x".repeat(70_000));
    let x = exchange(
        Transport::Udp,
        bridge.sip,
        big.as_bytes(),
        Wait::Silence(SILENCE),
    );
    assert!(
        x.send_error.is_some(),
        "a 70 kB UDP datagram cannot be sent"
    );

    // The largest datagram there is, all header: one line far over the bridge's line limit.
    // (The Via's port has five digits, like the test socket's that replaces it, so the
    // datagram keeps its size through `loopback`.)
    let head = options_from("127.0.0.1:65535", "", "");
    let filler = 65_507 - head.len() - "X-Filler: \r\n".len();
    let huge_header = head.replacen(
        "Content-Length",
        &format!("X-Filler: {}\r\nContent-Length", "y".repeat(filler)),
        1,
    );
    assert_eq!(huge_header.len(), 65_507);
    let started = Instant::now();
    let x = exchange(
        Transport::Udp,
        bridge.sip,
        huge_header.as_bytes(),
        Wait::Answer(ANSWER),
    );
    assert!(x.send_error.is_none(), "65,507 octets fit a datagram");
    assert!(
        matches!(x.finals().as_slice(), [400] | [513] | []),
        "refused (400/513) or dropped, not processed: {:?}",
        x.finals()
    );
    println!(
        "65,507-octet datagram with one huge header line: {:?}",
        x.finals()
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "handled at once"
    );

    // The largest datagram of garbage: dropped.
    let garbage = vec![b'Z'; 65_507];
    let x = exchange(Transport::Udp, bridge.sip, &garbage, Wait::Silence(SILENCE));
    assert!(x.send_error.is_none());
    assert_eq!(x.finals(), Vec::<u16>::new(), "garbage gets no answer");
    assert!(
        alive(Transport::Udp, bridge.sip),
        "the bridge still answers"
    );
}

#[test]
fn header_floods_and_endless_folding_get_400_or_nothing_quickly() {
    let (bridge, _) = Bridge::start(&[], BridgeOptions::default());
    // 5,000 header fields in one datagram.
    let flood: String = (0..5_000).map(|i| format!("X-{i}: f\r\n")).collect();
    let msg = options_with(&flood, "");
    assert!(msg.len() < 65_507);
    let started = Instant::now();
    let x = exchange(
        Transport::Udp,
        bridge.sip,
        msg.as_bytes(),
        Wait::Answer(ANSWER),
    );
    assert!(
        matches!(x.finals().as_slice(), [400] | []),
        "a header flood is refused or dropped: {:?}",
        x.finals()
    );
    println!(
        "5,000 header fields: {:?} in {:?}",
        x.finals(),
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    // One header folded over 15,000 continuation lines.
    let folding: String = std::iter::once("Subject: a\r\n".to_string())
        .chain((0..15_000).map(|_| " b\r\n".to_string()))
        .collect();
    let msg = options_with(&folding, "");
    assert!(msg.len() < 65_507);
    let started = Instant::now();
    let x = exchange(
        Transport::Udp,
        bridge.sip,
        msg.as_bytes(),
        Wait::Answer(ANSWER),
    );
    assert!(
        matches!(x.finals().as_slice(), [400] | []),
        "endless folding is refused or dropped: {:?}",
        x.finals()
    );
    println!(
        "15,000 folded lines: {:?} in {:?}",
        x.finals(),
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        alive(Transport::Udp, bridge.sip),
        "the bridge still answers"
    );
}

#[test]
fn register_gets_405_with_allow_because_the_bridge_is_no_registrar() {
    let (bridge, _) = Bridge::start(&[], BridgeOptions::default());
    let register = format!(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9;branch={}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=r1\r\nTo: <sip:alice@example.com>\r\n\
         Call-ID: reg-{}\r\nCSeq: 1 REGISTER\r\nContact: <sip:alice@192.0.2.9>\r\nExpires: 3600\r\n\
         Content-Length: 0\r\n\r\n",
        branch(),
        rand::random::<u64>()
    );
    let x = exchange(
        Transport::Udp,
        bridge.sip,
        register.as_bytes(),
        Wait::Answer(ANSWER),
    );
    assert_eq!(x.finals(), [405]);
    let allow = x.responses[0].header("Allow").unwrap_or_default();
    assert!(
        allow.contains("INVITE") && !allow.contains("REGISTER"),
        "Allow: {allow}"
    );
}

#[test]
fn oversized_tcp_message_is_refused_and_the_connection_closed() {
    let (bridge, _) = Bridge::start(&[], BridgeOptions::default());
    let big = options_with("Content-Type: text/plain\r\n", &"x".repeat(70_000));
    let mut x = exchange(
        Transport::Tcp(Split::Whole),
        bridge.sip,
        big.as_bytes(),
        Wait::Answer(ANSWER),
    );
    assert!(
        matches!(x.finals().as_slice(), [513] | [400] | []),
        "{:?}",
        x.finals()
    );
    // Whatever was answered, the connection's framing is lost: the bridge closes it.
    let closed = x.link.recv(Instant::now() + ANSWER).is_none()
        && matches!(x.link, Link::Tcp { closed: true, .. });
    assert!(closed, "the connection is closed");
    assert!(alive(Transport::Udp, bridge.sip));
}

// ---- the harness itself -------------------------------------------------------------------

#[test]
fn stream_responses_are_framed_by_content_length_whatever_the_chunks() {
    let one = b"SIP/2.0 100 Trying\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKa\r\nContent-Length: 0\r\n\r\n";
    let two = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKa\r\nContent-Length: 6\r\n\r\nv=0\r\nX";
    let stream: Vec<u8> = [&b"\r\n"[..], one, two].concat();
    for chunk in [1, 2, 5, 64, stream.len()] {
        let mut buffered = Vec::new();
        let mut got = Vec::new();
        for piece in stream.chunks(chunk) {
            buffered.extend_from_slice(piece);
            while let Some(r) = take_stream_response(&mut buffered) {
                got.push(r);
            }
        }
        let statuses: Vec<u16> = got.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [100, 200], "chunks of {chunk}");
        assert!(
            got[1].raw.ends_with(b"v=0\r\nX"),
            "the body is framed by Content-Length"
        );
        assert!(buffered.is_empty());
    }
}

// ---- the rewriting itself ------------------------------------------------------------------

#[test]
fn loopback_rewrites_only_addresses_and_keeps_content_length_true() {
    let ports = Ports {
        sip: 40000,
        rtp: 40002,
    };
    for entry in manifest() {
        let original = entry.bytes();
        let rewritten = loopback(&original, ports);
        let name = entry.name();
        // No host of the outside world is left where the bridge could send to.
        let text = String::from_utf8_lossy(&rewritten);
        for line in text.split("\r\n") {
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("c=in ip") {
                assert!(
                    line.ends_with("127.0.0.1") || line.ends_with("::1"),
                    "{name}: {line}"
                );
            }
        }
        // The same number of lines, and the Request-URI untouched.
        assert_eq!(
            original.iter().filter(|&&b| b == b'\n').count(),
            rewritten.iter().filter(|&&b| b == b'\n').count(),
            "{name}: lines"
        );
        assert_eq!(
            request_line_uri(&original),
            request_line_uri(&rewritten),
            "{name}"
        );
        // Content-Length moved with the body, by exactly as much.
        if let (Some((oh, os)), Some((nh, ns))) = (header_end(&original), header_end(&rewritten))
            && let (Some(ol), Some(nl)) = (
                content_length(&original[..oh]),
                content_length(&rewritten[..nh]),
            )
        {
            let old_body = original.len() - oh - os;
            let new_body = rewritten.len() - nh - ns;
            if old_body == ol {
                assert_eq!(new_body, nl, "{name}: a right Content-Length stays right");
            }
            assert_eq!(
                nl as i64 - ol as i64,
                (new_body as i64 - old_body as i64)
                    - trailer_growth(&original[oh + os..], &rewritten[nh + ns..], ol, nl),
                "{name}: Content-Length moved with the body"
            );
        }
    }
    // A folded Via, a Contact with a user, an IPv6 reference and SDP, by example.
    let msg = b"INVITE sip:u@example.com SIP/2.0\r\nVia  : SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=x\r\n\
v: SIP/2.0/TCP [2001:db8::9:1]:6050;branch=y , SIP/2.0/UDP h.example.com\r\n\
m: \"A\" <sip:jd@example.com;lr>;q=1\r\nRecord-Route: <sip:u@example.com;maddr=ss1.example.com>\r\n\
Content-Length: 51\r\n\r\nv=0\r\nc=IN IP4 192.0.2.44\r\nm=audio 49217 RTP/AVP 0\r\n";
    let out = String::from_utf8(loopback(msg, ports)).unwrap();
    assert!(
        out.contains("Via  : SIP  /   2.0\r\n /UDP\r\n    127.0.0.1:40000;branch=x\r\n"),
        "{out}"
    );
    assert!(
        out.contains("v: SIP/2.0/TCP [::1]:40000;branch=y , SIP/2.0/UDP 127.0.0.1:40000\r\n"),
        "{out}"
    );
    assert!(
        out.contains("m: \"A\" <sip:jd@127.0.0.1:40000;lr>;q=1\r\n"),
        "{out}"
    );
    assert!(
        out.contains("<sip:u@127.0.0.1:40000;maddr=127.0.0.1>"),
        "{out}"
    );
    assert!(
        out.ends_with("c=IN IP4 127.0.0.1\r\nm=audio 40002 RTP/AVP 0\r\n"),
        "{out}"
    );
    assert!(out.contains("Content-Length: 50\r\n"), "{out}");
}

/// How much of the growth after the header section belongs to octets past the body (the
/// rewritten trailing request of RFC 4475 dblreq), which Content-Length does not cover.
fn trailer_growth(old_rest: &[u8], new_rest: &[u8], old_len: usize, new_len: usize) -> i64 {
    if old_rest.len() <= old_len {
        return 0;
    }
    let old_trailer = old_rest.len() - old_len;
    let new_trailer = new_rest.len().saturating_sub(new_len);
    new_trailer as i64 - old_trailer as i64
}
