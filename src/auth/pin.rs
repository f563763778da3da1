//! Organizer PINs: parsing, generation, keyed tags and constant-time verification.
//!
//! A PIN is 4–12 digits, so it has at most 40 bits of entropy: any stored hash can be
//! brute-forced offline by whoever reads it. We therefore never store a plain hash but an
//! HMAC-SHA256 tag under a 32-byte secret key that lives in its own file, outside the
//! database. A stolen database alone then reveals nothing, and checking a PIN costs one
//! HMAC (about a microsecond), cheap enough for the call path (a slow password hash such
//! as argon2 is not, see FIELD-NOTES).
//!
//! The digits are only ever held in zeroize-on-drop buffers and never printed: `Debug`
//! and `Display` show `*****`, error messages never carry them.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use rand::TryRng;
use rand::rngs::{SysError, SysRng};
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroizing;

/// Longest PIN a caller may type; bounds every PIN buffer.
pub const MAX_PIN_LEN: usize = 12;
/// Shortest PIN length an administrator may choose for new PINs.
pub const MIN_POLICY_LEN: u8 = 4;
/// Longest PIN length an administrator may choose for new PINs.
pub const MAX_POLICY_LEN: u8 = 12;
/// PIN length used until an administrator picks another (as in Teams).
pub const DEFAULT_PIN_LEN: u8 = 5;
/// Size of the secret PIN key file in bytes.
pub const PIN_KEY_LEN: usize = 32;

/// Tags are bound to this string so that the same key can never produce a tag that is
/// valid for some other purpose (or a later tag format) by accident.
const TAG_DOMAIN: &[u8] = b"dialbridge/pin-tag/v1\0";

/// Domain of the key check value, distinct from tags so it can never equal one.
const CHECK_DOMAIN: &[u8] = b"dialbridge/pin-key-check/v1\0";

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// HMAC-SHA256 block size: keys shorter than this are zero-padded by HMAC itself
/// (RFC 2104 §2), so padding up front gives the same MAC without a fallible constructor.
const HMAC_BLOCK_LEN: usize = 64;

type HmacSha256 = Hmac<Sha256>;

/// Everything that can go wrong with PINs and the PIN key; no message ever contains digits.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// Nothing was typed.
    #[error("the PIN is empty: enter at least one digit")]
    Empty,
    /// More digits than any PIN can have.
    #[error("the PIN is too long: a PIN has at most {max} digits")]
    TooLong {
        /// The longest accepted PIN.
        max: usize,
    },
    /// Something other than 0-9 was typed.
    #[error("the PIN may contain only the digits 0-9")]
    NotDigits,
    /// An administrator asked for a PIN length outside 4..=12.
    #[error(
        "PIN length {requested} is not allowed: choose {MIN_POLICY_LEN} to {MAX_POLICY_LEN} digits"
    )]
    PolicyLength {
        /// The refused length.
        requested: u64,
    },
    /// The operating system could not provide random bytes.
    #[error("the operating system's random number generator failed: {0}")]
    RandomSource(#[source] SysError),
    /// The key file exists but could not be opened or read.
    #[error("cannot read the PIN key file {path}: {source}")]
    KeyRead {
        /// The key file.
        path: PathBuf,
        /// Why the read failed.
        #[source]
        source: io::Error,
    },
    /// The key file did not exist and could not be created and written.
    #[error(
        "cannot create the PIN key file {path}: {source} (check that the data directory exists and is writable)"
    )]
    KeyCreate {
        /// The key file.
        path: PathBuf,
        /// Why the creation failed.
        #[source]
        source: io::Error,
    },
    /// The key path names a directory, a device or similar.
    #[error(
        "the PIN key path {path} is not a regular file: move it away so a key file can be created there"
    )]
    KeyNotAFile {
        /// The key path.
        path: PathBuf,
    },
    /// The key file does not hold exactly 32 bytes: truncated, or not ours.
    #[error(
        "the PIN key file {path} is {actual} bytes long, expected {PIN_KEY_LEN}: restore it from a backup \
         (every stored PIN depends on it); if it was left half-written before any PIN was issued, delete it \
         and restart to create a new one"
    )]
    KeyWrongSize {
        /// The key file.
        path: PathBuf,
        /// Its size in bytes.
        actual: u64,
    },
    /// Someone other than the owner may read or write the key.
    #[error(
        "the PIN key file {path} has mode {mode:04o}, so group or others can access it: \
         run `chmod 600 {path}` and check who may have copied it"
    )]
    KeyPermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// A PIN typed by a caller or freshly generated: only its owner and the HMAC ever see the digits.
