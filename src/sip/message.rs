// Our own parser because rsip 0.4 (last release 2022) gets compact names, folding, LF-only, Content-Length framing, binary bodies, non-UTF-8 values and unknown methods wrong (FIELD-NOTES.md).
//! SIP message framing, parsing and serialisation (RFC 3261 §7, §18.3, §25; RFC 4475).
//!
//! `parse` turns bytes from one UDP datagram or the front of a TCP stream buffer into a
//! `Message` whose header values are unfolded text, and reports how many bytes it used.
//! Typed views of the headers (Via, CSeq, From/To/Contact, URIs) live in `sip::header` and are
//! reached through the accessors on `Message`.
//!
//! What a caller does with each outcome:
//! - `Ok((msg, used))`: for a request, call `msg.validate()` before acting (400 on error).
//! - `Err(e)` with `e.response_code() == Some(code)`: answer a request with `code`, building
//!   the response from `salvage(input)` (which still finds Via/From/To/Call-ID/CSeq).
//! - `Err(Incomplete)` (stream): read more bytes and call again.
//! - `Err(KeepAlive)`, `Err(BadStartLine)`: drop silently.
//!
//! On a stream, any error other than `Incomplete` means the framing is lost: close the
//! connection after answering.
//!
//! Every size is bounded (`MAX_MESSAGE_SIZE`, `MAX_HEADERS`, `MAX_LINE`) and no input makes
//! this module panic.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use std::fmt;
use std::hash::{Hash, Hasher};

use crate::sip::header::{
    CSeq, HeaderError, NameAddr, UriScheme, Via, is_token_byte, parse_uri, split_comma_list,
    uri_scheme_len,
};

/// Largest message accepted: bigger datagrams, or stream messages (headers plus body) that
/// would grow bigger, are refused with `ParseError::TooLarge`.
pub const MAX_MESSAGE_SIZE: usize = 65_535;
/// Most header fields (lines plus their continuations) in one message.
pub const MAX_HEADERS: usize = 128;
/// Longest start line or header field, measured on the wire including its folded
/// continuation lines (so endless folding ends here).
pub const MAX_LINE: usize = 8 * 1024;

/// A request method. Methods are case-sensitive tokens (RFC 3261 §7.1): `invite` is an
/// extension method, not INVITE.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE (RFC 3261)
    Invite,
    /// ACK (RFC 3261)
    Ack,
    /// BYE (RFC 3261)
    Bye,
    /// CANCEL (RFC 3261)
    Cancel,
    /// OPTIONS (RFC 3261)
    Options,
    /// INFO (RFC 6086), carries DTMF relay.
    Info,
    /// REGISTER (RFC 3261)
    Register,
    /// PRACK (RFC 3262)
    Prack,
    /// UPDATE (RFC 3311)
    Update,
    /// SUBSCRIBE (RFC 6665)
    Subscribe,
    /// NOTIFY (RFC 6665)
    Notify,
    /// REFER (RFC 3515)
    Refer,
    /// MESSAGE (RFC 3428)
    Message,
    /// PUBLISH (RFC 3903)
    Publish,
    /// Any other token, kept as received so the UAS can answer 501 Not Implemented.
    Extension(String),
}

