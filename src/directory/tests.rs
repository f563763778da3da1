//! Tests of `directory`, beside it so the code reads on its own.

use super::*;
use crate::store::{CONFERENCE_ID_LEN, DATABASE_FILE};
use proptest::prelude::*;
use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;

fn fixed_clock() -> i64 {
    1_750_000_000
}

async fn open(dir: &Path) -> Directory {
    Directory::open_with_clock(dir, fixed_clock)
        .await
        .expect("open directory")
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

fn is_prefix_free(ids: &[String]) -> bool {
    let mut sorted: Vec<&String> = ids.iter().collect();
    sorted.sort();
    // In sorted order a prefix sorts directly before some string it prefixes.
    sorted.windows(2).all(|w| match w {
        [a, b] => !b.starts_with(a.as_str()),
        _ => true,
    })
}

#[tokio::test]
async fn add_organizer_returns_a_working_pin_of_policy_length() {
    let dir = tempfile::tempdir().expect("tempdir");
    let directory = open(dir.path()).await;
    let (org, pin) = directory
        .add_organizer(&Actor::cli(), "  Ada Lovelace ", "ada@example.org")
        .await
        .expect("add");
    assert_eq!(org.name, "Ada Lovelace");
    assert_eq!(org.email, "ada@example.org");
    assert!(org.enabled);
    assert!(org.has_pin);
    assert_eq!(pin.len(), 5);
    assert!(directory.verify_pin(org.id, &pin).await.expect("verify"));
    assert_eq!(
        directory.organizers().await.expect("list"),
        vec![org.clone()]
    );
    let audit = directory.store.recent_audit(10).await.expect("audit");
    assert_eq!(
        audit.first().map(|a| a.action.as_str()),
        Some("organizer.create")
    );
    assert!(audit.iter().all(|a| !a.detail.contains(pin.as_digits())));
    directory.close().await;
}

static LOCKOUT_NOW: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1_750_000_000);

fn lockout_clock() -> i64 {
    LOCKOUT_NOW.load(std::sync::atomic::Ordering::SeqCst)
}

fn advance(secs: i64) {
    LOCKOUT_NOW.fetch_add(secs, std::sync::atomic::Ordering::SeqCst);
}

/// A wrong PIN of the same length as `pin`.
fn wrong_for(pin: &Pin) -> Pin {
    let digits: String = pin
        .as_digits()
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    Pin::parse(&digits).expect("digits")
}

#[tokio::test]
async fn wrong_pins_across_calls_lock_the_pin_and_a_reset_unlocks_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let directory = Directory::open_with_clock(dir.path(), lockout_clock)
        .await
        .expect("open");
    let (org, pin) = directory
        .add_organizer(&Actor::cli(), "Ada", "ada@example.org")
        .await
        .expect("add");
    let wrong = wrong_for(&pin);
    for _ in 0..9 {
        assert_eq!(
            directory
                .check_pin(org.id, &wrong, "")
                .await
                .expect("check"),
            PinCheck::Refused
        );
    }
    let t = lockout_clock();
    assert_eq!(
        directory
            .check_pin(org.id, &wrong, "")
            .await
            .expect("check"),
        PinCheck::RefusedAndLocked { until: t + 900 }
    );
    // Locked: even the right PIN is refused, exactly like a wrong one.
    assert_eq!(
        directory.check_pin(org.id, &pin, "").await.expect("check"),
        PinCheck::Refused
    );
    assert!(directory.pin_locked(org.id).await.expect("locked"));
    advance(900);
    assert_eq!(
        directory.check_pin(org.id, &pin, "").await.expect("check"),
        PinCheck::Accepted
    );
    // Timed locks waited out, the failures go on until the PIN locks until reset: the
    // success did not clear the 365-day window, which holds 11 failures already.
    let mut hard_after = None;
    for n in 1..=50 {
        if directory.pin_locked(org.id).await.expect("locked") {
            advance(24 * 3600);
        }
        let c = directory
            .check_pin(org.id, &wrong, "")
            .await
            .expect("check");
        if c == PinCheck::RefusedAndLockedUntilReset {
            hard_after = Some(n);
            break;
        }
    }
    assert_eq!(hard_after, Some(39), "50 failures in the window in all");
    advance(30 * 24 * 3600);
    assert_eq!(
        directory.check_pin(org.id, &pin, "").await.expect("check"),
        PinCheck::Refused,
        "locked until reset, however long one waits"
    );
    let new = directory
        .reset_pin(&Actor::cli(), org.id)
        .await
        .expect("reset");
    assert_eq!(
        directory.check_pin(org.id, &new, "").await.expect("check"),
        PinCheck::Accepted
    );
    let audit = directory.store.recent_audit(500).await.expect("audit");
    let count = |action: &str| audit.iter().filter(|a| a.action == action).count();
    assert_eq!(count("pin.failure"), 51);
    assert!(count("pin.locked") >= 1);
    assert_eq!(count("pin.locked_until_reset"), 1);
    assert!(count("pin.unlocked") >= 2, "lock ran out, and the reset");
    for a in &audit {
        for secret in [pin.as_digits(), wrong.as_digits(), new.as_digits()] {
            assert!(!a.detail.contains(secret), "{:?}", a.detail);
        }
    }
    directory.close().await;
}

