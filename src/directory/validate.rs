//! Checks of what people type for an organizer: names and e-mail addresses.

use super::*;

/// Trims and checks an organizer name.
pub(super) fn validate_name(name: &str) -> Result<&str, DirectoryError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(DirectoryError::NameEmpty);
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(DirectoryError::NameTooLong {
            actual: chars,
            max: MAX_NAME_CHARS,
        });
    }
    if name.chars().any(char::is_control) {
        return Err(DirectoryError::NameControlChars);
    }
    Ok(name)
}

/// Trims and checks that an address is plausibly `local@domain`; delivery is the real test.
pub(super) fn validate_email(email: &str) -> Result<&str, DirectoryError> {
    let email = email.trim();
    if email.len() > MAX_EMAIL_LEN {
        return Err(DirectoryError::EmailTooLong {
            actual: email.len(),
            max: MAX_EMAIL_LEN,
        });
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err(DirectoryError::EmailInvalid);
    };
    let plausible = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if plausible {
        Ok(email)
    } else {
        Err(DirectoryError::EmailInvalid)
    }
}

/// Like `validate_email`, but names the override field in its error.
pub(super) fn validate_email_override(email: &str) -> Result<&str, DirectoryError> {
    validate_email(email).map_err(|err| match err {
        DirectoryError::EmailInvalid => DirectoryError::EmailOverrideInvalid,
        other => other,
    })
}