pub struct Pin {
    /// ASCII digits only, length 1..=MAX_PIN_LEN, allocated once with room for the
    /// longest PIN so it never reallocates and leaves an unzeroed copy behind.
    digits: Zeroizing<String>,
}

impl Pin {
    /// Accepts what a caller typed: digits only, 1 to [`MAX_PIN_LEN`] of them.
    pub fn parse(input: &str) -> Result<Pin, PinError> {
        if input.is_empty() {
            return Err(PinError::Empty);
        }
        if input.len() > MAX_PIN_LEN {
            return Err(PinError::TooLong { max: MAX_PIN_LEN });
        }
        if !input.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PinError::NotDigits);
        }
        let mut digits = Zeroizing::new(String::with_capacity(MAX_PIN_LEN));
        digits.push_str(input);
        Ok(Pin { digits })
    }

    /// The digits, for showing a new PIN once and for computing its tag; never log this.
    pub fn as_digits(&self) -> &str {
        &self.digits
    }

    /// Number of digits, so a caller can store the PIN's length without reading it.
    pub fn len(&self) -> usize {
        self.digits.len()
    }

    /// Always false (a `Pin` has at least one digit); present because clippy pairs it with `len`.
    pub fn is_empty(&self) -> bool {
        self.digits.is_empty()
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("*****")
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("*****")
    }
}

/// How many digits new PINs get; changing it never touches existing PINs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinPolicy {
    length: u8,
}

impl PinPolicy {
    /// Accepts a length of 4 to 12 digits, the range Teams allows.
    pub fn new(length: u8) -> Result<PinPolicy, PinError> {
        if (MIN_POLICY_LEN..=MAX_POLICY_LEN).contains(&length) {
            Ok(PinPolicy { length })
        } else {
            Err(PinError::PolicyLength {
                requested: u64::from(length),
            })
        }
    }

    /// The number of digits new PINs get.
    pub fn length(self) -> u8 {
        self.length
    }
}

impl Default for PinPolicy {
    fn default() -> Self {
        PinPolicy {
            length: DEFAULT_PIN_LEN,
        }
    }
}

/// True for PINs anyone would try first: one digit repeated (`11111`) or a run up or down
/// (`12345`, `98765`, `7890`). An organizer choosing a PIN by phone may not pick these.
pub fn is_trivial(pin: &Pin) -> bool {
    let d: Vec<i8> = pin.as_digits().bytes().map(|b| (b - b'0') as i8).collect();
    if d.len() < 2 {
        return true;
    }
    // Runs wrap round the keypad's digits: 7890 and 2109 count as runs.
    let steps: Vec<i8> = d.windows(2).map(|w| (w[1] - w[0]).rem_euclid(10)).collect();
    [0, 1, 9]
        .iter()
        .any(|&step| steps.iter().all(|&s| s == step))
}

/// Generates a PIN of the policy's length from the operating system's CSPRNG.
///
/// `SysRng` (getrandom) rather than the thread-local generator: it has no state in our
/// process that a fork or a VM snapshot could duplicate, and a PIN is generated rarely.
pub fn generate_pin(policy: PinPolicy) -> Result<Pin, PinError> {
    let mut digits = Zeroizing::new(String::with_capacity(MAX_PIN_LEN));
    push_random_digits(&mut digits, usize::from(policy.length()), false)
        .map_err(PinError::RandomSource)?;
    Ok(Pin { digits })
}

