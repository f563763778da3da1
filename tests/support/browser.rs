//! A real headless Chromium for end-to-end tests of the web pages, driven over WebDriver
//! (Debian's `chromedriver`, through `fantoccini`), plus a tiny HTTP server on another port
//! that plays a foreign web site for cross-site request forgery checks.
//!
//! Everything here is bounded: chromedriver and Chromium run in their own process group, which
//! is killed when the `Browser` is dropped (also when a test panics), every WebDriver session
//! has page-load and script timeouts, and the foreign site's thread stops with its owner.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// How long one navigation may take before the WebDriver command fails.
const PAGE_LOAD: Duration = Duration::from_secs(10);
/// How long the test waits for a page or an element to show up.
pub const WAIT: Duration = Duration::from_secs(10);

/// Chromium's flags for this machine: headless as root, and no background traffic (the
/// network is closed; without these Chromium keeps trying Google's hosts).
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
    "--password-store=basic",
    "--window-size=1280,1000",
];

fn executable(var: &str, default: &str) -> String {
    let path = std::env::var(var).unwrap_or_else(|_| default.to_string());
    assert!(
        Path::new(&path).exists(),
        "{path} is missing: install Debian's chromium and chromium-driver packages \
         (`apt-get install chromium chromium-driver`; ./test.sh does it), or set {var}"
    );
    path
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free TCP port on 127.0.0.1")
}

/// chromedriver's process group (the driver, Chromium and Chromium's helpers), killed on drop.
struct DriverProcess {
    child: Child,
    log: PathBuf,
}

impl DriverProcess {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(40);
        format!(
            "---- chromedriver log (end of {}) ----\n{}",
            self.log.display(),
            lines.get(from..).unwrap_or_default().join("\n")
        )
    }

    fn wait_listening(&mut self, port: u16) {
        let deadline = Instant::now() + WAIT;
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "chromedriver exited at start ({status})\n{}",
                    self.log_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on 127.0.0.1:{port} within {WAIT:?}\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for DriverProcess {
    fn drop(&mut self) {
        let pgid = self.child.id() as i32;
        // SAFETY: kill(2) on the process group we created for our own chromedriver child.
        unsafe {
            libc::kill(-pgid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Chromium's helpers may outlive the driver: end the whole group.
        // SAFETY: as above.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
    }
}

/// A headless Chromium session; the browser and its driver die with this value.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    driver: DriverProcess,
    _profile: tempfile::TempDir,
    shots: PathBuf,
    step: AtomicUsize,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a fresh Chromium profile.
    /// Screenshots go to `<target dir>/screenshots/<name>/` (emptied first).
    pub async fn start(name: &str) -> Browser {
        let chromium = executable("CHROMIUM", "/usr/bin/chromium");
        let chromedriver = executable("CHROMEDRIVER", "/usr/bin/chromedriver");
        let shots = screenshot_dir(name);
        let profile = tempfile::tempdir().expect("a Chromium profile directory");
        let port = free_tcp_port();
        let log = shots.join("chromedriver.log");
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that Chromium and all its helpers can be killed with
            // the driver even if the test dies before closing the session.
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let mut driver = DriverProcess { child, log };
        driver.wait_listening(port);
        let mut browser_args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        browser_args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": chromium, "args": browser_args }),
        );
        // The performance log carries the network events: response headers such as
        // Cache-Control, and the request headers (Origin, Cookie) the browser really sent.
        caps.insert("goog:loggingPrefs".into(), json!({ "performance": "ALL" }));
        caps.insert(
            "timeouts".into(),
            json!({
                "pageLoad": PAGE_LOAD.as_millis() as u64,
                "script": 5000,
                "implicit": 0,
            }),
        );
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(caps);
        let webdriver = format!("http://127.0.0.1:{port}");
        let connect = builder.connect(&webdriver);
        let client = match tokio::time::timeout(Duration::from_secs(30), connect).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => panic!(
                "could not open a Chromium session through chromedriver: {e}\n{}",
                driver.log_tail()
            ),
            Err(_) => panic!("no Chromium session within 30 s\n{}", driver.log_tail()),
        };
        Browser {
            client,
            driver,
            _profile: profile,
            shots,
            step: AtomicUsize::new(0),
        }
    }

    /// The end of chromedriver's log, for failure messages.
    pub fn driver_log(&self) -> String {
        self.driver.log_tail()
    }

    /// Saves a numbered screenshot of the page as `NN-what.png`; a failure only warns, since
    /// screenshots are there to help debugging, not to decide the test.
    pub async fn shot(&self, what: &str) {
        let n = self.step.fetch_add(1, Ordering::SeqCst) + 1;
        let path = self.shots.join(format!("{n:02}-{what}.png"));
        match tokio::time::timeout(WAIT, self.client.screenshot()).await {
            Ok(Ok(png)) => {
                if let Err(e) = std::fs::write(&path, png) {
                    eprintln!("warning: cannot write {}: {e}", path.display());
                }
            }
            Ok(Err(e)) => eprintln!("warning: no screenshot {what}: {e}"),
            Err(_) => eprintln!("warning: no screenshot {what}: timed out"),
        }
    }

    /// Where the screenshots go.
    pub fn screenshot_dir(&self) -> &Path {
        &self.shots
    }

    /// Network events since the last call (Chrome DevTools `Network.*` messages, each with
    /// `method` and `params`). Reading the log empties it.
    pub async fn network_events(&self) -> Vec<Value> {
        let log = tokio::time::timeout(WAIT, self.client.issue_cmd(PerformanceLog))
            .await
            .expect("the performance log within the timeout")
            .expect("read Chromium's performance log");
        log.as_array()
            .into_iter()
            .flatten()
            .filter_map(|entry| entry["message"].as_str())
            .filter_map(|m| serde_json::from_str::<Value>(m).ok())
            .map(|mut v| v["message"].take())
            .filter(|m| {
                m["method"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("Network."))
            })
            .collect()
    }

    /// Ends the WebDriver session (Chromium quits); dropping the value then stops chromedriver.
    pub async fn close(&self) {
        let _ = tokio::time::timeout(WAIT, self.client.clone().close()).await;
    }
}

