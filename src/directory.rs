//! The directory service: organizers, conference IDs and PINs, as the CLI, the call path
//! and (later) the admin API all use them.
//!
//! It joins the database (`store`) with the PIN key (`auth::pin`) so no caller ever
//! handles tags or keys: PINs go in, PINs come out exactly once, and only booleans and
//! PIN-free views of organizers leave otherwise. Every change is written to the audit log.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::auth::lockout::{FailureOutcome, Gate, LockoutPolicy};
use crate::auth::pin::{Pin, PinError, PinKey, PinPolicy, generate_pin};
use crate::call::{Conference, MAX_CONFERENCE_ID_DIGITS};
use crate::store::{
    ANONYMOUS_START_KEY, AUTO_EMAIL_KEY, AuditRecord, Change, DatabaseUrl, NewAuditEntry,
    OrganizerChanges, OrganizerRecord, Store, StoreError,
};

/// File name of the PIN key inside the data directory.
pub const PIN_KEY_FILE: &str = "pin.key";
/// Longest organizer name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest e-mail address, in bytes (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// How long a self-service reset link stays valid.
pub const RESET_LINK_VALIDITY_SECS: i64 = 15 * 60;

/// Who made a change and through which door, for the audit log (never a PIN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Who: "admin", "organizer:7", "operator"…
    pub who: String,
    /// From where: "cli", "api 127.0.0.1", "web 10.0.0.5"…
    pub source: String,
}

impl Actor {
    /// The operator at the command line.
    pub fn cli() -> Actor {
        Actor {
            who: std::env::var("USER").unwrap_or_else(|_| "operator".into()),
            source: "cli".into(),
        }
    }

    /// An admin through the HTTP API or the admin pages.
    pub fn admin(source: impl Into<String>) -> Actor {
        Actor {
            who: "admin".into(),
            source: source.into(),
        }
    }

    /// An organizer acting on their own account (self-service page, phone keypad).
    pub fn organizer(id: i64, source: impl Into<String>) -> Actor {
        Actor {
            who: format!("organizer:{id}"),
            source: source.into(),
        }
    }
}

/// Organization-wide settings an admin can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Settings {
    /// Digits in newly generated PINs (4–12).
    pub pin_length: u8,
    /// Send PIN e-mails automatically on enable and reset.
    pub auto_email: bool,
    /// Callers may start any meeting without the organizer's PIN.
    pub anonymous_start: bool,
}

/// What an admin may change in one go; `None` keeps the current value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SettingsChange {
    /// New PIN length for new PINs.
    pub pin_length: Option<PinPolicy>,
    /// Automatic PIN e-mails on or off.
    pub auto_email: Option<bool>,
    /// Anonymous meeting start on or off.
    pub anonymous_start: Option<bool>,
}

/// A new organizer as an admin describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewOrganizer {
    /// Display name.
    pub name: String,
    /// Primary address.
    pub email: String,
    /// Where PIN mails go instead, if set.
    pub email_override: Option<String>,
    /// Enabled for audio conferencing (gets a PIN now).
    pub enabled: bool,
    /// Callers may start this organizer's meetings without the PIN.
    pub start_without_pin: bool,
}

/// Field changes to an organizer; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrganizerUpdate {
    /// New display name.
    pub name: Option<String>,
    /// New primary address.
    pub email: Option<String>,
    /// New override address; `Some(None)` removes it.
    pub email_override: Option<Option<String>>,
    /// New start rule.
    pub start_without_pin: Option<bool>,
}

/// Where "now" comes from, in unix seconds; injectable so tests control time.
pub type UnixClock = fn() -> i64;

