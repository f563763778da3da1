//! `dialbridge backup FILE`: a consistent copy of the directory taken while the bridge runs.
//!
//! The database alone cannot check a single PIN: its tags are keyed with `pin.key`, which
//! lives outside it. So a backup is `FILE` (the database) plus `FILE.key` (the key),
//! unless the operator keeps the key elsewhere and asks for the database only. Nothing is
//! ever overwritten: both names are claimed (created empty, owner-only) before anything is
//! copied, and removed again if the backup fails, so a failed backup leaves no file behind.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::auth::pin::{PIN_KEY_LEN, PinError, PinKey};
use crate::directory::PIN_KEY_FILE;
use crate::store::{DATABASE_FILE, DatabaseCopy, StoreError, copy_database};

/// Suffix added to the backup's file name for the copy of the PIN key.
pub const KEY_SUFFIX: &str = ".key";

/// What a finished backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// The database copy.
    pub database: PathBuf,
    /// What the copy holds.
    pub copy: DatabaseCopy,
    /// The copy of the PIN key, unless the database alone was asked for.
    pub key: Option<PathBuf>,
    /// The live key file, which must go with the database when `key` is `None`.
    pub live_key: PathBuf,
}

/// What can stop a backup; after any of them no backup file is left behind.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The data directory holds no database.
    #[error(
        "no dialbridge database at {path}: check --data-dir (it must name the running bridge's data directory)"
    )]
    NoDatabase {
        /// Where the database was looked for.
        path: PathBuf,
    },
    /// A backup never replaces a file.
    #[error("{path} already exists: choose a new file name (a backup never overwrites anything)")]
    Exists {
        /// The file in the way.
        path: PathBuf,
    },
    /// A backup file could not be created or written.
    #[error("cannot write the backup file {path}: {source}")]
    Write {
        /// The backup file.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// The database could not be copied.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The data directory has no PIN key, but the copy has PINs that need one.
    #[error(
        "the PIN key file {path} is missing: the database cannot check PINs without it; \
         restore it from an earlier backup, or use --no-key to copy the database alone"
    )]
    KeyMissing {
        /// Where the key should be.
        path: PathBuf,
    },
    /// The live key file is unusable (size, permissions, unreadable).
    #[error(transparent)]
    Key(#[from] PinError),
    /// The key file does not belong to the copied database.
    #[error(
        "the PIN key file {path} does not belong to this database (its PINs were made with another key): \
         nothing was backed up; find the matching {PIN_KEY_FILE}"
    )]
    KeyMismatch {
        /// The live key file.
        path: PathBuf,
    },
}

/// Backs up the directory in `data_dir` to `dest` (and `dest.key` when `with_key`).
///
/// Safe while the bridge runs: the database copy is one consistent snapshot, and the key
/// never changes once created. Every file written is 0600 from its creation.
pub async fn backup(data_dir: &Path, dest: &Path, with_key: bool) -> Result<Backup, BackupError> {
    let live_db = data_dir.join(DATABASE_FILE);
    let live_key = data_dir.join(PIN_KEY_FILE);
    if !live_db.is_file() {
        return Err(BackupError::NoDatabase { path: live_db });
    }
    let key_dest = with_key.then(|| key_path_for(dest));
    let mut claimed = Claimed::default();
    claimed.claim(dest)?;
    if let Some(key_dest) = &key_dest {
        claimed.claim(key_dest)?;
    }
    let copy = copy_database(data_dir, dest).await?;
    if let Some(key_dest) = &key_dest {
        copy_key(&live_key, key_dest, &copy)?;
    }
    sync_parent(dest)?;
    claimed.keep();
    Ok(Backup {
        database: dest.to_path_buf(),
        copy,
        key: key_dest,
        live_key,
    })
}

/// `FILE.key` beside `FILE`.
pub fn key_path_for(dest: &Path) -> PathBuf {
    let mut name = dest.as_os_str().to_owned();
    name.push(KEY_SUFFIX);
    PathBuf::from(name)
}

/// Copies the key's bytes, then loads the copy as the bridge would and checks that it is
/// the key the copied database's PINs were made with.
fn copy_key(live_key: &Path, key_dest: &Path, copy: &DatabaseCopy) -> Result<(), BackupError> {
    // Loading checks the live file's size and owner-only mode before a byte is copied.
    match PinKey::load_existing(live_key) {
        Ok(_) => {}
        Err(PinError::KeyRead { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Err(BackupError::KeyMissing {
                path: live_key.to_path_buf(),
            });
        }
        Err(err) => return Err(err.into()),
    }
    let bytes = Zeroizing::new(std::fs::read(live_key).map_err(|source| PinError::KeyRead {
        path: live_key.to_path_buf(),
        source,
    })?);
    if bytes.len() != PIN_KEY_LEN {
        return Err(PinError::KeyWrongSize {
            path: live_key.to_path_buf(),
            actual: bytes.len() as u64,
        }
        .into());
    }
    let write_err = |source| BackupError::Write {
        path: key_dest.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .open(key_dest)
        .map_err(write_err)?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(write_err)?;
    let copied = PinKey::load_existing(key_dest)?;
    if copy
        .pin_key_check
        .as_ref()
        .is_some_and(|recorded| *recorded != copied.check_value())
    {
        return Err(BackupError::KeyMismatch {
            path: live_key.to_path_buf(),
        });
    }
    Ok(())
}

/// Makes the new directory entries durable, so a power cut right after the command
/// reported success cannot lose the backup files.
fn sync_parent(dest: &Path) -> Result<(), BackupError> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| BackupError::Write {
            path: parent.to_path_buf(),
            source,
        })
}