#[tokio::test]
async fn parallel_wrong_pins_cannot_race_past_the_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let directory = open(dir.path()).await;
    let (org, pin) = directory
        .add_organizer(&Actor::cli(), "Ada", "ada@example.org")
        .await
        .expect("add");
    let wrong = wrong_for(&pin);
    // 30 lines at once, each with a wrong PIN: exactly one of them locks it.
    let checks = (0..30).map(|_| {
        let d = directory.clone();
        let w = Pin::parse(wrong.as_digits()).expect("digits");
        tokio::spawn(async move { d.check_pin(org.id, &w, "").await.expect("check") })
    });
    // Spawn them all before awaiting any: a lazy iterator would run them one by one.
    let checks: Vec<_> = checks.collect();
    let mut locked = 0;
    for c in checks {
        if matches!(c.await.expect("task"), PinCheck::RefusedAndLocked { .. }) {
            locked += 1;
        }
    }
    assert_eq!(locked, 1);
    assert_eq!(
        directory
            .store
            .pin_lockout(org.id)
            .await
            .expect("read")
            .since_success,
        30
    );
    directory.close().await;
}

/// Two directories on one PostgreSQL database are two bridge nodes: wrong PINs spread over
/// both still lock the PIN exactly once and every one of them counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_pins_on_two_nodes_sharing_postgresql_cannot_race_past_the_count() {
    let server = crate::store::testing::server();
    let url = crate::store::testing::fresh_database(&server);
    // Same data directory: both nodes have the same pin.key, as a cluster must.
    let dir = tempfile::tempdir().expect("tempdir");
    let a = Directory::open_at(dir.path(), Some(&url))
        .await
        .expect("node a");
    let b = Directory::open_at(dir.path(), Some(&url))
        .await
        .expect("node b");
    let (org, pin) = a
        .add_organizer(&Actor::cli(), "Ada", "ada@example.org")
        .await
        .expect("add");
    assert!(b.verify_pin(org.id, &pin).await.expect("verify on b"));
    let wrong = wrong_for(&pin);
    let checks = (0..30).map(|i| {
        let d = if i % 2 == 0 { a.clone() } else { b.clone() };
        let w = Pin::parse(wrong.as_digits()).expect("digits");
        tokio::spawn(async move { d.check_pin(org.id, &w, "").await.expect("check") })
    });
    // Spawn them all before awaiting any: a lazy iterator would run them one by one.
    let checks: Vec<_> = checks.collect();
    let mut locked = 0;
    for c in checks {
        if matches!(c.await.expect("task"), PinCheck::RefusedAndLocked { .. }) {
            locked += 1;
        }
    }
    assert_eq!(locked, 1);
    assert_eq!(
        b.store
            .pin_lockout(org.id)
            .await
            .expect("read")
            .since_success,
        30
    );
    assert!(a.pin_locked(org.id).await.expect("locked on a"));
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn conference_ids_are_nine_digits_unique_and_prefix_free_over_200() {
    let dir = tempfile::tempdir().expect("tempdir");
    let directory = open(dir.path()).await;
    for i in 0..200 {
        directory
            .add_organizer(
                &Actor::cli(),
                &format!("Organizer {i}"),
                &format!("o{i}@example.org"),
            )
            .await
            .expect("add");
    }
    let ids: Vec<String> = directory
        .organizers()
        .await
        .expect("list")
        .into_iter()
        .map(|o| o.conference_id)
        .collect();
    assert_eq!(ids.len(), 200);
    for id in &ids {
        assert_eq!(id.len(), CONFERENCE_ID_LEN, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_digit()), "{id}");
        assert!(!id.starts_with('0'), "{id}");
    }
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 200);
    assert!(is_prefix_free(&ids));
    directory.close().await;
}