impl Method {
    /// Parses a method token; None if `s` is not a token.
    pub fn parse(s: &str) -> Option<Method> {
        if s.is_empty() || !s.bytes().all(is_token_byte) {
            return None;
        }
        Some(match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "INFO" => Method::Info,
            "REGISTER" => Method::Register,
            "PRACK" => Method::Prack,
            "UPDATE" => Method::Update,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            "PUBLISH" => Method::Publish,
            other => Method::Extension(other.to_owned()),
        })
    }

    /// The method as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Register => "REGISTER",
            Method::Prack => "PRACK",
            Method::Update => "UPDATE",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Extension(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first line of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartLine {
    /// `Method SP Request-URI SP SIP-Version`
    Request {
        /// Method.
        method: Method,
        /// Request-URI as received; parse it with `sip::header::SipUri::parse`.
        uri: String,
        /// Version as received ("SIP/2.0"); anything else deserves 505.
        version: String,
    },
    /// `SIP-Version SP Status-Code SP Reason-Phrase`
    Response {
        /// Version as received.
        version: String,
        /// Status code, 100–699.
        code: u16,
        /// Reason phrase as received (may be empty; non-UTF-8 bytes become U+FFFD).
        reason: String,
    },
}

/// A header name; compact forms are normalised to the full name when parsed.
///
/// `Other` keeps the name as received (that spelling is written back) but compares and hashes
/// case-insensitively, so `Other("X-Foo") == Other("x-foo")`. Build names with
/// `HeaderName::parse`, which also maps known names and compact forms to their variants; an
/// `Other("via")` made by hand would not equal `Via`.
#[derive(Clone, Debug, Eq)]
pub enum HeaderName {
    /// Via (compact `v`)
    Via,
    /// From (compact `f`)
    From,
    /// To (compact `t`)
    To,
    /// Call-ID (compact `i`)
    CallId,
    /// CSeq
    CSeq,
    /// Contact (compact `m`)
    Contact,
    /// Content-Length (compact `l`)
    ContentLength,
    /// Content-Type (compact `c`)
    ContentType,
    /// Content-Encoding (compact `e`)
    ContentEncoding,
    /// Max-Forwards
    MaxForwards,
    /// Require
    Require,
    /// Proxy-Require
    ProxyRequire,
    /// Supported (compact `k`)
    Supported,
    /// Unsupported
    Unsupported,
    /// Allow
    Allow,
    /// Accept
    Accept,
    /// Route
    Route,
    /// Record-Route
    RecordRoute,
    /// User-Agent
    UserAgent,
    /// Server
    Server,
    /// Reason (RFC 3326)
    Reason,
    /// Retry-After
    RetryAfter,
    /// Expires
    Expires,
    /// Subject (compact `s`)
    Subject,
    /// Event (compact `o`, RFC 6665)
    Event,
    /// Refer-To (compact `r`, RFC 3515)
    ReferTo,
    /// Any other header, spelled as received (compact forms of other registered headers, such
    /// as `x` for Session-Expires, are expanded to the full name).
    Other(String),
}

impl HeaderName {
    /// Maps a received name to a `HeaderName`, case-insensitively, expanding compact forms.
    pub fn parse(s: &str) -> HeaderName {
        // Lowercase into a stack buffer: no allocation for the names we know.
        let mut buf = [0u8; 20];
        let Some(lower) = buf.get_mut(..s.len()) else {
            return HeaderName::Other(s.to_owned());
        };
        for (d, b) in lower.iter_mut().zip(s.bytes()) {
            *d = b.to_ascii_lowercase();
        }
        match &*lower {
            b"via" | b"v" => HeaderName::Via,
            b"from" | b"f" => HeaderName::From,
            b"to" | b"t" => HeaderName::To,
            b"call-id" | b"i" => HeaderName::CallId,
            b"cseq" => HeaderName::CSeq,
            b"contact" | b"m" => HeaderName::Contact,
            b"content-length" | b"l" => HeaderName::ContentLength,
            b"content-type" | b"c" => HeaderName::ContentType,
            b"content-encoding" | b"e" => HeaderName::ContentEncoding,
            b"max-forwards" => HeaderName::MaxForwards,
            b"require" => HeaderName::Require,
            b"proxy-require" => HeaderName::ProxyRequire,
            b"supported" | b"k" => HeaderName::Supported,
            b"unsupported" => HeaderName::Unsupported,
            b"allow" => HeaderName::Allow,
            b"accept" => HeaderName::Accept,
            b"route" => HeaderName::Route,
            b"record-route" => HeaderName::RecordRoute,
            b"user-agent" => HeaderName::UserAgent,
            b"server" => HeaderName::Server,
            b"reason" => HeaderName::Reason,
            b"retry-after" => HeaderName::RetryAfter,
            b"expires" => HeaderName::Expires,
            b"subject" | b"s" => HeaderName::Subject,
            b"event" | b"o" => HeaderName::Event,
            b"refer-to" | b"r" => HeaderName::ReferTo,
            // IANA compact forms of headers without their own variant.
            b"a" => HeaderName::Other("Accept-Contact".to_owned()),
            b"b" => HeaderName::Other("Referred-By".to_owned()),
            b"d" => HeaderName::Other("Request-Disposition".to_owned()),
            b"j" => HeaderName::Other("Reject-Contact".to_owned()),
            b"n" => HeaderName::Other("Identity-Info".to_owned()),
            b"u" => HeaderName::Other("Allow-Events".to_owned()),
            b"x" => HeaderName::Other("Session-Expires".to_owned()),
            b"y" => HeaderName::Other("Identity".to_owned()),
            _ => HeaderName::Other(s.to_owned()),
        }
    }

    /// The canonical full name ("Call-ID", "CSeq", "Via"…); `Other` as received.
    pub fn as_str(&self) -> &str {
        match self {
            HeaderName::Via => "Via",
            HeaderName::From => "From",
            HeaderName::To => "To",
            HeaderName::CallId => "Call-ID",
            HeaderName::CSeq => "CSeq",
            HeaderName::Contact => "Contact",
            HeaderName::ContentLength => "Content-Length",
            HeaderName::ContentType => "Content-Type",
            HeaderName::ContentEncoding => "Content-Encoding",
            HeaderName::MaxForwards => "Max-Forwards",
            HeaderName::Require => "Require",
            HeaderName::ProxyRequire => "Proxy-Require",
            HeaderName::Supported => "Supported",
            HeaderName::Unsupported => "Unsupported",
            HeaderName::Allow => "Allow",
            HeaderName::Accept => "Accept",
            HeaderName::Route => "Route",
            HeaderName::RecordRoute => "Record-Route",
            HeaderName::UserAgent => "User-Agent",
            HeaderName::Server => "Server",
            HeaderName::Reason => "Reason",
            HeaderName::RetryAfter => "Retry-After",
            HeaderName::Expires => "Expires",
            HeaderName::Subject => "Subject",
            HeaderName::Event => "Event",
            HeaderName::ReferTo => "Refer-To",
            HeaderName::Other(s) => s,
        }
    }
}

impl PartialEq for HeaderName {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (HeaderName::Other(a), HeaderName::Other(b)) => a.eq_ignore_ascii_case(b),
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

impl Hash for HeaderName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        if let HeaderName::Other(s) = self {
            for b in s.bytes() {
                state.write_u8(b.to_ascii_lowercase());
            }
        }
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One header field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Name, normalised.
    pub name: HeaderName,
    /// Value, unfolded (each line break plus the following whitespace became one SP) and
    /// trimmed of surrounding SP/HT. Bytes that are not UTF-8 were replaced by U+FFFD rather
    /// than rejecting the message: such values are rare, and only the headers we parse
    /// further must be exact, and those are ASCII by grammar.
    pub value: String,
}

/// A parsed SIP request or response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Request line or status line.
    pub start: StartLine,
    /// Header fields in received order (a received Content-Length stays here, but
    /// serialisation always writes the body's real length instead).
    pub headers: Vec<Header>,
    /// Body, byte-exact (binary and NUL allowed).
    pub body: Vec<u8>,
}

