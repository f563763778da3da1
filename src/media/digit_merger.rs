//! One digit per key press when a caller's gateway sends the same press twice: as an RFC 4733
//! telephone-event (or a SIP INFO) and as tones left in the audio that the in-band detector
//! also hears.
//!
//! The rule: a digit is passed on as soon as the first source reports it. A report of the
//! same key from the other source within [`DigitMerger::PAIRING_WINDOW`] of it is the same
//! press and is dropped. Pairing is one-to-one: each report absorbs at most one report of the
//! other source, the oldest unpaired one in the window, so "55" typed quickly still gives two
//! digits (two event reports and two tone reports make two pairs), and a key pressed twice
//! but heard once by one source still gives two digits. Reports from the same source are
//! never merged: each source already counts a press once.

use std::time::{Duration, Instant};

use super::dtmf::Digit;

/// Where a digit was heard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigitSource {
    /// Signalled apart from the audio: an RFC 4733 telephone-event or a SIP INFO.
    Signalled,
    /// Detected in the audio (`InbandDetector`).
    InBand,
}

/// A report kept for pairing.
#[derive(Clone, Copy, Debug)]
struct Report {
    source: DigitSource,
    digit: Digit,
    at: Instant,
    paired: bool,
}

/// How many reports are kept: more than fit in the pairing window at the fastest Q.24 key
/// rate (a press every 80 ms), so none that could still pair is forgotten.
const KEPT: usize = 8;

/// Merges the digits of the two sources of one call so that each key press counts once.
#[derive(Clone, Debug, Default)]
pub struct DigitMerger {
    kept: [Option<Report>; KEPT],
    /// Slot the next report overwrites (ring order = age order).
    next: usize,
}

impl DigitMerger {
    /// How far apart the two reports of one press may arrive. The in-band detector reports
    /// 40-60 ms after the tone starts; a gateway sends its first telephone-event when it has
    /// detected the key itself, which takes about as long, and RTP jitter or a lost first
    /// event packet moves either by a few tens of ms. 120 ms covers that, and one-to-one
    /// pairing keeps quick repeats of a key apart even though two presses can be 80 ms apart.
    pub const PAIRING_WINDOW: Duration = Duration::from_millis(120);

    /// A merger that has seen no digit.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reports a digit heard by `source` at `now`; returns it if it is a new key press, None
    /// if it is the other source's report of a press already passed on.
    pub fn push(&mut self, source: DigitSource, digit: Digit, now: Instant) -> Option<Digit> {
        let partner = self
            .kept
            .iter_mut()
            .flatten()
            .filter(|r| {
                r.source != source
                    && r.digit == digit
                    && !r.paired
                    && now.saturating_duration_since(r.at) <= Self::PAIRING_WINDOW
            })
            .min_by_key(|r| r.at);
        if let Some(partner) = partner {
            partner.paired = true;
            return None;
        }
        if let Some(slot) = self.kept.get_mut(self.next) {
            *slot = Some(Report {
                source,
                digit,
                at: now,
                paired: false,
            });
        }
        self.next = (self.next + 1) % KEPT;
        Some(digit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DigitSource::{InBand, Signalled};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Feeds (source, key, time in ms) reports; returns the digits passed on.
    fn merge(reports: &[(DigitSource, char, u64)]) -> String {
        let t0 = Instant::now();
        let mut merger = DigitMerger::new();
        reports
            .iter()
            .filter_map(|&(source, c, at)| {
                merger.push(source, Digit::from_char(c).unwrap(), t0 + ms(at))
            })
            .map(Digit::as_char)
            .collect()
    }

    #[test]
    fn one_press_heard_both_ways_is_one_digit_whichever_comes_first() {
        assert_eq!(merge(&[(Signalled, '5', 0), (InBand, '5', 50)]), "5");
        assert_eq!(merge(&[(InBand, '5', 0), (Signalled, '5', 50)]), "5");
    }

    #[test]
    fn the_digit_is_passed_on_at_the_first_report() {
        let t0 = Instant::now();
        let mut merger = DigitMerger::new();
        assert_eq!(merger.push(InBand, Digit::D7, t0), Some(Digit::D7));
        assert_eq!(merger.push(Signalled, Digit::D7, t0 + ms(30)), None);
    }

    #[test]
    fn reports_further_apart_than_the_window_are_two_presses() {
        let window = DigitMerger::PAIRING_WINDOW.as_millis() as u64;
        assert_eq!(merge(&[(Signalled, '5', 0), (InBand, '5', window)]), "5");
        assert_eq!(
            merge(&[(Signalled, '5', 0), (InBand, '5', window + 1)]),
            "55"
        );
    }

    #[test]
    fn a_quick_repeat_heard_both_ways_is_two_digits() {
        // "55" at the fastest Q.24 rate: presses 80 ms apart, tones detected 50 ms late.
        let reports = [
            (Signalled, '5', 0),
            (InBand, '5', 50),
            (Signalled, '5', 80),
            (InBand, '5', 130),
        ];
        assert_eq!(merge(&reports), "55");
        // Both events before either tone report.
        let reports = [
            (Signalled, '5', 0),
            (Signalled, '5', 80),
            (InBand, '5', 100),
            (InBand, '5', 180),
        ];
        assert_eq!(merge(&reports), "55");
    }

    #[test]
    fn a_press_one_source_missed_still_counts() {
        // In-band missed the first of two presses.
        let reports = [
            (Signalled, '5', 0),
            (Signalled, '5', 80),
            (InBand, '5', 130),
        ];
        assert_eq!(merge(&reports), "55");
    }

    #[test]
    fn the_same_source_is_never_merged_with_itself() {
        assert_eq!(merge(&[(InBand, '5', 0), (InBand, '5', 10)]), "55");
        assert_eq!(merge(&[(Signalled, '5', 0), (Signalled, '5', 10)]), "55");
    }

    #[test]
    fn different_keys_are_never_merged() {
        let reports = [
            (Signalled, '1', 0),
            (InBand, '2', 10),
            (InBand, '1', 40),
            (Signalled, '2', 60),
        ];
        assert_eq!(merge(&reports), "12");
    }

    #[test]
    fn a_long_pin_typed_with_both_sources_comes_out_once_in_order() {
        let pin = "48213#";
        let mut reports = Vec::new();
        for (i, c) in pin.chars().enumerate() {
            let at = i as u64 * 100;
            // The tone report lags 40-70 ms behind the event, varying per key.
            reports.push((Signalled, c, at));
            reports.push((InBand, c, at + 40 + (i as u64 * 7) % 30));
        }
        reports.sort_by_key(|r| r.2);
        assert_eq!(merge(&reports), pin);
    }

    #[test]
    fn a_clock_going_backwards_does_not_break_pairing() {
        let t0 = Instant::now() + ms(1000);
        let mut merger = DigitMerger::new();
        assert_eq!(merger.push(InBand, Digit::D3, t0), Some(Digit::D3));
        assert_eq!(merger.push(Signalled, Digit::D3, t0 - ms(10)), None);
    }

    #[test]
    fn pairing_keeps_working_after_the_memory_wraps_around() {
        let t0 = Instant::now();
        let mut merger = DigitMerger::new();
        let mut passed = 0;
        for i in 0..10_000u64 {
            let at = t0 + ms(i * 100);
            passed += usize::from(merger.push(Signalled, Digit::D9, at).is_some());
            passed += usize::from(merger.push(InBand, Digit::D9, at + ms(50)).is_some());
        }
        assert_eq!(passed, 10_000);
    }
}