#[test]
fn prefix_free_check_catches_prefixes() {
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(is_prefix_free(&ids(&["123", "124", "2"])));
    assert!(!is_prefix_free(&ids(&["1234", "12", "9"])));
    assert!(!is_prefix_free(&ids(&["55", "55"])));
}

#[tokio::test]
async fn a_recent_lookup_answers_without_the_database_until_a_change_is_committed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let directory = open(dir.path()).await;
    let (org, _pin) = directory
        .add_organizer(&Actor::cli(), "Grace", "grace@example.org")
        .await
        .expect("add");
    assert_eq!(directory.recent_conference(&org.conference_id), None);
    let found = directory
        .lookup_conference(&org.conference_id)
        .await
        .expect("lookup");
    assert!(found.is_some());
    // A clone (the control task's) shares what was read.
    assert_eq!(
        directory.clone().recent_conference(&org.conference_id),
        found
    );
    // Any committed change, here a new start rule, is seen by the next caller.
    let update = OrganizerUpdate {
        start_without_pin: Some(true),
        ..OrganizerUpdate::default()
    };
    directory
        .update_organizer(&Actor::cli(), org.id, &update)
        .await
        .expect("update");
    assert_eq!(directory.recent_conference(&org.conference_id), None);
    let found = directory
        .lookup_conference(&org.conference_id)
        .await
        .expect("lookup")
        .expect("found");
    assert!(found.start_without_pin);
    // Unknown digits are never remembered.
    assert_eq!(
        directory.lookup_conference("1").await.expect("lookup"),
        None
    );
    assert_eq!(directory.recent_conference("1"), None);
    directory.close().await;
}

#[tokio::test]
async fn lookup_finds_enabled_conference_and_not_unknown_or_disabled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let directory = open(dir.path()).await;
    let (org, _pin) = directory
        .add_organizer(&Actor::cli(), "Grace", "grace@example.org")
        .await
        .expect("add");
    let found = directory
        .lookup_conference(&org.conference_id)
        .await
        .expect("lookup");
    assert_eq!(
        found,
        Some(Conference {
            organizer_id: org.id,
            conference_id: org.conference_id.clone(),
            organizer_name: "Grace".to_string(),
            start_without_pin: false,
        })
    );
    // Unknown, partial, over-long and non-digit input: not found.
    let partial = &org.conference_id[..4];
    let longer = format!("{}0", org.conference_id);
    for digits in [
        partial,
        longer.as_str(),
        "",
        "12345678#",
        "abc",
        "99999999999999999999",
    ] {
        assert_eq!(
            directory.lookup_conference(digits).await.expect("lookup"),
            None,
            "{digits}"
        );
    }
    directory
        .set_organizer_enabled(&Actor::cli(), org.id, false)
        .await
        .expect("disable");
    assert_eq!(
        directory
            .lookup_conference(&org.conference_id)
            .await
            .expect("lookup"),
        None
    );
    directory
        .set_organizer_enabled(&Actor::cli(), org.id, true)
        .await
        .expect("enable");
    assert!(
        directory
            .lookup_conference(&org.conference_id)
            .await
            .expect("lookup")
            .is_some()
    );
    directory.close().await;
}