/// Appends `count` uniformly random decimal digits to `out` (the first one 1-9 when
/// `first_nonzero`), shared with conference ID generation.
///
/// Rejection sampling keeps every digit exactly uniform: a byte is used only below the
/// largest multiple of the digit count (250 for 0-9, 252 for 1-9), so `% 10` / `% 9`
/// has no bias. About 2% of bytes are thrown away.
pub(crate) fn push_random_digits(
    out: &mut String,
    count: usize,
    first_nonzero: bool,
) -> Result<(), SysError> {
    let mut pool = Zeroizing::new([0u8; 32]);
    let mut remaining = count;
    let mut need_nonzero = first_nonzero;
    while remaining > 0 {
        SysRng.try_fill_bytes(pool.as_mut_slice())?;
        for &byte in pool.iter() {
            if remaining == 0 {
                break;
            }
            let digit = if need_nonzero {
                if byte >= 252 {
                    continue;
                }
                1 + byte % 9
            } else {
                if byte >= 250 {
                    continue;
                }
                byte % 10
            };
            out.push(char::from(b'0' + digit));
            need_nonzero = false;
            remaining -= 1;
        }
    }
    Ok(())
}

/// The HMAC-SHA256 of an organizer's PIN: what the database stores instead of the PIN.
///
/// `==` is constant-time too, so no comparison of tags can leak how many bytes matched.
#[derive(Clone)]
pub struct PinTag([u8; 32]);

impl PinTag {
    /// Wraps tag bytes read back from the database.
    pub fn from_bytes(bytes: [u8; 32]) -> PinTag {
        PinTag(bytes)
    }

    /// Wraps a database blob; `None` unless it is exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<PinTag> {
        <[u8; 32]>::try_from(bytes).ok().map(PinTag)
    }

    /// The tag bytes, for writing to the database.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for PinTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PinTag(..)")
    }
}

impl ConstantTimeEq for PinTag {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.0.ct_eq(&other.0)
    }
}

