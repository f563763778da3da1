//! An operator's view of the meetings and their controls (the admin API's meetings).

use super::*;
use crate::ivr::flow::Role;

fn other_conference() -> Conference {
    Conference {
        organizer_id: 2,
        conference_id: "555000111".into(),
        organizer_name: "Grace".into(),
        start_without_pin: false,
    }
}

/// Call `id` dials the other conference as an attendee (its organizer never comes).
fn join_other(b: &mut Bench, id: u64) {
    b.keys(id, "555000111#");
    b.command(
        id,
        Command::ConferenceFound {
            call: CallId(id),
            conference: Some(other_conference()),
        },
    );
    b.keys(id, "#");
}

/// The view of conference `conference_id` from whichever worker owns it.
fn view(b: &Bench, conference_id: &str) -> MeetingView {
    b.workers
        .iter()
        .find_map(|w| w.meeting_view(conference_id))
        .expect("a worker owns the meeting")
}

fn control(b: &mut Bench, conference_id: &str, c: Control) -> ControlOutcome {
    let now = b.now;
    // A meeting nobody hosts: any worker must say so.
    let owner = b.homes.find(conference_id).unwrap_or(0);
    b.workers[owner].control(now, conference_id, c)
}

fn done(outcome: ControlOutcome) -> MeetingView {
    match outcome {
        ControlOutcome::Done(v) => v,
        other => panic!("control refused: {other:?}"),
    }
}

fn hangups(events: &[Event<u32>]) -> Vec<(u64, HangupCause)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Control(Request::Hangup {
                call,
                reason: HangupReason::Ivr(cause),
            }) => Some((call.0, *cause)),
            _ => None,
        })
        .collect()
}

/// Ticks until every call in `ids` was hung up for `cause`; what each heard until then.
fn until_hung_up(b: &mut Bench, ids: &[u64], cause: HangupCause) -> HashMap<u32, Vec<Pcm8>> {
    let mut heard: HashMap<u32, Vec<Pcm8>> = HashMap::new();
    let mut gone = Vec::new();
    for _ in 0..500 {
        for (t, _, bytes) in b.tick() {
            heard.entry(t).or_default().push(pcm_of(payload(&bytes)));
        }
        for (call, why) in hangups(&b.route()) {
            assert_eq!(why, cause, "call {call} hung up for {why:?}");
            gone.push(call);
        }
        if ids.iter().all(|id| gone.contains(id)) {
            return heard;
        }
    }
    panic!("not all of {ids:?} were hung up: {gone:?}");
}

#[test]
fn the_view_shows_each_meeting_and_lobby_with_who_is_where() {
    let mut b = Bench::new(2);
    let before = b.now;
    b.start(0, 1);
    b.join(1, true);
    b.start(1, 2);
    b.join(2, false);
    b.start(0, 3);
    join_other(&mut b, 3);
    b.keys(2, "*5");

    let running = view(&b, "123456789");
    assert_eq!(running.state, MeetingPhase::Running);
    assert_eq!(running.organizer_id, 1);
    assert!(!running.locked);
    assert!(running.started_at.is_some_and(|t| t >= before));
    let ids: Vec<u64> = running.participants.iter().map(|p| p.id.0).collect();
    assert_eq!(ids, [1, 2]);
    let (boss, guest) = (&running.participants[0], &running.participants[1]);
    assert_eq!(boss.role, Role::Organizer);
    assert_eq!(guest.role, Role::Attendee);
    assert_eq!(guest.state, Attendance::Meeting);
    assert_eq!(guest.from, "sip:caller2@example.net");
    assert_eq!(guest.codec, Codec::Pcmu);
    assert!(guest.hand_raised && !boss.hand_raised);
    assert!(!guest.muted && !guest.talking);

    let lobby = view(&b, "555000111");
    assert_eq!(lobby.state, MeetingPhase::Lobby);
    assert_eq!(lobby.started_at, None);
    assert_eq!(lobby.participants.len(), 1);
    assert_eq!(lobby.participants[0].state, Attendance::Lobby);
    assert_eq!(lobby.participants[0].id, CallId(3));

    let all: Vec<String> = b
        .workers
        .iter()
        .flat_map(|w| w.meeting_views())
        .map(|v| v.conference_id)
        .collect();
    assert_eq!(all.len(), 2, "each meeting from its owner only: {all:?}");

    // A talker shows as talking.
    let words = voice(10);
    b.talk_with(2, Codec::Pcmu, 0, &words);
    b.listen(4);
    assert!(view(&b, "123456789").participants[1].talking);
}

