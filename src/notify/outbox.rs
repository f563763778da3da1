//! The file outbox: with no SMTP relay configured, each mail becomes one RFC 5322 `.eml` file
//! in `DATA_DIR/outbox/`, byte for byte what SMTP would have carried.
//!
//! The files hold PINs, so the directory is 0700 and each file 0600. A file appears in one
//! step (written as a dot-file, synced, then renamed), so anything that watches the outbox
//! never picks up half a mail; names start with the UTC time so `ls` sorts them by age.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::NotifyError;

/// Name of the outbox directory inside the data directory.
pub const OUTBOX_DIR: &str = "outbox";

/// Makes names unique inside one process; the pid makes them unique between processes.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A checked, private outbox directory.
#[derive(Clone, Debug)]
pub(crate) struct Outbox {
    dir: PathBuf,
}

impl Outbox {
    /// Creates `data_dir/outbox` (0700, parents too) or tightens an existing one to 0700.
    pub(crate) fn open(data_dir: &Path) -> Result<Outbox, NotifyError> {
        let dir = data_dir.join(OUTBOX_DIR);
        let fail = |source| NotifyError::OutboxDir {
            dir: dir.clone(),
            source,
        };
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(fail)?;
        // An existing directory keeps whatever mode it had: set exactly 0700 either way.
        fs::set_permissions(&dir, Permissions::from_mode(0o700)).map_err(fail)?;
        Ok(Outbox { dir })
    }

    /// Where the files go.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes one mail atomically and returns its path.
    pub(crate) fn write(&self, now: SystemTime, ticket: u64, bytes: &[u8]) -> io::Result<PathBuf> {
        let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let name = file_name(now, ticket, std::process::id(), seq);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let path = self.dir.join(&name);
        let result = write_new(&tmp, bytes).and_then(|()| fs::rename(&tmp, &path));
        if let Err(err) = result {
            let _ = fs::remove_file(&tmp);
            return Err(err);
        }
        // The rename is only durable once the directory entry is on disk.
        File::open(&self.dir)?.sync_all()?;
        Ok(path)
    }
}

fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// `20261103T142501.123456Z-t42-p1234-7.eml`: UTC time first so names sort by age, then the
/// ticket (to match `GET /api/mail/{ticket}`), then what makes the name unique.
pub(crate) fn file_name(now: SystemTime, ticket: u64, pid: u32, seq: u64) -> String {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}.{:06}Z-t{ticket}-p{pid}-{seq}.eml",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_micros(),
    )
}

/// Gregorian date of a day count since 1970-01-01 (proleptic, era-based arithmetic: every
/// 400 years repeat, so one era is worked out with plain integer maths).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so leap days fall at the end of each year.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, micros: u32) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(u64::from(micros))
    }

    #[test]
    fn names_carry_utc_time_ticket_and_uniqueness() {
        // 2026-11-03 14:25:01 UTC
        let name = file_name(at(1_793_715_901, 123_456), 42, 1234, 7);
        assert_eq!(name, "20261103T142501.123456Z-t42-p1234-7.eml");
    }

    #[test]
    fn names_sort_by_time() {
        let a = file_name(at(1_000_000_000, 999_999), 9, 1, 9);
        let b = file_name(at(1_000_000_001, 0), 1, 1, 0);
        let c = file_name(at(4_102_444_800, 0), 1, 1, 0); // 2100-01-01
        assert!(a < b && b < c, "{a} {b} {c}");
        assert!(c.starts_with("21000101T000000.000000Z"));
    }

    #[test]
    fn calendar_handles_leap_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(47_541), (2100, 3, 1));
    }

    #[test]
    fn times_before_1970_do_not_panic() {
        let name = file_name(UNIX_EPOCH - Duration::from_secs(5), 1, 1, 1);
        assert!(name.starts_with("19700101T000000.000000Z"));
    }

    #[test]
    fn outbox_dir_is_private_even_if_it_existed() {
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().join(OUTBOX_DIR);
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        let outbox = Outbox::open(data.path()).unwrap();
        let mode = fs::metadata(outbox.dir()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn written_file_is_private_complete_and_alone() {
        let data = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(&data.path().join("nested")).unwrap();
        let path = outbox
            .write(at(1_793_715_901, 0), 3, b"Subject: x\r\n\r\nhi\r\n")
            .unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"Subject: x\r\n\r\nhi\r\n");
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<_> = fs::read_dir(outbox.dir()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file left behind");
    }

    #[test]
    fn same_instant_gives_distinct_files() {
        let data = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(data.path()).unwrap();
        let a = outbox.write(at(5, 0), 1, b"a").unwrap();
        let b = outbox.write(at(5, 0), 1, b"b").unwrap();
        assert_ne!(a, b);
        assert_eq!(fs::read(a).unwrap(), b"a");
    }

    #[test]
    fn unwritable_data_dir_is_reported_with_its_path() {
        let data = tempfile::tempdir().unwrap();
        let file = data.path().join("not-a-dir");
        fs::write(&file, b"").unwrap();
        let err = Outbox::open(&file).unwrap_err();
        assert!(matches!(err, NotifyError::OutboxDir { .. }));
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    }
}