/// The system clock as unix seconds (0 before 1970, saturating far in the future).
pub fn system_unix_time() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// What can go wrong in directory operations; input problems name the field.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The database failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The PIN key or PIN generation failed.
    #[error(transparent)]
    Pin(#[from] PinError),
    /// A PIN chosen by the organizer has the wrong number of digits.
    #[error("the new PIN must have {expected} digits")]
    PinLength {
        /// The policy length.
        expected: u8,
    },
    /// A PIN chosen by the organizer is one anyone would guess (a repeat or a run).
    #[error("the new PIN is too easy to guess (one digit repeated, or a run like 12345)")]
    PinTooEasy,
    /// Name missing or only spaces.
    #[error("organizer name is empty: enter the organizer's display name")]
    NameEmpty,
    /// Name longer than allowed.
    #[error("organizer name is {actual} characters long; at most {max} are allowed")]
    NameTooLong {
        /// Its length in characters.
        actual: usize,
        /// The limit.
        max: usize,
    },
    /// Name with line breaks, tabs or other control characters.
    #[error("organizer name contains control characters (line breaks, tabs...): use plain text")]
    NameControlChars,
    /// E-mail longer than allowed.
    #[error("organizer e-mail address is {actual} bytes long; at most {max} are allowed")]
    EmailTooLong {
        /// Its length in bytes.
        actual: usize,
        /// The limit.
        max: usize,
    },
    /// Override e-mail that does not look like `local@domain`.
    #[error("email_override must look like name@domain, without spaces or control characters")]
    EmailOverrideInvalid,
    /// E-mail that does not look like `local@domain`.
    #[error(
        "organizer e-mail address must look like name@domain, without spaces or control characters"
    )]
    EmailInvalid,
    /// No organizer has this id.
    #[error("no organizer with id {id}: list organizers to find the right id")]
    OrganizerNotFound {
        /// The id asked for.
        id: i64,
    },
    /// The key file is gone but the database has PINs made with it.
    #[error(
        "the PIN key file {path} is missing but this database already has PINs made with a key: \
         restore {PIN_KEY_FILE} from a backup (a new key would make every PIN fail)"
    )]
    KeyMissing {
        /// Where the key file should be.
        path: PathBuf,
    },
    /// The key file is not the one this database's PINs were made with.
    #[error(
        "the PIN key file {path} does not belong to this database (its PINs were made with another key): \
         restore the matching {PIN_KEY_FILE} from a backup"
    )]
    KeyMismatch {
        /// The key file.
        path: PathBuf,
    },
}

/// What a set PIN looks like in every read: the PIN is shown once, when generated.
pub const MASKED_PIN: &str = "*****";

/// An organizer as shown to admins and the CLI: no PIN, no tag, only whether one is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Organizer {
    /// Row id, used to address the organizer in commands.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// E-mail address for PIN mails.
    pub email: String,
    /// Address that gets PIN mails instead of `email`, if set.
    pub email_override: Option<String>,
    /// The digits callers type.
    pub conference_id: String,
    /// Whether callers can reach this organizer's conference.
    pub enabled: bool,
    /// Whether a PIN is set (the PIN itself is never shown again).
    pub has_pin: bool,
    /// `*****` when a PIN is set, never the digits.
    pub pin: Option<&'static str>,
    /// Digits in the current PIN.
    pub pin_length: Option<u8>,
    /// When the current PIN was set (unix seconds).
    pub pin_set_at: Option<i64>,
    /// Callers may start this organizer's meetings without the PIN.
    pub start_without_pin: bool,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Last change (unix seconds).
    pub updated_at: i64,
}

impl Organizer {
    /// Where this organizer's PIN mails go.
    pub fn mail_address(&self) -> &str {
        self.email_override.as_deref().unwrap_or(&self.email)
    }
}

impl From<OrganizerRecord> for Organizer {
    fn from(rec: OrganizerRecord) -> Self {
        let has_pin = rec.pin_tag.is_some();
        Organizer {
            has_pin,
            pin: has_pin.then_some(MASKED_PIN),
            pin_length: rec.pin_length,
            pin_set_at: rec.pin_set_at,
            id: rec.id,
            name: rec.name,
            email: rec.email,
            email_override: rec.email_override,
            conference_id: rec.conference_id,
            enabled: rec.enabled,
            start_without_pin: rec.start_without_pin,
            created_at: rec.created_at,
            updated_at: rec.updated_at,
        }
    }
}

