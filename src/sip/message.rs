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
}

mod parse;
mod wire;

pub use parse::{header_section_settled, parse, salvage, skip_keepalive, stream_message_end};
pub use wire::{reason_phrase, request, response_to};

#[cfg(test)]
mod tests;
