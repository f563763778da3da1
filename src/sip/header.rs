//! Typed SIP header values (RFC 3261 §20, grammar in §25): Via, name-addr (From, To, Contact),
//! CSeq and SIP/SIPS/tel URIs, parsed from the unfolded text that `sip::message` stores, and
//! written back by `Display`.
//!
//! Parsing follows the RFC 3261 grammar, including the linear whitespace that RFC 4475 ("wsinv")
//! puts around `/`, `:`, `;` and `=`, and rejects what RFC 4475 lists as invalid (stray `;`,
//! unbalanced quotes, spaces inside `<>`, unquoted commas in display names, out-of-range
//! numbers), so that a UAS can answer those requests with 400 instead of guessing.
//! Nothing here panics on any input: every access goes through `get`/checked arithmetic.
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

use crate::sip::message::Method;

/// Why a typed header value could not be had from a message; the UAS answers most with 400.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeaderError {
    /// A header field the operation needs is absent (RFC 3261 §8.1.1 lists the mandatory ones).
    #[error("the message has no {0} header field; a SIP request must carry it (RFC 3261 §8.1.1)")]
    Missing(&'static str),
    /// The header field is present but does not follow its grammar.
    #[error("the {header} header field is malformed: {reason}")]
    Invalid {
        /// Which header (or "URI", "Request-URI", "name-addr") was being parsed.
        header: &'static str,
        /// What is wrong with it, in words the sender's operator can act on.
        reason: &'static str,
    },
    /// A header field that must appear once appears several times with different values
    /// (RFC 4475 "multi01").
    #[error(
        "the {0} header field appears more than once with different values; it must appear once"
    )]
    Duplicate(&'static str),
}

fn invalid(header: &'static str, reason: &'static str) -> HeaderError {
    HeaderError::Invalid { header, reason }
}

/// One `;name` or `;name=value` parameter of a header value or URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    /// Parameter name as received (compare it case-insensitively).
    pub name: String,
    /// Value as received: a quoted value keeps its quotes, so `Display` writes it back unchanged.
    /// In a `SipUri`, names and values are percent-decoded instead.
    pub value: Option<String>,
}

impl Param {
    /// Builds a parameter, for callers that add `tag`, `received`, `rport`…
    pub fn new(name: impl Into<String>, value: Option<String>) -> Param {
        Param {
            name: name.into(),
            value,
        }
    }
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, ";{}={}", self.name, v),
            None => write!(f, ";{}", self.name),
        }
    }
}

fn find_param<'a>(params: &'a [Param], name: &str) -> Option<&'a Param> {
    params.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

fn set_param_in(params: &mut Vec<Param>, name: &str, value: Option<String>) {
    match params
        .iter_mut()
        .find(|p| p.name.eq_ignore_ascii_case(name))
    {
        Some(p) => p.value = value,
        None => params.push(Param {
            name: name.to_owned(),
            value,
        }),
    }
}

/// RFC 3261 `token` characters (header names, methods, parameter names, tags…).
pub(crate) const fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// `gen-value` without the quoted form: token, or host (which adds `:` `[` `]` for IPv6).
const fn is_gen_value_byte(b: u8) -> bool {
    is_token_byte(b) || matches!(b, b':' | b'[' | b']')
}

const fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_ws(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// A read position in a header value. Only ASCII bytes are ever used as split points, so every
/// slice it hands out lies on a `char` boundary.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor { s, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("")
    }

    /// Skips SP/HT; reports whether there was any.
    fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
        self.pos > start
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Takes bytes while `f` holds; `f` must reject all non-ASCII bytes or accept them all.
    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        self.s.get(start..self.pos).unwrap_or("")
    }

    /// Takes a quoted-string at the cursor, quotes included; None if it never closes.
    fn take_quoted(&mut self) -> Option<&'a str> {
        let start = self.pos;
        if !self.eat(b'"') {
            return None;
        }
        loop {
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return self.s.get(start..self.pos);
                }
                b'\\' => {
                    // quoted-pair: the escaped byte may be `"`; a multi-byte char after `\` is
                    // walked byte by byte below, which is fine since none of its bytes is ASCII.
                    self.pos += 1;
                    self.peek()?;
                    self.pos += 1;
                }
                _ => self.pos += 1,
            }
        }
    }
}

