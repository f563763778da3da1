//! Keys pressed in a meeting: the keypad's star commands, an organizer going through the
//! lobby (`*24`), and a new PIN typed by phone (`*8`).

use std::time::{Duration, Instant};

use crate::auth::pin::{MAX_PIN_LEN, Pin};
use crate::bridge::keypad::{KeyCommand, Keypad};
use crate::bridge::lobby_walk::{Decision, KeyOutcome, LobbyWalk, Step};
use crate::call::CallId;
use crate::ivr::entry::DigitEntry;
use crate::ivr::flow::Input;
use crate::ivr::player::Item;
use crate::ivr::prompt::Prompt;
use crate::media::dtmf::Digit;

use super::Worker;
use super::caller::Place;
use super::live::LiveEventKind;
use super::protocol::{Event, Request};

/// How long an organizer may pause while typing a new PIN before the change is dropped.
pub(super) const NEW_PIN_TIMEOUT: Duration = Duration::from_secs(20);

/// An organizer typing a new PIN (`*8`): twice, then the directory decides.
pub(super) struct NewPinEntry {
    pub(super) first: Option<Pin>,
    pub(super) typed: DigitEntry,
    pub(super) last_key: Instant,
}

/// What a caller's keys do in a meeting, as one value: the keypad's star commands, a new PIN
/// being typed (`*8`), or the organizer going through the lobby (`*24`).
pub(super) enum KeyMode {
    /// Star commands (the keypad waits for `*`, or is part-way through one).
    Keypad(Keypad),
    /// A new PIN being typed after `*8`.
    NewPin(NewPinEntry),
    /// The organizer going through the lobby after `*24`.
    LobbyWalk(LobbyWalk<CallId>),
}

impl KeyMode {
    /// Back to star commands, the keypad waiting for `*`.
    pub(super) fn keypad() -> Self {
        KeyMode::Keypad(Keypad::new())
    }
}