#[test]
fn mute_leaves_exactly_that_caller_out_of_the_mix_and_tells_them() {
    let mut b = Bench::new(1);
    b.start(0, 1);
    b.join(1, true);
    b.start(0, 2);
    b.join(2, false);
    b.listen(a_len(Prompt::CallersJoinedFromLobby) + 20);
    let loud = |heard: &[Pcm8]| heard.iter().any(|f| f.iter().any(|s| s.abs() > 2000));
    let words = voice(40);
    b.talk_with(2, Codec::Pcmu, 0, &words[..20]);
    assert!(loud(&b.listen(20)[&1]), "the guest is heard before");

    let after = done(control(&mut b, "123456789", Control::Mute(CallId(2))));
    assert!(after.participants[1].muted);
    b.talk_with(2, Codec::Pcmu, 20, &words[20..]);
    let heard = b.listen(a_len(Prompt::Muted) + 5);
    assert!(!loud(&heard[&1]), "a muted guest is not heard");
    assert!(
        find_run(&heard[&2], &prompt_pcm(&[Prompt::Muted])).is_some(),
        "the guest hears 'You are muted'"
    );
    // Muting twice changes nothing and says nothing more.
    let again = done(control(&mut b, "123456789", Control::Mute(CallId(2))));
    assert!(again.participants[1].muted);
    let unmuted = done(control(&mut b, "123456789", Control::Unmute(CallId(2))));
    assert!(!unmuted.participants[1].muted);
    let heard = b.listen(a_len(Prompt::Unmuted) + 5);
    assert_eq!(
        find_run(&heard[&2], &prompt_pcm(&[Prompt::Unmuted])),
        Some(0),
        "'You are unmuted', and no second 'You are muted' before it"
    );
}

#[test]
fn controls_name_what_is_missing_or_does_not_apply() {
    let mut b = Bench::new(2);
    b.start(0, 1);
    join_other(&mut b, 1);
    assert_eq!(
        control(&mut b, "999", Control::Lock),
        ControlOutcome::NotFound(Missing::Meeting)
    );
    assert_eq!(
        control(&mut b, "555000111", Control::Mute(CallId(42))),
        ControlOutcome::NotFound(Missing::Participant)
    );
    for c in [
        Control::Mute(CallId(1)),
        Control::Unmute(CallId(1)),
        Control::Admit(CallId(1)),
        Control::AdmitAll,
    ] {
        assert!(
            matches!(
                control(&mut b, "555000111", c),
                ControlOutcome::NotApplicable(_)
            ),
            "{c:?} in a lobby without an organizer"
        );
    }
    b.start(0, 2);
    b.join(2, true);
    assert!(matches!(
        control(&mut b, "123456789", Control::Deny(CallId(2))),
        ControlOutcome::NotApplicable(_)
    ));
    assert!(matches!(
        control(&mut b, "123456789", Control::Admit(CallId(2))),
        ControlOutcome::NotApplicable(_)
    ));
    // Nothing changed by a refused control.
    assert_eq!(view(&b, "555000111").participants.len(), 1);
}