/// Why bytes could not be parsed as a SIP message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// Stream only: the header section is not terminated yet, or the body is shorter than
    /// Content-Length. Read more bytes and parse again.
    #[error("the message is not complete yet; wait for more bytes from the stream")]
    Incomplete,
    /// Datagram only: it held nothing but CRLF keep-alives (RFC 5626 §3.5.1) or was empty.
    #[error("the datagram is only a CRLF keep-alive; there is no message to process")]
    KeepAlive,
    /// Bigger than `MAX_MESSAGE_SIZE`.
    #[error("the message is larger than {MAX_MESSAGE_SIZE} bytes; send large bodies another way")]
    TooLarge,
    /// More than `MAX_HEADERS` header fields.
    #[error("the message has more than {MAX_HEADERS} header fields")]
    TooManyHeaders,
    /// A start line or header field (with its continuations) longer than `MAX_LINE`.
    #[error("a start line or header field is longer than {MAX_LINE} bytes")]
    LineTooLong,
    /// The first line is neither a SIP request line nor a status line: garbage, drop it.
    #[error("the first line is not a SIP request line or status line")]
    BadStartLine,
    /// The first line is recognisably a SIP request but breaks `Method SP Request-URI SP
    /// SIP-Version` (extra spaces, `<>` around the URI, spaces inside it): answer 400.
    #[error(
        "the request line must be `Method SP Request-URI SP SIP-Version` with single spaces and a URI without spaces or <>"
    )]
    BadRequestLine,
    /// A header line has no colon, an empty or non-token name, a stray continuation line or a
    /// bare CR.
    #[error(
        "a header line is malformed: it needs `Name: value` with a token name, and lines must end in CRLF or LF"
    )]
    BadHeaderLine,
    /// Content-Length is not a non-negative decimal number, overflows, or appears several
    /// times with different values.
    #[error("Content-Length must be one non-negative decimal number (and the same in every copy)")]
    BadContentLength,
    /// Datagram only: the body is shorter than Content-Length (RFC 3261 §18.3: answer 400).
    #[error(
        "the body is shorter than Content-Length says; the datagram was cut or the length is wrong"
    )]
    BodyTruncated,
    /// Datagram only: the header section does not end with an empty line.
    #[error("the header section does not end with an empty line (CRLF CRLF)")]
    HeadersUnterminated,
}

impl ParseError {
    /// The status a UAS should answer a request with for this error, or None when nothing
    /// should be sent (wait for more bytes, keep-alive, or garbage to drop).
    pub fn response_code(&self) -> Option<u16> {
        match self {
            ParseError::Incomplete | ParseError::KeepAlive | ParseError::BadStartLine => None,
            ParseError::TooLarge => Some(513),
            ParseError::TooManyHeaders
            | ParseError::LineTooLong
            | ParseError::BadRequestLine
            | ParseError::BadHeaderLine
            | ParseError::BadContentLength
            | ParseError::BodyTruncated
            | ParseError::HeadersUnterminated => Some(400),
        }
    }
}

/// How the bytes arrived, which decides how the body is framed (RFC 3261 §18.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// One whole message per datagram (UDP): without Content-Length the body is the rest.
    Datagram,
    /// A byte stream (TCP, TLS): Content-Length frames the body; absent means 0.
    Stream,
}

const fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_ws(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_ws(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_ws(*last) {
            break;
        }
        s = rest;
    }
    s
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

/// Number of leading CRLF / LF keep-alive bytes (RFC 5626 §3.5.1). `parse` skips them itself;
/// stream readers can use this to drain (and answer) a keep-alive on its own.
pub fn skip_keepalive(input: &[u8]) -> usize {
    let mut pos = 0;
    loop {
        match input.get(pos..) {
            Some([b'\r', b'\n', ..]) => pos += 2,
            Some([b'\n', ..]) => pos += 1,
            _ => return pos,
        }
    }
}

/// The line starting at `pos`: (end of its content without CR/LF, start of the next line).
/// None when no LF follows `pos`.
fn line_at(buf: &[u8], pos: usize) -> Option<(usize, usize)> {
    let lf = pos + buf.get(pos..)?.iter().position(|&b| b == b'\n')?;
    let end = if lf > pos && buf.get(lf - 1) == Some(&b'\r') {
        lf - 1
    } else {
        lf
    };
    Some((end, lf + 1))
}

/// `SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT` (case-insensitive literal).
fn is_sip_version(v: &[u8]) -> bool {
    if !starts_with_ignore_case(v, b"SIP/") {
        return false;
    }
    let Some((major, minor)) = v
        .get(4..)
        .and_then(|n| n.iter().position(|&b| b == b'.').map(|dot| n.split_at(dot)))
    else {
        return false;
    };
    let minor = minor.get(1..).unwrap_or_default();
    !major.is_empty()
        && !minor.is_empty()
        && major.iter().all(u8::is_ascii_digit)
        && minor.iter().all(u8::is_ascii_digit)
}

fn is_request_uri(uri: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(uri) else {
        return false;
    };
    !uri.is_empty()
        && uri
            .iter()
            .all(|&b| (0x21..=0x7e).contains(&b) && !matches!(b, b'<' | b'>' | b'"'))
        && uri_scheme_len(text).is_some()
}

/// Parses a start line (content only, line end removed).
fn parse_start_line(line: &[u8]) -> Result<StartLine, ParseError> {
    if starts_with_ignore_case(line, b"SIP/") {
        return parse_status_line(line);
    }
    let sp = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or(ParseError::BadStartLine)?;
    let (method, rest) = line.split_at_checked(sp).ok_or(ParseError::BadStartLine)?;
    let rest = rest.get(1..).unwrap_or_default();
    let method = std::str::from_utf8(method)
        .ok()
        .and_then(Method::parse)
        .ok_or(ParseError::BadStartLine)?;
    // Recognisable as SIP at all: the last word is a SIP version. Otherwise (HTTP, TLS, noise)
    // it is garbage that gets no answer.
    let last_word = rest
        .split(|&b| is_ws(b))
        .rfind(|w| !w.is_empty())
        .ok_or(ParseError::BadStartLine)?;
    if !starts_with_ignore_case(last_word, b"SIP/") {
        return Err(ParseError::BadStartLine);
    }
    // Exactly one SP between the three elements (RFC 4475 lwsstart, trws, lwsruri, ltgtruri).
    let mut parts = rest.split(|&b| b == b' ');
    let (Some(uri), Some(version), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ParseError::BadRequestLine);
    };
    if !is_sip_version(version) || !is_request_uri(uri) {
        return Err(ParseError::BadRequestLine);
    }
    Ok(StartLine::Request {
        method,
        uri: lossy(uri),
        version: lossy(version),
    })
}