/// Backup files created so far; removed on drop unless the backup completed.
#[derive(Default)]
struct Claimed {
    paths: Vec<PathBuf>,
}

impl Claimed {
    /// Creates `path` empty and owner-only, refusing one that exists (even a symlink).
    fn claim(&mut self, path: &Path) -> Result<(), BackupError> {
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {
                self.paths.push(path.to_path_buf());
                Ok(())
            }
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Err(BackupError::Exists {
                path: path.to_path_buf(),
            }),
            Err(source) => Err(BackupError::Write {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    fn keep(mut self) {
        self.paths.clear();
    }
}

impl Drop for Claimed {
    fn drop(&mut self) {
        for path in &self.paths {
            if let Err(err) = std::fs::remove_file(path) {
                tracing::warn!(path = %path.display(), error = %err, "could not remove an unfinished backup file");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{Actor, Directory};
    use std::os::unix::fs::PermissionsExt;

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn a_backup_is_a_working_directory_with_its_key() {
        let live = tempfile::tempdir().expect("tempdir");
        let directory = Directory::open(live.path()).await.expect("open");
        let (org, _) = directory
            .add_organizer(&Actor::cli(), "Ada", "ada@example.org")
            .await
            .expect("add");
        let pin = directory
            .reset_pin(&Actor::cli(), org.id)
            .await
            .expect("reset");
        let out = tempfile::tempdir().expect("tempdir");
        let dest = out.path().join("nightly.db");
        let done = backup(live.path(), &dest, true).await.expect("backup");
        directory.close().await;
        assert_eq!(done.copy.organizers, 1);
        assert!(done.copy.audit_entries >= 2, "create and reset");
        let key = done.key.clone().expect("key copied");
        assert_eq!(key, out.path().join("nightly.db.key"));
        assert_eq!(mode_of(&dest), 0o600);
        assert_eq!(mode_of(&key), 0o600);

        let restored = tempfile::tempdir().expect("tempdir");
        std::fs::copy(&dest, restored.path().join(DATABASE_FILE)).expect("copy db");
        std::fs::copy(&key, restored.path().join(PIN_KEY_FILE)).expect("copy key");
        let again = Directory::open(restored.path())
            .await
            .expect("open the copy");
        assert!(again.verify_pin(org.id, &pin).await.expect("verify"));
        again.close().await;
    }

    #[tokio::test]
    async fn an_existing_file_is_never_overwritten_and_nothing_is_left_behind() {
        let live = tempfile::tempdir().expect("tempdir");
        Directory::open(live.path())
            .await
            .expect("open")
            .close()
            .await;
        let out = tempfile::tempdir().expect("tempdir");
        let dest = out.path().join("b.db");
        std::fs::write(&dest, b"precious").expect("write");
        let err = backup(live.path(), &dest, true).await.expect_err("exists");
        assert!(matches!(err, BackupError::Exists { .. }), "{err}");
        assert_eq!(std::fs::read(&dest).expect("read"), b"precious");
        assert!(!key_path_for(&dest).exists());

        // The key name taken: the database file claimed first is removed again.
        let dest = out.path().join("c.db");
        std::fs::write(key_path_for(&dest), b"precious").expect("write");
        let err = backup(live.path(), &dest, true)
            .await
            .expect_err("key exists");
        assert!(matches!(err, BackupError::Exists { .. }), "{err}");
        assert!(!dest.exists(), "no half backup left behind");
        assert_eq!(
            std::fs::read(key_path_for(&dest)).expect("read"),
            b"precious"
        );
    }

    #[tokio::test]
    async fn a_data_dir_without_a_database_is_refused_and_not_created() {
        let root = tempfile::tempdir().expect("tempdir");
        let missing = root.path().join("typo");
        let dest = root.path().join("b.db");
        let err = backup(&missing, &dest, true)
            .await
            .expect_err("no database");
        assert!(matches!(err, BackupError::NoDatabase { .. }), "{err}");
        assert!(!missing.exists());
        assert!(!dest.exists());
    }

    #[tokio::test]
    async fn a_key_that_does_not_belong_to_the_database_is_refused() {
        let live = tempfile::tempdir().expect("tempdir");
        let directory = Directory::open(live.path()).await.expect("open");
        directory
            .add_organizer(&Actor::cli(), "Ada", "ada@example.org")
            .await
            .expect("add");
        directory.close().await;
        let other = tempfile::tempdir().expect("tempdir");
        Directory::open(other.path())
            .await
            .expect("open")
            .close()
            .await;
        std::fs::copy(
            other.path().join(PIN_KEY_FILE),
            live.path().join(PIN_KEY_FILE),
        )
        .expect("swap keys");
        let dest = other.path().join("b.db");
        let err = backup(live.path(), &dest, true)
            .await
            .expect_err("mismatch");
        assert!(matches!(err, BackupError::KeyMismatch { .. }), "{err}");
        assert!(!dest.exists() && !key_path_for(&dest).exists());
        // The database alone can still be saved.
        let done = backup(live.path(), &dest, false).await.expect("db only");
        assert_eq!(done.key, None);
        assert_eq!(done.copy.organizers, 1);
    }
}