#[tokio::test]
async fn verify_refuses_wrong_pin_unknown_and_disabled_organizer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let directory = open(dir.path()).await;
    let (org, pin) = directory
        .add_organizer(&Actor::cli(), "A", "a@x")
        .await
        .expect("add");
    let (other, other_pin) = directory
        .add_organizer(&Actor::cli(), "B", "b@x")
        .await
        .expect("add");
    assert!(directory.verify_pin(org.id, &pin).await.expect("verify"));
    let wrong = Pin::parse(if pin.as_digits() == "00000" {
        "00001"
    } else {
        "00000"
    })
    .expect("pin");
    assert!(!directory.verify_pin(org.id, &wrong).await.expect("verify"));
    // Another organizer's PIN does not open this conference.
    if other_pin.as_digits() != pin.as_digits() {
        assert!(
            !directory
                .verify_pin(org.id, &other_pin)
                .await
                .expect("verify")
        );
    }
    assert!(
        !directory
            .verify_pin(other.id + 1000, &pin)
            .await
            .expect("verify")
    );
    directory
        .set_organizer_enabled(&Actor::cli(), org.id, false)
        .await
        .expect("disable");
    assert!(!directory.verify_pin(org.id, &pin).await.expect("verify"));
    directory.close().await;
}

#[tokio::test]
async fn reset_pin_makes_old_pin_fail_and_new_pin_pass() {
    let dir = tempfile::tempdir().expect("tempdir");
    let directory = open(dir.path()).await;
    let (org, old) = directory
        .add_organizer(&Actor::cli(), "A", "a@x")
        .await
        .expect("add");
    // A reset may by chance draw the same digits (1 in 100 000); draw until it differs.
    let mut new = directory
        .reset_pin(&Actor::cli(), org.id)
        .await
        .expect("reset");
    while new.as_digits() == old.as_digits() {
        new = directory
            .reset_pin(&Actor::cli(), org.id)
            .await
            .expect("reset");
    }
    assert!(!directory.verify_pin(org.id, &old).await.expect("verify"));
    assert!(directory.verify_pin(org.id, &new).await.expect("verify"));
    let audit = directory.store.recent_audit(5).await.expect("audit");
    assert!(audit.iter().any(|a| a.action == "pin.reset"), "{audit:?}");
    assert!(matches!(
        directory.reset_pin(&Actor::cli(), org.id + 1).await,
        Err(DirectoryError::OrganizerNotFound { .. })
    ));
    directory.close().await;
}

#[tokio::test]
async fn data_dir_db_and_key_have_private_modes() {
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("data");
    let directory = open(&data).await;
    assert_eq!(mode_of(&data), 0o700);
    assert_eq!(mode_of(&data.join(DATABASE_FILE)), 0o600);
    assert_eq!(mode_of(&data.join(PIN_KEY_FILE)), 0o600);
    directory.close().await;
}

#[tokio::test]
async fn reopening_keeps_organizers_and_pins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let directory = open(dir.path()).await;
    let (org, pin) = directory
        .add_organizer(&Actor::cli(), "A", "a@x")
        .await
        .expect("add");
    directory.close().await;
    drop(directory);

    let directory = open(dir.path()).await;
    assert_eq!(
        directory.organizers().await.expect("list"),
        vec![org.clone()]
    );
    assert!(directory.verify_pin(org.id, &pin).await.expect("verify"));
    assert!(
        directory
            .lookup_conference(&org.conference_id)
            .await
            .expect("lookup")
            .is_some()
    );
    directory.close().await;
}

