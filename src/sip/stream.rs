//! SIP over a byte stream (RFC 3261 §18.3), sans-IO: bytes of one TCP connection in, whole
//! messages, keep-alive pings and framing errors out.
//!
//! Content-Length frames every message. The buffer never holds more than one message's
//! worth (`MAX_MESSAGE_SIZE`) plus one read; a sender that trickles bytes costs a scan of
//! the new bytes only, never a re-parse of everything buffered, so a slow or byte-at-a-time
//! sender cannot make us quadratic.

use std::time::Instant;

use crate::sip::message::{self, Framing, MAX_MESSAGE_SIZE, Message, ParseError};

/// What the stream yielded.
#[derive(Debug)]
pub enum StreamItem {
    /// A whole message.
    Message(Message),
    /// An RFC 5626 §3.5.1 CRLFCRLF ping: answer with one CRLF (the pong).
    Ping,
    /// A whole message that is malformed in a way that leaves the framing intact (a broken
    /// request line): answer it (`Endpoint::handle_unparseable`) and read on.
    Invalid {
        /// The message's bytes.
        bytes: Vec<u8>,
        /// Why it was refused.
        error: ParseError,
    },
    /// The stream cannot be framed any further (oversized or malformed message): answer what
    /// can be answered (`Endpoint::handle_unparseable` with these bytes), then close.
    Broken {
        /// What was buffered (at most `MAX_MESSAGE_SIZE` bytes), for the 400 response.
        bytes: Vec<u8>,
        /// Why.
        error: ParseError,
    },
}

/// Reassembles messages from one connection's bytes.
#[derive(Debug, Default)]
pub struct StreamReader {
    buf: Vec<u8>,
    /// Bytes already searched for the end of the header section without finding it.
    searched: usize,
    /// Once the header section is complete: the length the buffer must reach for the body.
    need: Option<usize>,
    /// When the first byte of the current, unfinished message arrived (slow-sender timeout).
    started: Option<Instant>,
    /// When bytes last arrived.
    last_push: Option<Instant>,
    /// A line end has been seen in the current message, so its first line was judged.
    line_seen: bool,
    broken: bool,
}

