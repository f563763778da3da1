//! The digits a caller types for one entry (a conference ID, a PIN, a new PIN), bounded, in
//! memory that is wiped when dropped since a PIN passes through it. The IVR and the in-meeting
//! new-PIN entry (`*8`) both collect with it.

use std::fmt;

use zeroize::Zeroizing;

use crate::media::dtmf::Digit;

/// Digits collected for one entry.
#[derive(Default)]
pub struct DigitEntry {
    digits: Zeroizing<String>,
    /// More digits than the entry may hold, or a key that is not a digit: the entry is invalid.
    invalid: bool,
}

impl DigitEntry {
    /// Nothing typed yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// One key: a digit is kept while fewer than `max` are; a key that is not a digit, or a
    /// digit past `max`, makes the entry invalid (what was kept stays).
    pub fn push(&mut self, digit: Digit, max: usize) {
        let c = digit.as_char();
        if !c.is_ascii_digit() || self.digits.len() >= max {
            self.invalid = true;
        } else {
            self.digits.push(c);
        }
    }

    /// Nothing typed, not even a wrong key.
    pub fn is_empty(&self) -> bool {
        self.digits.is_empty() && !self.invalid
    }

    /// Whether every key was a digit and there were at most `max` of them.
    pub fn is_valid(&self) -> bool {
        !self.invalid
    }

    /// The digits kept so far.
    pub fn digits(&self) -> &str {
        &self.digits
    }

    /// Takes the digits kept (wiped where they were) and starts a new entry.
    pub fn take(&mut self) -> Zeroizing<String> {
        self.invalid = false;
        Zeroizing::new(std::mem::take(&mut *self.digits))
    }
}

/// How many digits, never which: a PIN may be among them.
impl fmt::Debug for DigitEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigitEntry")
            .field("len", &self.digits.len())
            .field("invalid", &self.invalid)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(keys: &str, max: usize) -> DigitEntry {
        let mut e = DigitEntry::new();
        for k in keys.chars() {
            e.push(Digit::from_char(k).unwrap(), max);
        }
        e
    }

    #[test]
    fn digits_up_to_the_limit_make_a_valid_entry() {
        let e = typed("1234", 4);
        assert!(e.is_valid() && !e.is_empty());
        assert_eq!(e.digits(), "1234");
    }

    #[test]
    fn a_digit_past_the_limit_or_a_star_makes_it_invalid_keeping_what_was_kept() {
        let e = typed("12345", 4);
        assert!(!e.is_valid());
        assert_eq!(e.digits(), "1234");
        let e = typed("1*2", 4);
        assert!(!e.is_valid() && !e.is_empty());
        assert_eq!(e.digits(), "12");
        assert!(
            !typed("*", 4).is_empty(),
            "a wrong key alone is not nothing"
        );
    }

    #[test]
    fn take_empties_the_entry_and_debug_never_shows_the_digits() {
        let mut e = typed("98765", 12);
        assert_eq!(format!("{e:?}"), "DigitEntry { len: 5, invalid: false }");
        assert_eq!(e.take().as_str(), "98765");
        assert!(e.is_empty());
    }
}
