//! PIN reset links: single-use tokens, stored only as hashes, that let an organizer choose
//! a new PIN.

use super::*;

impl Directory {
    /// Issues self-service reset links for the enabled organizers with this address. Returns
    /// each organizer with its one-time token; an unknown address gives an empty list.
    pub async fn issue_reset_tokens(
        &self,
        actor: &Actor,
        email: &str,
    ) -> Result<Vec<(Organizer, String)>, DirectoryError> {
        let email = email.trim();
        if email.is_empty() || email.len() > MAX_EMAIL_LEN {
            return Ok(Vec::new());
        }
        let now = (self.clock)();
        let mut issued = Vec::new();
        for record in self.store.organizers_by_email(email).await? {
            if record.enabled {
                issued.push((Organizer::from(record), random_token()?));
            }
        }
        if issued.is_empty() {
            return Ok(issued);
        }
        let mut change = self.store.change().await?;
        for (org, token) in &issued {
            change
                .insert_reset_token(
                    &token_hash(token),
                    org.id,
                    now,
                    now + RESET_LINK_VALIDITY_SECS,
                )
                .await?;
            let entry = audit_entry(actor, now, "pin.reset_link", Some(org.id), "");
            change.append_audit(&entry).await?;
        }
        change.commit().await?;
        Ok(issued)
    }

    /// The organizer a self-service link is for, if the link is still valid.
    pub async fn reset_token_organizer(
        &self,
        token: &str,
    ) -> Result<Option<Organizer>, DirectoryError> {
        let now = (self.clock)();
        let Some(id) = self
            .store
            .reset_token_owner(&token_hash(token), now)
            .await?
        else {
            return Ok(None);
        };
        Ok(self
            .store
            .organizer(id)
            .await?
            .filter(|r| r.enabled)
            .map(Organizer::from))
    }

    /// Uses a self-service link once: a new PIN for its organizer (returned, shown once).
    pub async fn redeem_reset_token(
        &self,
        source: &str,
        token: &str,
    ) -> Result<Option<(Organizer, Pin)>, DirectoryError> {
        let now = (self.clock)();
        let (pin, policy) = self.fresh_pin().await?;
        // The link is used up in the same change as the new PIN it gives: a crash in
        // between leaves the link valid and the old PIN in place.
        let mut change = self.store.change().await?;
        let Some(id) = change.redeem_reset_token(&token_hash(token), now).await? else {
            return Ok(None);
        };
        let enabled = change.organizer(id).await?.is_some_and(|r| r.enabled);
        if !enabled {
            change.commit().await?;
            return Ok(None);
        }
        let actor = Actor::organizer(id, source);
        self.put_pin(&mut change, id, &pin, policy, now).await?;
        let entry = audit_entry(&actor, now, "pin.reset", Some(id), "self-service");
        change.append_audit(&entry).await?;
        change.commit().await?;
        Ok(Some((self.organizer(id).await?, pin)))
    }
}

/// A 32-byte random token as URL-safe hex (128+ bits: unguessable for a 15-minute link).
fn random_token() -> Result<String, DirectoryError> {
    use rand::TryRng;
    let mut bytes = [0u8; 32];
    rand::rngs::SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| DirectoryError::Pin(PinError::RandomSource(e)))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Only hashes of tokens are stored, so a database copy cannot redeem links.
fn token_hash(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}