/// The directory service; clone it freely, clones share the database pool and key.
#[derive(Debug, Clone)]
pub struct Directory {
    store: Store,
    key: Arc<PinKey>,
    clock: UnixClock,
    lockout: LockoutPolicy,
    /// PIN checks run one at a time, so parallel calls cannot all slip past a failure
    /// count before it is written.
    pin_checks: Arc<tokio::sync::Mutex<()>>,
    /// Conference look-ups of the last second.
    lookups: Arc<lookups::LookupCache>,
}

/// The outcome of an organizer PIN entered on a call. Every kind of refusal sounds and takes
/// the same to the caller; the kinds differ only for the audit log and e-mails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinCheck {
    /// The right PIN, and not locked.
    Accepted,
    /// Wrong, or entered while the PIN is locked.
    Refused,
    /// Wrong, and this failure locked the PIN until the given Unix time.
    RefusedAndLocked {
        /// When the lock ends.
        until: i64,
    },
    /// Wrong, and this failure locked the PIN until it is reset: tell the organizer.
    RefusedAndLockedUntilReset,
}

impl PinCheck {
    /// Whether the caller is the organizer.
    pub fn accepted(self) -> bool {
        self == PinCheck::Accepted
    }
}

impl Directory {
    /// Opens the database and the PIN key (`pin.key`) in `data_dir`, creating both at first start.
    pub async fn open(data_dir: &Path) -> Result<Directory, DirectoryError> {
        Self::open_with_clock(data_dir, system_unix_time).await
    }

    /// Opens the directory in the PostgreSQL server at `url` when one is given (the PIN key
    /// stays `pin.key` in `data_dir`), otherwise as [`Directory::open`].
    pub async fn open_at(
        data_dir: &Path,
        url: Option<&DatabaseUrl>,
    ) -> Result<Directory, DirectoryError> {
        let store = Store::open_at(data_dir, url).await?;
        Self::with_store(store, data_dir, system_unix_time).await
    }

    /// `open` with the time source injected (tests, or a node that takes time elsewhere).
    pub async fn open_with_clock(
        data_dir: &Path,
        clock: UnixClock,
    ) -> Result<Directory, DirectoryError> {
        let store = Store::open(data_dir).await?;
        Self::with_store(store, data_dir, clock).await
    }

    /// Pairs an open store with the PIN key in `data_dir`, closing the store on failure.
    async fn with_store(
        store: Store,
        data_dir: &Path,
        clock: UnixClock,
    ) -> Result<Directory, DirectoryError> {
        match Self::open_key(&store, &data_dir.join(PIN_KEY_FILE)).await {
            Ok(key) => Ok(Directory {
                store,
                key: Arc::new(key),
                clock,
                lockout: LockoutPolicy::default(),
                pin_checks: Arc::new(tokio::sync::Mutex::new(())),
                lookups: Arc::default(),
            }),
            Err(err) => {
                if let Err(close_err) = store.close().await {
                    tracing::warn!(error = %close_err, "closing the database after a key failure");
                }
                Err(err)
            }
        }
    }

    /// Loads or creates the key, refusing one that does not match the database's PINs.
    async fn open_key(store: &Store, path: &Path) -> Result<PinKey, DirectoryError> {
        let recorded = store.pin_key_check().await?;
        let has_pins = store.organizers_with_pin_count().await? > 0;
        // Check before load_or_create, which would otherwise mint a fresh key that
        // silently makes every existing PIN fail.
        let key_exists = path.try_exists().map_err(|source| PinError::KeyRead {
            path: path.to_path_buf(),
            source,
        })?;
        if !key_exists && has_pins {
            return Err(DirectoryError::KeyMissing {
                path: path.to_path_buf(),
            });
        }
        let key = PinKey::load_or_create(path)?;
        let check = key.check_value();
        match recorded {
            Some(recorded) if recorded == check => Ok(key),
            Some(_) if has_pins => Err(DirectoryError::KeyMismatch {
                path: path.to_path_buf(),
            }),
            previous => {
                if previous.is_some() {
                    // No PIN depends on the old key, so adopting the new one loses nothing.
                    tracing::warn!(path = %path.display(), "PIN key changed while no PIN was set; using the new key");
                }
                let mut change = store.change().await?;
                change.record_pin_key_check(&check).await?;
                change.commit().await?;
                Ok(key)
            }
        }
    }

