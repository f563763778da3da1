//! Property tests: no input panics the parser, and what it writes it reads back.

use super::torture_valid::{WSINV, intmeth};
use super::*;
use proptest::prelude::*;

/// Exercises every accessor and the serialiser on a parsed message; none may panic.
fn exercise(msg: &Message) {
    let _ = (
        msg.method(),
        msg.status(),
        msg.request_uri(),
        msg.version(),
        msg.call_id(),
    );
    let _ = (
        msg.cseq(),
        msg.vias(),
        msg.top_via(),
        msg.from_header(),
        msg.to_header(),
    );
    let _ = (
        msg.contact(),
        msg.content_type(),
        msg.max_forwards(),
        msg.validate(),
    );
    let _ = msg.content_type_is("application/sdp");
    let _ = (
        msg.tokens(&HeaderName::Allow),
        msg.tokens(&HeaderName::Supported),
    );
    if let Some(uri) = msg.request_uri() {
        let _ = SipUri::parse(uri);
    }
    let _ = response_to(msg, 400, "Bad Request").to_bytes();
}

/// What `to_bytes` then `parse` must give back: same start line, headers and body.
fn assert_round_trip(msg: &Message) -> Result<(), TestCaseError> {
    let wire = msg.to_bytes();
    match parse(&wire, Framing::Stream) {
        Ok((again, used)) => {
            prop_assert_eq!(used, wire.len());
            prop_assert_eq!(&again.start, &msg.start);
            prop_assert_eq!(strip_content_length(&again), strip_content_length(msg));
            prop_assert_eq!(&again.body, &msg.body);
        }
        // Expanding compact names or adding Content-Length can push a message that was
        // just under a limit over it.
        Err(ParseError::TooLarge | ParseError::LineTooLong | ParseError::TooManyHeaders) => {}
        Err(e) => prop_assert!(false, "re-parse failed: {e:?}"),
    }
    Ok(())
}

#[derive(Clone, Debug)]
enum Mutation {
    Replace(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    InsertText(usize, &'static str),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let special = prop::sample::select(vec![
        "\r\n",
        "\n",
        "\r",
        " ",
        "\t",
        ":",
        ";",
        ",",
        "\"",
        "<",
        ">",
        "\\",
        "%",
        "\r\n ",
        "\r\n\r\n",
        "\0",
        "\u{ff}",
        "SIP/2.0",
        "Content-Length: 99\r\n",
        "l: -1\r\n",
    ]);
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), special).prop_map(|(i, s)| Mutation::InsertText(i, s)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut input: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = input.len().max(1);
        match *m {
            Mutation::Replace(i, b) => {
                if let Some(x) = input.get_mut(i % len) {
                    *x = b;
                }
            }
            Mutation::Insert(i, b) => input.insert(i % (input.len() + 1), b),
            Mutation::Delete(i) => {
                if !input.is_empty() {
                    input.remove(i % len);
                }
            }
            Mutation::InsertText(i, s) => {
                let at = i % (input.len() + 1);
                input.splice(at..at, s.bytes());
            }
            Mutation::Truncate(i) => input.truncate(i % len),
        }
    }
    input
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(input in prop::collection::vec(any::<u8>(), 0..2048)) {
        for framing in [Framing::Datagram, Framing::Stream] {
            if let Ok((msg, used)) = parse(&input, framing) {
                prop_assert!(used <= input.len());
                exercise(&msg);
            }
        }
        if let Some(head) = salvage(&input) {
            exercise(&head);
        }
    }

    #[test]
    fn parse_never_panics_on_mutated_invite(mutations in prop::collection::vec(mutation(), 1..8)) {
        for base in [crlf(INVITE), crlf(WSINV), intmeth()] {
            let input = mutate(base, &mutations);
            for framing in [Framing::Datagram, Framing::Stream] {
                if let Ok((msg, used)) = parse(&input, framing) {
                    prop_assert!(used <= input.len());
                    exercise(&msg);
                    assert_round_trip(&msg)?;
                }
            }
            if let Some(head) = salvage(&input) {
                exercise(&head);
            }
        }
    }

    #[test]
    fn stream_and_datagram_agree_on_complete_messages(mutations in prop::collection::vec(mutation(), 0..4)) {
        let input = mutate(crlf(INVITE), &mutations);
        if let Ok((dgram_msg, used)) = parse(&input, Framing::Datagram)
            && dgram_msg.header(&HeaderName::ContentLength).is_some()
        {
            let (stream_msg, stream_used) = parse(&input, Framing::Stream).unwrap();
            prop_assert_eq!(stream_msg, dgram_msg);
            prop_assert_eq!(stream_used, used);
        }
    }
}
