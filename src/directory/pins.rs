//! PINs: set, reset and chosen (each shown once), checked in constant time behind the
//! lockout, and the PIN policy.

use super::*;

impl Directory {
    /// Generates a new PIN for an organizer (old one stops working at once).
    ///
    /// The new tag, the lifted lock and the audit entry are one change, committed (and on
    /// disk) before the PIN is returned: a PIN that was shown is never lost, and a reset
    /// that was interrupted left no trace.
    pub async fn reset_pin(&self, actor: &Actor, organizer_id: i64) -> Result<Pin, DirectoryError> {
        let now = (self.clock)();
        let (pin, policy) = self.fresh_pin().await?;
        let mut change = self.store.change().await?;
        self.put_pin(&mut change, organizer_id, &pin, policy, now)
            .await?;
        let entry = audit_entry(actor, now, "pin.reset", Some(organizer_id), "");
        change.append_audit(&entry).await?;
        change.commit().await?;
        Ok(pin)
    }

    /// Reads a new organizer back, audits its creation and commits: the last steps of both
    /// ways of creating one.
    pub(super) async fn commit_created(
        &self,
        mut change: Change,
        actor: &Actor,
        now: i64,
        id: i64,
    ) -> Result<Organizer, DirectoryError> {
        let record = change
            .organizer(id)
            .await?
            .ok_or(DirectoryError::OrganizerNotFound { id })?;
        let entry = audit_entry(
            actor,
            now,
            "organizer.create",
            Some(id),
            &record.conference_id,
        );
        change.append_audit(&entry).await?;
        change.commit().await?;
        Ok(Organizer::from(record))
    }

    /// Sets a PIN the organizer chose (by phone, `*8`): it must have the policy's length and
    /// not be trivial. Stored, unlocked and audited in one change, like a reset.
    pub async fn choose_pin(
        &self,
        actor: &Actor,
        organizer_id: i64,
        pin: &Pin,
    ) -> Result<(), DirectoryError> {
        let now = (self.clock)();
        let policy = self.store.pin_length_policy().await?;
        if pin.len() != usize::from(policy.length()) {
            return Err(DirectoryError::PinLength {
                expected: policy.length(),
            });
        }
        if crate::auth::pin::is_trivial(pin) {
            return Err(DirectoryError::PinTooEasy);
        }
        let mut change = self.store.change().await?;
        self.put_pin(&mut change, organizer_id, pin, policy, now)
            .await?;
        let entry = audit_entry(actor, now, "pin.changed", Some(organizer_id), "by phone");
        change.append_audit(&entry).await?;
        change.commit().await?;
        Ok(())
    }

    /// A new PIN of the current policy length, made before any change starts so that a
    /// failing random source writes nothing and no change waits on another connection.
    pub(super) async fn fresh_pin(&self) -> Result<(Pin, PinPolicy), DirectoryError> {
        let policy = self.store.pin_length_policy().await?;
        Ok((generate_pin(policy)?, policy))
    }

    /// Stores `pin` as the organizer's PIN within `change`; the old one stops when it commits.
    /// A new PIN is a new secret: its failure count starts from zero, any lock is lifted.
    pub(super) async fn put_pin(
        &self,
        change: &mut Change,
        organizer_id: i64,
        pin: &Pin,
        policy: PinPolicy,
        now: i64,
    ) -> Result<(), DirectoryError> {
        let was_locked = change.pin_lockout(organizer_id).await?.gate(now) != Gate::Open;
        let tag = self.key.tag(organizer_id, pin);
        change
            .set_pin_tag(organizer_id, &tag, policy.length(), now)
            .await
            .map_err(not_found)?;
        change.clear_pin_lockout(organizer_id).await?;
        if was_locked {
            let system = Actor {
                who: "dialbridge".into(),
                source: "new PIN".into(),
            };
            let entry = audit_entry(
                &system,
                now,
                "pin.unlocked",
                Some(organizer_id),
                "a new PIN",
            );
            change.append_audit(&entry).await?;
        }
        Ok(())
    }

    /// [`Directory::check_pin`] reduced to accepted or not (it counts failures the same way).
    pub async fn verify_pin(&self, organizer_id: i64, pin: &Pin) -> Result<bool, DirectoryError> {
        Ok(self.check_pin(organizer_id, pin, "").await?.accepted())
    }

