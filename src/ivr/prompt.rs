//! The IVR's and the meeting's spoken prompts, one WAV each (see assets/generate.sh).

/// One table makes the enum, `ALL`, the file names and the bundled WAVs, so no list can
/// forget a prompt.
macro_rules! prompts {
    ($( $(#[doc = $doc:literal])* $variant:ident => $file:literal, )*) => {
        /// A prompt a caller can hear.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Prompt {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl Prompt {
            /// Every prompt, so the player can load them all at start-up.
            pub const ALL: &'static [Prompt] = &[$(Prompt::$variant,)*];

            /// The asset file name under `assets/prompts/`.
            pub const fn file_name(self) -> &'static str {
                match self {
                    $(Prompt::$variant => $file,)*
                }
            }
        }

        /// The prompt WAVs compiled into the binary, by file name.
        pub(crate) const BUNDLED: &[(&str, &[u8])] = &[$((
            $file,
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/prompts/", $file)),
        ),)*];
    };
}

prompts! {
    /// "Welcome to the meeting bridge."
    Welcome => "welcome.wav",
    /// "Please enter your conference ID, followed by the pound key."
    EnterConferenceId => "enter-conference-id.wav",
    /// "Sorry, that conference ID was not recognized."
    ConferenceNotFound => "conference-not-found.wav",
    /// "If you are the organizer, press star. Otherwise, press pound, or stay on the line."
    OrganizerQuestion => "organizer-question.wav",
    /// "Please enter your organizer PIN, followed by the pound key."
    EnterPin => "enter-pin.wav",
    /// "That PIN is not correct."
    WrongPin => "wrong-pin.wav",
    /// "Too many attempts."
    TooManyAttempts => "too-many-attempts.wav",
    /// "The meeting has not started yet. It will start when the organizer joins. …"
    LobbyWait => "lobby-wait.wav",
    /// "You are now joining the meeting."
    Joining => "joining.wav",
    /// "Goodbye."
    Goodbye => "goodbye.wav",
    /// "The meeting bridge is not available right now. Please call again later."
    ServiceUnavailable => "service-unavailable.wav",
    /// "One moment please. Reconnecting you to the meeting." (the node hosting it went away)
    Reconnecting => "reconnecting.wav",
    /// The meeting keys for a participant (`*1`).
    KeypadHelp => "keypad-help.wav",
    /// The meeting keys, with the organizer's (`*1` by the organizer).
    KeypadHelpOrganizer => "keypad-help-organizer.wav",
    /// "You are muted."
    Muted => "muted.wav",
    /// "You are unmuted."
    Unmuted => "unmuted.wav",
    /// "The organizer muted everyone. Press star six to unmute."
    MutedByOrganizer => "muted-by-organizer.wav",
    /// "Everyone else is muted." (to the organizer)
    AllMuted => "all-muted.wav",
    /// "Your hand is raised."
    HandRaised => "hand-raised.wav",
    /// "Your hand is lowered."
    HandLowered => "hand-lowered.wav",
    /// "A participant raised their hand." (to the organizer)
    AHandIsRaised => "a-hand-is-raised.wav",
    /// "Join and leave tones are on."
    AnnouncementsOn => "announcements-on.wav",
    /// "Join and leave tones are off."
    AnnouncementsOff => "announcements-off.wav",
    /// "The meeting is now locked. …" (to the organizer)
    MeetingLocked => "meeting-locked.wav",
    /// "The meeting is now unlocked."
    MeetingUnlocked => "meeting-unlocked.wav",
    /// "This meeting is locked. Please wait. The organizer will let you in."
    LockedWait => "locked-wait.wav",
    /// "Everyone waiting has been let in."
    CallersAdmitted => "callers-admitted.wav",
    /// "Everyone waiting has been sent away."
    CallersSentAway => "callers-sent-away.wav",
    /// "Nobody is waiting."
    NobodyWaiting => "nobody-waiting.wav",
    /// "That key is for the organizer."
    OrganizerOnly => "organizer-only.wav",
    /// "… participants in the meeting." (after a number)
    ParticipantsInMeeting => "participants-in-meeting.wav",
    /// "You are the only participant in the meeting."
    OneParticipant => "one-participant.wav",
    /// "zero"
    N0 => "n-0.wav",
    /// "one"
    N1 => "n-1.wav",
    /// "two"
    N2 => "n-2.wav",
    /// "three"
    N3 => "n-3.wav",
    /// "four"
    N4 => "n-4.wav",
    /// "five"
    N5 => "n-5.wav",
    /// "six"
    N6 => "n-6.wav",
    /// "seven"
    N7 => "n-7.wav",
    /// "eight"
    N8 => "n-8.wav",
    /// "nine"
    N9 => "n-9.wav",
    /// "ten"
    N10 => "n-10.wav",
    /// "eleven"
    N11 => "n-11.wav",
    /// "twelve"
    N12 => "n-12.wav",
    /// "thirteen"
    N13 => "n-13.wav",
    /// "fourteen"
    N14 => "n-14.wav",
    /// "fifteen"
    N15 => "n-15.wav",
    /// "sixteen"
    N16 => "n-16.wav",
    /// "seventeen"
    N17 => "n-17.wav",
    /// "eighteen"
    N18 => "n-18.wav",
    /// "nineteen"
    N19 => "n-19.wav",
    /// "twenty"
    N20 => "n-20.wav",
    /// "thirty"
    N30 => "n-30.wav",
    /// "forty"
    N40 => "n-40.wav",
    /// "fifty"
    N50 => "n-50.wav",
    /// "sixty"
    N60 => "n-60.wav",
    /// "seventy"
    N70 => "n-70.wav",
    /// "eighty"
    N80 => "n-80.wav",
    /// "ninety"
    N90 => "n-90.wav",
    /// "hundred"
    NHundred => "n-hundred.wav",
    /// "The meeting has not started, and the waiting time is over. … Goodbye."
    LobbyTimeout => "lobby-timeout.wav",
    /// "To change your PIN, enter the new PIN, followed by the pound key."
    EnterNewPin => "enter-new-pin.wav",
    /// "Enter the new PIN again, followed by the pound key."
    EnterNewPinAgain => "enter-new-pin-again.wav",
    /// "The two PINs are not the same. Your PIN was not changed."
    PinsDoNotMatch => "pins-do-not-match.wav",
    /// "That PIN is too easy to guess. Your PIN was not changed."
    PinTooEasy => "pin-too-easy.wav",
    /// "The PIN must have"
    PinMustHave => "pin-must-have.wav",
    /// "digits. Your PIN was not changed."
    DigitsNotChanged => "digits-not-changed.wav",
    /// "Your PIN has been changed."
    PinChanged => "pin-changed.wav",
    /// "Your PIN was not changed."
    PinNotChanged => "pin-not-changed.wav",
    /// "After the tone, say your name, then press pound." (`--record-names`)
    SayYourName => "say-your-name.wav",
    /// The record tone: 1400 Hz for 250 ms (ITU-T E.180's record tone frequency).
    Beep => "beep.wav",
    /// "has joined." (after a recorded name)
    HasJoined => "has-joined.wav",
    /// "has left." (after a recorded name)
    HasLeft => "has-left.wav",
    /// "callers are waiting." (after a number, to the organizer)
    CallersWaiting => "callers-waiting.wav",
    /// "caller is waiting." (after "one")
    CallerWaiting => "caller-waiting.wav",
    /// "Press star two one to let everyone in, or star two four to hear them one at a time."
    LobbyChoices => "lobby-choices.wav",
    /// "callers joined from the lobby." (after a number, to the organizer)
    CallersJoinedFromLobby => "callers-joined-from-lobby.wav",
    /// "caller joined from the lobby." (after "one")
    CallerJoinedFromLobby => "caller-joined-from-lobby.wav",
    /// "Caller" (before a number, for a caller without a recorded name)
    Caller => "caller.wav",
    /// "Press one to let them in, two to send them away, three to skip to the next, or
    /// pound to stop."
    AdmitChoices => "admit-choices.wav",
    /// "Let in."
    LetIn => "let-in.wav",
    /// "Sent away."
    SentAway => "sent-away.wav",
    /// "No more callers are waiting."
    NoMoreWaiting => "no-more-waiting.wav",
    /// "The organizer did not let you in. Goodbye."
    NotLetIn => "not-let-in.wav",
    /// "You have been removed from the meeting." (an operator's kick, before the BYE)
    Removed => "removed.wav",
    /// "The meeting has ended." (an operator ended it, before the BYE)
    MeetingEnded => "meeting-ended.wav",
}

