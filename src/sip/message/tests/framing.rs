//! Framing: where a message ends on a datagram and on a stream.

use super::*;

#[test]
fn lf_only_line_ends_parse_like_crlf() {
    // The LF-only body is two bytes shorter.
    let lf_text = INVITE.replace("Content-Length: 10", "Content-Length: 8");
    let (lf, used) = parse(lf_text.as_bytes(), Framing::Datagram).unwrap();
    let (crlf_msg, _) = parse(&crlf(INVITE), Framing::Datagram).unwrap();
    assert_eq!(used, lf_text.len());
    assert_eq!(strip_content_length(&lf), strip_content_length(&crlf_msg));
    assert_eq!(lf.start, crlf_msg.start);
    assert_eq!(lf.body, b"v=0\ns=-\n");
    // Mixed line ends in one message.
    let mixed = b"OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: x\n\r\n";
    let (msg, _) = parse(mixed, Framing::Stream).unwrap();
    assert_eq!(msg.call_id(), Some("x"));
}

#[test]
fn compact_header_names_are_normalised() {
    let msg = ok("INVITE sip:a@b SIP/2.0
v: SIP/2.0/UDP h;branch=z9hG4bK1
i: cid
f: <sip:x@y>;tag=1
t: <sip:a@b>
m: <sip:x@h>
c: application/sdp
e: gzip
k: timer
s: hello
o: dialog
r: <sip:c@d>
x: 1800
l: 0

");
    let names: Vec<&str> = msg.headers.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Via",
            "Call-ID",
            "From",
            "To",
            "Contact",
            "Content-Type",
            "Content-Encoding",
            "Supported",
            "Subject",
            "Event",
            "Refer-To",
            "Session-Expires",
            "Content-Length"
        ]
    );
    assert_eq!(msg.call_id(), Some("cid"));
    let out = String::from_utf8(msg.to_bytes()).unwrap();
    assert!(out.contains("\r\nCall-ID: cid\r\n") && out.contains("\r\nSession-Expires: 1800\r\n"));
}

