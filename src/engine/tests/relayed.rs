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
    let owner = crate::engine::owner_of("123456789", 2);
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