#[test]
fn kick_says_why_then_hangs_up_and_the_others_hear_them_leave() {
    let mut b = Bench::new(1);
    b.start(0, 1);
    b.join(1, true);
    b.start(0, 2);
    b.join(2, false);
    b.listen(5);
    let after = done(control(&mut b, "123456789", Control::Kick(CallId(2))));
    let ids: Vec<u64> = after.participants.iter().map(|p| p.id.0).collect();
    assert_eq!(ids, [1], "the kicked caller is out at once");
    let heard = until_hung_up(&mut b, &[2], HangupCause::Removed);
    assert!(
        find_run(&heard[&2], &prompt_pcm(&[Prompt::Removed])).is_some(),
        "'You have been removed from the meeting' before the hangup"
    );
    let a = assets();
    let leave: Vec<Pcm8> = a
        .chime(crate::ivr::assets::Chime::Leave)
        .iter()
        .map(|pcm| {
            let mut f = [0u8; 160];
            crate::media::g711::encode(Law::Mu, pcm, &mut f);
            pcm_of(&f)
        })
        .collect();
    assert!(
        find_run(&heard[&1], &leave).is_some(),
        "the organizer hears the leave chime"
    );
}

#[test]
fn end_tells_everyone_in_the_meeting_and_its_lobby_then_hangs_them_all_up() {
    let mut b = configured(2, |c| c.lobby_admit = LobbyAdmit::Organizer);
    b.start(1, 2);
    b.join(2, false);
    b.start(0, 3);
    b.join(3, false);
    b.start(0, 1);
    b.join(1, true);
    assert_eq!(
        view(&b, "123456789")
            .participants
            .iter()
            .filter(|p| p.state == Attendance::Lobby)
            .count(),
        2,
        "the organizer lets callers in: both wait"
    );
    let ended = done(control(&mut b, "123456789", Control::End));
    assert_eq!(ended.state, MeetingPhase::Ended);
    assert!(ended.participants.is_empty());
    let heard = until_hung_up(&mut b, &[1, 2, 3], HangupCause::MeetingEnded);
    for id in [1, 2, 3] {
        assert!(
            find_run(&heard[&id], &prompt_pcm(&[Prompt::MeetingEnded])).is_some(),
            "call {id} hears 'The meeting has ended'"
        );
    }
    assert!(b.workers.iter().all(|w| w.meeting_views().is_empty()));
}

#[test]
fn lock_admit_and_deny_act_as_the_organizers_keys() {
    let mut b = configured(1, |c| c.lobby_admit = LobbyAdmit::Organizer);
    for id in [2, 3, 4] {
        b.start(0, id);
        b.join(id, false);
    }
    b.start(0, 1);
    b.join(1, true);
    let state = |v: &MeetingView, id: u64| {
        v.participants
            .iter()
            .find(|p| p.id == CallId(id))
            .map(|p| p.state)
    };
    let v = done(control(&mut b, "123456789", Control::Admit(CallId(2))));
    assert_eq!(state(&v, 2), Some(Attendance::Meeting));
    let v = done(control(&mut b, "123456789", Control::Deny(CallId(3))));
    assert_eq!(state(&v, 3), None);
    let heard = until_hung_up(&mut b, &[3], HangupCause::Denied);
    assert!(find_run(&heard[&3], &prompt_pcm(&[Prompt::NotLetIn])).is_some());

    let v = done(control(&mut b, "123456789", Control::Lock));
    assert!(v.locked);
    b.start(0, 5);
    b.join(5, false);
    assert_eq!(
        state(&view(&b, "123456789"), 5),
        Some(Attendance::Lobby),
        "locked: a newcomer waits"
    );
    let v = done(control(&mut b, "123456789", Control::AdmitAll));
    assert_eq!(state(&v, 4), Some(Attendance::Meeting));
    assert_eq!(state(&v, 5), Some(Attendance::Meeting));
    let v = done(control(&mut b, "123456789", Control::Unlock));
    assert!(!v.locked);
    b.start(0, 6);
    b.join(6, false);
    assert_eq!(state(&view(&b, "123456789"), 6), Some(Attendance::Meeting));
    assert_eq!(b.workers[0].stats().lobby_let_in, 1);
    assert_eq!(b.workers[0].stats().lobby_sent_away, 1);
}

/// One meeting event as the tests compare it: type, participant id, their state, muted, by.
type Told = (
    &'static str,
    Option<u64>,
    Option<Attendance>,
    bool,
    Option<&'static str>,
);

