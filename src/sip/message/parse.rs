//! Parsing: bytes from a datagram or the front of a stream buffer into a [`Message`],
//! every size bounded and no input able to panic.

use super::*;

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
