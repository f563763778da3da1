//! Joining, the lobby and its moves, names announced, leaving, goodbyes and lobby timers.

use super::*;

#[test]
fn a_recorded_name_is_announced_to_the_others_on_join_and_leave_never_to_its_owner() {
    let mut b = configured(1, |c| c.ivr.record_names = true);
    // The organizer skips the name with `*`.
    b.start(0, 1);
    b.keys(1, "123456789#");
    b.found(1);
    b.keys(1, "*12345#");
    b.command(
        1,
        Command::PinChecked {
            call: CallId(1),
            ok: true,
        },
    );
    b.route();
    let words = say_name(&mut b, 2, 30);
    b.keys(2, "#");
    assert_eq!(b.workers[0].meeting_sizes("123456789"), Some((0, 2)));
    let heard = b.listen(30 + 60);
    let name: Vec<Pcm8> = words.iter().map(|f| pcm_of(f)).collect();
    let org = &heard[&1];
    let at = find_run(org, &name).expect("the organizer hears the name");
    let joined = find_run(org, &prompt_pcm(&[Prompt::HasJoined])).expect("'has joined'");
    assert!(
        joined >= at + name.len() && joined <= at + name.len() + 3,
        "'has joined' right after the name"
    );
    assert!(
        find_run(&heard[&2], &name).is_none()
            && find_run(&heard[&2], &prompt_pcm(&[Prompt::HasJoined])).is_none(),
        "the caller does not hear their own announcement"
    );
    b.command(2, Command::Stop { call: CallId(2) });
    let heard = b.listen(30 + 60);
    let at = find_run(&heard[&1], &name).expect("the name again on leaving");
    let left = find_run(&heard[&1], &prompt_pcm(&[Prompt::HasLeft])).expect("'has left'");
    assert!(left >= at + name.len() && left <= at + name.len() + 3);
}

#[test]
fn silence_after_the_tone_gives_no_name_and_the_plain_chime() {
    let mut b = configured(1, |c| c.ivr.record_names = true);
    b.start(0, 1);
    b.join(1, true);
    say_name(&mut b, 2, 0);
    b.keys(2, "#");
    assert_eq!(b.workers[0].meeting_sizes("123456789"), Some((0, 2)));
    let heard = b.listen(40);
    let a = assets();
    // As a μ-law listener hears it.
    let chime: Vec<Pcm8> = a
        .chime(crate::ivr::assets::Chime::Join)
        .iter()
        .map(|pcm| {
            let mut f = [0u8; 160];
            crate::media::g711::encode(Law::Mu, pcm, &mut f);
            pcm_of(&f)
        })
        .collect();
    assert!(find_run(&heard[&1], &chime).is_some(), "the join chime");
    assert!(find_run(&heard[&1], &prompt_pcm(&[Prompt::HasJoined])).is_none());
}

#[test]
fn announcements_off_silences_names_too() {
    let mut b = configured(1, |c| c.ivr.record_names = true);
    b.start(0, 1);
    b.join(1, true);
    b.keys(1, "*23");
    b.listen(a_len(Prompt::AnnouncementsOff) + 2);
    let words = say_name(&mut b, 2, 20);
    b.keys(2, "#");
    let heard = b.listen(90);
    let name: Vec<Pcm8> = words.iter().map(|f| pcm_of(f)).collect();
    assert!(find_run(&heard[&1], &name).is_none(), "no announcement");
}

#[test]
fn an_organizer_who_admits_hears_how_many_wait_and_the_lobby_stays() {
    let mut b = configured(1, |c| c.lobby_admit = LobbyAdmit::Organizer);
    b.start(0, 2);
    b.join(2, false);
    b.start(0, 3);
    b.join(3, false);
    b.start(0, 1);
    b.join(1, true);
    assert_eq!(
        b.workers[0].meeting_sizes("123456789"),
        Some((2, 1)),
        "the lobby stays"
    );
    let said = [Prompt::N2, Prompt::CallersWaiting, Prompt::LobbyChoices];
    let want = prompt_pcm(&said);
    let heard = b.listen(want.len());
    assert_eq!(
        heard[&1], want,
        "'two callers are waiting. Press star two one…'"
    );
}

#[test]
fn the_organizer_is_told_once_per_wait_when_the_lobby_keeps_someone_long() {
    let mut b = configured(1, |c| {
        c.lobby_mail_after = Some(Duration::from_secs(10));
        c.rtp_timeout = None;
    });
    let waits = |b: &mut Bench, ticks: usize| -> Vec<(usize, Duration)> {
        let mut seen = Vec::new();
        for _ in 0..ticks {
            b.tick();
            for e in b.route() {
                if let Event::Control(Request::LobbyWaiting {
                    callers, waited, ..
                }) = e
                {
                    seen.push((callers, waited));
                }
            }
        }
        seen
    };
    b.start(0, 2);
    b.join(2, false);
    assert!(waits(&mut b, 10_000 / 20 - 1).is_empty(), "not before 10 s");
    b.start(0, 3);
    b.join(3, false);
    let told = waits(&mut b, 2);
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].0, 2, "two wait");
    assert!(told[0].1 >= Duration::from_secs(10));
    assert!(waits(&mut b, 1000).is_empty(), "once per wait");
    // The meeting runs locked; the lobby empties and fills again: a new wait.
    b.start(0, 1);
    b.join(1, true);
    b.keys(1, "*7");
    b.start(0, 4);
    b.join(4, false);
    assert_eq!(b.workers[0].meeting_sizes("123456789"), Some((1, 3)));
    assert!(waits(&mut b, 10_000 / 20 - 1).is_empty());
    assert_eq!(
        waits(&mut b, 2),
        [(1, Duration::from_secs(10))],
        "told again"
    );
    b.keys(1, "*21");
    b.tick();
    b.start(0, 5);
    b.join(5, false);
    assert_eq!(waits(&mut b, 10_000 / 20 + 1).len(), 1, "and again");
}