impl StreamReader {
    /// A reader for a new connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the connection at `now`.
    pub fn push(&mut self, now: Instant, bytes: &[u8]) {
        if self.broken || bytes.is_empty() {
            return;
        }
        if self.started.is_none() {
            self.started = Some(now);
        }
        self.last_push = Some(now);
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes waiting to become a message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// When the unfinished message now buffered began to arrive (None when nothing is).
    pub fn partial_since(&self) -> Option<Instant> {
        if self.buf.is_empty() {
            None
        } else {
            self.started
        }
    }

    /// The next complete item, or None until more bytes arrive. After `Broken`, always None.
    pub fn next_item(&mut self) -> Option<StreamItem> {
        if self.broken {
            return None;
        }
        if self.buf.starts_with(b"\r\n\r\n") {
            self.consume(4);
            return Some(StreamItem::Ping);
        }
        // Line ends alone between messages are padding, except a CRLF that may be the first
        // half of a ping.
        let lead = message::skip_keepalive(&self.buf);
        if lead > 0 && lead == self.buf.len() {
            if self.buf != b"\r\n" {
                self.consume(lead);
            }
            return None;
        }
        if let Some(need) = self.need
            && self.buf.len() < need
        {
            return None;
        }
        if self.need.is_none() && !self.head_may_be_complete() {
            if self.buf.len() > MAX_MESSAGE_SIZE {
                return Some(self.fail(ParseError::TooLarge));
            }
            return None;
        }
        match message::parse(&self.buf, Framing::Stream) {
            Ok((msg, used)) => {
                self.consume(used);
                Some(StreamItem::Message(msg))
            }
            Err(ParseError::Incomplete) => {
                if self.need.is_none() {
                    self.need = message::stream_message_end(&self.buf);
                }
                if self.need.is_none() && self.buf.len() > MAX_MESSAGE_SIZE {
                    return Some(self.fail(ParseError::TooLarge));
                }
                None
            }
            Err(error @ ParseError::BadRequestLine) => {
                // The header section and Content-Length are sound, so the next message
                // starts where this one ends.
                match message::stream_message_end(&self.buf) {
                    Some(end) if end <= self.buf.len() => {
                        let bytes = self.buf.get(..end).unwrap_or_default().to_vec();
                        self.consume(end);
                        Some(StreamItem::Invalid { bytes, error })
                    }
                    // The body is still on its way: judged again once it is here.
                    Some(end) => {
                        self.need = Some(end);
                        None
                    }
                    // The first line is judged as soon as it ends, but the header section that
                    // says where the message ends may still be arriving (a byte at a time).
                    None if !message::header_section_settled(&self.buf) => None,
                    None => Some(self.fail(error)),
                }
            }
            Err(error) => Some(self.fail(error)),
        }
    }

    /// True when the bytes could hold a whole header section (an empty line, or a complete
    /// first line that `parse` can already judge). Only the new bytes are searched.
    fn head_may_be_complete(&mut self) -> bool {
        let from = self.searched.saturating_sub(3);
        let fresh = self.buf.get(from..).unwrap_or_default();
        let blank =
            fresh.windows(2).any(|w| w == b"\n\n") || fresh.windows(3).any(|w| w == b"\n\r\n");
        // The first line completing lets garbage be refused before the headers end.
        let first_line = !self.line_seen && fresh.contains(&b'\n');
        self.line_seen |= first_line;
        self.searched = self.buf.len();
        blank || first_line
    }

    fn consume(&mut self, n: usize) {
        self.buf.drain(..n.min(self.buf.len()));
        self.searched = 0;
        self.need = None;
        self.line_seen = false;
        // Bytes of the next message already here came with the last read.
        self.started = if self.buf.is_empty() {
            None
        } else {
            self.last_push
        };
    }

    fn fail(&mut self, error: ParseError) -> StreamItem {
        self.broken = true;
        let mut bytes = std::mem::take(&mut self.buf);
        bytes.truncate(MAX_MESSAGE_SIZE);
        StreamItem::Broken { bytes, error }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::StartLine;

    const OPTIONS: &str = "OPTIONS sip:1000@127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-1\r\n\
        From: <sip:a@127.0.0.1>;tag=1\r\n\
        To: <sip:1000@127.0.0.1>\r\n\
        Call-ID: s1\r\n\
        CSeq: 1 OPTIONS\r\n\
        Max-Forwards: 70\r\n\
        Content-Length: 0\r\n\r\n";

    fn info_with_body(body: &str) -> String {
        format!(
            "INFO sip:1000@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-2\r\n\
             From: <sip:a@127.0.0.1>;tag=1\r\n\
             To: <sip:1000@127.0.0.1>;tag=2\r\n\
             Call-ID: s2\r\n\
             CSeq: 2 INFO\r\n\
             Content-Type: application/dtmf-relay\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    fn drain(r: &mut StreamReader) -> Vec<StreamItem> {
        std::iter::from_fn(|| r.next_item()).collect()
    }

    fn methods(items: &[StreamItem]) -> Vec<String> {
        items
            .iter()
            .map(|i| match i {
                StreamItem::Message(m) => match &m.start {
                    StartLine::Request { method, .. } => method.to_string(),
                    StartLine::Response { code, .. } => code.to_string(),
                },
                StreamItem::Ping => "ping".into(),
                StreamItem::Invalid { error, .. } => format!("invalid: {error:?}"),
                StreamItem::Broken { error, .. } => format!("broken: {error:?}"),
            })
            .collect()
    }

    #[test]
    fn several_messages_in_one_read_come_out_one_by_one_with_their_bodies() {
        let body = "Signal=5\r\nDuration=160\r\n";
        let all = format!("{OPTIONS}{}{OPTIONS}", info_with_body(body));
        let mut r = StreamReader::new();
        r.push(Instant::now(), all.as_bytes());
        let items = drain(&mut r);
        assert_eq!(methods(&items), ["OPTIONS", "INFO", "OPTIONS"]);
        let StreamItem::Message(info) = &items[1] else {
            panic!()
        };
        assert_eq!(info.body, body.as_bytes());
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn a_message_split_at_every_byte_comes_out_once_whole() {
        let body = "Signal=#\r\nDuration=100\r\n";
        let all = format!("{}{OPTIONS}", info_with_body(body));
        let mut r = StreamReader::new();
        let mut out = Vec::new();
        for b in all.as_bytes() {
            r.push(Instant::now(), std::slice::from_ref(b));
            out.extend(drain(&mut r));
        }
        assert_eq!(methods(&out), ["INFO", "OPTIONS"]);
        let StreamItem::Message(info) = &out[0] else {
            panic!()
        };
        assert_eq!(
            info.body,
            body.as_bytes(),
            "the body is framed by Content-Length"
        );
    }

    #[test]
    fn every_split_point_of_two_messages_gives_the_same_two_messages() {
        let all = format!("{}{OPTIONS}", info_with_body("Signal=1\r\n"));
        let bytes = all.as_bytes();
        for cut in 0..=bytes.len() {
            let mut r = StreamReader::new();
            r.push(Instant::now(), &bytes[..cut]);
            let mut out = drain(&mut r);
            r.push(Instant::now(), &bytes[cut..]);
            out.extend(drain(&mut r));
            assert_eq!(methods(&out), ["INFO", "OPTIONS"], "split at {cut}");
        }
    }

    #[test]
    fn crlf_crlf_is_a_ping_and_a_lone_crlf_is_skipped() {
        let mut r = StreamReader::new();
        r.push(Instant::now(), b"\r\n\r\n");
        assert_eq!(methods(&drain(&mut r)), ["ping"]);
        r.push(Instant::now(), b"\r\n");
        assert!(drain(&mut r).is_empty(), "half a ping waits");
        r.push(Instant::now(), b"\r\n");
        assert_eq!(methods(&drain(&mut r)), ["ping"]);
        r.push(Instant::now(), format!("\r\n{OPTIONS}").as_bytes());
        assert_eq!(methods(&drain(&mut r)), ["OPTIONS"]);
    }

    #[test]
    fn an_endless_header_section_is_broken_once_it_passes_the_size_limit() {
        let mut r = StreamReader::new();
        r.push(
            Instant::now(),
            b"OPTIONS sip:1000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n",
        );
        let line = b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
        let mut broken = None;
        for _ in 0..2000 {
            r.push(Instant::now(), line);
            if let Some(item) = r.next_item() {
                broken = Some(item);
                break;
            }
        }
        match broken {
            Some(StreamItem::Broken { bytes, error }) => {
                assert!(
                    matches!(error, ParseError::TooManyHeaders | ParseError::TooLarge),
                    "{error:?}"
                );
                assert!(bytes.len() <= MAX_MESSAGE_SIZE);
            }
            other => panic!("expected a broken stream, got {other:?}"),
        }
        assert!(
            r.next_item().is_none(),
            "nothing more after a framing error"
        );
    }

    #[test]
    fn a_body_longer_than_the_limit_is_refused_before_it_arrives() {
        let mut r = StreamReader::new();
        let head = OPTIONS.replace("Content-Length: 0", "Content-Length: 900000");
        r.push(Instant::now(), head.as_bytes());
        assert!(matches!(
            r.next_item(),
            Some(StreamItem::Broken {
                error: ParseError::TooLarge,
                ..
            })
        ));
    }

    #[test]
    fn a_malformed_request_line_is_refused_alone_and_the_stream_reads_on() {
        let bad = OPTIONS.replace(
            "OPTIONS sip:1000@127.0.0.1 SIP/2.0",
            "OPTIONS  sip:1000@127.0.0.1  SIP/2.0",
        );
        let mut r = StreamReader::new();
        r.push(Instant::now(), format!("{bad}{OPTIONS}").as_bytes());
        let items = drain(&mut r);
        assert_eq!(methods(&items), ["invalid: BadRequestLine", "OPTIONS"]);
    }

    #[test]
    fn garbage_is_refused_as_soon_as_its_first_line_is_complete() {
        let mut r = StreamReader::new();
        r.push(Instant::now(), b"GET / HTTP/1.1\r\n");
        assert!(matches!(
            r.next_item(),
            Some(StreamItem::Broken {
                error: ParseError::BadStartLine,
                ..
            })
        ));
    }

    #[test]
    fn partial_since_reports_when_an_unfinished_message_began() {
        let t0 = Instant::now();
        let mut r = StreamReader::new();
        assert_eq!(r.partial_since(), None);
        r.push(t0, &OPTIONS.as_bytes()[..20]);
        assert!(r.next_item().is_none());
        r.push(
            t0 + std::time::Duration::from_secs(3),
            &OPTIONS.as_bytes()[20..40],
        );
        assert_eq!(r.partial_since(), Some(t0), "the first byte's time is kept");
        r.push(t0, &OPTIONS.as_bytes()[40..]);
        assert!(r.next_item().is_some());
        assert_eq!(r.partial_since(), None);
    }

    #[test]
    fn a_bad_request_line_split_at_every_byte_waits_for_its_whole_message_then_reads_on() {
        // RFC 4475 3.1.2.9-style: extra spaces in the request line, and a body, so the first
        // line is judged long before the message's end is known.
        let bad = info_with_body("Signal=1\r\nDuration=160\r\n").replacen(
            "INFO sip:1000@127.0.0.1 SIP/2.0",
            "INFO  sip:1000@127.0.0.1   SIP/2.0",
            1,
        );
        let all = format!("{bad}{OPTIONS}");
        let mut r = StreamReader::new();
        let mut out = Vec::new();
        for b in all.as_bytes() {
            r.push(Instant::now(), std::slice::from_ref(b));
            out.extend(drain(&mut r));
        }
        assert_eq!(methods(&out), ["invalid: BadRequestLine", "OPTIONS"]);
        let StreamItem::Invalid { bytes, .. } = &out[0] else {
            panic!()
        };
        assert_eq!(
            bytes,
            bad.as_bytes(),
            "the whole message, for the 400's headers"
        );
    }
}
