//! Relay legs from another cluster node: no IVR, straight into the conference as the role
//! the answering node decided, or a BYE when that is not possible.

use super::*;
use crate::engine::Entry;
use crate::ivr::flow::Role;

fn start_leg(b: &mut Bench, id: u64, role: Role) -> Vec<Event<u32>> {
    b.workers[0].handle_command(
        b.now,
        Command::Start {
            call: CallId(id),
            transport: id as u32,
            sip_call_id: format!("leg{id}"),
            from: format!("sip:leg{id}@node-b"),
            params: params(6000 + id as u16),
            entry: Entry::Relayed {
                conference_id: "123456789".into(),
                role,
            },
        },
    );
    b.route()
}

#[test]
fn a_leg_skips_the_ivr_and_joins_as_the_answering_node_said() {
    let mut b = Bench::new(2);
    let events = start_leg(&mut b, 1, Role::Attendee);
    assert!(
        matches!(events.as_slice(), [Event::Control(Request::LookupConference { digits, .. })] if digits == "123456789"),
        "the leg's conference is looked up at once, no prompt asked for it"
    );
    let sent = b.tick();
    assert!(
        sent.iter()
            .all(|(_, _, p)| payload(p).iter().all(|&s| s == 0xFF)),
        "no welcome prompt: the caller heard it on the node that answered"
    );
    b.command(
        1,
        Command::ConferenceFound {
            call: CallId(1),
            conference: Some(conference()),
        },
    );
    let events = b.route();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Control(Request::Joined {
                role: Role::Attendee,
                ..
            })
        )),
        "joined as an attendee"
    );
    let owner = b.host("123456789");
    assert_eq!(
        b.workers[owner].meeting_sizes("123456789"),
        Some((1, 0)),
        "in the lobby"
    );

    // An organizer's leg (its PIN was checked on the answering node) starts the meeting and
    // moves the lobby in.
    start_leg(&mut b, 2, Role::Organizer);
    b.found(2);
    b.route();
    assert_eq!(b.workers[owner].meeting_sizes("123456789"), Some((0, 2)));
}

#[test]
fn a_leg_whose_conference_is_gone_or_unreachable_is_hung_up() {
    let mut b = Bench::new(1);
    start_leg(&mut b, 1, Role::Attendee);
    b.command(
        1,
        Command::ConferenceFound {
            call: CallId(1),
            conference: None,
        },
    );
    assert!(matches!(
        b.route().as_slice(),
        [Event::Control(Request::Hangup {
            reason: HangupReason::Ivr(HangupCause::ConferenceIdAttempts),
            ..
        })]
    ));
    start_leg(&mut b, 2, Role::Organizer);
    b.command(2, Command::DirectoryUnavailable { call: CallId(2) });
    assert!(matches!(
        b.route().as_slice(),
        [Event::Control(Request::Hangup {
            reason: HangupReason::Ivr(HangupCause::DirectoryUnavailable),
            ..
        })]
    ));
    start_leg(&mut b, 3, Role::Attendee);
    b.command(3, Command::Goodbye);
    assert!(matches!(
        b.route().as_slice(),
        [Event::Control(Request::Hangup {
            reason: HangupReason::Ivr(HangupCause::Shutdown),
            ..
        })]
    ));
}

/// Call 1 through the IVR to a meeting hosted by another node: it asks for a leg.
fn relayed_caller(b: &mut Bench) {
    b.start(0, 1);
    b.keys(1, "123456789#");
    b.command(
        1,
        Command::HostedElsewhere {
            call: CallId(1),
            target: RelayTarget {
                node: "a".into(),
                sip: "127.0.0.1:5070".parse().unwrap(),
            },
        },
    );
    b.command(
        1,
        Command::ConferenceFound {
            call: CallId(1),
            conference: Some(conference()),
        },
    );
    b.route();
    b.press(1, "#");
}

/// Call 1 relayed, its leg (socket 99) up to an owner at the address returned.
fn relayed_with_leg_up() -> (Bench, SocketAddr) {
    let mut b = Bench::new(1);
    relayed_caller(&mut b);
    b.route();
    let owner: SocketAddr = "127.0.0.1:41000".parse().unwrap();
    b.command(
        1,
        Command::RelayUp {
            call: CallId(1),
            leg: 99,
            remote: owner,
        },
    );
    (b, owner)
}

