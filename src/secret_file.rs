//! Owner-only files holding one secret line (passwords, signing secrets): read once, checked
//! for permissions, and kept in memory that is wiped when dropped.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use zeroize::Zeroizing;

/// Why a secret file was refused; the callers wrap it with what the file is for.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// Cannot open or read it.
    #[error("{0}")]
    Read(#[source] std::io::Error),
    /// Group or others may read it.
    #[error(
        "it can be read by others than its owner (mode {mode:03o}); make it owner-only with chmod 600"
    )]
    Mode {
        /// Its permission bits.
        mode: u32,
    },
    /// No first line, or longer than the limit.
    #[error("its first line must hold the secret, and the file must be at most {limit} bytes")]
    Shape {
        /// The size limit.
        limit: u64,
    },
}

/// The first line of an owner-only file of at most `limit` bytes, without its line break.
pub fn read_first_line(path: &Path, limit: u64) -> Result<Zeroizing<Vec<u8>>, SecretFileError> {
    let file = std::fs::File::open(path).map_err(SecretFileError::Read)?;
    let mode = file
        .metadata()
        .map_err(SecretFileError::Read)?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretFileError::Mode { mode });
    }
    let mut text = Zeroizing::new(String::new());
    file.take(limit + 1)
        .read_to_string(&mut text)
        .map_err(SecretFileError::Read)?;
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() || text.len() as u64 > limit {
        return Err(SecretFileError::Shape { limit });
    }
    Ok(Zeroizing::new(line.as_bytes().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str, mode: u32) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(f.path(), text).expect("write");
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(mode)).expect("chmod");
        f
    }

    #[test]
    fn the_first_line_of_an_owner_only_file() {
        let f = file("s3cret\nignored\n", 0o600);
        assert_eq!(&read_first_line(f.path(), 64).expect("read")[..], b"s3cret");
    }

    #[test]
    fn loose_empty_long_and_missing_files_are_refused() {
        let loose = file("s3cret\n", 0o644);
        assert!(matches!(
            read_first_line(loose.path(), 64),
            Err(SecretFileError::Mode { mode: 0o644 })
        ));
        let empty = file("\n", 0o600);
        assert!(matches!(
            read_first_line(empty.path(), 64),
            Err(SecretFileError::Shape { .. })
        ));
        let long = file(&"x".repeat(65), 0o600);
        assert!(matches!(
            read_first_line(long.path(), 64),
            Err(SecretFileError::Shape { .. })
        ));
        assert!(matches!(
            read_first_line(Path::new("/nonexistent/secret"), 64),
            Err(SecretFileError::Read(_))
        ));
    }
}