#[test]
fn folded_lines_are_unfolded_into_one_space() {
    let msg = ok("OPTIONS sip:a@b SIP/2.0
Subject: first
\t  second\t
   third
Call-ID: x

");
    assert_eq!(msg.header(&HeaderName::Subject), Some("first second third"));
    assert_eq!(msg.call_id(), Some("x"));
}

#[test]
fn datagram_trailing_bytes_after_content_length_are_ignored() {
    let mut input = crlf(INVITE);
    input.extend_from_slice(b"GARBAGE\0\xff");
    let (msg, used) = parse(&input, Framing::Datagram).unwrap();
    assert_eq!(msg.body, b"v=0\r\ns=-\r\n");
    assert_eq!(used, input.len() - 9);
}

#[test]
fn datagram_without_content_length_takes_rest_as_body() {
    let (msg, used) = parse(
        b"MESSAGE sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\nhello\0world",
        Framing::Datagram,
    )
    .unwrap();
    assert_eq!(msg.body, b"hello\0world");
    assert_eq!(used, 50);
}

#[test]
fn stream_without_content_length_has_empty_body() {
    let input = b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\nOPTIONS sip:c@d SIP/2.0\r\n";
    let (msg, used) = parse(input, Framing::Stream).unwrap();
    assert!(msg.body.is_empty());
    assert!(input[used..].starts_with(b"OPTIONS sip:c@d"));
}

#[test]
fn stream_pipelined_messages_are_framed_by_content_length() {
    let mut input = crlf(INVITE);
    let first_len = input.len();
    input.extend_from_slice(b"\r\n\r\n");
    input.extend(crlf(INVITE));
    let (first, used) = parse(&input, Framing::Stream).unwrap();
    assert_eq!(used, first_len);
    // The keep-alive between the two is skipped and counted.
    let (second, used2) = parse(&input[used..], Framing::Stream).unwrap();
    assert_eq!(used + used2, input.len());
    assert_eq!(first, second);
}

#[test]
fn stream_every_proper_prefix_is_incomplete() {
    let input = crlf(INVITE);
    for cut in 0..input.len() {
        assert_eq!(
            parse(&input[..cut], Framing::Stream).map(|(_, u)| u),
            Err(ParseError::Incomplete),
            "cut at {cut}"
        );
    }
    assert!(parse(&input, Framing::Stream).is_ok());
}

#[test]
fn stream_partial_field_after_a_long_field_is_incomplete() {
    let mut input = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: ".to_vec();
    input.extend(std::iter::repeat_n(b'a', MAX_LINE - 100));
    input.extend_from_slice(b"\r\nCall-ID: 12345");
    assert_eq!(parse(&input, Framing::Stream), Err(ParseError::Incomplete));
    input.extend(std::iter::repeat_n(b' ', 200));
    assert_eq!(parse(&input, Framing::Stream), Err(ParseError::Incomplete));
    // A partial continuation line does count towards the open field.
    let mut folded = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: ".to_vec();
    folded.extend(std::iter::repeat_n(b'a', MAX_LINE - 100));
    folded.extend_from_slice(b"\r\n ");
    folded.extend(std::iter::repeat_n(b'b', 200));
    assert_eq!(
        parse(&folded, Framing::Stream),
        Err(ParseError::LineTooLong)
    );
}

#[test]
fn stream_garbage_start_line_is_refused_before_headers_end() {
    assert_eq!(
        parse(b"GET / HTTP/1.1\r\nHost: x\r\n", Framing::Stream),
        Err(ParseError::BadStartLine)
    );
    assert_eq!(
        parse(
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n",
            Framing::Stream
        ),
        Err(ParseError::BadStartLine)
    );
}

#[test]
fn keepalives_are_skipped_and_reported() {
    assert_eq!(
        parse(b"\r\n\r\n", Framing::Datagram),
        Err(ParseError::KeepAlive)
    );
    assert_eq!(
        parse(b"\r\n", Framing::Datagram),
        Err(ParseError::KeepAlive)
    );
    assert_eq!(parse(b"", Framing::Datagram), Err(ParseError::KeepAlive));
    assert_eq!(
        parse(b"\r\n\r\n", Framing::Stream),
        Err(ParseError::Incomplete)
    );
    assert_eq!(
        parse(b"\r\n\r", Framing::Stream),
        Err(ParseError::Incomplete)
    );
    assert_eq!(skip_keepalive(b"\r\n\n\r\nX"), 5);
    assert_eq!(
        parse(&vec![b'\n'; MAX_MESSAGE_SIZE + 1], Framing::Stream),
        Err(ParseError::TooLarge)
    );
    let mut input = b"\r\n\r\n".to_vec();
    input.extend(crlf(INVITE));
    let (_, used) = parse(&input, Framing::Datagram).unwrap();
    assert_eq!(used, input.len());
}

#[test]
fn datagram_over_max_size_is_too_large() {
    let mut input = crlf(INVITE);
    input.resize(MAX_MESSAGE_SIZE + 1, b'x');
    assert_eq!(parse(&input, Framing::Datagram), Err(ParseError::TooLarge));
    assert_eq!(ParseError::TooLarge.response_code(), Some(513));
}

#[test]
fn stream_header_section_or_body_over_max_size_is_too_large() {
    let mut endless = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
    while endless.len() <= MAX_MESSAGE_SIZE + 100 {
        endless.extend_from_slice(b"X-Filler: 0123456789012345678901234567890123456789\r\n");
    }
    // Stops at the header-count limit first; without it, the size limit.
    assert_eq!(
        parse(&endless, Framing::Stream),
        Err(ParseError::TooManyHeaders)
    );
    let mut big_fields = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
    for _ in 0..100 {
        big_fields.extend_from_slice(b"X-Big: ");
        big_fields.extend(std::iter::repeat_n(b'a', 8000));
        big_fields.extend_from_slice(b"\r\n");
    }
    assert_eq!(
        parse(&big_fields, Framing::Stream),
        Err(ParseError::TooLarge)
    );
    let huge_cl = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 70000\r\n\r\nabc";
    assert_eq!(parse(huge_cl, Framing::Stream), Err(ParseError::TooLarge));
    let overflow_cl =
        b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 99999999999999999999999999\r\n\r\n";
    assert_eq!(
        parse(overflow_cl, Framing::Stream),
        Err(ParseError::BadContentLength)
    );
}

#[test]
fn header_count_limit_is_exact() {
    let build = |n: usize| {
        let mut m = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
        for i in 0..n {
            m.extend_from_slice(format!("X-H{i}: {i}\r\n").as_bytes());
        }
        m.extend_from_slice(b"\r\n");
        m
    };
    assert_eq!(
        parse(&build(MAX_HEADERS), Framing::Datagram)
            .unwrap()
            .0
            .headers
            .len(),
        MAX_HEADERS
    );
    assert_eq!(
        parse(&build(MAX_HEADERS + 1), Framing::Datagram),
        Err(ParseError::TooManyHeaders)
    );
}

#[test]
fn overlong_lines_and_endless_folding_are_line_too_long() {
    let mut long_value = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: ".to_vec();
    long_value.extend(std::iter::repeat_n(b'a', MAX_LINE));
    long_value.extend_from_slice(b"\r\n\r\n");
    assert_eq!(
        parse(&long_value, Framing::Datagram),
        Err(ParseError::LineTooLong)
    );

    let mut folding = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: a\r\n".to_vec();
    while folding.len() < 20_000 {
        folding.extend_from_slice(b" and more\r\n");
    }
    assert_eq!(
        parse(&folding, Framing::Stream),
        Err(ParseError::LineTooLong)
    );
    folding.extend_from_slice(b"\r\n");
    assert_eq!(
        parse(&folding, Framing::Datagram),
        Err(ParseError::LineTooLong)
    );

    let mut long_start = b"OPTIONS sip:".to_vec();
    long_start.extend(std::iter::repeat_n(b'a', MAX_LINE));
    assert_eq!(
        parse(&long_start, Framing::Stream),
        Err(ParseError::LineTooLong)
    );
    long_start.extend_from_slice(b" SIP/2.0\r\n\r\n");
    assert_eq!(
        parse(&long_start, Framing::Datagram),
        Err(ParseError::LineTooLong)
    );

    // A just-fitting field is fine.
    let mut fits = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: ".to_vec();
    fits.extend(std::iter::repeat_n(b'a', MAX_LINE - "Subject: ".len()));
    fits.extend_from_slice(b"\r\n\r\n");
    assert!(parse(&fits, Framing::Datagram).is_ok());
}

#[test]
fn malformed_header_lines_are_bad_header_line() {
    for line in [
        "NoColonHere",
        ": empty name",
        "Bad Name: x",
        "Bad(Name): x",
        "Ünïcode: x",
        "Subject: bare\rCR",
        "Subject: x\r",
    ] {
        let mut input = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
        input.extend_from_slice(line.as_bytes());
        input.extend_from_slice(b"\r\nCall-ID: x\r\n\r\n");
        assert_eq!(
            parse(&input, Framing::Datagram),
            Err(ParseError::BadHeaderLine),
            "{line:?}"
        );
    }
    assert_eq!(
        parse(
            b"OPTIONS sip:a@b SIP/2.0\r\n continuation first\r\n\r\n",
            Framing::Datagram
        ),
        Err(ParseError::BadHeaderLine)
    );
}

#[test]
fn whitespace_before_colon_is_allowed() {
    let msg = ok("OPTIONS sip:a@b SIP/2.0\nCall-ID \t : x\n\n");
    assert_eq!(msg.call_id(), Some("x"));
}

#[test]
fn content_length_must_be_a_single_number() {
    for value in [
        "",
        "abc",
        "-1",
        "+5",
        "1 2",
        "5, 5",
        "0x10",
        "99999999999999999999999999",
    ] {
        let input = format!("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: {value}\r\n\r\n");
        assert_eq!(
            parse(input.as_bytes(), Framing::Datagram),
            Err(ParseError::BadContentLength),
            "{value:?}"
        );
    }
    let same_twice = b"MESSAGE sip:a@b SIP/2.0\r\nl: 3\r\nContent-Length: 003\r\n\r\nabcdef";
    let (msg, used) = parse(same_twice, Framing::Datagram).unwrap();
    assert_eq!(msg.body, b"abc");
    assert_eq!(used, same_twice.len() - 3);
}

#[test]
fn non_utf8_header_values_are_converted_lossily_not_rejected() {
    let input = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: caf\xe9 \xff\r\nCall-ID: x\r\n\r\n";
    let (msg, _) = parse(input, Framing::Datagram).unwrap();
    assert_eq!(
        msg.header(&HeaderName::Subject),
        Some("caf\u{fffd} \u{fffd}")
    );
}

#[test]
fn binary_body_with_nul_bytes_is_kept_exact() {
    let body: Vec<u8> = (0..=255u8)
        .rev()
        .chain([0, 0, b'\r', b'\n', b'\r', b'\n'])
        .collect();
    let mut msg = request(Method::Info, "sip:a@b");
    msg.add_header(HeaderName::CallId, "x");
    msg.body = body.clone();
    let wire = msg.to_bytes();
    for framing in [Framing::Datagram, Framing::Stream] {
        let (parsed, used) = parse(&wire, framing).unwrap();
        assert_eq!(parsed.body, body);
        assert_eq!(used, wire.len());
    }
}

#[test]
fn datagram_without_empty_line_is_headers_unterminated() {
    assert_eq!(
        parse(
            b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n",
            Framing::Datagram
        ),
        Err(ParseError::HeadersUnterminated)
    );
    assert_eq!(
        parse(b"OPTIONS sip:a@b SIP/2.0", Framing::Datagram),
        Err(ParseError::HeadersUnterminated)
    );
    assert_eq!(
        parse(b"hello", Framing::Datagram),
        Err(ParseError::BadStartLine)
    );
}

#[test]
fn start_line_grammar() {
    let bad_start = [
        "GET / HTTP/1.1",
        "INVITE",
        "INVITE sip:a@b",
        "INV\u{e9}TE sip:a@b SIP/2.0",
        "SIP/2.0 99 Too Low",
        "SIP/2.0 700 Too High",
        "SIP/2.0 2000 OK",
        "SIP/2.0 20 OK",
        "SIP/2.0  200 OK",
        "SIP/x.0 200 OK",
        "SIP/2.0",
        "SIP/2.0 200\tOK",
    ];
    for line in bad_start {
        let input = format!("{line}\r\nCall-ID: x\r\n\r\n");
        assert_eq!(
            parse(input.as_bytes(), Framing::Datagram),
            Err(ParseError::BadStartLine),
            "{line:?}"
        );
    }
    assert_eq!(
        parse(b"SIP/2.0 200 O\rK\r\n\r\n", Framing::Datagram),
        Err(ParseError::BadStartLine)
    );
    let msg = ok("sip/2.0 486 Busy Here\nCall-ID: x\n\n");
    assert_eq!(msg.status(), Some(486));
    assert_eq!(msg.version(), "sip/2.0");
    let msg = ok("INVITE sip:a@b SIP/2.0.1x\nCall-ID: x\n\n"
        .replace(".1x", "")
        .as_str());
    assert_eq!(msg.version(), "SIP/2.0");
    assert_eq!(
        parse(b"INVITE sip:a@b SIP/2.x\r\n\r\n", Framing::Datagram),
        Err(ParseError::BadRequestLine)
    );
}