#[tokio::test]
async fn policy_change_applies_to_new_pins_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let directory = open(dir.path()).await;
    let (first, first_pin) = directory
        .add_organizer(&Actor::cli(), "A", "a@x")
        .await
        .expect("add");
    assert_eq!(first_pin.len(), 5);
    directory
        .set_pin_policy(&Actor::cli(), PinPolicy::new(8).expect("policy"))
        .await
        .expect("set policy");
    assert_eq!(directory.pin_policy().await.expect("policy").length(), 8);
    let (second, second_pin) = directory
        .add_organizer(&Actor::cli(), "B", "b@x")
        .await
        .expect("add");
    assert_eq!(second_pin.len(), 8);
    assert!(
        directory
            .verify_pin(first.id, &first_pin)
            .await
            .expect("verify")
    );
    assert!(
        directory
            .verify_pin(second.id, &second_pin)
            .await
            .expect("verify")
    );
    let stored = directory
        .store
        .organizer(first.id)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(stored.pin_length, Some(5));
    // A reset after the change gets the new length.
    let reset = directory
        .reset_pin(&Actor::cli(), first.id)
        .await
        .expect("reset");
    assert_eq!(reset.len(), 8);
    directory.close().await;
}

#[tokio::test]
async fn missing_key_with_existing_pins_is_refused_without_creating_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let directory = open(dir.path()).await;
    directory
        .add_organizer(&Actor::cli(), "A", "a@x")
        .await
        .expect("add");
    directory.close().await;
    let key_path = dir.path().join(PIN_KEY_FILE);
    std::fs::remove_file(&key_path).expect("remove key");
    let err = Directory::open_with_clock(dir.path(), fixed_clock)
        .await
        .expect_err("missing key refused");
    assert!(matches!(err, DirectoryError::KeyMissing { .. }), "{err}");
    assert!(!key_path.exists(), "no replacement key was minted");
}

#[tokio::test]
async fn new_key_is_adopted_while_no_pin_exists() {
    let dir = tempfile::tempdir().expect("tempdir");
    open(dir.path()).await.close().await;
    std::fs::remove_file(dir.path().join(PIN_KEY_FILE)).expect("remove key");
    let directory = open(dir.path()).await;
    let (org, pin) = directory
        .add_organizer(&Actor::cli(), "A", "a@x")
        .await
        .expect("add");
    directory.close().await;
    let directory = open(dir.path()).await;
    assert!(directory.verify_pin(org.id, &pin).await.expect("verify"));
    directory.close().await;
}

#[tokio::test]
async fn foreign_key_file_is_refused() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let directory = open(a.path()).await;
    directory
        .add_organizer(&Actor::cli(), "A", "a@x")
        .await
        .expect("add");
    directory.close().await;
    open(b.path()).await.close().await;
    std::fs::copy(b.path().join(PIN_KEY_FILE), a.path().join(PIN_KEY_FILE)).expect("copy");
    let err = Directory::open_with_clock(a.path(), fixed_clock)
        .await
        .expect_err("foreign key refused");
    assert!(matches!(err, DirectoryError::KeyMismatch { .. }), "{err}");
}

#[tokio::test]
async fn invalid_names_and_emails_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let directory = open(dir.path()).await;
    let long_name = "n".repeat(MAX_NAME_CHARS + 1);
    let cases: [(&str, &str); 6] = [
        ("   ", "a@x"),
        (&long_name, "a@x"),
        ("Bad\nName", "a@x"),
        ("Ok", "no-at-sign"),
        ("Ok", "two words@x"),
        ("Ok", "@x"),
    ];
    for (name, email) in cases {
        let err = directory
            .add_organizer(&Actor::cli(), name, email)
            .await
            .expect_err("refused");
        let text = err.to_string();
        assert!(text.contains("name") || text.contains("e-mail"), "{text}");
    }
    assert!(directory.organizers().await.expect("list").is_empty());
    directory.close().await;
}