fn parse_status_line(line: &[u8]) -> Result<StartLine, ParseError> {
    let sp = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or(ParseError::BadStartLine)?;
    let (version, rest) = line.split_at_checked(sp).ok_or(ParseError::BadStartLine)?;
    if !is_sip_version(version) {
        return Err(ParseError::BadStartLine);
    }
    let rest = rest.get(1..).unwrap_or_default();
    let (code, after) = rest.split_at_checked(3).ok_or(ParseError::BadStartLine)?;
    let code = match code {
        [a, b, c] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => return Err(ParseError::BadStartLine),
    };
    if !(100..=699).contains(&code) {
        return Err(ParseError::BadStartLine);
    }
    let reason = match after {
        [] => &[][..],
        [b' ', reason @ ..] => reason,
        _ => return Err(ParseError::BadStartLine),
    };
    if reason.contains(&b'\r') {
        return Err(ParseError::BadStartLine);
    }
    Ok(StartLine::Response {
        version: lossy(version),
        code,
        reason: lossy(reason),
    })
}

/// Best-effort request line for `salvage`: method, then the last word as version, the middle
/// (spaces and all) as URI.
fn lenient_request_line(line: &[u8]) -> Option<StartLine> {
    let sp = line.iter().position(|&b| b == b' ')?;
    let (method, rest) = line.split_at_checked(sp)?;
    let method = Method::parse(std::str::from_utf8(method).ok()?)?;
    let rest = trim_ws(rest);
    let v = rest.iter().rposition(|&b| is_ws(b))?;
    let (uri, version) = rest.split_at_checked(v)?;
    Some(StartLine::Request {
        method,
        uri: lossy(trim_ws(uri)),
        version: lossy(trim_ws(version)),
    })
}

/// Raw header fields of a complete header block (continuation lines included, final line end
/// excluded); stops at the first empty line. A last line without LF counts as a line.
struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Fields<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let bounds = |pos: usize| -> Option<(usize, usize)> {
            if pos >= self.buf.len() {
                return None;
            }
            Some(line_at(self.buf, pos).unwrap_or((self.buf.len(), self.buf.len())))
        };
        let start = self.pos;
        let (mut end, mut next) = bounds(start)?;
        if end == start {
            self.pos = self.buf.len();
            return None;
        }
        while self.buf.get(next).copied().is_some_and(is_ws) {
            match bounds(next) {
                Some((e, n)) => (end, next) = (e, n),
                None => break,
            }
        }
        self.pos = next;
        self.buf.get(start..end)
    }
}

/// Undoes folding: each line break plus the whitespace after it becomes one SP; then trims.
fn unfold(raw: &[u8]) -> Result<String, ParseError> {
    // A CR that does not end a line is never valid in a header (not even quoted), and letting
    // it through would let a value end a line for a lenient downstream parser.
    let mut crs = raw.iter().enumerate().filter(|&(_, &b)| b == b'\r');
    if crs.any(|(i, _)| raw.get(i + 1) != Some(&b'\n')) {
        return Err(ParseError::BadHeaderLine);
    }
    if !raw.contains(&b'\n') {
        return Ok(lossy(trim_ws(raw)));
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, seg) in raw.split(|&b| b == b'\n').enumerate() {
        let seg = seg.strip_suffix(b"\r").unwrap_or(seg);
        if i == 0 {
            out.extend_from_slice(seg);
        } else {
            out.push(b' ');
            out.extend_from_slice(trim_ws(seg));
        }
    }
    Ok(lossy(trim_ws(&out)))
}

fn parse_field(raw: &[u8]) -> Result<Header, ParseError> {
    let colon = raw
        .iter()
        .position(|&b| b == b':')
        .ok_or(ParseError::BadHeaderLine)?;
    let (name, rest) = raw
        .split_at_checked(colon)
        .ok_or(ParseError::BadHeaderLine)?;
    // HCOLON = *( SP / HTAB ) ":" SWS
    let mut name = name;
    while let [rest @ .., last] = name {
        if !is_ws(*last) {
            break;
        }
        name = rest;
    }
    if name.is_empty() || !name.iter().all(|&b| is_token_byte(b)) {
        return Err(ParseError::BadHeaderLine);
    }
    let name = std::str::from_utf8(name).map_err(|_| ParseError::BadHeaderLine)?;
    Ok(Header {
        name: HeaderName::parse(name),
        value: unfold(rest.get(1..).unwrap_or_default())?,
    })
}