/// Removes the quotes and quoted-pair backslashes of a quoted-string taken by `take_quoted`.
fn unquote(raw: &str) -> String {
    let inner = raw
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(raw);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes `s` as a quoted-string: `"` and `\` and control characters become quoted-pairs; CR
/// and LF (which no quoted-pair may carry) become spaces so a value can never end the line.
fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '\r' | '\n' => f.write_str(" ")?,
            '"' | '\\' => write!(f, "\\{c}")?,
            '\t' => f.write_str("\t")?,
            c if c.is_ascii_control() => write!(f, "\\{c}")?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

/// Parses `*( SEMI name [EQUAL value] )` up to the end of the cursor's text.
fn parse_params(c: &mut Cursor<'_>, header: &'static str) -> Result<Vec<Param>, HeaderError> {
    let mut params = Vec::new();
    loop {
        c.skip_ws();
        if c.at_end() {
            return Ok(params);
        }
        if !c.eat(b';') {
            return Err(invalid(
                header,
                "unexpected text where a `;parameter` or the end of the value should be",
            ));
        }
        c.skip_ws();
        let name = c.take_while(is_token_byte);
        if name.is_empty() {
            return Err(invalid(
                header,
                "a parameter has no name (stray `;` or a non-token character)",
            ));
        }
        c.skip_ws();
        let value = if c.eat(b'=') {
            c.skip_ws();
            if c.peek() == Some(b'"') {
                let q = c.take_quoted().ok_or(invalid(
                    header,
                    "a quoted parameter value has no closing quote",
                ))?;
                Some(q.to_owned())
            } else {
                let v = c.take_while(is_gen_value_byte);
                if v.is_empty() {
                    return Err(invalid(header, "a parameter has `=` but no value"));
                }
                Some(v.to_owned())
            }
        } else {
            None
        };
        params.push(Param {
            name: name.to_owned(),
            value,
        });
    }
}

fn write_params(f: &mut fmt::Formatter<'_>, params: &[Param]) -> fmt::Result {
    params.iter().try_for_each(|p| write!(f, "{p}"))
}

/// host = hostname / IPv4address / IPv6reference (brackets kept).
fn parse_host<'a>(c: &mut Cursor<'a>) -> Option<&'a str> {
    if c.peek() == Some(b'[') {
        let start = c.pos;
        c.eat(b'[');
        let inner = c.take_while(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if inner.is_empty() || !c.eat(b']') {
            return None;
        }
        return c.s.get(start..c.pos);
    }
    // `_` is not in the RFC hostname grammar but appears in real deployments; accepting it
    // costs nothing.
    let host = c.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    (!host.is_empty()).then_some(host)
}

fn parse_port(c: &mut Cursor<'_>, header: &'static str) -> Result<u16, HeaderError> {
    let digits = c.take_while(|b| b.is_ascii_digit());
    if digits.is_empty() {
        return Err(invalid(header, "`:` is not followed by a port number"));
    }
    digits
        .parse::<u16>()
        .map_err(|_| invalid(header, "the port number is larger than 65535"))
}

/// Splits a header value at commas that are outside quotes and `<>`; pieces are trimmed of
/// SP/HT and empty pieces are kept, so callers can reject `a,,b` where the grammar forbids it.
pub fn split_comma_list(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = value.as_bytes();
    let mut start = 0;
    let mut in_quotes = false;
    let mut in_angle = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' if in_quotes => i += 1,
            b'"' => in_quotes = !in_quotes,
            b'<' if !in_quotes => in_angle = true,
            b'>' if !in_quotes => in_angle = false,
            b',' if !in_quotes && !in_angle => {
                out.push(trim_ws(value.get(start..i).unwrap_or("")));
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(trim_ws(value.get(start..).unwrap_or("")));
    out
}

/// One Via entry (RFC 3261 §20.42): where responses go back to, and the transaction's branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via {
    /// Protocol name and version, "SIP/2.0" (kept as received so a 505 can be decided on it).
    pub protocol: String,
    /// Transport, uppercased: "UDP", "TCP", "TLS", "SCTP", "WS"…
    pub transport: String,
    /// sent-by host, IPv6 references keep their brackets.
    pub host: String,
    /// sent-by port, if given.
    pub port: Option<u16>,
    /// via-params in order (branch, rport, received, maddr, ttl, extensions).
    pub params: Vec<Param>,
}

impl Via {
    /// Parses one Via entry (split multi-entry values with `split_comma_list` first).
    pub fn parse(s: &str) -> Result<Via, HeaderError> {
        const H: &str = "Via";
        let mut c = Cursor::new(trim_ws(s));
        let name = c.take_while(is_token_byte);
        if name.is_empty() {
            return Err(invalid(H, "expected a sent-protocol such as SIP/2.0/UDP"));
        }
        c.skip_ws();
        if !c.eat(b'/') {
            return Err(invalid(
                H,
                "expected `/` after the protocol name (SIP/2.0/UDP)",
            ));
        }
        c.skip_ws();
        let version = c.take_while(is_token_byte);
        if version.is_empty() {
            return Err(invalid(H, "the protocol version is missing (SIP/2.0/UDP)"));
        }
        c.skip_ws();
        if !c.eat(b'/') {
            return Err(invalid(
                H,
                "expected `/` before the transport (SIP/2.0/UDP)",
            ));
        }
        c.skip_ws();
        let transport = c.take_while(is_token_byte);
        if transport.is_empty() {
            return Err(invalid(H, "the transport is missing (SIP/2.0/UDP)"));
        }
        if !c.skip_ws() {
            return Err(invalid(
                H,
                "expected a space between the transport and the host",
            ));
        }
        let host =
            parse_host(&mut c).ok_or(invalid(H, "the sent-by host is missing or malformed"))?;
        c.skip_ws();
        let port = if c.eat(b':') {
            c.skip_ws();
            Some(parse_port(&mut c, H)?)
        } else {
            None
        };
        let params = parse_params(&mut c, H)?;
        Ok(Via {
            protocol: format!("{name}/{version}"),
            transport: transport.to_ascii_uppercase(),
            host: host.to_owned(),
            port,
            params,
        })
    }

    /// Reads what a UAS needs to answer a request whose Via is malformed (RFC 4475 badinv01:
    /// `SIP/2.0/UDP 192.0.2.15;;,;,,`): sent-protocol and sent-by must parse, parameters that
    /// do not are skipped. For refusing such a request with 400, never for accepting it.
    pub fn parse_lenient(s: &str) -> Option<Via> {
        let mut pieces = s.split(';');
        let mut via = Via::parse(pieces.next()?).ok()?;
        for piece in pieces {
            let (name, value) = match piece.split_once('=') {
                Some((n, v)) => (trim_ws(n), Some(trim_ws(v))),
                None => (trim_ws(piece), None),
            };
            let name_ok = !name.is_empty() && name.bytes().all(is_token_byte);
            let value_ok = value.is_none_or(|v| !v.is_empty() && v.bytes().all(is_gen_value_byte));
            if name_ok && value_ok {
                via.params.push(Param::new(name, value.map(str::to_owned)));
            }
        }
        Some(via)
    }

    /// The branch parameter: the transaction identifier (RFC 3261 §17.2.3).
    pub fn branch(&self) -> Option<&str> {
        self.param("branch").flatten()
    }

    /// A parameter by case-insensitive name: None if absent, Some(None) if it has no value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(&self.params, name).map(|p| p.value.as_deref())
    }

    /// Whether the client asked for symmetric response routing (RFC 3581 `rport`).
    pub fn has_rport(&self) -> bool {
        self.param("rport").is_some()
    }

    /// Sets (replacing) or appends a parameter, e.g. `received` and `rport` on arrival.
    pub fn set_param(&mut self, name: &str, value: Option<String>) {
        set_param_in(&mut self.params, name, value);
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} {}", self.protocol, self.transport, self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write_params(f, &self.params)
    }
}

/// Checks the characters of a URI and that it starts with `scheme:`.
fn check_uri(uri: &str, header: &'static str) -> Result<(), HeaderError> {
    if uri.is_empty() {
        return Err(invalid(header, "the URI is empty"));
    }
    if !uri
        .bytes()
        .all(|b| (0x21..=0x7e).contains(&b) && !matches!(b, b'<' | b'>' | b'"'))
    {
        return Err(invalid(
            header,
            "the URI contains a space, control, quote, angle bracket or non-ASCII character; escape it with %HH",
        ));
    }
    if uri_scheme_len(uri).is_none() {
        return Err(invalid(
            header,
            "the URI does not start with a scheme such as `sip:`",
        ));
    }
    Ok(())
}

/// Length of `scheme` in `scheme:rest` (ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )).
pub(crate) fn uri_scheme_len(uri: &str) -> Option<usize> {
    let bytes = uri.as_bytes();
    let colon = bytes.iter().position(|&b| b == b':')?;
    let scheme = bytes.get(..colon)?;
    let (first, rest) = scheme.split_first()?;
    (first.is_ascii_alphabetic()
        && rest
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))
    .then_some(colon)
}

/// A `name-addr` or `addr-spec` with header parameters: the value of From, To, Contact,
/// Route, Record-Route, Refer-To (RFC 3261 §20.10, §20.20, §20.39).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name with quoting undone (`"A \"B\""` becomes `A "B"`); None when absent or empty.
    pub display_name: Option<String>,
    /// The URI as received, without the angle brackets; parse it with `SipUri::parse`.
    pub uri: String,
    /// Header parameters (tag, expires, q…). For a bare addr-spec, everything after the URI's
    /// first `;` is a header parameter, not a URI parameter (RFC 3261 §20.10).
    pub params: Vec<Param>,
}

impl NameAddr {
    /// Parses a single name-addr / addr-spec (split Contact lists with `split_comma_list`).
    pub fn parse(s: &str) -> Result<NameAddr, HeaderError> {
        Self::parse_as(s, "name-addr")
    }

    /// Parses and reports errors under the given header name ("From", "To", "Contact"…).
    pub(crate) fn parse_as(s: &str, header: &'static str) -> Result<NameAddr, HeaderError> {
        let s = trim_ws(s);
        let mut c = Cursor::new(s);
        let display_name;
        let uri;
        if c.peek() == Some(b'"') {
            let raw = c.take_quoted().ok_or(invalid(
                header,
                "the display name opens a quote that is never closed",
            ))?;
            display_name = Some(unquote(raw));
            c.skip_ws();
            if !c.eat(b'<') {
                return Err(invalid(
                    header,
                    "a quoted display name must be followed by <URI>",
                ));
            }
            uri = take_bracketed_uri(&mut c, header)?;
        } else if let Some(lt) = s.find('<') {
            let name = trim_ws(s.get(..lt).unwrap_or(""));
            // RFC 3261 wants tokens here; UTF-8 is let through since it cannot be mistaken
            // for a separator and some gateways send caller names unquoted.
            if !name
                .bytes()
                .all(|b| is_token_byte(b) || is_ws(b) || b >= 0x80)
            {
                return Err(invalid(
                    header,
                    "the display name has characters that need quotes (such as a comma); put it in \"…\"",
                ));
            }
            display_name = Some(name.to_owned());
            c.pos = lt + 1;
            uri = take_bracketed_uri(&mut c, header)?;
        } else {
            display_name = None;
            let bare = c.take_while(|b| !matches!(b, b';' | b' ' | b'\t'));
            check_uri(bare, header)?;
            if bare.contains(['?', ',']) {
                return Err(invalid(
                    header,
                    "a URI containing `?` or `,` must be enclosed in <> (RFC 3261 §20.10)",
                ));
            }
            uri = bare;
        }
        let params = parse_params(&mut c, header)?;
        Ok(NameAddr {
            display_name: display_name.filter(|d| !d.is_empty()),
            uri: uri.to_owned(),
            params,
        })
    }

    /// The tag parameter that identifies a dialog's side (RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&str> {
        find_param(&self.params, "tag").and_then(|p| p.value.as_deref())
    }

    /// Sets or replaces the tag, as a UAS does on the To of its responses.
    pub fn set_tag(&mut self, tag: &str) {
        set_param_in(&mut self.params, "tag", Some(tag.to_owned()));
    }

    /// A header parameter by case-insensitive name: None if absent, Some(None) without value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(&self.params, name).map(|p| p.value.as_deref())
    }
}

/// After `<`: the URI up to `>`, which must be there and must not contain whitespace.
fn take_bracketed_uri<'a>(
    c: &mut Cursor<'a>,
    header: &'static str,
) -> Result<&'a str, HeaderError> {
    let uri = c.take_while(|b| b != b'>');
    if !c.eat(b'>') {
        return Err(invalid(header, "`<` is not closed by `>`"));
    }
    if uri.bytes().any(is_ws) {
        return Err(invalid(
            header,
            "the URI inside <> contains spaces (RFC 4475 badaspec)",
        ));
    }
    check_uri(uri, header)?;
    Ok(uri)
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.display_name.as_deref().filter(|d| !d.is_empty()) {
            write_quoted(f, name)?;
            f.write_str(" ")?;
        }
        write!(f, "<{}>", self.uri)?;
        write_params(f, &self.params)
    }
}

/// The CSeq header: orders requests within a dialog and names the transaction's method.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CSeq {
    /// Sequence number, below 2^31 (RFC 3261 §8.1.1.5).
    pub seq: u32,
    /// Method; for a valid request it equals the request line's method.
    pub method: Method,
}

impl CSeq {
    /// Parses `1*DIGIT LWS Method`.
    pub fn parse(s: &str) -> Result<CSeq, HeaderError> {
        const H: &str = "CSeq";
        let mut c = Cursor::new(trim_ws(s));
        let digits = c.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() {
            return Err(invalid(H, "it must start with a sequence number"));
        }
        if !c.skip_ws() {
            return Err(invalid(
                H,
                "expected a space between the number and the method",
            ));
        }
        let mut seq: u32 = 0;
        for d in digits.bytes() {
            seq = seq
                .checked_mul(10)
                .and_then(|s| s.checked_add(u32::from(d - b'0')))
                .filter(|&s| s < 1 << 31)
                .ok_or(invalid(
                    H,
                    "the sequence number must be below 2^31 (RFC 3261 §8.1.1.5)",
                ))?;
        }
        let method =
            Method::parse(c.rest()).ok_or(invalid(H, "the method is not a single SIP token"))?;
        Ok(CSeq { seq, method })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// URI schemes the bridge tells apart; others get 416 Unsupported URI Scheme from a UAS.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum UriScheme {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:` (RFC 3966)
    Tel,
    /// Any other scheme, lowercased.
    Other(String),
}

