//! No data lost: PIN resets survive SIGKILL exactly as acknowledged, files are owner-only,
//! and `dialbridge backup` copies a running bridge's directory into one that works.

mod support;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dialbridge::auth::pin::{Pin, PinKey, PinTag};
use dialbridge::directory::{Directory, PIN_KEY_FILE};
use dialbridge::store::DATABASE_FILE;
use serde_json::json;
use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;
use support::http::{Api, try_request};
use support::{Bridge, BridgeOptions};

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn http_bridge() -> Bridge {
    Bridge::start(
        &[],
        BridgeOptions {
            http: true,
            ..Default::default()
        },
    )
    .0
}

/// Creates an organizer through the API; returns its id and first PIN.
fn create(api: &Api, name: &str) -> (i64, String) {
    let r = api.send(
        "POST",
        "/api/organizers",
        &json!({"name": name, "email": format!("{}@example.com", name.to_lowercase())}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    (
        v["organizer"]["id"].as_i64().expect("id"),
        v["pin"].as_str().expect("pin").to_string(),
    )
}

/// Asks for a PIN reset; `Some(pin)` only when the whole 200 answer arrived (acknowledged).
fn try_reset(api: &Api, id: i64) -> Option<String> {
    let auth = format!("Bearer {}", api.token);
    let r = try_request(
        api.addr,
        "POST",
        &format!("/api/organizers/{id}/reset-pin"),
        &[("Authorization", &auth)],
        None,
    )
    .ok()?;
    if r.status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&r.body).ok()?;
    v["pin"].as_str().map(str::to_string)
}

fn run_cli(data_dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(support::binary())
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("run dialbridge")
}

#[test]
fn everything_the_bridge_writes_is_owner_only_whatever_the_umask() {
    let root = tempfile::tempdir().expect("tempdir");
    // The bridge must not rely on a careful caller: hand it the loosest umask there is
    // (the test's own temporary directories are made before, owner-only).
    // SAFETY: umask(2) only changes this test process's creation mask (inherited by children).
    let previous = unsafe { libc::umask(0) };
    let b = http_bridge();
    let api = b.api();
    create(&api, "Ada");
    b.wait_outbox(1);
    let dir = b.data_dir.path();
    let backup = dir.join("nightly.db");
    let out = run_cli(dir, &["backup", backup.to_str().expect("utf-8")]);
    let fresh = root.path().join("new").join("data");
    let created = run_cli(&fresh, &["organizer", "list"]);
    // SAFETY: as above, restoring the mask this process had.
    unsafe { libc::umask(previous) };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(created.status.success());

    // A data directory the bridge creates is owner-only, and so are the parents it makes.
    assert_eq!(mode_of(&fresh), 0o700, "new data directory");
    assert_eq!(mode_of(&root.path().join("new")), 0o700, "its new parent");
    assert_eq!(mode_of(&fresh.join(DATABASE_FILE)), 0o600);
    assert_eq!(mode_of(&fresh.join(PIN_KEY_FILE)), 0o600);
    for file in [
        DATABASE_FILE,
        "dialbridge.db-wal",
        "dialbridge.db-shm",
        PIN_KEY_FILE,
        "admin-token",
        "admin-url",
        "nightly.db",
        "nightly.db.key",
    ] {
        assert_eq!(mode_of(&dir.join(file)), 0o600, "{file}");
    }
    assert_eq!(mode_of(&dir.join("outbox")), 0o700, "outbox");
    let mails = b.outbox();
    assert!(!mails.is_empty());
    for (path, _) in &mails {
        assert_eq!(mode_of(path), 0o600, "{}", path.display());
    }
}

#[test]
fn loose_database_files_are_made_owner_only_and_a_loose_data_dir_is_reported() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("data");
    let out = run_cli(&dir, &["organizer", "list"]);
    assert!(out.status.success());
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(
        dir.join(DATABASE_FILE),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");

    let out = run_cli(&dir, &["organizer", "list"]);
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(mode_of(&dir.join(DATABASE_FILE)), 0o600, "tightened: {log}");
    assert!(log.contains("made it owner-only"), "{log}");
    assert!(log.contains("0644"), "the old mode is named: {log}");
    // The directory is the operator's choice: reported, left as it is.
    assert_eq!(mode_of(&dir), 0o755);
    assert!(
        log.contains("data directory is accessible by group or others"),
        "{log}"
    );
    assert!(log.contains("chmod 700"), "{log}");

    // A key file others can read may already be copied: the bridge refuses it outright.
    std::fs::set_permissions(
        dir.join(PIN_KEY_FILE),
        std::fs::Permissions::from_mode(0o640),
    )
    .expect("chmod");
    let out = run_cli(&dir, &["organizer", "list"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("chmod 600"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_backup_of_a_running_bridge_starts_a_second_bridge_with_the_same_organizers_and_pins() {
    let b = http_bridge();
    let api = b.api();
    let (ada, _) = create(&api, "Ada");
    let (grace, grace_pin) = create(&api, "Grace");
    let ada_pin = try_reset(&api, ada).expect("reset acknowledged");

    // Keep the bridge writing while the copy is taken: the copy must still be consistent.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (addr, token, stop) = (api.addr, api.token.clone(), stop.clone());
        std::thread::spawn(move || {
            let api = Api { addr, token };
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) && n < 200 {
                let r = api.send(
                    "PATCH",
                    &format!("/api/organizers/{grace}"),
                    &json!({"name": format!("Grace {n}")}),
                );
                assert_eq!(r.status, 200, "{}", r.body);
                n += 1;
            }
            n
        })
    };
    let out_dir = tempfile::tempdir().expect("tempdir");
    let file = out_dir.path().join("copy.db");
    let out = run_cli(
        b.data_dir.path(),
        &["backup", file.to_str().expect("utf-8"), "--json"],
    );
    stop.store(true, Ordering::SeqCst);
    let updates = writer.join().expect("writer");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["organizers"], 2);
    assert_eq!(report["key"], json!(out_dir.path().join("copy.db.key")));
    assert_eq!(mode_of(&file), 0o600);
    assert_eq!(mode_of(&out_dir.path().join("copy.db.key")), 0o600);
    assert!(updates > 0, "the bridge was written to during the backup");

    // A second run never overwrites the first backup.
    let before = std::fs::read(&file).expect("read");
    let again = run_cli(
        b.data_dir.path(),
        &["backup", file.to_str().expect("utf-8")],
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(std::fs::read(&file).expect("read"), before);

    // Restore as the README says, and run a second bridge on it.
    let restored = tempfile::tempdir().expect("tempdir");
    std::fs::copy(&file, restored.path().join(DATABASE_FILE)).expect("restore db");
    std::fs::copy(
        out_dir.path().join("copy.db.key"),
        restored.path().join(PIN_KEY_FILE),
    )
    .expect("restore key");
    let restored_path = restored.path().to_path_buf();
    let (mut second, _) = Bridge::start_in(
        restored,
        &[],
        BridgeOptions {
            http: true,
            ..Default::default()
        },
    );
    second.wait_http();
    let listed = second.api().get("/api/organizers").json();
    let names: Vec<&str> = listed["organizers"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert_eq!(names.len(), 2, "{listed}");
    assert!(names.contains(&"Ada"));
    assert!(names.iter().any(|n| n.starts_with("Grace")), "{names:?}");
    second.terminate();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let directory = Directory::open(&restored_path).await.expect("open copy");
        let ok = |pin: &str| Pin::parse(pin).expect("pin");
        assert!(
            directory
                .verify_pin(ada, &ok(&ada_pin))
                .await
                .expect("verify"),
            "the reset PIN works on the copy"
        );
        assert!(
            directory
                .verify_pin(grace, &ok(&grace_pin))
                .await
                .expect("verify")
        );
        directory.close().await;
    });
}

/// What the database says about one organizer after a crash.
struct Found {
    tag: PinTag,
    resets: usize,
}

/// Reads the killed bridge's files the way its next start will: integrity, each
/// organizer's PIN tag, and its `pin.reset` audit entries.
fn inspect(data_dir: &Path) -> (PinKey, HashMap<i64, Found>) {
    let key = PinKey::load_existing(&data_dir.join(PIN_KEY_FILE)).expect("PIN key");
    let url = format!("sqlite://{}", data_dir.join(DATABASE_FILE).display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let found = rt.block_on(async {
        let mut conn = SqliteConnection::connect(&url)
            .await
            .expect("open database");
        let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .expect("integrity_check");
        assert_eq!(integrity, "ok");
        let rows: Vec<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT id, pin_tag FROM organizers WHERE pin_tag IS NOT NULL")
                .fetch_all(&mut conn)
                .await
                .expect("organizers");
        let counts: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT organizer_id, COUNT(*) FROM audit_log WHERE action = 'pin.reset' \
             GROUP BY organizer_id",
        )
        .fetch_all(&mut conn)
        .await
        .expect("audit");
        conn.close().await.expect("close");
        let counts: HashMap<i64, usize> = counts
            .into_iter()
            .map(|(id, n)| (id, usize::try_from(n).expect("count")))
            .collect();
        rows.into_iter()
            .map(|(id, tag)| {
                let found = Found {
                    tag: PinTag::from_slice(&tag).expect("32-byte tag"),
                    resets: counts.get(&id).copied().unwrap_or(0),
                };
                (id, found)
            })
            .collect()
    });
    (key, found)
}

/// What the test knows of one organizer from the answers it received.
struct Known {
    id: i64,
    /// The PIN of the last acknowledged reset (or creation), if that is still current.
    pin: Option<String>,
    /// Otherwise the tag found after the last crash, which an unacknowledged reset made.
    tag: Option<PinTag>,
    /// Resets recorded so far.
    resets: usize,
}

/// What one client saw in one round: PINs acknowledged, and whether a reset was in flight
/// (sent, never answered) when the bridge died.
#[derive(Default)]
struct Round {
    acked: Vec<String>,
    in_flight: bool,
}

const ORGANIZERS: usize = 3;
const KILLS: usize = 20;

#[test]
fn acknowledged_pin_resets_survive_sigkill_and_unacknowledged_ones_leave_all_or_nothing() {
    let started = Instant::now();
    let mut b = http_bridge();
    let api = b.api();
    // 12-digit PINs: a reset that happens to repeat the previous PIN (which would look
    // like a half-saved reset) is a one-in-10^12 event instead of one in 10^5.
    let r = api.send("PATCH", "/api/settings", &json!({"pin_length": 12}));
    assert_eq!(r.status, 200, "{}", r.body);
    let mut known: Vec<Known> = (0..ORGANIZERS)
        .map(|i| {
            let (id, pin) = create(&api, &format!("Org{i}"));
            Known {
                id,
                pin: Some(pin),
                tag: None,
                resets: 0,
            }
        })
        .collect();
    let (mut acked_total, mut in_flight_kept, mut in_flight_gone) = (0, 0, 0);

    for kill in 0..KILLS {
        let stop = Arc::new(AtomicBool::new(false));
        let rounds: Vec<Arc<Mutex<Round>>> = (0..ORGANIZERS).map(|_| Arc::default()).collect();
        let clients: Vec<_> = known
            .iter()
            .zip(&rounds)
            .map(|(k, round)| {
                let (id, stop, round) = (k.id, stop.clone(), round.clone());
                let api = Api {
                    addr: api.addr,
                    token: api.token.clone(),
                };
                std::thread::spawn(move || {
                    // Bounded: a few hundred resets at most before the kill lands.
                    for _ in 0..2_000 {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        round.lock().expect("round").in_flight = true;
                        match try_reset(&api, id) {
                            Some(pin) => {
                                let mut r = round.lock().expect("round");
                                r.acked.push(pin);
                                r.in_flight = false;
                            }
                            // No answer: the bridge died with this reset in flight.
                            None => return,
                        }
                    }
                })
            })
            .collect();
        // The crash lands at a random moment while resets are being committed.
        std::thread::sleep(Duration::from_millis(rand::random_range(20..200)));
        b.sigkill();
        stop.store(true, Ordering::SeqCst);
        for c in clients {
            c.join().expect("client");
        }

        let (key, found) = inspect(b.data_dir.path());
        for (k, round) in known.iter_mut().zip(&rounds) {
            let round = round.lock().expect("round");
            let f = found
                .get(&k.id)
                .unwrap_or_else(|| panic!("kill {kill}: organizer {} lost its PIN", k.id));
            let expected = k.resets + round.acked.len();
            let last_acked = round.acked.last().or(k.pin.as_ref());
            let verifies =
                |pin: &String| key.verify(k.id, &Pin::parse(pin).expect("pin"), Some(&f.tag));
            // Unchanged since the last thing we know: the last acknowledged PIN still
            // verifies, or the tag found after the previous crash is still there.
            let unchanged = match (round.acked.last(), &k.tag) {
                (Some(pin), _) => verifies(pin),
                (None, Some(tag)) => *tag == f.tag,
                (None, None) => last_acked.is_some_and(verifies),
            };
            if f.resets == expected && unchanged {
                // Every acknowledged reset is there; the one in flight (if any) left no trace.
                in_flight_gone += usize::from(round.in_flight);
                if let Some(pin) = round.acked.last() {
                    k.pin = Some(pin.clone());
                    k.tag = None;
                }
            } else if round.in_flight && f.resets == expected + 1 && !unchanged {
                // The reset in flight happened in full: a new tag and its audit entry.
                in_flight_kept += 1;
                k.pin = None;
                k.tag = Some(f.tag.clone());
            } else {
                panic!(
                    "kill {kill}, organizer {}: {} audit entries for {} known resets (+{} in \
                     flight), last known PIN {}: an acknowledged reset was lost or a reset \
                     was half-saved",
                    k.id,
                    f.resets,
                    expected,
                    u8::from(round.in_flight),
                    if unchanged {
                        "still current"
                    } else {
                        "replaced"
                    },
                );
            }
            k.resets = f.resets;
            acked_total += round.acked.len();
        }
        b.restart();
        b.wait_http();
    }
    eprintln!(
        "{KILLS} SIGKILLs in {:.1} s: {acked_total} acknowledged resets all kept; \
         in flight at the kill: {in_flight_kept} completed, {in_flight_gone} left no trace",
        started.elapsed().as_secs_f64()
    );
    assert!(
        acked_total >= KILLS,
        "resets were acknowledged between kills"
    );
    assert!(
        in_flight_kept + in_flight_gone > 0,
        "some kills landed with a reset in flight"
    );
}