fn parse_content_length(value: &str) -> Result<usize, ParseError> {
    if value.is_empty() {
        return Err(ParseError::BadContentLength);
    }
    value.bytes().try_fold(0usize, |acc, b| {
        if !b.is_ascii_digit() {
            return Err(ParseError::BadContentLength);
        }
        acc.checked_mul(10)
            .and_then(|a| a.checked_add(usize::from(b - b'0')))
            .ok_or(ParseError::BadContentLength)
    })
}

/// Where the header section ends, found without allocating.
struct HeadEnd {
    /// Start of the empty line that ends the headers.
    blank: usize,
    /// First byte of the body.
    body: usize,
}

enum Scan {
    Done(HeadEnd),
    /// No empty line yet within the bytes given.
    Partial,
}

/// Walks header lines from `pos`, enforcing the line, count and size limits, until the empty
/// line. `buf` is already cut to `MAX_MESSAGE_SIZE` past the message start.
fn scan_headers(buf: &[u8], mut pos: usize) -> Result<Scan, ParseError> {
    let mut field_start: Option<usize> = None;
    let mut count = 0usize;
    loop {
        let Some((end, next)) = line_at(buf, pos) else {
            // The unfinished line continues the open field only if it starts with whitespace.
            let continues = buf.get(pos).copied().is_some_and(is_ws);
            let open_from = field_start.filter(|_| continues).unwrap_or(pos);
            if buf.len().saturating_sub(open_from) > MAX_LINE {
                return Err(ParseError::LineTooLong);
            }
            return Ok(Scan::Partial);
        };
        if end == pos {
            return Ok(Scan::Done(HeadEnd {
                blank: pos,
                body: next,
            }));
        }
        let first = buf.get(pos).copied().unwrap_or_default();
        let open_from = if is_ws(first) {
            field_start.ok_or(ParseError::BadHeaderLine)?
        } else {
            count += 1;
            if count > MAX_HEADERS {
                return Err(ParseError::TooManyHeaders);
            }
            field_start = Some(pos);
            pos
        };
        if end - open_from > MAX_LINE {
            return Err(ParseError::LineTooLong);
        }
        pos = next;
    }
}

/// Parses one message from the start of `input`; returns it and how many bytes it used
/// (leading keep-alives included).
///
/// Datagram: input over `MAX_MESSAGE_SIZE` is `TooLarge`; without Content-Length the body is
/// the rest of the datagram, with it exactly that many bytes (trailing bytes are ignored and
/// not counted in `used`; too few is `BodyTruncated`); only CRLFs is `KeepAlive`.
/// Stream: a missing Content-Length counts as 0 (RFC 3261 §18.3 makes it mandatory on
/// streams, so a message without one has no body); a short header section or body is
/// `Incomplete`; only CRLFs is `Incomplete` too (drain them with `skip_keepalive`), or
/// `TooLarge` past `MAX_MESSAGE_SIZE` of them.
pub fn parse(input: &[u8], framing: Framing) -> Result<(Message, usize), ParseError> {
    if framing == Framing::Datagram && input.len() > MAX_MESSAGE_SIZE {
        return Err(ParseError::TooLarge);
    }
    let start = skip_keepalive(input);
    let rest = input.get(start..).unwrap_or_default();
    if rest.is_empty() || rest == b"\r" {
        return Err(match framing {
            Framing::Datagram => ParseError::KeepAlive,
            Framing::Stream if start > MAX_MESSAGE_SIZE => ParseError::TooLarge,
            Framing::Stream => ParseError::Incomplete,
        });
    }
    let window_end = input.len().min(start.saturating_add(MAX_MESSAGE_SIZE));
    let window = input.get(..window_end).unwrap_or_default();
    let cut = window_end < input.len();

    // Start line first, so that garbage is refused before waiting for a whole header section.
    let (start_line, headers_from) = match line_at(window, start) {
        Some((end, next)) => {
            if end - start > MAX_LINE {
                return Err(ParseError::LineTooLong);
            }
            let line = window.get(start..end).unwrap_or_default();
            (parse_start_line(line)?, next)
        }
        None => {
            if window_end - start > MAX_LINE {
                return Err(ParseError::LineTooLong);
            }
            return Err(match framing {
                Framing::Stream => ParseError::Incomplete,
                Framing::Datagram => {
                    parse_start_line(rest.strip_suffix(b"\r").unwrap_or(rest))?;
                    ParseError::HeadersUnterminated
                }
            });
        }
    };

    let head = match scan_headers(window, headers_from)? {
        Scan::Done(head) => head,
        Scan::Partial => {
            return Err(match framing {
                Framing::Stream if cut => ParseError::TooLarge,
                Framing::Stream => ParseError::Incomplete,
                Framing::Datagram => ParseError::HeadersUnterminated,
            });
        }
    };

    let block = window.get(headers_from..head.blank).unwrap_or_default();
    let mut headers = Vec::with_capacity(16);
    let mut content_length: Option<usize> = None;
    for raw in (Fields { buf: block, pos: 0 }) {
        let header = parse_field(raw)?;
        if header.name == HeaderName::ContentLength {
            let n = parse_content_length(&header.value)?;
            if content_length.is_some_and(|prev| prev != n) {
                return Err(ParseError::BadContentLength);
            }
            content_length = Some(n);
        }
        headers.push(header);
    }

    let available = input.len() - head.body;
    let (body_len, used) = match (framing, content_length) {
        (Framing::Datagram, None) => (available, input.len()),
        (Framing::Datagram, Some(n)) => {
            if n > available {
                return Err(ParseError::BodyTruncated);
            }
            (n, head.body + n)
        }
        (Framing::Stream, n) => {
            let n = n.unwrap_or(0);
            let end = head.body.checked_add(n).ok_or(ParseError::TooLarge)?;
            if end - start > MAX_MESSAGE_SIZE {
                return Err(ParseError::TooLarge);
            }
            if n > available {
                return Err(ParseError::Incomplete);
            }
            (n, end)
        }
    };
    let body = input
        .get(head.body..head.body + body_len)
        .unwrap_or_default()
        .to_vec();
    Ok((
        Message {
            start: start_line,
            headers,
            body,
        },
        used,
    ))
}