impl Prompt {
    /// Index into `ALL`, for table lookups on the media path.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// `n` spoken, as prompts to play in order ("twenty", "three"); capped at 999.
    pub fn number(n: usize) -> Vec<Prompt> {
        let n = n.min(999);
        let mut out = Vec::with_capacity(4);
        let hundreds = n / 100;
        let rest = n % 100;
        if hundreds > 0 {
            out.push(Self::small(hundreds));
            out.push(Prompt::NHundred);
            if rest == 0 {
                return out;
            }
        }
        if rest <= 20 {
            out.push(Self::small(rest));
        } else {
            out.push(Self::tens(rest / 10));
            if !rest.is_multiple_of(10) {
                out.push(Self::small(rest % 10));
            }
        }
        out
    }

    fn small(n: usize) -> Prompt {
        const SMALL: [Prompt; 21] = [
            Prompt::N0,
            Prompt::N1,
            Prompt::N2,
            Prompt::N3,
            Prompt::N4,
            Prompt::N5,
            Prompt::N6,
            Prompt::N7,
            Prompt::N8,
            Prompt::N9,
            Prompt::N10,
            Prompt::N11,
            Prompt::N12,
            Prompt::N13,
            Prompt::N14,
            Prompt::N15,
            Prompt::N16,
            Prompt::N17,
            Prompt::N18,
            Prompt::N19,
            Prompt::N20,
        ];
        SMALL.get(n).copied().unwrap_or(Prompt::N0)
    }

    fn tens(n: usize) -> Prompt {
        match n {
            2 => Prompt::N20,
            3 => Prompt::N30,
            4 => Prompt::N40,
            5 => Prompt::N50,
            6 => Prompt::N60,
            7 => Prompt::N70,
            8 => Prompt::N80,
            _ => Prompt::N90,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_spoken_in_words_that_exist() {
        assert_eq!(Prompt::number(0), [Prompt::N0]);
        assert_eq!(Prompt::number(7), [Prompt::N7]);
        assert_eq!(Prompt::number(20), [Prompt::N20]);
        assert_eq!(Prompt::number(23), [Prompt::N20, Prompt::N3]);
        assert_eq!(Prompt::number(90), [Prompt::N90]);
        assert_eq!(Prompt::number(100), [Prompt::N1, Prompt::NHundred]);
        assert_eq!(
            Prompt::number(315),
            [Prompt::N3, Prompt::NHundred, Prompt::N15]
        );
        assert_eq!(
            Prompt::number(5000),
            [Prompt::N9, Prompt::NHundred, Prompt::N90, Prompt::N9]
        );
    }

    #[test]
    fn every_prompt_has_its_own_index_and_file() {
        for (i, p) in Prompt::ALL.iter().enumerate() {
            assert_eq!(p.index(), i);
            assert!(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("assets/prompts")
                    .join(p.file_name())
                    .exists()
            );
        }
    }
}
