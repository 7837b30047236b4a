//! A real browser for the Scope's page: Debian's Chromium, headless, driven
//! by its `chromedriver` over WebDriver (the W3C protocol: plain HTTP and
//! JSON, so a few lines here). Where either is missing the tests say
//! `skipped:` and pass, unless `REACTOR_HUB_REQUIRE_CHROMIUM` is set (CI
//! installs both and sets it).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use super::PATIENCE;

const CHROMIUM: &str = "/usr/bin/chromium";
const DRIVER: &str = "chromedriver";

/// A headless Chromium and the driver that runs it; both end when dropped.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
}

impl Browser {
    /// Starts a browser; `None` (after saying so) where Chromium or its
    /// driver is not installed.
    pub fn start() -> Option<Self> {
        let found =
            Path::new(CHROMIUM).exists() && Command::new(DRIVER).arg("--version").output().is_ok();
        if !found {
            assert!(
                std::env::var_os("REACTOR_HUB_REQUIRE_CHROMIUM").is_none(),
                "chromium and chromedriver are required here"
            );
            println!("skipped: chromium not found (apt-get install chromium chromium-driver)");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(DRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut browser = Self {
            driver,
            addr,
            session: String::new(),
        };
        let deadline = Instant::now() + PATIENCE;
        while browser.request("GET", "/status", None).is_err() {
            assert!(Instant::now() < deadline, "chromedriver does not answer");
            std::thread::sleep(Duration::from_millis(50));
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,1000"],
            },
        }}});
        let created = browser.command("POST", "/session", Some(capabilities));
        browser.session = created["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        Some(browser)
    }

    /// Opens `url` and waits until it has loaded.
    pub fn goto(&self, url: &str) {
        self.command("POST", &self.path("/url"), Some(json!({ "url": url })));
    }

    /// Runs `script` (a function body: `return ...`) in the page and gives
    /// back what it returned.
    pub fn run(&self, script: &str) -> Value {
        let body = json!({ "script": script, "args": [] });
        self.command("POST", &self.path("/execute/sync"), Some(body))
    }

    /// Runs `script` until it returns `true`; panics after [`PATIENCE`].
    pub fn wait_for(&self, script: &str) {
        let deadline = Instant::now() + PATIENCE;
        while self.run(script) != Value::Bool(true) {
            assert!(Instant::now() < deadline, "never true: {script}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Saves what the window shows as a PNG file.
    pub fn screenshot(&self, path: &Path) {
        let png = self.command("GET", &self.path("/screenshot"), None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("base64"))
            .expect("a PNG");
        std::fs::write(path, bytes).expect("write the screenshot");
    }

    fn path(&self, command: &str) -> String {
        format!("/session/{}{command}", self.session)
    }

    /// A WebDriver command's `value`; panics on a WebDriver error.
    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let answer = self
            .request(method, path, body)
            .unwrap_or_else(|err| panic!("{method} {path}: {err}"));
        let value = answer["value"].clone();
        if let Some(error) = value.get("error") {
            panic!("{method} {path}: {error}: {}", value["message"]);
        }
        value
    }

    /// One HTTP request to the driver, and its JSON answer.
    fn request(&self, method: &str, path: &str, body: Option<Value>) -> io::Result<Value> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut stream = TcpStream::connect(self.addr)?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )?;
        // The driver keeps the connection open: its answer is as long as
        // its Content-Length says.
        let mut answer = Vec::new();
        let mut byte = [0];
        while !answer.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte)?;
            answer.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&answer).to_ascii_lowercase();
        let length = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|length| length.trim().parse().ok())
            .ok_or_else(|| io::Error::other("no Content-Length"))?;
        let mut json = vec![0; length];
        stream.read_exact(&mut json)?;
        serde_json::from_slice(&json).map_err(io::Error::other)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.request("DELETE", &self.path(""), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
