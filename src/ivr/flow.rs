//! The dial-in call flow as a sans-IO state machine: conference ID, recorded name (with
//! `--record-names`), organizer question, PIN.
//!
//! The flow never touches audio or the directory itself. It is fed digits, "playback done",
//! lookup results, "name recorded" and the clock, and answers with actions (play these
//! prompts, record the name, look this ID up, check this PIN, join as attendee/organizer,
//! hang up) that the media worker carries out.
//! Digits typed ahead are queued, so a caller can type `123456789#*12345#` in one burst.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::auth::pin::{MAX_PIN_LEN, Pin};
use crate::call::Conference;
use crate::call::MAX_CONFERENCE_ID_DIGITS;
use crate::ivr::entry::DigitEntry;
use crate::ivr::prompt::Prompt;
use crate::media::dtmf::Digit;

/// Digits typed ahead while a lookup is pending; more are dropped (a stuck key is not a caller).
const MAX_QUEUED_DIGITS: usize = 64;

/// Tunables of the flow (defaults match what callers of phone bridges expect).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IvrConfig {
    /// Conference ID entries (unknown or empty) before the bridge says goodbye.
    pub max_conference_attempts: u8,
    /// PIN entries before the bridge says goodbye.
    pub max_pin_attempts: u8,
    /// Silence after the last digit of a half-typed entry before it is taken as complete.
    pub inter_digit_timeout: Duration,
    /// Silence after a prompt ends with nothing typed before the caller is asked again.
    pub no_input_timeout: Duration,
    /// Wait after "if you are the organizer, press star" before going on as an attendee.
    pub organizer_question_timeout: Duration,
    /// Ask for the caller's name after the conference ID (announced on join and leave).
    pub record_names: bool,
}

impl Default for IvrConfig {
    fn default() -> Self {
        IvrConfig {
            max_conference_attempts: 3,
            max_pin_attempts: 3,
            inter_digit_timeout: Duration::from_secs(5),
            no_input_timeout: Duration::from_secs(10),
            organizer_question_timeout: Duration::from_secs(4),
            record_names: false,
        }
    }
}

/// How the caller will take part once the flow is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Authenticated with the organizer PIN: starts the meeting.
    Organizer,
    /// Everyone else: waits in the lobby until the meeting starts.
    Attendee,
}

/// Why the flow ended the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HangupCause {
    /// Too many unknown conference IDs (or no input at all).
    ConferenceIdAttempts,
    /// Too many wrong PINs.
    PinAttempts,
    /// The bridge is shutting down.
    Shutdown,
    /// Too many unknown conference IDs from this caller's number or address lately.
    Guessing,
    /// Waited in the lobby longer than the lobby timeout.
    LobbyTimeout,
    /// The organizer sent the caller away from the lobby (`*24`, then 2).
    Denied,
    /// An operator removed the caller from the meeting (the admin API's kick).
    Removed,
    /// An operator ended the meeting for everyone in it (the admin API's end).
    MeetingEnded,
    /// The directory's database could not be reached to look up an ID or check a PIN.
    DirectoryUnavailable,
}

/// Something the flow asks the media worker (or the directory) to do.
#[derive(Debug)]
pub enum Action {
    /// Replace whatever is playing with these prompts, in order.
    Play(Vec<Prompt>),
    /// Stop the current prompt now (the caller barged in with a digit).
    StopPlayback,
    /// Record the caller's name from now on; answer with `Input::NameRecorded` when the
    /// recording ends by itself (silence after speech, or the limit).
    RecordName,
    /// Stop recording the name now (the caller pressed a key); keep what was said.
    StopRecording,
    /// Find the conference for these digits; answer with `Input::ConferenceFound`.
    LookupConference(String),
    /// Check an organizer PIN; answer with `Input::PinChecked`.
    VerifyPin {
        /// The conference whose organizer's PIN this must be.
        conference: Conference,
        /// What the caller typed.
        pin: Pin,
    },
    /// The flow is over: put the caller into the conference.
    Join {
        /// The conference found for the caller's ID.
        conference: Conference,
        /// Organizer or attendee.
        role: Role,
    },
    /// The goodbye prompt has played: end the call.
    Hangup(HangupCause),
}

/// Events the flow reacts to.
#[derive(Debug)]
pub enum Input {
    /// A DTMF digit from RFC 4733 or SIP INFO.
    Digit(Digit),
    /// The prompts from the last `Play` have all been heard.
    PlaybackDone,
    /// Result of `LookupConference`.
    ConferenceFound(Option<Conference>),
    /// `LookupConference` was refused: this caller guessed too many unknown IDs lately.
    TooManyGuesses,
    /// `LookupConference` or `VerifyPin` failed: the directory is unreachable.
    DirectoryUnavailable,
    /// Result of `VerifyPin`.
    PinChecked(bool),
    /// The name recording started by `RecordName` ended by itself.
    NameRecorded,
}