/// `<target dir>/screenshots/<name>/`, emptied.
fn screenshot_dir(name: &str) -> PathBuf {
    // CARGO_TARGET_TMPDIR is `<target dir>/tmp`; screenshots sit beside it.
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(tmp).join("screenshots").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the screenshot directory");
    dir
}

/// chromedriver's `POST /session/{id}/se/log` with `{"type": "performance"}`.
#[derive(Debug)]
struct PerformanceLog;

impl WebDriverCompatibleCommand for PerformanceLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(json!({ "type": "performance" }).to_string()),
        )
    }
}

/// The last response to a URL ending with `suffix`, as the browser received it.
fn last_response<'a>(events: &'a [Value], suffix: &str) -> Option<&'a Value> {
    events
        .iter()
        .rev()
        .filter(|e| e["method"] == "Network.responseReceived")
        .map(|e| &e["params"]["response"])
        .find(|r| r["url"].as_str().is_some_and(|u| u.ends_with(suffix)))
}

/// The headers of the last response to a URL ending with `suffix`, as the browser received
/// them (names lower-cased).
pub fn response_headers(events: &[Value], suffix: &str) -> Option<HashMap<String, String>> {
    last_response(events, suffix).map(|r| lower_case_headers(&r["headers"]))
}

/// The HTTP status of the last response to a URL ending with `suffix`.
pub fn response_status(events: &[Value], suffix: &str) -> Option<u64> {
    last_response(events, suffix).and_then(|r| r["status"].as_u64())
}

/// The headers the browser really sent (cookies included) with its last request to a URL
/// ending with `suffix`.
pub fn sent_request_headers(events: &[Value], suffix: &str) -> Option<HashMap<String, String>> {
    let request_id = events
        .iter()
        .rev()
        .filter(|e| e["method"] == "Network.requestWillBeSent")
        .find(|e| {
            e["params"]["request"]["url"]
                .as_str()
                .is_some_and(|u| u.ends_with(suffix))
        })
        .map(|e| e["params"]["requestId"].clone())?;
    events
        .iter()
        .filter(|e| e["method"] == "Network.requestWillBeSentExtraInfo")
        .find(|e| e["params"]["requestId"] == request_id)
        .map(|e| lower_case_headers(&e["params"]["headers"]))
}

fn lower_case_headers(v: &Value) -> HashMap<String, String> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.to_ascii_lowercase(),
                v.as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// A CSS selector, the way most steps find elements.
pub fn css(selector: &str) -> Locator<'_> {
    Locator::Css(selector)
}

/// A web site on another port of 127.0.0.1 that serves fixed HTML pages: another origin
/// (but the same site, so SameSite cookies still go along) for CSRF checks.
pub struct ForeignSite {
    /// Where it listens.
    pub addr: SocketAddr,
    pages: Arc<Mutex<HashMap<String, String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ForeignSite {
    /// Starts serving on a free port of 127.0.0.1.
    pub fn start() -> ForeignSite {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the foreign site");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("foreign site address");
        let pages: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let pages = Arc::clone(&pages);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                // Bounded even if the owner forgets to stop it.
                let deadline = Instant::now() + Duration::from_secs(300);
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let pages = Arc::clone(&pages);
                            // One thread per connection: Chromium opens speculative
                            // connections that may never send a request.
                            std::thread::spawn(move || serve_one(stream, &pages));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        ForeignSite {
            addr,
            pages,
            stop,
            thread: Some(thread),
        }
    }

    /// Serves `html` at `path`.
    pub fn put(&self, path: &str, html: String) {
        self.pages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path.to_string(), html);
    }

    /// The full URL of `path` on this site.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for ForeignSite {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_one(mut stream: TcpStream, pages: &Mutex<HashMap<String, String>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let page = pages
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&path)
        .cloned();
    let (status, body) = match page {
        Some(html) => ("200 OK", html),
        None => ("404 Not Found", "not here".to_string()),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}