/// The meeting events so far, taken out.
fn taken(b: &mut Bench) -> Vec<Told> {
    b.route();
    std::mem::take(&mut b.live)
        .into_iter()
        .map(|e| {
            let p = e.participant.as_ref();
            (
                e.kind.as_str(),
                p.map(|p| p.id.0),
                p.map(|p| p.state),
                p.is_some_and(|p| p.muted),
                e.by,
            )
        })
        .collect()
}

#[test]
fn a_meeting_tells_its_events_as_they_happen() {
    let mut b = Bench::new(2);
    use Attendance::{Lobby, Meeting};
    // An attendee first: the lobby, with nobody to let them in.
    b.start(1, 2);
    b.join(2, false);
    assert_eq!(
        taken(&mut b),
        [
            ("participant.joined", Some(2), Some(Lobby), false, None),
            ("lobby.waiting", Some(2), Some(Lobby), false, None),
        ]
    );
    // The organizer comes: joined, the meeting starts, the lobby moves in.
    b.start(0, 1);
    b.join(1, true);
    assert_eq!(
        taken(&mut b),
        [
            ("participant.joined", Some(1), Some(Meeting), false, None),
            ("meeting.started", None, None, false, None),
            (
                "participant.admitted",
                Some(2),
                Some(Meeting),
                false,
                Some("organizer")
            ),
        ]
    );
    // *6 by RFC 4733 mutes; the operator unmutes.
    let w = b.worker_of(2);
    let from = SocketAddr::from(([127, 0, 0, 1], 7002));
    let mut seq = 0u16;
    for key in ['*', '6'] {
        let ts = u32::from(seq) * 160;
        for n in 0..6u16 {
            let pkt = rfc4733_packet(key, n, seq, ts, 2);
            seq += 1;
            b.workers[w].handle_rtp(b.now, CallId(2), from, &pkt);
        }
    }
    assert_eq!(
        taken(&mut b),
        [("participant.muted", Some(2), Some(Meeting), true, None)]
    );
    done(control(&mut b, "123456789", Control::Unmute(CallId(2))));
    assert_eq!(
        taken(&mut b),
        [(
            "participant.unmuted",
            Some(2),
            Some(Meeting),
            false,
            Some("operator")
        )]
    );
    // The organizer's *22 mutes everyone else.
    b.keys(1, "*22");
    assert_eq!(
        taken(&mut b),
        [(
            "participant.muted",
            Some(2),
            Some(Meeting),
            true,
            Some("organizer")
        )]
    );
    // Hanging up: left (as they were), then the meeting ends with its last caller.
    b.command(2, Command::Stop { call: CallId(2) });
    assert_eq!(
        taken(&mut b),
        [("participant.left", Some(2), Some(Meeting), true, None)]
    );
    b.command(1, Command::Stop { call: CallId(1) });
    assert_eq!(
        taken(&mut b),
        [
            ("participant.left", Some(1), Some(Meeting), false, None),
            ("meeting.ended", None, None, false, None),
        ]
    );
}

#[test]
fn events_name_the_conference_and_the_caller_as_operators_see_them() {
    let mut b = Bench::new(1);
    b.start(0, 1);
    b.join(1, true);
    b.route();
    let joined = b
        .live
        .iter()
        .find(|e| e.kind == LiveEventKind::ParticipantJoined)
        .expect("a joined event")
        .clone();
    assert_eq!(joined.conference_id, "123456789");
    assert_eq!(joined.organizer_id, 1);
    let p = joined.participant.expect("the caller");
    assert_eq!(p, view(&b, "123456789").participants[0]);
    assert_eq!(p.role, Role::Organizer);
    // An operator's start with nobody waiting still starts the meeting once.
    let mut b = Bench::new(1);
    b.workers[0].handle_command(
        b.now,
        Command::StartMeeting {
            conference: conference(),
        },
    );
    b.workers[0].handle_command(
        b.now,
        Command::StartMeeting {
            conference: conference(),
        },
    );
    assert_eq!(
        taken(&mut b),
        [("meeting.started", None, None, false, Some("operator"))]
    );
}