impl UriScheme {
    /// The scheme as written in URIs, lowercase.
    pub fn as_str(&self) -> &str {
        match self {
            UriScheme::Sip => "sip",
            UriScheme::Sips => "sips",
            UriScheme::Tel => "tel",
            UriScheme::Other(s) => s,
        }
    }
}

/// The parts of a URI the bridge routes on: the dialled user/number, host, port, parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipUri {
    /// Scheme.
    pub scheme: UriScheme,
    /// User part, percent-decoded (RFC 3261 §19.1.4 compares decoded); a password after `:` is
    /// dropped. For `tel:` the number; None for other schemes or when there is no `user@`.
    pub user: Option<String>,
    /// Host (IPv6 keeps brackets); empty for `tel:`; the opaque remainder for other schemes.
    pub host: String,
    /// Port, if given.
    pub port: Option<u16>,
    /// URI parameters (`;transport=tcp`, `;lr`, `;user=phone`), names and values percent-decoded.
    pub params: Vec<Param>,
}

impl SipUri {
    /// Parses a URI; unknown schemes succeed as `UriScheme::Other` so the caller can answer 416.
    /// `?headers` of SIP URIs are accepted and dropped.
    pub fn parse(s: &str) -> Result<SipUri, HeaderError> {
        parse_uri(s, "URI").map(|(uri, _)| uri)
    }