    /// Creates an organizer with a fresh conference ID and PIN of the current policy length; returns the PIN (shown once).
    ///
    /// The row, its PIN tag and the audit entry are one change: all saved or none.
    pub async fn add_organizer(
        &self,
        actor: &Actor,
        name: &str,
        email: &str,
    ) -> Result<(Organizer, Pin), DirectoryError> {
        let name = validate_name(name)?;
        let email = validate_email(email)?;
        let now = (self.clock)();
        let policy = self.store.pin_length_policy().await?;
        // Generate before writing anything, so a failing random source leaves no row.
        let pin = generate_pin(policy)?;
        let mut change = self.store.change().await?;
        let id = change.create_organizer(name, email, now).await?;
        let tag = self.key.tag(id, &pin);
        change.set_pin_tag(id, &tag, policy.length(), now).await?;
        let organizer = self.commit_created(change, actor, now, id).await?;
        Ok((organizer, pin))
    }

    /// Finds the conference for digits a caller typed (None if unknown or organizer disabled).
    pub async fn lookup_conference(
        &self,
        digits: &str,
    ) -> Result<Option<Conference>, DirectoryError> {
        let Some(digits) = typed_conference_id(digits) else {
            return Ok(None);
        };
        let writes = self.store.writes();
        let now = std::time::Instant::now();
        if let Some(found) = self.lookups.get(digits, now, writes) {
            return Ok(Some(found));
        }
        let Some((r, anonymous_start)) = self.store.conference_lookup(digits).await? else {
            return Ok(None);
        };
        if !r.enabled {
            return Ok(None);
        }
        // Either switch lets callers start: the organizer's own, or the organization's.
        let anonymous = r.start_without_pin || anonymous_start;
        let found = Conference {
            organizer_id: r.id,
            conference_id: r.conference_id,
            organizer_name: r.name,
            start_without_pin: anonymous,
        };
        self.lookups.put(digits, found.clone(), now, writes);
        Ok(Some(found))
    }

    /// The answer [`Directory::lookup_conference`] would give from what it read in the last
    /// second, without waiting: None when it has to ask the database.
    pub fn recent_conference(&self, digits: &str) -> Option<Conference> {
        let digits = typed_conference_id(digits)?;
        self.lookups
            .get(digits, std::time::Instant::now(), self.store.writes())
    }

    /// All organizers, PIN-free, in creation order.
    pub async fn organizers(&self) -> Result<Vec<Organizer>, DirectoryError> {
        let records = self.store.organizers().await?;
        Ok(records.into_iter().map(Organizer::from).collect())
    }

    /// Enables or disables an organizer; a disabled conference ID no longer answers.
    pub async fn set_organizer_enabled(
        &self,
        actor: &Actor,
        organizer_id: i64,
        enabled: bool,
    ) -> Result<(), DirectoryError> {
        let now = (self.clock)();
        let mut change = self.store.change().await?;
        Self::put_enabled(&mut change, actor, organizer_id, enabled, now).await?;
        change.commit().await?;
        Ok(())
    }

    /// Enables or disables within `change`, with its audit entry.
    async fn put_enabled(
        change: &mut Change,
        actor: &Actor,
        organizer_id: i64,
        enabled: bool,
        now: i64,
    ) -> Result<(), DirectoryError> {
        change
            .set_organizer_enabled(organizer_id, enabled, now)
            .await
            .map_err(not_found)?;
        let action = if enabled {
            "organizer.enable"
        } else {
            "organizer.disable"
        };
        let entry = audit_entry(actor, now, action, Some(organizer_id), "");
        change.append_audit(&entry).await?;
        Ok(())
    }

    /// One organizer, PIN-free.
    pub async fn organizer(&self, id: i64) -> Result<Organizer, DirectoryError> {
        self.store
            .organizer(id)
            .await?
            .map(Organizer::from)
            .ok_or(DirectoryError::OrganizerNotFound { id })
    }