/// Where the caller is in the flow.
#[derive(Debug)]
enum State {
    /// Collecting the conference ID.
    ConferenceId { entry: DigitEntry, failures: u8 },
    /// Waiting for the directory to answer `LookupConference`.
    LookingUp { failures: u8 },
    /// "Say your name after the tone", then recording it.
    Name {
        conference: Conference,
        /// False while the prompt and tone play, true once recording.
        recording: bool,
    },
    /// Asked "are you the organizer?".
    OrganizerQuestion { conference: Conference },
    /// Collecting the organizer PIN.
    Pin {
        conference: Conference,
        entry: DigitEntry,
        failures: u8,
    },
    /// Waiting for the PIN check.
    VerifyingPin {
        conference: Conference,
        failures: u8,
    },
    /// Saying goodbye; hangs up when the prompt ends.
    Goodbye(HangupCause),
    /// Joined or hung up: the flow ignores everything.
    Done,
}

/// One caller's IVR session.
#[derive(Debug)]
pub struct Flow {
    config: IvrConfig,
    state: State,
    /// True while prompts from the last `Play` are still playing.
    playing: bool,
    /// Digits typed while the flow waited for the directory.
    queued: VecDeque<Digit>,
    /// The single pending timer (its meaning depends on the state).
    deadline: Option<Instant>,
    actions: VecDeque<Action>,
}

impl Flow {
    /// Starts the flow for a newly answered call: welcome, then ask for the conference ID.
    pub fn new(config: IvrConfig) -> Self {
        let mut flow = Flow {
            config,
            state: State::ConferenceId {
                entry: DigitEntry::new(),
                failures: 0,
            },
            playing: false,
            queued: VecDeque::new(),
            deadline: None,
            actions: VecDeque::new(),
        };
        flow.play(vec![Prompt::Welcome, Prompt::EnterConferenceId]);
        flow
    }

    /// A flow that only says goodbye and then hangs up, for a caller who was elsewhere
    /// (lobby, meeting) when the bridge must end the call.
    pub fn farewell(config: IvrConfig, cause: HangupCause) -> Self {
        let prompt = match cause {
            HangupCause::LobbyTimeout => Prompt::LobbyTimeout,
            HangupCause::Denied => Prompt::NotLetIn,
            HangupCause::Removed => Prompt::Removed,
            HangupCause::MeetingEnded => Prompt::MeetingEnded,
            _ => Prompt::Goodbye,
        };
        let mut flow = Flow {
            config,
            state: State::Done,
            playing: false,
            queued: VecDeque::new(),
            deadline: None,
            actions: VecDeque::new(),
        };
        flow.goodbye(vec![prompt], cause);
        flow
    }

    /// Ends the flow with the goodbye prompt, then `Action::Hangup(cause)`, whatever it was
    /// doing; a flow already saying goodbye or finished is left alone.
    pub fn say_goodbye(&mut self, cause: HangupCause) {
        if matches!(self.state, State::Goodbye(_) | State::Done) {
            return;
        }
        self.queued.clear();
        if self.playing {
            self.actions.push_back(Action::StopPlayback);
        }
        if matches!(
            self.state,
            State::Name {
                recording: true,
                ..
            }
        ) {
            self.actions.push_back(Action::StopRecording);
        }
        // A caller cut off by a fault of ours hears that it is ours, as after a look-up.
        let prompt = match cause {
            HangupCause::DirectoryUnavailable => Prompt::ServiceUnavailable,
            _ => Prompt::Goodbye,
        };
        self.goodbye(vec![prompt], cause);
    }