/// Stream framing: where the message at the start of `input` ends (keep-alives before it
/// included), once its whole header section is there; None while it is not, or when the
/// header section is malformed (`parse` says how). Lets a stream reader wait for the body
/// without re-parsing the headers for every read.
pub fn stream_message_end(input: &[u8]) -> Option<usize> {
    let start = skip_keepalive(input);
    let window_end = input.len().min(start.saturating_add(MAX_MESSAGE_SIZE));
    let window = input.get(..window_end)?;
    let (_, headers_from) = line_at(window, start)?;
    let Ok(Scan::Done(head)) = scan_headers(window, headers_from) else {
        return None;
    };
    let block = window.get(headers_from..head.blank)?;
    let mut length = 0usize;
    for raw in (Fields { buf: block, pos: 0 }) {
        let header = parse_field(raw).ok()?;
        if header.name == HeaderName::ContentLength {
            length = parse_content_length(&header.value).ok()?;
        }
    }
    head.body.checked_add(length)
}

/// Stream framing: whether the header section of the message at the start of `input` has
/// ended, or can no longer end well (a malformed line, too large); false while more bytes
/// may still complete it.
pub fn header_section_settled(input: &[u8]) -> bool {
    let start = skip_keepalive(input);
    let window_end = input.len().min(start.saturating_add(MAX_MESSAGE_SIZE));
    let Some(window) = input.get(..window_end) else {
        return true;
    };
    let Some((_, headers_from)) = line_at(window, start) else {
        return window_end >= start.saturating_add(MAX_MESSAGE_SIZE);
    };
    match scan_headers(window, headers_from) {
        Ok(Scan::Partial) => window_end >= start.saturating_add(MAX_MESSAGE_SIZE),
        Ok(Scan::Done(_)) | Err(_) => true,
    }
}

/// Best-effort reading of a request that `parse` refused, so the UAS can still answer it
/// (400, 513…) with the Via, From, To, Call-ID and CSeq that RFC 3261 §8.2.6.2 copies.
/// Malformed header lines are skipped, the request line is read leniently, the body is left
/// empty. None for responses and for input that is not recognisably a SIP request.
pub fn salvage(input: &[u8]) -> Option<Message> {
    let input = input.get(..MAX_MESSAGE_SIZE).unwrap_or(input);
    let rest = input.get(skip_keepalive(input)..)?;
    let (line, after) = match line_at(rest, 0) {
        Some((end, next)) => (rest.get(..end)?, next),
        None => (rest.strip_suffix(b"\r").unwrap_or(rest), rest.len()),
    };
    if line.len() > MAX_LINE {
        return None;
    }
    let start = match parse_start_line(line) {
        Ok(sl @ StartLine::Request { .. }) => sl,
        Err(ParseError::BadRequestLine) => lenient_request_line(line)?,
        _ => return None,
    };
    let block = rest.get(after..)?;
    let headers = Fields { buf: block, pos: 0 }
        .filter(|raw| raw.len() <= MAX_LINE)
        .filter_map(|raw| parse_field(raw).ok())
        .take(MAX_HEADERS)
        .collect();
    Some(Message {
        start,
        headers,
        body: Vec::new(),
    })
}

/// Appends `s`, turning CR and LF into SP so no value can end a line early (header injection
/// from a display name, a reason phrase or a value set by our own code).
fn put(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if bytes.iter().any(|&b| b == b'\r' || b == b'\n') {
        out.extend(
            bytes
                .iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
    } else {
        out.extend_from_slice(bytes);
    }
}

fn put_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(i..).unwrap_or_default());
}

impl Message {
    /// The request method; None for responses.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code; None for requests.
    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    /// The Request-URI as received; None for responses.
    pub fn request_uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// The SIP version of the start line as received; a UAS answers 505 unless it is SIP/2.0.
    pub fn version(&self) -> &str {
        match &self.start {
            StartLine::Request { version, .. } | StartLine::Response { version, .. } => version,
        }
    }

