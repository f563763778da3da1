//! The wire form of a [`Message`] and the builders of new ones (responses, requests).

use super::*;

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