    /// Creates an organizer as an admin describes it; a PIN is generated (and returned,
    /// the only time it is shown) when the organizer is created enabled.
    pub async fn create_organizer(
        &self,
        actor: &Actor,
        new: &NewOrganizer,
    ) -> Result<(Organizer, Option<Pin>), DirectoryError> {
        let name = validate_name(&new.name)?;
        let email = validate_email(&new.email)?;
        let email_override = new
            .email_override
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(validate_email_override)
            .transpose()?;
        let now = (self.clock)();
        let policy = self.store.pin_length_policy().await?;
        let pin = if new.enabled {
            Some(generate_pin(policy)?)
        } else {
            None
        };
        let mut change = self.store.change().await?;
        let id = change.create_organizer(name, email, now).await?;
        let changes = OrganizerChanges {
            email_override: Some(email_override),
            start_without_pin: Some(new.start_without_pin),
            ..OrganizerChanges::default()
        };
        change.update_organizer(id, &changes, now).await?;
        match &pin {
            Some(pin) => {
                let tag = self.key.tag(id, pin);
                change.set_pin_tag(id, &tag, policy.length(), now).await?;
            }
            None => change.set_organizer_enabled(id, false, now).await?,
        }
        let organizer = self.commit_created(change, actor, now, id).await?;
        Ok((organizer, pin))
    }

    /// Changes names, addresses or the start rule.
    pub async fn update_organizer(
        &self,
        actor: &Actor,
        id: i64,
        update: &OrganizerUpdate,
    ) -> Result<Organizer, DirectoryError> {
        let name = update.name.as_deref().map(validate_name).transpose()?;
        let email = update.email.as_deref().map(validate_email).transpose()?;
        let email_override = match &update.email_override {
            None => None,
            Some(None) => Some(None),
            Some(Some(e)) if e.trim().is_empty() => Some(None),
            Some(Some(e)) => Some(Some(validate_email_override(e)?)),
        };
        let now = (self.clock)();
        let changes = OrganizerChanges {
            name,
            email,
            email_override,
            start_without_pin: update.start_without_pin,
        };
        let mut change = self.store.change().await?;
        change
            .update_organizer(id, &changes, now)
            .await
            .map_err(not_found)?;
        let mut detail = Vec::new();
        if name.is_some() {
            detail.push("name");
        }
        if email.is_some() {
            detail.push("email");
        }
        if email_override.is_some() {
            detail.push("email_override");
        }
        if let Some(start) = update.start_without_pin {
            detail.push(if start {
                "start_without_pin=on"
            } else {
                "start_without_pin=off"
            });
        }
        let detail = detail.join(",");
        let entry = audit_entry(actor, now, "organizer.update", Some(id), &detail);
        change.append_audit(&entry).await?;
        change.commit().await?;
        self.organizer(id).await
    }

    /// Enables an organizer for audio conferencing with a fresh PIN (returned, shown once).
    pub async fn enable(&self, actor: &Actor, id: i64) -> Result<(Organizer, Pin), DirectoryError> {
        let now = (self.clock)();
        let (pin, policy) = self.fresh_pin().await?;
        let mut change = self.store.change().await?;
        self.put_pin(&mut change, id, &pin, policy, now).await?;
        Self::put_enabled(&mut change, actor, id, true, now).await?;
        change.commit().await?;
        Ok((self.organizer(id).await?, pin))
    }

    /// Deletes an organizer; their conference ID and PIN stop working at once.
    pub async fn delete_organizer(&self, actor: &Actor, id: i64) -> Result<(), DirectoryError> {
        let mut change = self.store.change().await?;
        change.delete_organizer(id).await.map_err(not_found)?;
        let entry = audit_entry(actor, (self.clock)(), "organizer.delete", Some(id), "");
        change.append_audit(&entry).await?;
        change.commit().await?;
        Ok(())
    }

    /// Gives an organizer a new random conference ID; the old one stops answering at once.
    pub async fn reset_conference_id(
        &self,
        actor: &Actor,
        id: i64,
    ) -> Result<Organizer, DirectoryError> {
        let now = (self.clock)();
        let mut change = self.store.change().await?;
        let new_id = change
            .reassign_conference_id(id, now)
            .await
            .map_err(not_found)?;
        let entry = audit_entry(actor, now, "conference_id.reset", Some(id), &new_id);
        change.append_audit(&entry).await?;
        change.commit().await?;
        self.organizer(id).await
    }