    /// The value of the first header field with this name.
    pub fn header(&self, name: &HeaderName) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| &h.name == name)
            .map(|h| h.value.as_str())
    }

    /// The values of all header fields with this name, in order.
    pub fn headers_named<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> {
        self.headers
            .iter()
            .filter(move |h| &h.name == name)
            .map(|h| h.value.as_str())
    }

    /// The value of a header that must appear once: Missing if absent, Duplicate if repeated
    /// with a different value.
    fn singleton(&self, name: &HeaderName, label: &'static str) -> Result<&str, HeaderError> {
        let mut values = self
            .headers
            .iter()
            .filter(|h| &h.name == name)
            .map(|h| h.value.as_str());
        let first = values.next().ok_or(HeaderError::Missing(label))?;
        if values.any(|v| v != first) {
            return Err(HeaderError::Duplicate(label));
        }
        Ok(first)
    }

    /// The Call-ID (first occurrence).
    pub fn call_id(&self) -> Option<&str> {
        self.header(&HeaderName::CallId)
    }

    /// The CSeq, parsed.
    pub fn cseq(&self) -> Result<CSeq, HeaderError> {
        CSeq::parse(self.singleton(&HeaderName::CSeq, "CSeq")?)
    }

    /// All Via entries in order, across header fields and comma-separated values; empty if
    /// there is no Via.
    pub fn vias(&self) -> Result<Vec<Via>, HeaderError> {
        self.headers_named(&HeaderName::Via)
            .flat_map(split_comma_list)
            .map(Via::parse)
            .collect()
    }

    /// The topmost Via: the one a UAS sends its responses back along.
    pub fn top_via(&self) -> Result<Via, HeaderError> {
        let value = self
            .header(&HeaderName::Via)
            .ok_or(HeaderError::Missing("Via"))?;
        Via::parse(split_comma_list(value).first().copied().unwrap_or_default())
    }

    /// The From header, parsed.
    pub fn from_header(&self) -> Result<NameAddr, HeaderError> {
        NameAddr::parse_as(self.singleton(&HeaderName::From, "From")?, "From")
    }

    /// The To header, parsed.
    pub fn to_header(&self) -> Result<NameAddr, HeaderError> {
        NameAddr::parse_as(self.singleton(&HeaderName::To, "To")?, "To")
    }

    /// The first Contact entry, parsed; None without Contact. A `*` (REGISTER wildcard) is
    /// reported as Invalid: the bridge never registers bindings.
    pub fn contact(&self) -> Result<Option<NameAddr>, HeaderError> {
        let Some(value) = self.header(&HeaderName::Contact) else {
            return Ok(None);
        };
        let first = split_comma_list(value).first().copied().unwrap_or_default();
        NameAddr::parse_as(first, "Contact").map(Some)
    }

    /// The raw Content-Type value (media type plus parameters).
    pub fn content_type(&self) -> Option<&str> {
        self.header(&HeaderName::ContentType)
    }

    /// Whether Content-Type is `mime` ("application/sdp"), comparing type and subtype
    /// case-insensitively and ignoring parameters and whitespace around `/`.
    pub fn content_type_is(&self, mime: &str) -> bool {
        fn parts(s: &str) -> Option<(&str, &str)> {
            let media = s.split(';').next().unwrap_or_default();
            let (t, sub) = media.split_once('/')?;
            Some((t.trim_matches([' ', '\t']), sub.trim_matches([' ', '\t'])))
        }
        match (self.content_type().and_then(parts), parts(mime)) {
            (Some((t, s)), Some((want_t, want_s))) => {
                t.eq_ignore_ascii_case(want_t) && s.eq_ignore_ascii_case(want_s)
            }
            _ => false,
        }
    }

    /// Whether a response body of type `mime` ("application/sdp") is acceptable to the sender
    /// (RFC 3261 §20.1): without Accept only application/sdp is; otherwise a media range must
    /// cover it (`type/subtype`, `type/*` or `*/*`) with a q-value above 0. An empty Accept
    /// accepts nothing (RFC 4475 sdp01 is answered 406 on this).
    pub fn accepts(&self, mime: &str) -> bool {
        if self.header(&HeaderName::Accept).is_none() {
            return mime.eq_ignore_ascii_case("application/sdp");
        }
        let (want_type, want_sub) = mime.split_once('/').unwrap_or((mime, ""));
        self.tokens(&HeaderName::Accept).iter().any(|range| {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.split_once('=').is_some_and(|(n, v)| {
                    n.trim().eq_ignore_ascii_case("q")
                        && v.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
                })
            });
            let Some((t, s)) = media.split_once('/') else {
                return false;
            };
            let (t, s) = (t.trim(), s.trim());
            !refused
                && (t == "*" || t.eq_ignore_ascii_case(want_type))
                && (s == "*" || s.eq_ignore_ascii_case(want_sub))
        })
    }

    /// Max-Forwards (0–255, RFC 3261 §8.1.1.6); None when absent.
    pub fn max_forwards(&self) -> Result<Option<u32>, HeaderError> {
        const H: &str = "Max-Forwards";
        let Some(value) = self.header(&HeaderName::MaxForwards) else {
            return Ok(None);
        };
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HeaderError::Invalid {
                header: H,
                reason: "it must be a decimal number",
            });
        }
        let trimmed = value.trim_start_matches('0');
        match trimmed.parse::<u32>() {
            Ok(n) if n <= 255 => Ok(Some(n)),
            _ if trimmed.is_empty() => Ok(Some(0)),
            _ => Err(HeaderError::Invalid {
                header: H,
                reason: "it must be between 0 and 255",
            }),
        }
    }

    /// The comma-separated tokens of all occurrences of a list header (Require, Supported,
    /// Allow…), trimmed, empty items dropped.
    pub fn tokens(&self, name: &HeaderName) -> Vec<String> {
        self.headers_named(name)
            .flat_map(split_comma_list)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Replaces the first header of this name (removing the others) or appends one.
    pub fn set_header(&mut self, name: HeaderName, value: impl Into<String>) {
        let value = value.into();
        match self.headers.iter().position(|h| h.name == name) {
            Some(i) => {
                let mut seen = 0usize;
                self.headers.retain(|h| {
                    if h.name != name {
                        return true;
                    }
                    seen += 1;
                    seen == 1
                });
                if let Some(h) = self.headers.get_mut(i) {
                    h.value = value;
                }
            }
            None => self.headers.push(Header { name, value }),
        }
    }

    /// Appends a header field after the existing ones.
    pub fn add_header(&mut self, name: HeaderName, value: impl Into<String>) {
        self.headers.push(Header {
            name,
            value: value.into(),
        });
    }

    /// Removes every header field of this name.
    pub fn remove_header(&mut self, name: &HeaderName) {
        self.headers.retain(|h| &h.name != name);
    }

    /// Checks what RFC 3261 and RFC 4475 require before a UAS acts on a message; an error means
    /// "answer 400" for a request (and "drop" for a response). Checks: Call-ID, From, To, CSeq
    /// present once and well-formed; at least one Via and all well-formed; Max-Forwards and
    /// the first Contact well-formed if present; for requests, the CSeq method equals the
    /// request method and the Request-URI is a well-formed URI without `?headers`.
    /// Not checked: URI scheme support (416), Require (420), Content-Type (415), Date.
    pub fn validate(&self) -> Result<(), HeaderError> {
        self.singleton(&HeaderName::CallId, "Call-ID")?;
        self.from_header()?;
        self.to_header()?;
        let cseq = self.cseq()?;
        if self.vias()?.is_empty() {
            return Err(HeaderError::Missing("Via"));
        }
        self.max_forwards()?;
        self.contact()?;
        if let StartLine::Request { method, uri, .. } = &self.start {
            if cseq.method != *method {
                return Err(HeaderError::Invalid {
                    header: "CSeq",
                    reason: "its method differs from the request line's method (RFC 3261 §8.1.1.5)",
                });
            }
            let (parsed, has_headers) = parse_uri(uri, "Request-URI")?;
            if has_headers && matches!(parsed.scheme, UriScheme::Sip | UriScheme::Sips) {
                return Err(HeaderError::Invalid {
                    header: "Request-URI",
                    reason: "a SIP Request-URI must not carry ?headers (RFC 3261 §19.1.5)",
                });
            }
        }
        Ok(())
    }

    /// The wire form: canonical full header names, CRLF line ends, Content-Length always equal
    /// to the body length (stored Content-Length headers are left out), then the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            256 + self.body.len()
                + self
                    .headers
                    .iter()
                    .map(|h| h.value.len() + 24)
                    .sum::<usize>(),
        );
        self.write_to(&mut out);
        out
    }

    /// Appends the wire form to `out`, so callers can reuse one buffer.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match &self.start {
            StartLine::Request {
                method,
                uri,
                version,
            } => {
                put(out, method.as_str());
                out.push(b' ');
                put(out, uri);
                out.push(b' ');
                put(out, version);
            }
            StartLine::Response {
                version,
                code,
                reason,
            } => {
                put(out, version);
                out.push(b' ');
                put_decimal(out, usize::from(*code));
                out.push(b' ');
                put(out, reason);
            }
        }
        out.extend_from_slice(b"\r\n");
        for h in self
            .headers
            .iter()
            .filter(|h| h.name != HeaderName::ContentLength)
        {
            put(out, h.name.as_str());
            out.extend_from_slice(b": ");
            put(out, &h.value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"Content-Length: ");
        put_decimal(out, self.body.len());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(&self.body);
    }
}