#[test]
fn a_caller_whose_meeting_is_elsewhere_asks_for_a_leg_instead_of_joining() {
    let mut b = Bench::new(1);
    relayed_caller(&mut b);
    let events = b.route();
    assert!(
        events.iter().any(|e| matches!(e, Event::Control(Request::OpenRelay { role: Role::Attendee, target, params, .. })
            if target.node == "a" && params.codec == Codec::Pcmu)),
        "a leg is asked for, with the caller's codec"
    );
    assert_eq!(
        b.workers[0].meeting_sizes("123456789"),
        None,
        "no room here"
    );
    let sent = b.tick();
    assert!(
        !sent.is_empty()
            && sent
                .iter()
                .all(|(_, _, p)| payload(p).iter().all(|&s| s == 0xFF)),
        "silence while the leg opens"
    );
}

#[test]
fn packets_pass_both_ways_unchanged_once_the_leg_is_up_and_strangers_are_ignored() {
    let (mut b, owner) = relayed_with_leg_up();
    let caller: SocketAddr = "127.0.0.1:7000".parse().unwrap();
    let digits_before = b.workers[0].stats().digits;
    let from_caller = rfc4733_packet('5', 0, 10, 1000, 7);
    b.workers[0].handle_rtp(b.now, CallId(1), caller, &from_caller);
    let mut from_owner = vec![0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 42];
    from_owner.extend_from_slice(&[0x55; 160]);
    let now = b.now;
    b.workers[0].handle_leg_rtp(now, CallId(1), owner, &from_owner);
    b.workers[0].handle_leg_rtp(now, CallId(1), "127.0.0.1:9".parse().unwrap(), &from_owner);
    let mut sent = Vec::new();
    b.workers[0].flush_relayed(&mut |t, dest, bytes| sent.push((*t, dest, bytes.to_vec())));
    assert_eq!(
        sent,
        vec![
            (99, owner, from_caller.clone()),
            (1, caller, from_owner.clone())
        ],
        "the caller's digit packet to the leg, the owner's audio to the caller, nothing else"
    );
    assert_eq!(
        b.workers[0].stats().digits,
        digits_before,
        "digits are the owner's to read"
    );
    assert!(
        b.tick().is_empty(),
        "the tick sends nothing for a relayed caller"
    );
}

#[test]
fn a_leg_that_fails_tells_the_caller_and_one_the_owner_ends_hangs_up() {
    let mut b = Bench::new(1);
    relayed_caller(&mut b);
    b.route();
    b.command(1, Command::RelayFailed { call: CallId(1) });
    let heard = b.listen(400);
    let sorry = prompt_pcm(&[Prompt::ServiceUnavailable]);
    assert!(
        find_run(&heard[&1], &sorry[..5]).is_some(),
        "the caller hears why"
    );
    assert!(
        b.route().iter().any(|e| matches!(
            e,
            Event::Control(Request::Hangup {
                reason: HangupReason::Ivr(HangupCause::DirectoryUnavailable),
                ..
            })
        )),
        "then a BYE"
    );

    let mut b = Bench::new(1);
    relayed_caller(&mut b);
    b.route();
    b.command(1, Command::RelayEnded { call: CallId(1) });
    assert!(matches!(
        b.route().as_slice(),
        [Event::Control(Request::Hangup {
            reason: HangupReason::RelayEnded,
            ..
        })]
    ));
}

#[test]
fn a_leg_gone_silent_is_replaced_after_reconnecting_and_the_caller_can_be_rehomed_here() {
    let (mut b, owner) = relayed_with_leg_up();
    // The owner's packets keep the leg alive...
    let mut packet = vec![0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 42];
    packet.extend_from_slice(&[0x55; 160]);
    for _ in 0..60 {
        b.tick();
        let now = b.now;
        b.workers[0].handle_leg_rtp(now, CallId(1), owner, &packet);
    }
    assert!(b.route().is_empty(), "a live leg stays");
    // ...until they stop for longer than LEG_SILENCE.
    let ticks = (super::super::relay::LEG_SILENCE.as_millis() / 20) as usize + 2;
    for _ in 0..ticks {
        b.tick();
    }
    let events = b.route();
    assert!(
        matches!(events.as_slice(), [Event::Control(Request::Rehome { role: Role::Attendee, from_node, conference_id, .. })]
            if from_node == "a" && conference_id == "123456789"),
        "the cluster is asked for the next owner"
    );
    let heard = b.listen(60);
    let reconnecting = prompt_pcm(&[Prompt::Reconnecting]);
    assert!(
        find_run(&heard[&1], &reconnecting[10..30]).is_some(),
        "'reconnecting'"
    );
    // This node is the new owner: the caller joins the meeting here.
    b.command(
        1,
        Command::Rehome {
            call: CallId(1),
            target: None,
        },
    );
    b.route();
    assert_eq!(
        b.workers[0].meeting_sizes("123456789"),
        Some((1, 0)),
        "in the lobby here"
    );
}