    /// A URI parameter by case-insensitive name: None if absent, Some(None) without value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(&self.params, name).map(|p| p.value.as_deref())
    }
}

/// Parses a URI and reports whether a SIP URI carried `?headers` (not allowed in a
/// Request-URI, RFC 4475 "escruri").
pub(crate) fn parse_uri(s: &str, header: &'static str) -> Result<(SipUri, bool), HeaderError> {
    check_uri(s, header)?;
    let colon = uri_scheme_len(s).ok_or(invalid(header, "the URI has no scheme"))?;
    let scheme_str = s.get(..colon).unwrap_or("");
    let rest = s.get(colon + 1..).unwrap_or("");
    let scheme = if scheme_str.eq_ignore_ascii_case("sip") {
        UriScheme::Sip
    } else if scheme_str.eq_ignore_ascii_case("sips") {
        UriScheme::Sips
    } else if scheme_str.eq_ignore_ascii_case("tel") {
        UriScheme::Tel
    } else {
        UriScheme::Other(scheme_str.to_ascii_lowercase())
    };
    match scheme {
        UriScheme::Sip | UriScheme::Sips => {
            // The user part may contain `;`, `?` and `:` (RFC 4475 "intmeth", "semiuri") but
            // no part after the host may contain `@`, so the last `@` ends the userinfo.
            let (userinfo, hostpart) = match rest.rfind('@') {
                Some(at) => (rest.get(..at), rest.get(at + 1..).unwrap_or("")),
                None => (None, rest),
            };
            let user = match userinfo {
                Some(info) => {
                    let user = info.split(':').next().unwrap_or("");
                    if user.is_empty() {
                        return Err(invalid(header, "the user part before `@` is empty"));
                    }
                    Some(percent_decode(user, header)?)
                }
                None => None,
            };
            let mut c = Cursor::new(hostpart);
            let host =
                parse_host(&mut c).ok_or(invalid(header, "the host is missing or malformed"))?;
            let port = if c.eat(b':') {
                Some(parse_port(&mut c, header)?)
            } else {
                None
            };
            let after = c.rest();
            let (param_part, has_headers) = match after.find('?') {
                Some(q) => (after.get(..q).unwrap_or(""), true),
                None => (after, false),
            };
            if !param_part.is_empty() && !param_part.starts_with(';') {
                return Err(invalid(
                    header,
                    "unexpected characters after the host and port",
                ));
            }
            let params = parse_uri_params(param_part, header)?;
            Ok((
                SipUri {
                    scheme,
                    user,
                    host: host.to_owned(),
                    port,
                    params,
                },
                has_headers,
            ))
        }
        UriScheme::Tel => {
            let (number, param_part) = match rest.find(';') {
                Some(i) => (rest.get(..i).unwrap_or(""), rest.get(i..).unwrap_or("")),
                None => (rest, ""),
            };
            if number.is_empty() {
                return Err(invalid(header, "the tel URI has no number"));
            }
            Ok((
                SipUri {
                    scheme,
                    user: Some(percent_decode(number, header)?),
                    host: String::new(),
                    port: None,
                    params: parse_uri_params(param_part, header)?,
                },
                false,
            ))
        }
        UriScheme::Other(_) => {
            if rest.is_empty() {
                return Err(invalid(header, "nothing follows the URI scheme"));
            }
            Ok((
                SipUri {
                    scheme,
                    user: None,
                    host: rest.to_owned(),
                    port: None,
                    params: Vec::new(),
                },
                false,
            ))
        }
    }
}