impl PartialEq for PinTag {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for PinTag {}

/// The secret that turns PINs into tags; kept in its own 0600 file, never in the database.
pub struct PinKey {
    /// The 32-byte key followed by 32 zero bytes: HMAC's own padding, done once.
    block: Zeroizing<[u8; HMAC_BLOCK_LEN]>,
}

impl PinKey {
    /// Loads the key file, or creates it with a fresh random key (mode 0600) at first start.
    ///
    /// Refuses a file of the wrong size or one that group or others may access, because
    /// silently replacing or using such a key would invalidate or expose every PIN.
    pub fn load_or_create(path: &Path) -> Result<PinKey, PinError> {
        match OpenOptions::new().read(true).open(path) {
            Ok(file) => Self::load(path, file),
            Err(err) if err.kind() == io::ErrorKind::NotFound => match Self::create(path) {
                // Another process created it between our two opens: use theirs.
                Err(PinError::KeyCreate { source, .. })
                    if source.kind() == io::ErrorKind::AlreadyExists =>
                {
                    let file = OpenOptions::new().read(true).open(path).map_err(|source| {
                        PinError::KeyRead {
                            path: path.to_path_buf(),
                            source,
                        }
                    })?;
                    Self::load(path, file)
                }
                other => other,
            },
            Err(source) => Err(PinError::KeyRead {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Loads an existing key file with the same checks, never creating one (backups, tools).
    pub fn load_existing(path: &Path) -> Result<PinKey, PinError> {
        let file =
            OpenOptions::new()
                .read(true)
                .open(path)
                .map_err(|source| PinError::KeyRead {
                    path: path.to_path_buf(),
                    source,
                })?;
        Self::load(path, file)
    }

    fn load(path: &Path, mut file: File) -> Result<PinKey, PinError> {
        let read_err = |source| PinError::KeyRead {
            path: path.to_path_buf(),
            source,
        };
        // Metadata of the open handle, not of the path, so a swap in between cannot fool us.
        let meta = file.metadata().map_err(read_err)?;
        if !meta.is_file() {
            return Err(PinError::KeyNotAFile {
                path: path.to_path_buf(),
            });
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(PinError::KeyPermissions {
                path: path.to_path_buf(),
                mode,
            });
        }
        if meta.len() != PIN_KEY_LEN as u64 {
            return Err(PinError::KeyWrongSize {
                path: path.to_path_buf(),
                actual: meta.len(),
            });
        }
        let mut key = Zeroizing::new([0u8; PIN_KEY_LEN]);
        file.read_exact(key.as_mut_slice()).map_err(read_err)?;
        Ok(PinKey::from_key(&key))
    }

    fn create(path: &Path) -> Result<PinKey, PinError> {
        let mut key = Zeroizing::new([0u8; PIN_KEY_LEN]);
        SysRng
            .try_fill_bytes(key.as_mut_slice())
            .map_err(PinError::RandomSource)?;
        let create_err = |source| PinError::KeyCreate {
            path: path.to_path_buf(),
            source,
        };
        // create_new: never overwrite a key that PINs depend on; mode is applied at
        // creation, so the key is never readable by others, not even for a moment.
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(create_err)?;
        let written = file
            .write_all(key.as_slice())
            .and_then(|()| file.sync_all());
        if let Err(source) = written {
            // A short key file would be refused at the next start; remove it now so the
            // next start can simply try again.
            drop(file);
            if let Err(remove_err) = std::fs::remove_file(path) {
                tracing::warn!(path = %path.display(), error = %remove_err, "could not remove half-written PIN key file");
            }
            return Err(create_err(source));
        }
        // Make the new directory entry durable too: losing the key loses every PIN.
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            File::open(parent)
                .and_then(|dir| dir.sync_all())
                .map_err(create_err)?;
        }
        tracing::info!(path = %path.display(), "created a new PIN key");
        Ok(PinKey::from_key(&key))
    }

    fn from_key(key: &[u8; PIN_KEY_LEN]) -> PinKey {
        let mut block = Zeroizing::new([0u8; HMAC_BLOCK_LEN]);
        let (head, _zeros) = block.split_at_mut(PIN_KEY_LEN);
        head.copy_from_slice(key);
        PinKey { block }
    }

    /// Computes the tag stored for `pin` as `organizer_id`'s PIN.
    ///
    /// The organizer id is part of the MAC so that two organizers with the same PIN have
    /// different tags, and a tag copied to another row does not verify there.
    pub fn tag(&self, organizer_id: i64, pin: &Pin) -> PinTag {
        let key: &hmac::digest::Key<HmacSha256> = (&*self.block).into();
        let mut mac = HmacSha256::new(key);
        mac.update(TAG_DOMAIN);
        mac.update(&organizer_id.to_be_bytes());
        mac.update(pin.as_digits().as_bytes());
        PinTag(mac.finalize().into_bytes().into())
    }

    /// A value derived from the key (not the key) that the database keeps, so that
    /// starting with a different key file is caught before every PIN silently fails.
    pub fn check_value(&self) -> String {
        let key: &hmac::digest::Key<HmacSha256> = (&*self.block).into();
        let mut mac = HmacSha256::new(key);
        mac.update(CHECK_DOMAIN);
        let bytes: [u8; 32] = mac.finalize().into_bytes().into();
        let mut hex = String::with_capacity(64);
        for b in bytes {
            hex.push(char::from(HEX_DIGITS[usize::from(b >> 4)]));
            hex.push(char::from(HEX_DIGITS[usize::from(b & 0x0f)]));
        }
        hex
    }

    /// Checks `pin` against the stored tag with the same work whether or not a tag exists.
    ///
    /// With `stored = None` (unknown organizer, disabled, or no PIN yet) the HMAC and the
    /// comparison still run against a stand-in tag, so response time does not tell a
    /// caller which conference IDs have a usable PIN (`benches/dudect.rs` measures this).
    pub fn verify(&self, organizer_id: i64, pin: &Pin, stored: Option<&PinTag>) -> bool {
        // A static stand-in rather than a fresh one on the stack: reading back a tag just
        // written costs measurably different time (benches/dudect.rs saw it).
        static NO_TAG: PinTag = PinTag([0u8; 32]);
        let computed = self.tag(organizer_id, pin);
        let present = Choice::from(u8::from(stored.is_some()));
        let expected = stored.unwrap_or(&NO_TAG);
        bool::from(computed.ct_eq(expected) & present)
    }
}

impl fmt::Debug for PinKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PinKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn test_key(byte: u8) -> PinKey {
        PinKey::from_key(&[byte; PIN_KEY_LEN])
    }

    fn pin(digits: &str) -> Pin {
        Pin::parse(digits).expect("test PIN is valid")
    }

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    #[test]
    fn policy_refuses_3_and_13_digits() {
        assert!(matches!(
            PinPolicy::new(3),
            Err(PinError::PolicyLength { requested: 3 })
        ));
        assert!(matches!(
            PinPolicy::new(13),
            Err(PinError::PolicyLength { requested: 13 })
        ));
        assert!(PinPolicy::new(0).is_err());
        assert!(PinPolicy::new(255).is_err());
    }

    #[test]
    fn policy_accepts_4_to_12_and_defaults_to_5() {
        for len in 4..=12 {
            assert_eq!(PinPolicy::new(len).map(PinPolicy::length).ok(), Some(len));
        }
        assert_eq!(PinPolicy::default().length(), 5);
    }

    #[test]
    fn parse_accepts_digits_up_to_12() {
        assert_eq!(pin("0").as_digits(), "0");
        assert_eq!(pin("012345678901").as_digits(), "012345678901");
        assert_eq!(pin("12345").len(), 5);
    }

    #[test]
    fn parse_refuses_empty_long_and_non_digits() {
        assert!(matches!(Pin::parse(""), Err(PinError::Empty)));
        assert!(matches!(
            Pin::parse("1234567890123"),
            Err(PinError::TooLong { max: 12 })
        ));
        for bad in ["12a45", "1234#", " 1234", "1234 ", "١٢٣٤", "-123", "+123"] {
            assert!(matches!(Pin::parse(bad), Err(PinError::NotDigits)), "{bad}");
        }
    }

    #[test]
    fn generated_pins_have_policy_length_and_only_digits() {
        for len in MIN_POLICY_LEN..=MAX_POLICY_LEN {
            let policy = PinPolicy::new(len).expect("valid length");
            for _ in 0..50 {
                let p = generate_pin(policy).expect("random source works");
                assert_eq!(p.len(), usize::from(len));
                assert!(p.as_digits().bytes().all(|b| b.is_ascii_digit()));
            }
        }
    }

    #[test]
    fn generated_digits_are_uniform() {
        // 10k PINs of 5 digits: 50k digits, 5k expected per value. The chi-square
        // critical value for 9 degrees of freedom at p = 0.0001 is 33.7, so a correct
        // generator fails this once in ten thousand runs.
        let mut counts = [0u64; 10];
        let mut first_counts = [0u64; 10];
        for _ in 0..10_000 {
            let p = generate_pin(PinPolicy::default()).expect("random source works");
            for (i, b) in p.as_digits().bytes().enumerate() {
                let d = usize::from(b - b'0');
                counts[d] += 1;
                if i == 0 {
                    first_counts[d] += 1;
                }
            }
        }
        let chi = |counts: &[u64], expected: f64| -> f64 {
            counts
                .iter()
                .map(|&c| (c as f64 - expected).powi(2) / expected)
                .sum()
        };
        let all = chi(&counts, 5_000.0);
        assert!(all < 33.7, "chi-square {all} over {counts:?}");
        let first = chi(&first_counts, 1_000.0);
        assert!(
            first < 33.7,
            "first-digit chi-square {first} over {first_counts:?}"
        );
    }

    #[test]
    fn nonzero_first_digit_is_uniform_over_1_to_9() {
        let mut counts = [0u64; 10];
        let mut s = String::new();
        for _ in 0..9_000 {
            s.clear();
            push_random_digits(&mut s, 1, true).expect("random source works");
            let d = s.bytes().next().map(|b| usize::from(b - b'0'));
            counts[d.expect("one digit")] += 1;
        }
        assert_eq!(counts[0], 0);
        // 8 degrees of freedom, p = 0.0001: 31.8.
        let chi: f64 = counts[1..]
            .iter()
            .map(|&c| (c as f64 - 1_000.0).powi(2) / 1_000.0)
            .sum();
        assert!(chi < 31.8, "chi-square {chi} over {counts:?}");
    }

    #[test]
    fn key_file_is_created_0600_and_reloads_identical() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pin.key");
        let first = PinKey::load_or_create(&path).expect("create key");
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(
            std::fs::metadata(&path).expect("stat").len(),
            PIN_KEY_LEN as u64
        );
        let again = PinKey::load_or_create(&path).expect("reload key");
        assert_eq!(*first.block, *again.block);
        let p = pin("48213");
        assert_eq!(first.tag(7, &p), again.tag(7, &p));
    }

    #[test]
    fn two_new_key_files_differ() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = PinKey::load_or_create(&dir.path().join("a.key")).expect("key a");
        let b = PinKey::load_or_create(&dir.path().join("b.key")).expect("key b");
        assert_ne!(*a.block, *b.block);
    }