    /// The next action to carry out, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When `handle_timeout` must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// True once the caller has joined or been hung up.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Feeds one event.
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::Digit(d) => self.on_digit(now, d),
            Input::PlaybackDone => self.on_playback_done(now),
            Input::ConferenceFound(found) => self.on_conference(now, found),
            Input::TooManyGuesses => {
                if matches!(self.state, State::LookingUp { .. }) {
                    // A short goodbye at once: nothing that tells a guesser more.
                    self.queued.clear();
                    self.goodbye(vec![Prompt::Goodbye], HangupCause::Guessing);
                }
            }
            Input::DirectoryUnavailable => {
                if matches!(
                    self.state,
                    State::LookingUp { .. } | State::VerifyingPin { .. }
                ) {
                    // Neither "unknown ID" (which would count as a guess) nor "wrong PIN"
                    // (which would count as a failure): the caller did nothing wrong.
                    self.queued.clear();
                    self.goodbye(
                        vec![Prompt::ServiceUnavailable],
                        HangupCause::DirectoryUnavailable,
                    );
                }
            }
            Input::PinChecked(ok) => self.on_pin_checked(ok),
            Input::NameRecorded => {
                if let State::Name {
                    recording: true, ..
                } = self.state
                {
                    self.after_name(now);
                }
            }
        }
    }

    /// Runs the pending timer if it is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.deadline {
            Some(at) if now >= at => {}
            _ => return,
        }
        self.deadline = None;
        match &self.state {
            // Inter-digit timeout ends a half-typed entry; with nothing typed it is a
            // no-input attempt, which counts like a wrong entry so a silent line ends.
            State::ConferenceId { .. } | State::Pin { .. } => self.submit(now),
            State::OrganizerQuestion { .. } => self.join_as(Role::Attendee),
            _ => {}
        }
    }

    fn play(&mut self, prompts: Vec<Prompt>) {
        self.playing = true;
        self.deadline = None;
        self.actions.push_back(Action::Play(prompts));
    }

    fn barge_in(&mut self) {
        if self.playing {
            self.playing = false;
            self.actions.push_back(Action::StopPlayback);
        }
    }

    fn on_playback_done(&mut self, now: Instant) {
        if !self.playing {
            return;
        }
        self.playing = false;
        match &self.state {
            State::ConferenceId { entry, .. } | State::Pin { entry, .. } => {
                let wait = if entry.is_empty() {
                    self.config.no_input_timeout
                } else {
                    self.config.inter_digit_timeout
                };
                self.deadline = Some(now + wait);
            }
            State::OrganizerQuestion { .. } => {
                self.deadline = Some(now + self.config.organizer_question_timeout);
            }
            State::Name { conference, .. } => {
                // The tone has sounded: whatever the caller says now is their name.
                self.state = State::Name {
                    conference: conference.clone(),
                    recording: true,
                };
                self.actions.push_back(Action::RecordName);
            }
            State::Goodbye(cause) => {
                let cause = *cause;
                self.state = State::Done;
                self.deadline = None;
                self.actions.push_back(Action::Hangup(cause));
            }
            _ => {}
        }
    }

    fn on_digit(&mut self, now: Instant, digit: Digit) {
        match &mut self.state {
            State::LookingUp { .. } | State::VerifyingPin { .. } => {
                if self.queued.len() < MAX_QUEUED_DIGITS {
                    self.queued.push_back(digit);
                }
            }
            State::Goodbye(_) | State::Done => {}
            State::Name { recording, .. } => {
                // A key ends the name: `#` as asked; `*` is an organizer skipping ahead,
                // so it goes on to the organizer question; other keys just end it.
                let recording = *recording;
                if recording {
                    self.actions.push_back(Action::StopRecording);
                }
                self.barge_in();
                if digit == Digit::Star {
                    self.queued.push_front(digit);
                }
                self.after_name(now);
            }
            State::ConferenceId { entry, .. } => {
                if digit == Digit::Pound {
                    self.barge_in();
                    self.submit(now);
                } else {
                    entry.push(digit, MAX_CONFERENCE_ID_DIGITS);
                    self.barge_in();
                    self.deadline = Some(now + self.config.inter_digit_timeout);
                }
            }
            State::Pin { entry, .. } => match digit {
                Digit::Pound => {
                    self.barge_in();
                    self.submit(now);
                }
                // Star starts the PIN over, as on most bridges' keypads.
                Digit::Star => {
                    *entry = DigitEntry::new();
                    self.barge_in();
                    self.deadline = Some(now + self.config.inter_digit_timeout);
                }
                _ => {
                    entry.push(digit, MAX_PIN_LEN);
                    self.barge_in();
                    self.deadline = Some(now + self.config.inter_digit_timeout);
                }
            },
            State::OrganizerQuestion { conference } => match digit {
                Digit::Star => {
                    let conference = conference.clone();
                    self.barge_in();
                    self.state = State::Pin {
                        conference,
                        entry: DigitEntry::new(),
                        failures: 0,
                    };
                    self.deadline = None;
                    if self.queued.is_empty() {
                        self.play(vec![Prompt::EnterPin]);
                    } else {
                        // Typed ahead: the caller already knows; wait for the digits.
                        self.deadline = Some(now + self.config.inter_digit_timeout);
                    }
                }
                Digit::Pound => {
                    self.barge_in();
                    self.join_as(Role::Attendee);
                }
                // Other keys mean nothing here; the question stays.
                _ => {}
            },
        }
    }

    /// Takes the current entry as complete.
    fn submit(&mut self, now: Instant) {
        self.deadline = None;
        let state = std::mem::replace(&mut self.state, State::Done);
        match state {
            State::ConferenceId { entry, failures } => {
                if !entry.is_valid() || entry.digits().is_empty() {
                    self.state = State::LookingUp { failures };
                    self.on_conference(now, None);
                } else {
                    self.state = State::LookingUp { failures };
                    self.actions
                        .push_back(Action::LookupConference(entry.digits().to_owned()));
                }
            }
            State::Pin {
                conference,
                entry,
                failures,
            } => {
                let pin = if entry.is_valid() {
                    Pin::parse(entry.digits()).ok()
                } else {
                    None
                };
                self.state = State::VerifyingPin {
                    conference: conference.clone(),
                    failures,
                };
                match pin {
                    Some(pin) => self
                        .actions
                        .push_back(Action::VerifyPin { conference, pin }),
                    None => self.on_pin_checked(false),
                }
            }
            other => self.state = other,
        }
    }

    fn on_conference(&mut self, now: Instant, found: Option<Conference>) {
        let State::LookingUp { failures } = self.state else {
            return;
        };
        match found {
            // Only callers who did not type ahead are asked for a name: one who did knows
            // the bridge and is in a hurry.
            Some(conference) if self.config.record_names && self.queued.is_empty() => {
                self.state = State::Name {
                    conference,
                    recording: false,
                };
                self.play(vec![Prompt::SayYourName, Prompt::Beep]);
            }
            Some(conference) => {
                self.state = State::Name {
                    conference,
                    recording: false,
                };
                self.after_name(now);
            }
            None => {
                let failures = failures.saturating_add(1);
                // Anything typed after a wrong ID was meant for a question that never came.
                self.queued.clear();
                if failures >= self.config.max_conference_attempts {
                    self.goodbye(
                        vec![Prompt::ConferenceNotFound, Prompt::Goodbye],
                        HangupCause::ConferenceIdAttempts,
                    );
                } else {
                    self.state = State::ConferenceId {
                        entry: DigitEntry::new(),
                        failures,
                    };
                    self.play(vec![Prompt::ConferenceNotFound, Prompt::EnterConferenceId]);
                }
            }
        }
    }

    /// The conference is known and the name (if any) taken: on to the organizer question.
    fn after_name(&mut self, now: Instant) {
        let state = std::mem::replace(&mut self.state, State::Done);
        let State::Name { conference, .. } = state else {
            self.state = state;
            return;
        };
        if conference.start_without_pin {
            // The organizer lets callers start the meeting: nobody is asked for a PIN.
            self.queued.clear();
            self.state = State::OrganizerQuestion { conference };
            self.join_as(Role::Attendee);
            return;
        }
        self.state = State::OrganizerQuestion { conference };
        self.drain_queue(now);
        // Nothing typed ahead, or only keys that mean nothing here: ask.
        if matches!(self.state, State::OrganizerQuestion { .. }) && !self.playing {
            self.play(vec![Prompt::OrganizerQuestion]);
        }
    }

    fn on_pin_checked(&mut self, ok: bool) {
        let state = std::mem::replace(&mut self.state, State::Done);
        let State::VerifyingPin {
            conference,
            failures,
        } = state
        else {
            self.state = state;
            return;
        };
        if ok {
            self.queued.clear();
            self.state = State::Done;
            self.deadline = None;
            self.actions.push_back(Action::Join {
                conference,
                role: Role::Organizer,
            });
            return;
        }
        let failures = failures.saturating_add(1);
        self.queued.clear();
        if failures >= self.config.max_pin_attempts {
            self.goodbye(
                vec![Prompt::WrongPin, Prompt::TooManyAttempts, Prompt::Goodbye],
                HangupCause::PinAttempts,
            );
        } else {
            self.state = State::Pin {
                conference,
                entry: DigitEntry::new(),
                failures,
            };
            self.play(vec![Prompt::WrongPin, Prompt::EnterPin]);
        }
    }

    fn goodbye(&mut self, prompts: Vec<Prompt>, cause: HangupCause) {
        self.state = State::Goodbye(cause);
        self.play(prompts);
    }

    fn join_as(&mut self, role: Role) {
        let state = std::mem::replace(&mut self.state, State::Done);
        match state {
            State::OrganizerQuestion { conference } => {
                self.deadline = None;
                self.queued.clear();
                self.actions.push_back(Action::Join { conference, role });
            }
            other => self.state = other,
        }
    }

    /// Feeds digits typed ahead while the directory was busy, until the flow waits again.
    fn drain_queue(&mut self, now: Instant) {
        while let Some(d) = self.queued.pop_front() {
            self.on_digit(now, d);
            if matches!(
                self.state,
                State::LookingUp { .. } | State::VerifyingPin { .. } | State::Done
            ) {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stray_key_typed_ahead_still_gets_the_organizer_question_and_its_timeout() {
        let mut h = Harness::new();
        h.actions();
        h.digits("123456789#5");
        assert_eq!(lookup_of(&h.actions()).as_deref(), Some("123456789"));
        h.input(Input::ConferenceFound(Some(conference())));
        assert_eq!(
            Harness::plays(&h.actions()),
            vec![vec![Prompt::OrganizerQuestion]]
        );
        h.input(Input::PlaybackDone);
        h.advance(Duration::from_secs(4));
        assert_eq!(join_of(&h.actions()), Some(Role::Attendee));
    }

    fn conference() -> Conference {
        Conference {
            organizer_id: 7,
            conference_id: "123456789".into(),
            organizer_name: "Ada".into(),
            start_without_pin: false,
        }
    }

    struct Harness {
        flow: Flow,
        now: Instant,
    }

    impl Harness {
        fn new() -> Self {
            Harness {
                flow: Flow::new(IvrConfig::default()),
                now: Instant::now(),
            }
        }

        fn actions(&mut self) -> Vec<Action> {
            std::iter::from_fn(|| self.flow.poll_action()).collect()
        }

        fn digits(&mut self, s: &str) {
            for c in s.chars() {
                let d = Digit::from_char(c).unwrap();
                self.flow.handle_input(self.now, Input::Digit(d));
            }
        }

        fn input(&mut self, input: Input) {
            self.flow.handle_input(self.now, input);
        }

        fn advance(&mut self, d: Duration) {
            self.now += d;
            self.flow.handle_timeout(self.now);
        }

        /// Drains actions and returns the prompts of the last Play, if any.
        fn plays(actions: &[Action]) -> Vec<Vec<Prompt>> {
            actions
                .iter()
                .filter_map(|a| match a {
                    Action::Play(p) => Some(p.clone()),
                    _ => None,
                })
                .collect()
        }
    }

    fn lookup_of(actions: &[Action]) -> Option<String> {
        actions.iter().find_map(|a| match a {
            Action::LookupConference(d) => Some(d.clone()),
            _ => None,
        })
    }

    fn pin_of(actions: &[Action]) -> Option<String> {
        actions.iter().find_map(|a| match a {
            Action::VerifyPin { pin, .. } => Some(pin.as_digits().to_string()),
            _ => None,
        })
    }

    fn join_of(actions: &[Action]) -> Option<Role> {
        actions.iter().find_map(|a| match a {
            Action::Join { role, .. } => Some(*role),
            _ => None,
        })
    }

    fn hangup_of(actions: &[Action]) -> Option<HangupCause> {
        actions.iter().find_map(|a| match a {
            Action::Hangup(c) => Some(*c),
            _ => None,
        })
    }

    #[test]
    fn say_goodbye_mid_entry_plays_goodbye_ignores_digits_then_hangs_up() {
        let mut h = Harness::new();
        h.actions();
        h.digits("1234");
        h.actions();
        h.flow.say_goodbye(HangupCause::Shutdown);
        let a = h.actions();
        assert_eq!(Harness::plays(&a), vec![vec![Prompt::Goodbye]]);
        assert!(hangup_of(&a).is_none(), "the goodbye is heard first");
        h.digits("5#");
        assert!(lookup_of(&h.actions()).is_none(), "digits no longer count");
        h.flow.say_goodbye(HangupCause::Shutdown);
        assert!(h.actions().is_empty(), "a second goodbye changes nothing");
        h.input(Input::PlaybackDone);
        assert_eq!(hangup_of(&h.actions()), Some(HangupCause::Shutdown));
        assert!(h.flow.is_done());
    }

    #[test]
    fn too_many_guesses_ends_the_lookup_with_a_short_goodbye() {
        let mut h = Harness::new();
        h.actions();
        h.digits("999#");
        assert_eq!(lookup_of(&h.actions()).as_deref(), Some("999"));
        h.digits("*1");
        h.input(Input::TooManyGuesses);
        let a = h.actions();
        assert_eq!(Harness::plays(&a), vec![vec![Prompt::Goodbye]]);
        h.input(Input::PlaybackDone);
        assert_eq!(hangup_of(&h.actions()), Some(HangupCause::Guessing));
        assert!(h.flow.is_done(), "queued digits were dropped, not replayed");
    }

    #[test]
    fn unreachable_directory_during_lookup_says_call_again_later_and_hangs_up() {
        let mut h = Harness::new();
        h.actions();
        h.digits("123456789#");
        assert_eq!(lookup_of(&h.actions()).as_deref(), Some("123456789"));
        h.input(Input::DirectoryUnavailable);
        let a = h.actions();
        assert_eq!(Harness::plays(&a), vec![vec![Prompt::ServiceUnavailable]]);
        h.input(Input::PlaybackDone);
        assert_eq!(
            hangup_of(&h.actions()),
            Some(HangupCause::DirectoryUnavailable)
        );
        assert!(h.flow.is_done());
    }

    #[test]
    fn unreachable_directory_during_pin_check_is_not_a_wrong_pin() {
        let mut h = Harness::new();
        h.digits("123456789#");
        h.input(Input::ConferenceFound(Some(conference())));
        h.digits("*");
        h.actions();
        h.digits("11111#");
        assert!(pin_of(&h.actions()).is_some());
        h.input(Input::DirectoryUnavailable);
        let a = h.actions();
        assert_eq!(Harness::plays(&a), vec![vec![Prompt::ServiceUnavailable]]);
        h.input(Input::PlaybackDone);
        assert_eq!(
            hangup_of(&h.actions()),
            Some(HangupCause::DirectoryUnavailable)
        );
    }

    #[test]
    fn farewell_flow_only_says_goodbye() {
        let mut flow = Flow::farewell(IvrConfig::default(), HangupCause::Shutdown);
        let first: Vec<Action> = std::iter::from_fn(|| flow.poll_action()).collect();
        assert_eq!(Harness::plays(&first), vec![vec![Prompt::Goodbye]]);
        flow.handle_input(Instant::now(), Input::Digit(Digit::Pound));
        assert!(flow.poll_action().is_none());
        flow.handle_input(Instant::now(), Input::PlaybackDone);
        let last: Vec<Action> = std::iter::from_fn(|| flow.poll_action()).collect();
        assert_eq!(hangup_of(&last), Some(HangupCause::Shutdown));
    }

    #[test]
    fn greets_and_asks_for_the_conference_id() {
        let mut h = Harness::new();
        let a = h.actions();
        assert_eq!(
            Harness::plays(&a),
            vec![vec![Prompt::Welcome, Prompt::EnterConferenceId]]
        );
    }

    #[test]
    fn attendee_presses_pound_after_the_question() {
        let mut h = Harness::new();
        h.actions();
        h.digits("123456789#");
        let a = h.actions();
        assert!(matches!(a[0], Action::StopPlayback), "digit barges in");
        assert_eq!(lookup_of(&a).as_deref(), Some("123456789"));
        h.input(Input::ConferenceFound(Some(conference())));
        assert_eq!(
            Harness::plays(&h.actions()),
            vec![vec![Prompt::OrganizerQuestion]]
        );
        h.digits("#");
        assert_eq!(join_of(&h.actions()), Some(Role::Attendee));
        assert!(h.flow.is_done());
    }

    #[test]
    fn attendee_who_waits_after_the_question_joins_on_timeout() {
        let mut h = Harness::new();
        h.digits("123456789#");
        h.input(Input::ConferenceFound(Some(conference())));
        h.actions();
        h.input(Input::PlaybackDone);
        h.advance(Duration::from_secs(3));
        assert!(join_of(&h.actions()).is_none(), "not before the timeout");
        h.advance(Duration::from_secs(1));
        assert_eq!(join_of(&h.actions()), Some(Role::Attendee));
    }

    #[test]
    fn organizer_star_then_pin_then_join_as_organizer() {
        let mut h = Harness::new();
        h.digits("123456789#");
        h.input(Input::ConferenceFound(Some(conference())));
        h.actions();
        h.digits("*");
        assert_eq!(Harness::plays(&h.actions()), vec![vec![Prompt::EnterPin]]);
        h.digits("12345#");
        assert_eq!(pin_of(&h.actions()).as_deref(), Some("12345"));
        h.input(Input::PinChecked(true));
        assert_eq!(join_of(&h.actions()), Some(Role::Organizer));
    }

    #[test]
    fn whole_burst_typed_ahead_is_kept() {
        let mut h = Harness::new();
        h.actions();
        h.digits("123456789#*12345#");
        let a = h.actions();
        assert_eq!(lookup_of(&a).as_deref(), Some("123456789"));
        h.input(Input::ConferenceFound(Some(conference())));
        let a = h.actions();
        assert!(
            Harness::plays(&a).is_empty(),
            "no question asked: the answer was typed ahead"
        );
        assert_eq!(pin_of(&a).as_deref(), Some("12345"));
        h.input(Input::PinChecked(true));
        assert_eq!(join_of(&h.actions()), Some(Role::Organizer));
    }

    #[test]
    fn unknown_id_is_announced_and_asked_again_then_goodbye_after_three() {
        let mut h = Harness::new();
        h.actions();
        for attempt in 1..=3 {
            h.digits("999#");
            assert_eq!(lookup_of(&h.actions()).as_deref(), Some("999"));
            h.input(Input::ConferenceFound(None));
            let plays = Harness::plays(&h.actions());
            if attempt < 3 {
                assert_eq!(
                    plays,
                    vec![vec![Prompt::ConferenceNotFound, Prompt::EnterConferenceId]]
                );
            } else {
                assert_eq!(
                    plays,
                    vec![vec![Prompt::ConferenceNotFound, Prompt::Goodbye]]
                );
            }
        }
        assert!(hangup_of(&h.actions()).is_none(), "goodbye is heard first");
        h.input(Input::PlaybackDone);
        assert_eq!(
            hangup_of(&h.actions()),
            Some(HangupCause::ConferenceIdAttempts)
        );
    }

    #[test]
    fn digits_typed_after_a_wrong_id_are_not_taken_as_the_next_id() {
        let mut h = Harness::new();
        h.digits("999#*12345#");
        h.actions();
        h.input(Input::ConferenceFound(None));
        h.actions();
        h.digits("123456789#");
        assert_eq!(lookup_of(&h.actions()).as_deref(), Some("123456789"));
    }

    #[test]
    fn wrong_pin_is_announced_and_asked_again_up_to_three_attempts() {
        let mut h = Harness::new();
        h.digits("123456789#");
        h.input(Input::ConferenceFound(Some(conference())));
        h.digits("*");
        h.actions();
        for attempt in 1..=3 {
            h.digits("11111#");
            assert!(pin_of(&h.actions()).is_some());
            h.input(Input::PinChecked(false));
            let plays = Harness::plays(&h.actions());
            if attempt < 3 {
                assert_eq!(plays, vec![vec![Prompt::WrongPin, Prompt::EnterPin]]);
            } else {
                assert_eq!(
                    plays,
                    vec![vec![
                        Prompt::WrongPin,
                        Prompt::TooManyAttempts,
                        Prompt::Goodbye
                    ]]
                );
            }
        }
        h.input(Input::PlaybackDone);
        assert_eq!(hangup_of(&h.actions()), Some(HangupCause::PinAttempts));
    }

    #[test]
    fn wrong_then_right_pin_joins_as_organizer() {
        let mut h = Harness::new();
        h.digits("123456789#");
        h.input(Input::ConferenceFound(Some(conference())));
        h.digits("*");
        h.digits("11111#");
        h.input(Input::PinChecked(false));
        h.actions();
        h.digits("12345#");
        assert_eq!(pin_of(&h.actions()).as_deref(), Some("12345"));
        h.input(Input::PinChecked(true));
        assert_eq!(join_of(&h.actions()), Some(Role::Organizer));
    }

    #[test]
    fn overlong_pin_is_wrong_without_a_check() {
        let mut h = Harness::new();
        h.digits("123456789#");
        h.input(Input::ConferenceFound(Some(conference())));
        h.digits("*");
        h.actions();
        h.digits("1234567890123#");
        let a = h.actions();
        assert!(pin_of(&a).is_none());
        assert_eq!(
            Harness::plays(&a),
            vec![vec![Prompt::WrongPin, Prompt::EnterPin]]
        );
    }

    #[test]
    fn star_restarts_the_pin_entry() {
        let mut h = Harness::new();
        h.digits("123456789#");
        h.input(Input::ConferenceFound(Some(conference())));
        h.digits("*");
        h.digits("999*12345#");
        assert_eq!(pin_of(&h.actions()).as_deref(), Some("12345"));
    }

    #[test]
    fn inter_digit_timeout_ends_a_half_typed_entry() {
        let mut h = Harness::new();
        h.actions();
        h.input(Input::PlaybackDone);
        h.digits("123456789");
        h.advance(Duration::from_secs(4));
        assert!(lookup_of(&h.actions()).is_none());
        h.advance(Duration::from_secs(1));
        assert_eq!(lookup_of(&h.actions()).as_deref(), Some("123456789"));
    }

    #[test]
    fn each_digit_restarts_the_inter_digit_timer() {
        let mut h = Harness::new();
        h.input(Input::PlaybackDone);
        h.digits("12");
        h.advance(Duration::from_secs(4));
        h.digits("3");
        h.advance(Duration::from_secs(4));
        assert!(lookup_of(&h.actions()).is_none());
        h.advance(Duration::from_secs(1));
        assert_eq!(lookup_of(&h.actions()).as_deref(), Some("123"));
    }

    #[test]
    fn silence_after_the_prompt_counts_as_an_attempt_and_asks_again() {
        let mut h = Harness::new();
        h.actions();
        h.input(Input::PlaybackDone);
        h.advance(Duration::from_secs(10));
        assert_eq!(
            Harness::plays(&h.actions()),
            vec![vec![Prompt::ConferenceNotFound, Prompt::EnterConferenceId]]
        );
        // Two more silent rounds end the call.
        for _ in 0..2 {
            h.input(Input::PlaybackDone);
            h.advance(Duration::from_secs(10));
        }
        h.input(Input::PlaybackDone);
        assert_eq!(
            hangup_of(&h.actions()),
            Some(HangupCause::ConferenceIdAttempts)
        );
    }

    #[test]
    fn no_timer_runs_while_a_prompt_plays() {
        let mut h = Harness::new();
        h.actions();
        assert_eq!(h.flow.poll_timeout(), None);
        h.advance(Duration::from_secs(60));
        assert!(h.actions().is_empty(), "a long prompt is not a no-input");
    }

    #[test]
    fn digits_while_looking_up_wait_for_the_answer() {
        let mut h = Harness::new();
        h.digits("123456789#");
        h.actions();
        h.digits("#");
        assert!(h.actions().is_empty());
        h.input(Input::ConferenceFound(Some(conference())));
        assert_eq!(join_of(&h.actions()), Some(Role::Attendee));
    }

    #[test]
    fn conference_without_pin_lets_everyone_in_as_attendee_without_question() {
        let mut h = Harness::new();
        h.digits("123456789#");
        h.actions();
        let mut c = conference();
        c.start_without_pin = true;
        h.input(Input::ConferenceFound(Some(c)));
        let a = h.actions();
        assert!(Harness::plays(&a).is_empty());
        assert_eq!(join_of(&a), Some(Role::Attendee));
    }

    fn named() -> Harness {
        let mut h = Harness::new();
        h.flow = Flow::new(IvrConfig {
            record_names: true,
            ..IvrConfig::default()
        });
        h.actions();
        h
    }

    fn records(actions: &[Action]) -> bool {
        actions.iter().any(|a| matches!(a, Action::RecordName))
    }

    fn stops_recording(actions: &[Action]) -> bool {
        actions.iter().any(|a| matches!(a, Action::StopRecording))
    }

    #[test]
    fn with_names_the_caller_speaks_after_the_tone_then_hears_the_organizer_question() {
        let mut h = named();
        h.digits("123456789#");
        h.actions();
        h.input(Input::ConferenceFound(Some(conference())));
        assert_eq!(
            Harness::plays(&h.actions()),
            vec![vec![Prompt::SayYourName, Prompt::Beep]]
        );
        h.advance(Duration::from_secs(60));
        assert!(h.actions().is_empty(), "no timer while the prompt plays");
        h.input(Input::PlaybackDone);
        assert!(records(&h.actions()), "recording starts as the tone ends");
        h.input(Input::NameRecorded);
        assert_eq!(
            Harness::plays(&h.actions()),
            vec![vec![Prompt::OrganizerQuestion]]
        );
        h.digits("#");
        assert_eq!(join_of(&h.actions()), Some(Role::Attendee));
    }

    #[test]
    fn pound_ends_the_name_and_star_skips_it_on_to_the_pin() {
        let mut h = named();
        h.digits("123456789#");
        h.input(Input::ConferenceFound(Some(conference())));
        h.input(Input::PlaybackDone);
        h.actions();
        h.digits("#");
        let a = h.actions();
        assert!(stops_recording(&a));
        assert_eq!(Harness::plays(&a), vec![vec![Prompt::OrganizerQuestion]]);
        h.input(Input::NameRecorded);
        assert!(h.actions().is_empty(), "a late report changes nothing");

        // An organizer presses * while the name is asked for: no name, straight to the PIN.
        let mut o = named();
        o.digits("123456789#");
        o.input(Input::ConferenceFound(Some(conference())));
        o.actions();
        o.digits("*");
        let a = o.actions();
        assert!(matches!(a[0], Action::StopPlayback), "the prompt stops");
        assert!(!records(&a) && !stops_recording(&a));
        assert_eq!(Harness::plays(&a).last(), Some(&vec![Prompt::EnterPin]));
        o.digits("12345#");
        assert_eq!(pin_of(&o.actions()).as_deref(), Some("12345"));
    }

    #[test]
    fn a_caller_who_typed_ahead_is_not_asked_for_a_name() {
        let mut h = named();
        h.digits("123456789#*12345#");
        h.actions();
        h.input(Input::ConferenceFound(Some(conference())));
        let a = h.actions();
        assert!(Harness::plays(&a).is_empty());
        assert_eq!(pin_of(&a).as_deref(), Some("12345"));
    }

    #[test]
    fn where_callers_may_start_the_name_comes_first_then_the_meeting() {
        let mut h = named();
        h.digits("123456789#");
        let mut c = conference();
        c.start_without_pin = true;
        h.input(Input::ConferenceFound(Some(c)));
        assert_eq!(
            Harness::plays(&h.actions()),
            vec![vec![Prompt::SayYourName, Prompt::Beep]]
        );
        h.input(Input::PlaybackDone);
        h.actions();
        h.input(Input::NameRecorded);
        let a = h.actions();
        assert!(Harness::plays(&a).is_empty(), "no organizer question");
        assert_eq!(join_of(&a), Some(Role::Attendee));
    }

    #[test]
    fn goodbye_while_recording_stops_the_recording() {
        let mut h = named();
        h.digits("123456789#");
        h.input(Input::ConferenceFound(Some(conference())));
        h.input(Input::PlaybackDone);
        h.actions();
        h.flow.say_goodbye(HangupCause::Shutdown);
        let a = h.actions();
        assert!(stops_recording(&a));
        assert_eq!(Harness::plays(&a), vec![vec![Prompt::Goodbye]]);
    }

    #[test]
    fn a_caller_sent_away_hears_why_then_is_hung_up() {
        let mut flow = Flow::farewell(IvrConfig::default(), HangupCause::Denied);
        let first: Vec<Action> = std::iter::from_fn(|| flow.poll_action()).collect();
        assert_eq!(Harness::plays(&first), vec![vec![Prompt::NotLetIn]]);
        flow.handle_input(Instant::now(), Input::PlaybackDone);
        let last: Vec<Action> = std::iter::from_fn(|| flow.poll_action()).collect();
        assert_eq!(hangup_of(&last), Some(HangupCause::Denied));
    }

    #[test]
    fn non_digit_keys_make_a_conference_id_invalid() {
        let mut h = Harness::new();
        h.digits("12*4#");
        let a = h.actions();
        assert!(lookup_of(&a).is_none());
        assert_eq!(
            Harness::plays(&a).last().unwrap(),
            &vec![Prompt::ConferenceNotFound, Prompt::EnterConferenceId]
        );
    }
}