#[test]
fn name_validation_bounds() {
    assert_eq!(validate_name(" Zoë ").ok(), Some("Zoë"));
    assert!(validate_name(&"é".repeat(MAX_NAME_CHARS)).is_ok());
    assert!(matches!(
        validate_name(&"é".repeat(MAX_NAME_CHARS + 1)),
        Err(DirectoryError::NameTooLong {
            actual: 201,
            max: 200
        })
    ));
    assert!(matches!(validate_name(""), Err(DirectoryError::NameEmpty)));
    assert!(matches!(
        validate_name("a\tb"),
        Err(DirectoryError::NameControlChars)
    ));
    assert!(matches!(
        validate_name("a\u{7f}b"),
        Err(DirectoryError::NameControlChars)
    ));
}

#[test]
fn email_validation_bounds() {
    assert_eq!(
        validate_email(" a@example.org ").ok(),
        Some("a@example.org")
    );
    assert!(validate_email("\"odd@local\"@example.org").is_ok());
    assert!(validate_email("x@y").is_ok());
    let local = "l".repeat(MAX_EMAIL_LEN - 2);
    assert!(validate_email(&format!("{local}@y")).is_ok());
    assert!(matches!(
        validate_email(&format!("{local}x@y")),
        Err(DirectoryError::EmailTooLong {
            actual: 255,
            max: 254
        })
    ));
    for bad in ["", "a", "a@", "@b", "a@b.", "a@.b", "a b@c", "a@b\u{0}"] {
        assert!(
            matches!(validate_email(bad), Err(DirectoryError::EmailInvalid)),
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn organizer_json_shows_the_pin_only_masked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let directory = Directory::open(dir.path()).await.expect("open");
    let (org, pin) = directory
        .add_organizer(&Actor::cli(), "A", "a@x")
        .await
        .expect("add");
    let json = serde_json::to_string(&org).expect("serializes");
    assert!(json.contains(r#""pin":"*****""#), "{json}");
    let quoted = format!("\"{}\"", pin.as_digits());
    assert!(!json.contains(&quoted), "the PIN never appears in a read");
    assert!(!json.contains("tag"), "no tag field: {json}");
    directory.close().await;
}

#[tokio::test]
async fn a_reset_whose_audit_entry_fails_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let directory = open(dir.path()).await;
    let (org, old_pin) = directory
        .add_organizer(&Actor::cli(), "Ada", "ada@example.org")
        .await
        .expect("add");
    let before = directory.audit_log(100).await.expect("audit").len();
    // An actor name the audit log refuses makes the last write of the reset fail.
    let unloggable = Actor {
        who: "x".repeat(crate::store::MAX_AUDIT_LABEL_LEN + 1),
        source: "test".into(),
    };
    directory
        .reset_pin(&unloggable, org.id)
        .await
        .expect_err("the audit entry is refused");
    assert!(
        directory
            .verify_pin(org.id, &old_pin)
            .await
            .expect("verify"),
        "the old PIN still works: the new tag was rolled back with the audit entry"
    );
    let after = directory.audit_log(100).await.expect("audit");
    assert!(!after.iter().any(|e| e.action == "pin.reset"), "{after:?}");
    assert_eq!(directory.organizer(org.id).await.expect("read"), org);
    // verify_pin above is audited only on failure, so nothing was added.
    assert_eq!(after.len(), before);
    directory.close().await;
}

proptest! {
    #[test]
    fn validators_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(name) = validate_name(&text) {
            prop_assert!(!name.is_empty() && name.chars().count() <= MAX_NAME_CHARS);
        }
        if let Ok(email) = validate_email(&text) {
            prop_assert!(email.contains('@') && email.len() <= MAX_EMAIL_LEN);
        }
    }

    #[test]
    fn typed_conference_id_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Some(d) = typed_conference_id(&text) {
            prop_assert!(d.len() <= MAX_CONFERENCE_ID_DIGITS);
            prop_assert!(d.bytes().all(|b| b.is_ascii_digit()));
        }
    }
}