    #[test]
    fn key_file_of_wrong_size_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pin.key");
        std::fs::write(&path, [1u8; 31]).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let err = PinKey::load_or_create(&path).expect_err("short key refused");
        assert!(matches!(err, PinError::KeyWrongSize { actual: 31, .. }));
        assert!(err.to_string().contains("31 bytes"));
        // The refused file is left alone for the operator to inspect.
        assert_eq!(std::fs::read(&path).expect("read").len(), 31);
    }

    #[test]
    fn group_or_world_readable_key_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pin.key");
        PinKey::load_or_create(&path).expect("create key");
        for mode in [0o640, 0o604, 0o660, 0o644] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let err = PinKey::load_or_create(&path).expect_err("open key refused");
            assert!(
                matches!(err, PinError::KeyPermissions { mode: m, .. } if m == mode),
                "{mode:o}"
            );
            assert!(err.to_string().contains("chmod 600"));
        }
    }

    #[test]
    fn key_path_that_is_a_directory_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pin.key");
        std::fs::create_dir(&path).expect("mkdir");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let err = PinKey::load_or_create(&path).expect_err("directory refused");
        assert!(matches!(err, PinError::KeyNotAFile { .. }), "{err}");
    }

    #[test]
    fn key_in_missing_directory_reports_create_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("missing").join("pin.key");
        let err = PinKey::load_or_create(&path).expect_err("no directory");
        assert!(matches!(err, PinError::KeyCreate { .. }), "{err}");
    }

    #[test]
    fn padded_key_gives_the_standard_hmac() {
        let raw = [0x42u8; PIN_KEY_LEN];
        let key = PinKey::from_key(&raw);
        let p = pin("90210");
        let mut reference = HmacSha256::new_from_slice(&raw).expect("HMAC takes any key length");
        reference.update(TAG_DOMAIN);
        reference.update(&5i64.to_be_bytes());
        reference.update(b"90210");
        let expected: [u8; 32] = reference.finalize().into_bytes().into();
        assert_eq!(key.tag(5, &p).as_bytes(), &expected);
    }

    #[test]
    fn verify_accepts_right_pin_and_refuses_wrong_or_missing_tag() {
        let key = test_key(1);
        let stored = key.tag(42, &pin("12345"));
        assert!(key.verify(42, &pin("12345"), Some(&stored)));
        assert!(!key.verify(42, &pin("12346"), Some(&stored)));
        assert!(!key.verify(42, &pin("1234"), Some(&stored)));
        assert!(!key.verify(42, &pin("123450"), Some(&stored)));
        assert!(!key.verify(43, &pin("12345"), Some(&stored)));
        assert!(!key.verify(42, &pin("12345"), None));
    }

    #[test]
    fn all_zero_dummy_tag_never_verifies_without_a_stored_tag() {
        // Even a PIN whose tag happened to equal the dummy must not pass when nothing is stored.
        let key = test_key(2);
        for digits in ["0", "00000", "000000000000"] {
            assert!(!key.verify(0, &pin(digits), None));
        }
    }

    #[test]
    fn tag_differs_per_organizer_and_per_key() {
        let key = test_key(3);
        let p = pin("55555");
        assert_ne!(key.tag(1, &p), key.tag(2, &p));
        assert_ne!(key.tag(1, &p), test_key(4).tag(1, &p));
        assert_eq!(key.tag(1, &p), key.tag(1, &pin("55555")));
    }

    #[test]
    fn debug_and_display_never_show_digits() {
        let p = pin("987654");
        assert_eq!(format!("{p}"), "*****");
        assert_eq!(format!("{p:?}"), "*****");
        let key = test_key(9);
        let tag = key.tag(1, &p);
        assert_eq!(format!("{tag:?}"), "PinTag(..)");
        assert_eq!(format!("{key:?}"), "PinKey(..)");
        let errors = [
            Pin::parse("98765a").err(),
            Pin::parse("9876543210987").err(),
            Pin::parse("").err(),
        ];
        for err in errors.into_iter().flatten() {
            let text = format!("{err} {err:?}");
            assert!(!text.contains("98765"), "{text}");
        }
    }

    #[test]
    fn check_value_is_stable_per_key_and_differs_between_keys() {
        let a = test_key(1).check_value();
        assert_eq!(a, test_key(1).check_value());
        assert_ne!(a, test_key(2).check_value());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        // It is not the key, nor any tag.
        assert!(!a.contains("0101010101"));
    }

    #[test]
    fn tag_round_trips_through_bytes() {
        let tag = test_key(5).tag(9, &pin("1234"));
        assert_eq!(PinTag::from_slice(tag.as_bytes()), Some(tag.clone()));
        assert_eq!(PinTag::from_bytes(*tag.as_bytes()), tag);
        assert_eq!(PinTag::from_slice(&[0u8; 31]), None);
        assert_eq!(PinTag::from_slice(&[0u8; 33]), None);
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_accepts_only_short_digit_strings(input in any::<String>()) {
            let ok = !input.is_empty()
                && input.len() <= MAX_PIN_LEN
                && input.bytes().all(|b| b.is_ascii_digit());
            match Pin::parse(&input) {
                Ok(p) => {
                    prop_assert!(ok);
                    prop_assert_eq!(p.as_digits(), input.as_str());
                }
                Err(_) => prop_assert!(!ok),
            }
        }

        #[test]
        fn parse_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = Pin::parse(&text);
        }

        #[test]
        fn tag_from_slice_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            prop_assert_eq!(PinTag::from_slice(&bytes).is_some(), bytes.len() == 32);
        }
    }

    #[test]
    fn trivial_pins_are_runs_and_repeats_only() {
        for p in [
            "11111",
            "0000",
            "12345",
            "98765",
            "3456",
            "123456789012",
            "90123",
            "21098",
        ] {
            assert!(is_trivial(&Pin::parse(p).unwrap()), "{p}");
        }
        for p in ["12346", "13579", "11112", "54320", "48213", "51736"] {
            assert!(!is_trivial(&Pin::parse(p).unwrap()), "{p}");
        }
    }
}
