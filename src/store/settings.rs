//! Directory-wide settings stored as key/value text rows.

use super::backend::on_backend;
use super::{Change, Store, StoreError};
use crate::auth::pin::{PinError, PinPolicy};

/// Settings key holding the digit count for newly generated PINs.
pub const PIN_LENGTH_KEY: &str = "pin_length";

/// Settings key holding a check value derived from the PIN key, to detect a wrong key file.
pub const PIN_KEY_CHECK_KEY: &str = "pin_key_check";

/// Settings key: send PIN e-mails automatically on enable and reset (default on).
pub const AUTO_EMAIL_KEY: &str = "auto_email";

/// Settings key: callers may start any meeting without the organizer's PIN (default off).
pub const ANONYMOUS_START_KEY: &str = "anonymous_start";

/// Reads a stored PIN length; a separate function so the parser is tested on any text.
fn parse_pin_length(value: &str) -> Result<PinPolicy, PinError> {
    // Parse as u64 so "300" reports "300 is not allowed" instead of a parse failure.
    match value.trim().parse::<u64>() {
        Ok(len) => u8::try_from(len)
            .map_err(|_| PinError::PolicyLength { requested: len })
            .and_then(PinPolicy::new),
        Err(_) => Err(PinError::NotDigits),
    }
}

impl Store {
    /// The PIN length for new PINs: the stored setting, or the default of 5 if none is set.
    pub async fn pin_length_policy(&self) -> Result<PinPolicy, StoreError> {
        let value: Option<String> = on_backend!(&self.pool, |p| sqlx::query_scalar(
            "SELECT value FROM settings WHERE key = $1"
        )
        .bind(PIN_LENGTH_KEY)
        .fetch_optional(p)
        .await)
        .map_err(StoreError::query("reading the PIN length setting"))?;
        match value {
            None => Ok(PinPolicy::default()),
            Some(value) => parse_pin_length(&value).map_err(|source| StoreError::InvalidSetting {
                key: PIN_LENGTH_KEY,
                value,
                source,
            }),
        }
    }
}

impl Store {
    /// The stored PIN-key check value, `None` before the first start with a key.
    pub async fn pin_key_check(&self) -> Result<Option<String>, StoreError> {
        on_backend!(&self.pool, |p| sqlx::query_scalar(
            "SELECT value FROM settings WHERE key = $1"
        )
        .bind(PIN_KEY_CHECK_KEY)
        .fetch_optional(p)
        .await)
        .map_err(StoreError::query("reading the PIN key check value"))
    }
}

impl Store {
    /// A yes/no setting, or `default` when it was never set.
    pub async fn bool_setting(&self, key: &'static str, default: bool) -> Result<bool, StoreError> {
        let value: Option<String> = on_backend!(&self.pool, |p| sqlx::query_scalar(
            "SELECT value FROM settings WHERE key = $1"
        )
        .bind(key)
        .fetch_optional(p)
        .await)
        .map_err(StoreError::query("reading a setting"))?;
        Ok(match value.as_deref() {
            None => default,
            Some("true") => true,
            Some("false") => false,
            Some(other) => {
                tracing::warn!(
                    key,
                    value = other,
                    "unusable yes/no setting; using the default"
                );
                default
            }
        })
    }
}

impl Change {
    /// Stores the PIN length for new PINs; existing PINs keep their length.
    pub async fn set_pin_length_policy(&mut self, policy: PinPolicy) -> Result<(), StoreError> {
        // ON CONFLICT ... DO UPDATE is understood by SQLite (3.24+) and PostgreSQL alike.
        on_backend!(self.conn(), |c| sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(PIN_LENGTH_KEY)
        .bind(policy.length().to_string())
        .execute(c)
        .await
        .map(drop))
        .map_err(StoreError::query("saving the PIN length setting"))
    }

    /// Records the PIN-key check value; the directory only replaces it while no PIN exists.
    pub async fn record_pin_key_check(&mut self, value: &str) -> Result<(), StoreError> {
        on_backend!(self.conn(), |c| sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(PIN_KEY_CHECK_KEY)
        .bind(value)
        .execute(c)
        .await
        .map(drop))
        .map_err(StoreError::query("saving the PIN key check value"))
    }

    /// Stores a yes/no setting.
    pub async fn set_bool_setting(
        &mut self,
        key: &'static str,
        value: bool,
    ) -> Result<(), StoreError> {
        on_backend!(self.conn(), |c| sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(if value { "true" } else { "false" })
        .execute(c)
        .await
        .map(drop))
        .map_err(StoreError::query("saving a setting"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    both_backends!(pin_length_defaults_to_5_then_follows_the_setting, |store| {
        assert_eq!(store.pin_length_policy().await.expect("read").length(), 5);
        for len in [8, 4, 12] {
            let policy = PinPolicy::new(len).expect("valid");
            in_change!(store, |c| c.set_pin_length_policy(policy).await).expect("save");
            assert_eq!(store.pin_length_policy().await.expect("read"), policy);
        }
        store.close().await.expect("close");
    });

    both_backends!(
        unusable_stored_pin_length_is_reported_with_its_value,
        |store| {
            on_backend!(&store.pool, |p| sqlx::query(
                "INSERT INTO settings (key, value) VALUES ('pin_length', '3')"
            )
            .execute(p)
            .await
            .map(drop))
            .expect("insert");
            let err = store.pin_length_policy().await.expect_err("3 is refused");
            assert!(matches!(
                err,
                StoreError::InvalidSetting {
                    key: "pin_length",
                    ..
                }
            ));
            assert!(err.to_string().contains("\"3\""), "{err}");
            store.close().await.expect("close");
        }
    );

    #[test]
    fn parse_pin_length_accepts_only_4_to_12() {
        assert_eq!(parse_pin_length("5").map(PinPolicy::length).ok(), Some(5));
        assert_eq!(
            parse_pin_length(" 12 ").map(PinPolicy::length).ok(),
            Some(12)
        );
        assert!(matches!(
            parse_pin_length("3"),
            Err(PinError::PolicyLength { requested: 3 })
        ));
        assert!(matches!(
            parse_pin_length("300"),
            Err(PinError::PolicyLength { requested: 300 })
        ));
        assert!(matches!(parse_pin_length("five"), Err(PinError::NotDigits)));
        assert!(parse_pin_length("").is_err());
        assert!(parse_pin_length("-5").is_err());
    }

    proptest! {
        #[test]
        fn parse_pin_length_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let text = String::from_utf8_lossy(&bytes);
            if let Ok(policy) = parse_pin_length(&text) {
                prop_assert!((4..=12).contains(&policy.length()));
            }
        }
    }
}