/// `*( ";" pname [ "=" pvalue ] )`, percent-decoded; `s` is empty or starts with `;`.
fn parse_uri_params(s: &str, header: &'static str) -> Result<Vec<Param>, HeaderError> {
    let mut params = Vec::new();
    for seg in s.split(';').skip(1) {
        let (name, value) = match seg.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (seg, None),
        };
        if name.is_empty() {
            return Err(invalid(header, "a URI parameter has no name (stray `;`)"));
        }
        if value.is_some_and(str::is_empty) {
            return Err(invalid(header, "a URI parameter has `=` but no value"));
        }
        params.push(Param {
            name: percent_decode(name, header)?,
            value: value.map(|v| percent_decode(v, header)).transpose()?,
        });
    }
    Ok(params)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%HH`; decoded bytes that are not UTF-8 become U+FFFD (`%00` stays a NUL char).
fn percent_decode(s: &str, header: &'static str) -> Result<String, HeaderError> {
    if !s.contains('%') {
        return Ok(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_value);
            let lo = bytes.get(i + 2).copied().and_then(hex_value);
            match (hi, lo) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                }
                _ => {
                    return Err(invalid(
                        header,
                        "a `%` in the URI is not followed by two hex digits",
                    ));
                }
            }
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn via_parses_plain_entry() {
        let via =
            Via::parse("SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds;rport").unwrap();
        assert_eq!(via.protocol, "SIP/2.0");
        assert_eq!(via.transport, "UDP");
        assert_eq!(via.host, "pc33.atlanta.com");
        assert_eq!(via.port, Some(5066));
        assert_eq!(via.branch(), Some("z9hG4bK776asdhds"));
        assert!(via.has_rport());
        assert_eq!(via.param("RPORT"), Some(None));
    }

    #[test]
    fn via_accepts_lws_around_slash_colon_semicolon_and_equal() {
        let via = Via::parse(
            "SIP  /   2.0  / tcp     spindle.example.com : 5070  ;  branch  =   z9hG4bK9ikj8 ",
        )
        .unwrap();
        assert_eq!(via.protocol, "SIP/2.0");
        assert_eq!(via.transport, "TCP");
        assert_eq!(via.host, "spindle.example.com");
        assert_eq!(via.port, Some(5070));
        assert_eq!(via.branch(), Some("z9hG4bK9ikj8"));
    }

    #[test]
    fn via_keeps_ipv6_brackets() {
        let via =
            Via::parse("SIP/2.0/UDP [2001:db8::9:1]:5060;received=[2001:db8::9:255]").unwrap();
        assert_eq!(via.host, "[2001:db8::9:1]");
        assert_eq!(via.port, Some(5060));
        assert_eq!(via.param("received"), Some(Some("[2001:db8::9:255]")));
    }

    #[test]
    fn via_rejects_extraneous_separators() {
        // RFC 4475 3.1.2.1 "badinv01".
        assert!(matches!(
            Via::parse("SIP/2.0/UDP 192.0.2.15;;,;,,"),
            Err(HeaderError::Invalid { header: "Via", .. })
        ));
    }

    #[test]
    fn via_parse_lenient_keeps_sent_by_and_good_params_of_a_broken_via() {
        // RFC 4475 badinv01's Via (first comma piece): still says where a 400 goes.
        let via = Via::parse_lenient("SIP/2.0/UDP 192.0.2.15;;").unwrap();
        assert_eq!((via.host.as_str(), via.port), ("192.0.2.15", None));
        assert!(via.params.is_empty());
        let via =
            Via::parse_lenient("SIP/2.0/UDP [2001:db8::1]:5070;;rport; branch = z9hG4bKx;=;a b")
                .unwrap();
        assert_eq!((via.host.as_str(), via.port), ("[2001:db8::1]", Some(5070)));
        assert!(via.has_rport());
        assert_eq!(via.branch(), Some("z9hG4bKx"));
        assert_eq!(via.params.len(), 2);
        // Without a readable sent-by there is nowhere to answer.
        assert_eq!(Via::parse_lenient("SIP/2.0/UDP ;;"), None);
        assert_eq!(Via::parse_lenient(";;,;,,"), None);
        assert_eq!(Via::parse_lenient(""), None);
    }

    #[test]
    fn via_rejects_missing_host_port_overflow_and_missing_transport() {
        assert!(Via::parse("SIP/2.0/UDP").is_err());
        assert!(Via::parse("SIP/2.0/UDP host:70000").is_err());
        assert!(Via::parse("SIP/2.0 host").is_err());
        assert!(Via::parse("SIP/2.0/UDPhost").is_err());
        assert!(Via::parse("").is_err());
    }

    #[test]
    fn via_set_param_replaces_or_appends() {
        let mut via = Via::parse("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx;rport").unwrap();
        via.set_param("rport", Some("5062".into()));
        via.set_param("received", Some("192.0.2.7".into()));
        assert_eq!(
            via.to_string(),
            "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx;rport=5062;received=192.0.2.7"
        );
    }

    #[test]
    fn via_display_round_trips() {
        let via =
            Via::parse("SIP / 2.0 / udp host.example.com : 5060 ; branch = z9hG4bK1 ; ttl=16")
                .unwrap();
        assert_eq!(
            via.to_string(),
            "SIP/2.0/UDP host.example.com:5060;branch=z9hG4bK1;ttl=16"
        );
        assert_eq!(Via::parse(&via.to_string()).unwrap(), via);
    }

    #[test]
    fn split_comma_list_ignores_commas_in_quotes_and_brackets() {
        let parts = split_comma_list(r#""Bell, A. \"x,y\"" <sip:a@b;x=1,2>;tag=1 , <sip:c@d>,"#);
        assert_eq!(
            parts,
            vec![
                r#""Bell, A. \"x,y\"" <sip:a@b;x=1,2>;tag=1"#,
                "<sip:c@d>",
                ""
            ]
        );
        assert_eq!(split_comma_list(""), vec![""]);
    }

    #[test]
    fn name_addr_parses_quoted_display_name_with_escapes() {
        // RFC 4475 "wsinv" From.
        let na = NameAddr::parse(
            r#""J Rosenberg \\\""       <sip:jdrosen@example.com> ; tag = 98asjd8"#,
        )
        .unwrap();
        assert_eq!(na.display_name.as_deref(), Some(r#"J Rosenberg \""#));
        assert_eq!(na.uri, "sip:jdrosen@example.com");
        assert_eq!(na.tag(), Some("98asjd8"));
    }

    #[test]
    fn name_addr_parses_unquoted_token_display_name_without_space() {
        // RFC 4475 "lwsdisp".
        let na = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(na.display_name.as_deref(), Some("caller"));
        assert_eq!(na.uri, "sip:caller@example.com");
        assert_eq!(na.tag(), Some("323"));
    }

    #[test]
    fn name_addr_bare_addr_spec_params_belong_to_header() {
        let na =
            NameAddr::parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").unwrap();
        assert_eq!(na.display_name, None);
        assert_eq!(na.uri, "sip:vivekg@chair-dnrc.example.com");
        assert_eq!(na.tag(), Some("1918181833n"));
        let na = NameAddr::parse("sip:+19725552222@gw1.example.net;unknownparam").unwrap();
        assert_eq!(na.uri, "sip:+19725552222@gw1.example.net");
        assert_eq!(na.param("unknownparam"), Some(None));
    }

    #[test]
    fn name_addr_keeps_uri_params_inside_brackets() {
        let na = NameAddr::parse("<sip:+19725552222@gw1.example.net;unknownparam>").unwrap();
        assert_eq!(na.uri, "sip:+19725552222@gw1.example.net;unknownparam");
        assert!(na.params.is_empty());
    }

    #[test]
    fn name_addr_rejects_invalid_forms_from_rfc4475() {
        // quotbal, badaspec, baddn, regbadct, badinv01 Contact.
        for bad in [
            r#""Mr. J. User <sip:j.user@example.com>"#,
            r#""Watson, Thomas" < sip:t.watson@example.org >"#,
            "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            r#""Joe" <sip:joe@example.org>;;;;"#,
            "<sip:a@b",
            "alan@jasomi.com",
            "<sip:a@b>;tag=1, <sip:c@d>",
            "",
        ] {
            assert!(NameAddr::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn name_addr_accepts_unquoted_utf8_display_name() {
        let na = NameAddr::parse("José Müller <sip:jm@example.com>").unwrap();
        assert_eq!(na.display_name.as_deref(), Some("José Müller"));
        assert_eq!(na.to_string(), "\"José Müller\" <sip:jm@example.com>");
    }

    #[test]
    fn name_addr_accepts_unknown_schemes() {
        // RFC 4475 "unksm2".
        assert_eq!(
            NameAddr::parse("isbn:2983792873").unwrap().uri,
            "isbn:2983792873"
        );
        assert_eq!(
            NameAddr::parse("<name:John_Smith>").unwrap().uri,
            "name:John_Smith"
        );
    }

    #[test]
    fn name_addr_display_always_uses_brackets_and_escapes() {
        let mut na = NameAddr::parse(r#"token1~` token2'+_ <sip:a@b>;x="q v""#).unwrap();
        na.set_tag("abc");
        assert_eq!(
            na.to_string(),
            r#""token1~` token2'+_" <sip:a@b>;x="q v";tag=abc"#
        );
        let tricky = NameAddr {
            display_name: Some("a\"b\\c\r\nd\u{0}".into()),
            uri: "sip:x@y".into(),
            params: vec![],
        };
        let written = tricky.to_string();
        assert_eq!(written, "\"a\\\"b\\\\c  d\\\u{0}\" <sip:x@y>");
        assert_eq!(
            NameAddr::parse(&written).unwrap().display_name.as_deref(),
            Some("a\"b\\c  d\u{0}")
        );
    }

    #[test]
    fn cseq_parses_and_bounds_sequence() {
        let c = CSeq::parse("0009 INVITE").unwrap();
        assert_eq!(
            c,
            CSeq {
                seq: 9,
                method: Method::Invite
            }
        );
        assert_eq!(c.to_string(), "9 INVITE");
        assert_eq!(CSeq::parse("2147483647 BYE").unwrap().seq, 2_147_483_647);
        assert!(CSeq::parse("2147483648 BYE").is_err());
        // RFC 4475 "scalar02".
        assert!(CSeq::parse("36893488147419103232 REGISTER").is_err());
        assert!(CSeq::parse("1INVITE").is_err());
        assert!(CSeq::parse("INVITE").is_err());
        assert!(CSeq::parse("1 IN VITE").is_err());
        assert!(CSeq::parse("1 ").is_err());
    }

    #[test]
    fn cseq_accepts_extension_method() {
        let c = CSeq::parse("139122385 !interesting-Method0123456789_*+`.%indeed'~").unwrap();
        assert_eq!(
            c.method,
            Method::Extension("!interesting-Method0123456789_*+`.%indeed'~".into())
        );
    }

    #[test]
    fn sip_uri_parses_user_host_port_params() {
        let u =
            SipUri::parse("sips:+1212555@[2001:db8::1]:5061;transport=tls;lr?subject=x").unwrap();
        assert_eq!(u.scheme, UriScheme::Sips);
        assert_eq!(u.user.as_deref(), Some("+1212555"));
        assert_eq!(u.host, "[2001:db8::1]");
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.param("TRANSPORT"), Some(Some("tls")));
        assert_eq!(u.param("lr"), Some(None));
    }

    #[test]
    fn sip_uri_decodes_escapes() {
        // RFC 4475 "esc01", "escnull", "semiuri".
        let u = SipUri::parse("sip:sips%3Auser%40example.com@example.net").unwrap();
        assert_eq!(u.user.as_deref(), Some("sips:user@example.com"));
        assert_eq!(u.host, "example.net");
        let u = SipUri::parse("sip:null-%00-null@example.com").unwrap();
        assert_eq!(u.user.as_deref(), Some("null-\u{0}-null"));
        let u = SipUri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user.as_deref(), Some("user;par=u@example.net"));
        assert_eq!(u.host, "example.com");
        let u =
            SipUri::parse("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31").unwrap();
        assert_eq!(u.user.as_deref(), Some("caller"));
        assert_eq!(u.param("lr"), Some(None));
        assert_eq!(u.param("name"), Some(Some("value%41")));
    }

    #[test]
    fn sip_uri_handles_unusual_user_part() {
        // RFC 4475 "intmeth" Request-URI: user with `?`, `;`, `:` and a password.
        let u = SipUri::parse(
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
        )
        .unwrap();
        assert_eq!(
            u.user.as_deref(),
            Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        );
        assert_eq!(u.host, "example.com");
    }

    #[test]
    fn sip_uri_tel_and_other_schemes() {
        let u = SipUri::parse("tel:+1-201-555-0123;phone-context=example.com").unwrap();
        assert_eq!(u.scheme, UriScheme::Tel);
        assert_eq!(u.user.as_deref(), Some("+1-201-555-0123"));
        assert_eq!(u.host, "");
        assert_eq!(u.param("phone-context"), Some(Some("example.com")));
        // RFC 4475 "unkscm", "novelsc": syntactically fine, scheme unknown (UAS answers 416).
        let u = SipUri::parse("nobodyKnowsThisScheme:totallyopaquecontent").unwrap();
        assert_eq!(u.scheme, UriScheme::Other("nobodyknowsthisscheme".into()));
        assert_eq!(
            SipUri::parse("soap.beep://192.0.2.103:3002")
                .unwrap()
                .scheme,
            UriScheme::Other("soap.beep".into())
        );
    }

    #[test]
    fn sip_uri_reads_the_ipv6_references_of_rfc5118() {
        // §4.3: the port inside the brackets is part of the address; §4.4: outside, a port.
        let u = SipUri::parse("sip:[2001:db8::10:5070]").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("[2001:db8::10:5070]", None));
        let u = SipUri::parse("sip:[2001:db8::10]:5070").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("[2001:db8::10]", Some(5070)));
        // §4.10: "an implementation must tolerate both of the above constructs".
        for uri in [
            "sip:user@[2001:db8:::192.0.2.1]",
            "sip:user@[2001:db8::192.0.2.1]",
        ] {
            assert_eq!(
                SipUri::parse(uri).unwrap().user.as_deref(),
                Some("user"),
                "{uri}"
            );
        }
        // §4.2: without the brackets the Request-URI is malformed (400).
        assert!(parse_uri("sip:2001:db8::10", "Request-URI").is_err());
    }

    #[test]
    fn sip_uri_rejects_malformed() {
        for bad in [
            "<sip:user@example.com>",
            "sip:user@example.com; lr",
            "sip:",
            "sip:@host",
            "sip:host:99999",
            "sip:host;",
            "sip:host;a=",
            "sip:%zz@host",
            "sip:host extra",
            "user@host",
            ":nothing",
            "tel:",
        ] {
            assert!(SipUri::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn parse_uri_reports_headers_component() {
        assert!(
            parse_uri(
                "sip:user@example.com?Route=%3Csip:example.com%3E",
                "Request-URI"
            )
            .unwrap()
            .1
        );
        assert!(!parse_uri("sip:user@example.com", "Request-URI").unwrap().1);
    }

    proptest! {
        #[test]
        fn typed_parsers_never_panic_on_arbitrary_text(s in "\\PC{0,80}") {
            let _ = Via::parse(&s);
            let _ = NameAddr::parse(&s);
            let _ = CSeq::parse(&s);
            let _ = SipUri::parse(&s);
            let _ = split_comma_list(&s);
        }

        #[test]
        fn typed_parsers_never_panic_on_sip_like_text(s in "[ \t;:=,<>\"\\\\/@?%a-z0-9\\[\\].\u{e9}\u{0}]{0,60}") {
            for prefix in ["SIP/2.0/UDP ", "sip:", "<sip:", "\"", "1 "] {
                let t = format!("{prefix}{s}");
                let _ = Via::parse(&t);
                let _ = NameAddr::parse(&t);
                let _ = CSeq::parse(&t);
                let _ = SipUri::parse(&t);
                let _ = split_comma_list(&t);
            }
        }

        #[test]
        fn display_of_parsed_values_parses_back_equal(s in "[ ;=a-z0-9\"\\\\.:]{0,30}") {
            for t in [
                format!("SIP/2.0/UDP host.example{s}"),
                format!("\"{s}\" <sip:a@b>;tag=1"),
                format!("<sip:a@b>{s}"),
                format!("sip:a@b{s}"),
            ] {
                if let Ok(v) = Via::parse(&t) {
                    prop_assert_eq!(Via::parse(&v.to_string()), Ok(v));
                }
                if let Ok(n) = NameAddr::parse(&t) {
                    prop_assert_eq!(NameAddr::parse(&n.to_string()), Ok(n));
                }
            }
        }
    }
}