    /// Checks a PIN a caller entered, counting failures across calls (`auth::lockout`).
    /// `source` says where the call came from, for the audit log.
    pub async fn check_pin(
        &self,
        organizer_id: i64,
        pin: &Pin,
        source: &str,
    ) -> Result<PinCheck, DirectoryError> {
        let _one_at_a_time = self.pin_checks.lock().await;
        let now = (self.clock)();
        // One change from the first read to the last write: a reset committed meanwhile
        // cannot be overwritten by a stale failure count, and the count and its audit
        // entries are saved together.
        let mut change = self.store.change().await?;
        // The same queries, HMAC, comparison and write run whatever the row and the lock
        // say; only the outcome differs, so a locked PIN costs what a wrong one does.
        let record = change.organizer(organizer_id).await?;
        let stored = record
            .as_ref()
            .filter(|r| r.enabled)
            .and_then(|r| r.pin_tag.as_ref());
        let mut state = change.pin_lockout(organizer_id).await?;
        let gate = state.gate(now);
        let matches = self.key.verify(organizer_id, pin, stored);
        let actor = Actor {
            who: "caller".into(),
            source: if source.is_empty() {
                "phone".into()
            } else {
                format!("phone {source}")
            },
        };
        if record.is_none() {
            return Ok(PinCheck::Refused);
        }
        if state.lock_expired(now) {
            let entry = audit_entry(
                &actor,
                now,
                "pin.unlocked",
                Some(organizer_id),
                "the lock ran out",
            );
            change.append_audit(&entry).await?;
        }
        if matches && gate == Gate::Open {
            state.on_success(now);
            change.save_pin_lockout(organizer_id, &state).await?;
            change.commit().await?;
            return Ok(PinCheck::Accepted);
        }
        let outcome = state.on_failure(&self.lockout, now);
        change.save_pin_lockout(organizer_id, &state).await?;
        let detail = format!(
            "{} failures since the last success{}",
            state.since_success,
            match gate {
                Gate::Open => "",
                Gate::LockedUntil(_) => "; entered while locked",
                Gate::LockedUntilReset => "; entered while locked until reset",
            }
        );
        let entry = audit_entry(&actor, now, "pin.failure", Some(organizer_id), &detail);
        change.append_audit(&entry).await?;
        let check = match (outcome, gate) {
            (FailureOutcome::Locked { until }, _) => {
                let detail = format!("for {} s", until - now);
                let entry = audit_entry(&actor, now, "pin.locked", Some(organizer_id), &detail);
                change.append_audit(&entry).await?;
                PinCheck::RefusedAndLocked { until }
            }
            (FailureOutcome::LockedUntilReset, Gate::LockedUntilReset) => PinCheck::Refused,
            (FailureOutcome::LockedUntilReset, _) => {
                let entry = audit_entry(
                    &actor,
                    now,
                    "pin.locked_until_reset",
                    Some(organizer_id),
                    &detail,
                );
                change.append_audit(&entry).await?;
                PinCheck::RefusedAndLockedUntilReset
            }
            (FailureOutcome::Counted, _) => PinCheck::Refused,
        };
        change.commit().await?;
        Ok(check)
    }

    /// The PIN lockout rules in force.
    pub fn lockout_policy(&self) -> LockoutPolicy {
        self.lockout
    }

    /// Whether an organizer's PIN is locked now (timed or until reset).
    pub async fn pin_locked(&self, organizer_id: i64) -> Result<bool, DirectoryError> {
        let state = self.store.pin_lockout(organizer_id).await?;
        Ok(state.gate((self.clock)()) != Gate::Open)
    }

    /// The PIN length new PINs get.
    pub async fn pin_policy(&self) -> Result<PinPolicy, DirectoryError> {
        Ok(self.store.pin_length_policy().await?)
    }

    /// Changes the PIN length for new PINs; existing PINs keep working unchanged.
    pub async fn set_pin_policy(
        &self,
        actor: &Actor,
        policy: PinPolicy,
    ) -> Result<(), DirectoryError> {
        let mut change = self.store.change().await?;
        Self::put_pin_policy(&mut change, actor, policy, (self.clock)()).await?;
        change.commit().await?;
        Ok(())
    }

    /// Changes the PIN length within `change`, with its audit entry.
    pub(super) async fn put_pin_policy(
        change: &mut Change,
        actor: &Actor,
        policy: PinPolicy,
        now: i64,
    ) -> Result<(), DirectoryError> {
        change.set_pin_length_policy(policy).await?;
        let detail = format!("length={}", policy.length());
        change
            .append_audit(&audit_entry(actor, now, "pin.policy", None, &detail))
            .await?;
        Ok(())
    }
}