#[test]
fn lobby_callers_hear_hold_music_and_the_organizer_moves_them_all_in_one_tick() {
    // Two workers: calls start on both and migrate to the meeting's owner.
    let mut b = Bench::new(2);
    for id in 1..=40u64 {
        b.start((id % 2) as usize, id);
        b.join(id, false);
    }
    let owner = b.host("123456789");
    for id in 1..=40u64 {
        assert_eq!(b.worker_of(id), owner, "call {id} lives with its meeting");
    }
    assert_eq!(b.workers[owner].meeting_sizes("123456789"), Some((40, 0)));
    // Nothing but the lobby prompt / hold music is sent to them.
    let a = assets();
    let lobby = a.prompt(Prompt::LobbyWait).frames(Law::Mu);
    for p in b.tick() {
        assert_eq!(payload(&p.2), &lobby[0][..]);
    }
    b.start(1 - owner, 99);
    b.join(99, true);
    assert_eq!(
        b.workers[owner].meeting_sizes("123456789"),
        Some((0, 41)),
        "the whole lobby moved"
    );
    // The organizer talks; in the very next tick everyone hears it.
    let org: SocketAddr = "127.0.0.1:7099".parse().unwrap();
    for seq in 0..4u16 {
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 99];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&[0x20; 160]);
        b.workers[owner].handle_rtp(b.now, CallId(99), org, &p);
    }
    let sent = b.tick();
    let heard: Vec<&(u32, SocketAddr, Vec<u8>)> =
        sent.iter().filter(|(t, _, _)| *t != 99).collect();
    assert_eq!(heard.len(), 40);
    // The loss concealment plays every talker 3.75 ms late.
    let mut talk = [0x20; 160];
    talk[..crate::media::plc::DELAY_SAMPLES].fill(Law::Mu.silence_byte());
    for (_, _, p) in &heard {
        assert_eq!(
            payload(p),
            &talk[..],
            "every lobby caller hears the organizer in the same tick"
        );
    }
    let to_org = sent.iter().find(|(t, _, _)| *t == 99).unwrap();
    assert_eq!(
        payload(&to_org.2),
        &a.prompt(Prompt::N40).frames(Law::Mu)[0][..],
        "the organizer hears 'forty callers joined from the lobby', not themselves"
    );
}

#[test]
fn the_last_caller_leaving_ends_the_meeting() {
    let mut b = Bench::new(1);
    b.start(0, 1);
    b.join(1, true);
    b.start(0, 2);
    b.join(2, false);
    assert_eq!(b.workers[0].meeting_sizes("123456789"), Some((0, 2)));
    b.command(1, Command::Stop { call: CallId(1) });
    assert_eq!(
        b.workers[0].meeting_sizes("123456789"),
        Some((0, 1)),
        "goes on without the organizer"
    );
    b.command(2, Command::Stop { call: CallId(2) });
    assert_eq!(b.workers[0].meeting_sizes("123456789"), None);
    assert!(b.route().iter().all(|e| matches!(e, Event::Closed { .. })));
    b.start(0, 3);
    b.join(3, false);
    assert_eq!(
        b.workers[0].meeting_sizes("123456789"),
        Some((1, 0)),
        "a new caller waits again"
    );
}

#[test]
fn goodbye_takes_everyone_out_of_ivr_lobby_and_meeting_and_hangs_each_up_after_the_prompt() {
    let mut b = Bench::new(2);
    b.start(0, 1);
    b.join(1, true); // organizer: the meeting runs
    b.start(1, 2);
    b.join(2, false); // in the meeting
    b.start(0, 3); // still in the IVR
    b.route();
    for _ in 0..5 {
        b.tick();
    }
    b.route();
    for w in &mut b.workers {
        w.handle_command(b.now, Command::Goodbye);
    }
    // A call answered after the goodbye began gets it too.
    b.start(1, 4);
    b.route();
    let goodbye = b.workers[0]
        .assets
        .prompt(Prompt::Goodbye)
        .frames(Law::Mu)
        .to_vec();
    let mut heard: HashMap<u32, Vec<Vec<u8>>> = HashMap::new();
    let mut hung_up = Vec::new();
    for _ in 0..(goodbye.len() + 20) {
        for (t, _, bytes) in b.tick() {
            heard.entry(t).or_default().push(payload(&bytes).to_vec());
        }
        for e in b.route() {
            if let Event::Control(Request::Hangup {
                call,
                reason: HangupReason::Ivr(HangupCause::Shutdown),
            }) = e
            {
                hung_up.push(call.0);
            }
        }
    }
    hung_up.sort();
    assert_eq!(hung_up, [1, 2, 3, 4], "every call hung up once");
    for id in 1..=4u32 {
        let got = &heard[&id];
        let start = got
            .iter()
            .position(|f| f.as_slice() == goodbye[0].as_slice())
            .unwrap_or_else(|| panic!("call {id} never heard the goodbye"));
        assert!(
            got[start..]
                .iter()
                .zip(&goodbye)
                .all(|(a, b)| a.as_slice() == b.as_slice())
                && got.len() - start >= goodbye.len(),
            "call {id} heard the whole goodbye"
        );
    }
}