    /// The organization-wide settings.
    pub async fn settings(&self) -> Result<Settings, DirectoryError> {
        Ok(Settings {
            pin_length: self.store.pin_length_policy().await?.length(),
            auto_email: self.store.bool_setting(AUTO_EMAIL_KEY, true).await?,
            anonymous_start: self.store.bool_setting(ANONYMOUS_START_KEY, false).await?,
        })
    }

    /// Changes organization-wide settings; each change is audited.
    pub async fn update_settings(
        &self,
        actor: &Actor,
        change: &SettingsChange,
    ) -> Result<Settings, DirectoryError> {
        // Only real changes are written and audited (a form re-sends every field).
        let current = self.settings().await?;
        let now = (self.clock)();
        let mut writes = self.store.change().await?;
        if let Some(policy) = change.pin_length
            && policy.length() != current.pin_length
        {
            Self::put_pin_policy(&mut writes, actor, policy, now).await?;
        }
        for (key, value, old) in [
            (AUTO_EMAIL_KEY, change.auto_email, current.auto_email),
            (
                ANONYMOUS_START_KEY,
                change.anonymous_start,
                current.anonymous_start,
            ),
        ] {
            if let Some(value) = value.filter(|v| *v != old) {
                writes.set_bool_setting(key, value).await?;
                let detail = format!("{key}={value}");
                writes
                    .append_audit(&audit_entry(actor, now, "settings.change", None, &detail))
                    .await?;
            }
        }
        writes.commit().await?;
        self.settings().await
    }

    /// The newest audit entries, newest first.
    pub async fn audit_log(&self, limit: u32) -> Result<Vec<AuditRecord>, DirectoryError> {
        Ok(self.store.recent_audit(limit).await?)
    }

    /// Writes an audit entry for something done outside the directory (a meeting start, an
    /// e-mail delivery). Never pass a PIN.
    pub async fn record(
        &self,
        actor: &Actor,
        action: &str,
        organizer_id: Option<i64>,
        detail: &str,
    ) {
        self.audit(actor, (self.clock)(), action, organizer_id, detail)
            .await;
    }

    /// The database underneath, for the webhook outbox (which holds no directory data).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Flushes and closes the database; call once at shutdown.
    pub async fn close(&self) {
        if let Err(err) = self.store.close().await {
            tracing::warn!(error = %err, "closing the directory database");
        }
    }

    /// Records an event that changes nothing else. A failure is logged, not returned: the
    /// event (a meeting start, a delivered e-mail) has already happened.
    async fn audit(
        &self,
        actor: &Actor,
        at: i64,
        action: &str,
        organizer_id: Option<i64>,
        detail: &str,
    ) {
        let entry = audit_entry(actor, at, action, organizer_id, detail);
        if let Err(err) = self.store.append_audit(&entry).await {
            tracing::error!(error = %err, action, ?organizer_id, "could not write the audit log");
        }
    }
}

/// An audit entry for `actor`'s action (never put a PIN in `detail`).
fn audit_entry<'a>(
    actor: &'a Actor,
    at: i64,
    action: &'a str,
    organizer_id: Option<i64>,
    detail: &'a str,
) -> NewAuditEntry<'a> {
    NewAuditEntry {
        at,
        actor: &actor.who,
        source: &actor.source,
        action,
        organizer_id,
        detail,
    }
}

/// The directory's own error for a missing organizer, whose message says how to find one.
fn not_found(err: StoreError) -> DirectoryError {
    match err {
        StoreError::OrganizerNotFound { id } => DirectoryError::OrganizerNotFound { id },
        other => other.into(),
    }
}

/// The digits worth a database lookup: 1..=16 ASCII digits, anything else is unknown.
fn typed_conference_id(digits: &str) -> Option<&str> {
    let ok = !digits.is_empty()
        && digits.len() <= MAX_CONFERENCE_ID_DIGITS
        && digits.bytes().all(|b| b.is_ascii_digit());
    ok.then_some(digits)
}

mod lookups;
mod pins;
mod reset_links;
mod validate;

use validate::{validate_email, validate_email_override, validate_name};
#[cfg(test)]
mod tests;