impl<S> Worker<S> {
    pub(super) fn on_digit(&mut self, now: Instant, id: CallId, digit: Digit) {
        self.stats.digits += 1;
        if let Some(call) = self.calls.get(&id) {
            let _e = call.span.enter();
            // The digit itself is not logged: it may be part of a PIN.
            tracing::trace!("digit received");
        }
        let in_meeting = match self.calls.get(&id).map(|c| &c.place) {
            Some(Place::Conference { conference_id }) => Some(conference_id.clone()),
            _ => None,
        };
        let Some(conference_id) = in_meeting else {
            self.flow_input(now, id, Input::Digit(digit));
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        match &mut call.keys {
            KeyMode::LobbyWalk(_) => self.walk_key(now, id, &conference_id, digit),
            KeyMode::NewPin(_) => self.new_pin_digit(now, id, &conference_id, digit),
            KeyMode::Keypad(keypad) => {
                if let Some(command) = keypad.on_digit(now, digit) {
                    self.keypad_command(now, id, &conference_id, command);
                }
            }
        }
    }

    /// One key of a new PIN: digits collect, `#` ends an entry, `*` gives up.
    pub(super) fn new_pin_digit(
        &mut self,
        now: Instant,
        id: CallId,
        conference_id: &str,
        digit: Digit,
    ) {
        let organizer_id = self
            .meetings
            .get(conference_id)
            .map(|e| e.conference.organizer_id);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let KeyMode::NewPin(entry) = &mut call.keys else {
            return;
        };
        entry.last_key = now;
        let key = digit.as_char();
        if key.is_ascii_digit() {
            entry.typed.push(digit, MAX_PIN_LEN);
            return;
        }
        if key != '#' {
            call.keys = KeyMode::keypad();
            call.player.play(&[Prompt::PinNotChanged]);
            return;
        }
        // Longer than any PIN may be: refused, not cut to the first digits (which would
        // store a PIN the organizer never typed).
        let too_long = !entry.typed.is_valid();
        let typed = entry.typed.take();
        let Some(pin) = Pin::parse(&typed).ok().filter(|_| !too_long) else {
            call.keys = KeyMode::keypad();
            call.player.play(&[Prompt::PinNotChanged]);
            return;
        };
        match entry.first.take() {
            None => {
                entry.first = Some(pin);
                call.player.play(&[Prompt::EnterNewPinAgain]);
            }
            Some(first) => {
                call.keys = KeyMode::keypad();
                if first.as_digits() != pin.as_digits() {
                    call.player.play(&[Prompt::PinsDoNotMatch]);
                } else if let Some(organizer_id) = organizer_id {
                    call.player.stop();
                    self.events.push(Event::Control(Request::ChangePin {
                        call: id,
                        organizer_id,
                        pin,
                    }));
                }
            }
        }
    }

    /// Plays prompts to one caller (in a meeting they replace the mix while they play).
    pub(super) fn tell(&mut self, id: CallId, prompts: &[Prompt]) {
        if let Some(c) = self.calls.get_mut(&id) {
            c.player.play(prompts);
        }
    }

    /// Carries out a keypad command of a caller in a meeting.
    pub(super) fn keypad_command(
        &mut self,
        now: Instant,
        id: CallId,
        conference_id: &str,
        command: KeyCommand,
    ) {
        let Some(entry) = self.meetings.get_mut(conference_id) else {
            return;
        };
        if !entry.meeting.participants().contains(&id) {
            // Lobby callers wait; the keys are for the meeting.
            return;
        }
        let organizer = entry.meeting.is_organizer(id);
        if let Some(call) = self.calls.get(&id) {
            let _e = call.span.enter();
            tracing::info!(?command, organizer, "meeting key");
        }
        if command.organizer_only() && !organizer {
            self.tell(id, &[Prompt::OrganizerOnly]);
            return;
        }
        if command == KeyCommand::DenyAll {
            let waiting = entry.meeting.lobby().to_vec();
            let sent = waiting
                .into_iter()
                .filter(|&caller| self.deny_waiting(now, caller, conference_id, "organizer"))
                .count();
            tracing::info!(conference = %conference_id, sent, "lobby sent away by the organizer");
            let reply = if sent == 0 {
                Prompt::NobodyWaiting
            } else {
                Prompt::CallersSentAway
            };
            self.tell(id, &[reply]);
            return;
        }
        if command == KeyCommand::ReviewLobby {
            self.walk_step(
                now,
                id,
                conference_id,
                LobbyWalk::new(now),
                Vec::new(),
                true,
            );
            return;
        }
        let mut others: Vec<(CallId, Prompt)> = Vec::new();
        // Mutes and unmutes to tell the events about once the borrows end.
        let mut changed: Vec<(LiveEventKind, CallId, Option<&'static str>)> = Vec::new();
        let reply: Vec<Prompt> = match command {
            KeyCommand::Help if organizer => vec![Prompt::KeypadHelpOrganizer],
            KeyCommand::Help => vec![Prompt::KeypadHelp],
            KeyCommand::ToggleMute => {
                if entry.meeting.toggle_mute(id) {
                    changed.push((LiveEventKind::ParticipantMuted, id, None));
                    vec![Prompt::Muted]
                } else {
                    changed.push((LiveEventKind::ParticipantUnmuted, id, None));
                    vec![Prompt::Unmuted]
                }
            }
            KeyCommand::ToggleHand => {
                if entry.meeting.toggle_hand(id) {
                    others.extend(
                        entry
                            .meeting
                            .organizers()
                            .iter()
                            .filter(|o| **o != id)
                            .map(|o| (*o, Prompt::AHandIsRaised)),
                    );
                    vec![Prompt::HandRaised]
                } else {
                    vec![Prompt::HandLowered]
                }
            }
            KeyCommand::RollCall => match entry.meeting.participants().len() {
                0 | 1 => vec![Prompt::OneParticipant],
                n => {
                    let mut p = Prompt::number(n);
                    p.push(Prompt::ParticipantsInMeeting);
                    p
                }
            },
            KeyCommand::MuteOthers => {
                for k in entry.meeting.mute_all_but(id) {
                    others.push((k, Prompt::MutedByOrganizer));
                    changed.push((LiveEventKind::ParticipantMuted, k, Some("organizer")));
                }
                vec![Prompt::AllMuted]
            }
            KeyCommand::ToggleAnnouncements => {
                if entry.meeting.toggle_announcements() {
                    vec![Prompt::AnnouncementsOn]
                } else {
                    entry.announcer.clear();
                    vec![Prompt::AnnouncementsOff]
                }
            }
            KeyCommand::ToggleLock => {
                if entry.meeting.toggle_lock() {
                    vec![Prompt::MeetingLocked]
                } else {
                    vec![Prompt::MeetingUnlocked]
                }
            }
            KeyCommand::ChangePin => {
                if let Some(c) = self.calls.get_mut(&id) {
                    c.keys = KeyMode::NewPin(NewPinEntry {
                        first: None,
                        typed: DigitEntry::new(),
                        last_key: now,
                    });
                }
                vec![Prompt::EnterNewPin]
            }
            // Handled above: its answers include recorded names, or it ends calls.
            KeyCommand::ReviewLobby | KeyCommand::DenyAll => Vec::new(),
            KeyCommand::AdmitAll => {
                if self.admit_lobby(conference_id, "organizer") == 0 {
                    vec![Prompt::NobodyWaiting]
                } else {
                    vec![Prompt::CallersAdmitted]
                }
            }
        };
        self.tell(id, &reply);
        for (k, p) in others {
            self.tell(k, &[p]);
        }
        for (kind, who, by) in changed {
            self.emit(kind, conference_id, Some(who), by);
        }
    }

    /// Presents the next lobby caller to an organizer going through the lobby, after
    /// `said` (the answer to their last key); ends the walk when nobody is left.
    pub(super) fn walk_step(
        &mut self,
        now: Instant,
        organizer: CallId,
        conference_id: &str,
        mut walk: LobbyWalk<CallId>,
        mut said: Vec<Item>,
        first: bool,
    ) {
        let Some(entry) = self.meetings.get(conference_id) else {
            return;
        };
        match walk.next(now, entry.meeting.lobby()) {
            Step::Present { caller, number } => {
                match self.calls.get(&caller).and_then(|c| c.name.clone()) {
                    Some(name) => said.push(Item::Name(name)),
                    None => {
                        said.push(Prompt::Caller.into());
                        said.extend(Prompt::number(number).into_iter().map(Item::from));
                    }
                }
                said.push(Prompt::AdmitChoices.into());
                if let Some(call) = self.calls.get_mut(&organizer) {
                    call.keys = KeyMode::LobbyWalk(walk);
                }
            }
            Step::Finished => {
                said.push(if first {
                    Prompt::NobodyWaiting.into()
                } else {
                    Prompt::NoMoreWaiting.into()
                });
                if let Some(call) = self.calls.get_mut(&organizer) {
                    call.keys = KeyMode::keypad();
                }
            }
        }
        if let Some(call) = self.calls.get_mut(&organizer) {
            call.player.play_items(said);
        }
    }

    /// One key of an organizer going through the lobby: 1 in, 2 away, 3 next, # stop.
    pub(super) fn walk_key(
        &mut self,
        now: Instant,
        organizer: CallId,
        conference_id: &str,
        digit: Digit,
    ) {
        let Some(call) = self.calls.get_mut(&organizer) else {
            return;
        };
        let mut walk = match std::mem::replace(&mut call.keys, KeyMode::keypad()) {
            KeyMode::LobbyWalk(walk) => walk,
            other => {
                call.keys = other;
                return;
            }
        };
        match walk.on_key(now, digit) {
            KeyOutcome::Ignored => call.keys = KeyMode::LobbyWalk(walk),
            KeyOutcome::Stop => {
                call.player.stop();
                // `*` also starts the next meeting key (`*21`, `*7`…).
                let mut keypad = Keypad::new();
                keypad.on_digit(now, digit);
                call.keys = KeyMode::Keypad(keypad);
            }
            KeyOutcome::Decided { caller, decision } => {
                let done = match decision {
                    Decision::Admit => self
                        .let_in(caller, conference_id, "organizer")
                        .then_some(Prompt::LetIn),
                    Decision::Deny => self
                        .deny_waiting(now, caller, conference_id, "organizer")
                        .then_some(Prompt::SentAway),
                    Decision::Skip => None,
                };
                let said = done.into_iter().map(Item::from).collect();
                self.walk_step(now, organizer, conference_id, walk, said, false);
            }
        }
    }
}