#[test]
fn a_caller_left_in_the_lobby_hears_the_lobby_timeout_goodbye_then_is_hung_up() {
    let mut b = Bench::new(1);
    for w in &mut b.workers {
        w.config.lobby_timeout = Some(Duration::from_secs(10));
        w.config.rtp_timeout = None;
    }
    b.start(0, 1);
    b.join(1, false);
    b.route();
    for _ in 0..(10_000 / 20 - 2) {
        b.tick();
    }
    assert!(b.route().is_empty(), "not before the timeout");
    let bye = b.workers[0]
        .assets
        .prompt(Prompt::LobbyTimeout)
        .frames(Law::Mu)
        .to_vec();
    let mut heard = Vec::new();
    let mut hung_up = None;
    for i in 0..(bye.len() + 20) {
        heard.extend(b.tick().into_iter().map(|(_, _, p)| payload(&p).to_vec()));
        for e in b.route() {
            if let Event::Control(Request::Hangup {
                reason: HangupReason::Ivr(HangupCause::LobbyTimeout),
                ..
            }) = e
            {
                hung_up = Some(i);
            }
        }
    }
    let start = heard
        .iter()
        .position(|f| f.as_slice() == bye[0].as_slice())
        .expect("the lobby-timeout goodbye");
    assert!(
        heard[start..]
            .iter()
            .zip(&bye)
            .all(|(a, b)| a.as_slice() == b.as_slice())
    );
    assert!(
        hung_up.is_some_and(|i| i >= bye.len()),
        "hung up after the whole prompt"
    );
    assert_eq!(b.workers[0].stats().in_lobby, 0, "out of the lobby");
}

#[test]
fn a_new_meeting_goes_to_the_quieter_worker_and_a_caller_sent_to_a_meeting_that_moved_follows_it() {
    let mut b = Bench::new(2);
    // Worker 0 is busy with five callers in the IVR.
    for id in 1..=5u64 {
        b.start(0, id);
    }
    b.start(0, 10);
    b.join(10, false);
    assert_eq!(b.homes.find("123456789"), Some(1), "the quieter worker");
    assert_eq!(b.worker_of(10), 1);
    assert_eq!(b.workers[1].meeting_sizes("123456789"), Some((1, 0)));

    // Caller 11 joins from worker 0 and is sent to worker 1; before it arrives, caller 10
    // hangs up (the meeting empties, its home is given up) and worker 0 takes the meeting.
    b.start(0, 11);
    b.dial_in(11, false);
    let in_flight: Vec<Event<u32>> = b.workers[0].drain_events().collect();
    b.command(10, Command::Stop { call: CallId(10) });
    assert_eq!(b.workers[1].meeting_sizes("123456789"), None);
    assert_eq!(b.homes.find("123456789"), None, "given up when it emptied");
    assert_eq!(b.homes.settle("123456789", 0), 0);
    let mut arrived = false;
    for e in in_flight {
        if let Event::Migrate { to, call } = e {
            assert_eq!(to, 1, "sent where the meeting was");
            b.workers[to].handle_command(b.now, Command::Adopt(call));
            arrived = true;
        }
    }
    assert!(arrived, "caller 11 was on its way to worker 1");
    b.route();
    assert_eq!(b.worker_of(11), 0, "it followed the meeting");
    assert_eq!(b.workers[0].meeting_sizes("123456789"), Some((1, 0)));
    assert_eq!(
        b.workers[1].meeting_sizes("123456789"),
        None,
        "no second meeting"
    );
}

#[test]
fn an_api_start_that_reaches_a_worker_the_meeting_left_is_forwarded_to_its_home() {
    let mut b = Bench::new(2);
    b.start(0, 1);
    b.join(1, false);
    let home = b.host("123456789");
    let other = 1 - home;
    b.workers[other].handle_command(
        b.now,
        Command::StartMeeting {
            conference: conference(),
        },
    );
    b.route();
    assert_eq!(
        b.workers[home].meeting_sizes("123456789"),
        Some((0, 1)),
        "started, moved in"
    );
    assert_eq!(b.workers[other].meeting_sizes("123456789"), None);
}