/// Builds a response to a request: copies all Via (in order), From, To, Call-ID, CSeq
/// (RFC 3261 §8.2.6.2), and Timestamp for a 100 (§8.2.6.1). The UAS adds the To tag.
pub fn response_to(request: &Message, code: u16, reason: &str) -> Message {
    let mut headers = Vec::with_capacity(8);
    let timestamp = HeaderName::Other("Timestamp".to_owned());
    let copied = [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ];
    for name in copied.iter().chain((code == 100).then_some(&timestamp)) {
        headers.extend(request.headers.iter().filter(|h| &h.name == name).cloned());
    }
    Message {
        start: StartLine::Response {
            version: "SIP/2.0".to_owned(),
            code,
            reason: reason.to_owned(),
        },
        headers,
        body: Vec::new(),
    }
}

/// Standard reason phrase for a status code ("OK", "Ringing", "Request Terminated", ...);
/// a generic one for the class when the code is not registered.
pub fn reason_phrase(code: u16) -> &'static str {
    registered_reason(code).unwrap_or(match code {
        100..=199 => "Provisional",
        200..=299 => "Success",
        300..=399 => "Redirection",
        400..=499 => "Client Error",
        500..=599 => "Server Error",
        600..=699 => "Global Failure",
        _ => "Unknown",
    })
}

/// Reason phrases of the IANA SIP response code registry.
fn registered_reason(code: u16) -> Option<&'static str> {
    Some(match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        199 => "Early Dialog Terminated",
        200 => "OK",
        202 => "Accepted",
        204 => "No Notification",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        305 => "Use Proxy",
        380 => "Alternative Service",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        412 => "Conditional Request Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        417 => "Unknown Resource-Priority",
        420 => "Bad Extension",
        421 => "Extension Required",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        428 => "Use Identity Header",
        429 => "Provide Referrer Identity",
        433 => "Anonymity Disallowed",
        436 => "Bad Identity-Info",
        437 => "Unsupported Certificate",
        438 => "Invalid Identity Header",
        439 => "First Hop Lacks Outbound Support",
        440 => "Max-Breadth Exceeded",
        469 => "Bad Info Package",
        470 => "Consent Needed",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        493 => "Undecipherable",
        494 => "Security Agreement Required",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        555 => "Push Notification Service Not Supported",
        580 => "Precondition Failure",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        607 => "Unwanted",
        608 => "Rejected",
        _ => return None,
    })
}

/// A request we originate (BYE, re-INVITE…): method and URI on a SIP/2.0 request line, no
/// headers yet; add them in order with `add_header`.
pub fn request(method: Method, uri: &str) -> Message {
    Message {
        start: StartLine::Request {
            method,
            uri: uri.to_owned(),
            version: "SIP/2.0".to_owned(),
        },
        headers: Vec::new(),
        body: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
