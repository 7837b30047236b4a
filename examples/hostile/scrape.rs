//! The metrics page under attack: many connections try to hold its slots
//! while a scraper asks for the page every half second, as Prometheus
//! does. Shared by `hostile` and `tests/metrics.rs` (`#[path]`).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// What the scraper sends, all at once, as Prometheus does.
const REQUEST: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: hub\r\nAccept: text/plain\r\n\r\n";
/// The head a slowloris sends, a byte at a time; then `a` forever.
const SLOW_HEAD: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: hub\r\nX-Slow: ";
/// Time between two scrapes.
pub const SCRAPE_INTERVAL: Duration = Duration::from_millis(500);
/// A scrape answered later than this is missed.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);
/// Time between two sends on one attacking connection.
const SEND_INTERVAL: Duration = Duration::from_millis(300);
/// How often the attack looks for connections the hub closed, to reopen them.
const TICK: Duration = Duration::from_millis(20);

/// How the attacking connections try to hold the hub's slots.
#[derive(Clone, Copy, Debug)]
pub enum Attack {
    /// A request's head, a byte every 0.3 s, never ended.
    Slowloris,
    /// Whole requests, again every 0.3 s, and the answers never read.
    NeverRead,
}

/// An attack and a scraper, each on a thread of its own.
pub struct Siege {
    stop: Arc<AtomicBool>,
    attack: JoinHandle<u64>,
    scraper: JoinHandle<Scrapes>,
}

/// What a siege came to.
pub struct Outcome {
    pub scrapes: Scrapes,
    /// Connections the attack opened, reopenings included.
    pub opened: u64,
}

impl Siege {
    /// Opens `connections` attacking connections to the metrics page at
    /// `addr`, reopening each as soon as the hub closes it; once each has
    /// had its first try, scrapes the page `scrapes` times, one every
    /// [`SCRAPE_INTERVAL`].
    pub fn start(
        addr: SocketAddr,
        attack: Attack,
        connections: usize,
        scrapes: usize,
    ) -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready) = mpsc::channel();
        let stopped = stop.clone();
        let attack = thread::Builder::new()
            .name("attack".into())
            .spawn(move || besiege(addr, attack, connections, &stopped, ready_tx))?;
        // The scraper starts once every attacking connection has had its
        // first try (each bounded by SCRAPE_TIMEOUT).
        let _ = ready.recv();
        let scraper = thread::Builder::new()
            .name("scraper".into())
            .spawn(move || scrape_every_interval(addr, scrapes))?;
        Ok(Self {
            stop,
            attack,
            scraper,
        })
    }

    /// Waits for the last scrape, then stops the attack.
    pub fn finish(self) -> Outcome {
        let scrapes = self.scraper.join().expect("the scraper thread");
        self.stop.store(true, Ordering::Relaxed);
        let opened = self.attack.join().expect("the attack thread");
        Outcome { scrapes, opened }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let opened = self.opened;
        write!(
            f,
            "{}; the attack opened {opened} connections",
            self.scrapes
        )
    }
}

/// One attacking connection, while it is open.
struct Attacker {
    stream: Option<TcpStream>,
    /// Bytes of the head sent so far (a slowloris's).
    sent: usize,
    next_send: Instant,
}

/// Keeps `connections` attacking connections open until `stop`; returns
/// how many it opened. Says on `ready` when each has been tried once.
fn besiege(
    addr: SocketAddr,
    attack: Attack,
    connections: usize,
    stop: &AtomicBool,
    ready: mpsc::Sender<()>,
) -> u64 {
    let mut ready = Some(ready);
    let now = Instant::now();
    let mut attackers: Vec<Attacker> = (0..connections)
        .map(|_| Attacker {
            stream: None,
            sent: 0,
            next_send: now,
        })
        .collect();
    let mut opened = 0;
    while !stop.load(Ordering::Relaxed) {
        for attacker in &mut attackers {
            if attacker.stream.is_none() {
                attacker.stream = TcpStream::connect_timeout(&addr, SCRAPE_TIMEOUT)
                    .and_then(|stream| stream.set_nonblocking(true).map(|()| stream))
                    .ok();
                opened += u64::from(attacker.stream.is_some());
                attacker.sent = 0;
                attacker.next_send = Instant::now();
            }
            if attacker.poke(attack).is_err() {
                attacker.stream = None; // reopened at the next tick
            }
        }
        if let Some(ready) = ready.take() {
            let _ = ready.send(());
        }
        thread::sleep(TICK);
    }
    opened
}

impl Attacker {
    /// Sends what is due; an error when the hub closed the connection.
    fn poke(&mut self, attack: Attack) -> io::Result<()> {
        let Some(stream) = &mut self.stream else {
            return Ok(());
        };
        if let Attack::Slowloris = attack {
            // A slowloris may read: to learn at once that it was closed.
            match stream.read(&mut [0; 64]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Err(err) if err.kind() != io::ErrorKind::WouldBlock => return Err(err),
                _ => {}
            }
        }
        let now = Instant::now();
        if now < self.next_send {
            return Ok(());
        }
        self.next_send = now + SEND_INTERVAL;
        let sent = match attack {
            Attack::Slowloris => stream.write(&[SLOW_HEAD.get(self.sent).copied().unwrap_or(b'a')]),
            // A write fails once the hub has closed: then a new request
            // goes on a new connection.
            Attack::NeverRead => stream.write(REQUEST),
        };
        match sent {
            Ok(len) => self.sent += len,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(err),
        }
        Ok(())
    }
}

/// How the scrapes went: the time each answered one took.
pub struct Scrapes {
    answered: Vec<Duration>,
    pub tried: usize,
}

impl Scrapes {
    /// The share of scrapes answered within [`SCRAPE_TIMEOUT`].
    pub fn rate(&self) -> f64 {
        self.answered.len() as f64 / self.tried.max(1) as f64
    }
}

impl std::fmt::Display for Scrapes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut answered = self.answered.clone();
        answered.sort();
        let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        write!(
            f,
            "{} of {} scrapes answered within {SCRAPE_TIMEOUT:?} ({:.0}%), p50 {:.1} ms, max {:.1} ms",
            answered.len(),
            self.tried,
            self.rate() * 100.0,
            ms(answered.get(answered.len() / 2)),
            ms(answered.last()),
        )
    }
}

/// Scrapes `count` times, one every [`SCRAPE_INTERVAL`] (or at once
/// after a late one).
fn scrape_every_interval(addr: SocketAddr, count: usize) -> Scrapes {
    let started = Instant::now();
    let mut answered = Vec::new();
    for n in 0..count {
        let at = started + SCRAPE_INTERVAL * n as u32;
        thread::sleep(at.saturating_duration_since(Instant::now()));
        answered.extend(scrape(addr));
    }
    Scrapes {
        answered,
        tried: count,
    }
}

/// One scrape: how long the whole page took, if it came within
/// [`SCRAPE_TIMEOUT`].
fn scrape(addr: SocketAddr) -> Option<Duration> {
    let started = Instant::now();
    let mut stream = TcpStream::connect_timeout(&addr, SCRAPE_TIMEOUT).ok()?;
    stream.set_write_timeout(Some(SCRAPE_TIMEOUT)).ok()?;
    stream.write_all(REQUEST).ok()?;
    let mut answer = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        let left = SCRAPE_TIMEOUT.checked_sub(started.elapsed())?;
        stream.set_read_timeout(Some(left)).ok()?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(len) => answer.extend_from_slice(&chunk[..len]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    whole_page(&answer).then(|| started.elapsed())
}

/// Whether `answer` is a 200 with as many bytes of body as its head says.
fn whole_page(answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("Content-Length: ")?.parse::<usize>().ok());
    head.starts_with("HTTP/1.1 200 ") && length == Some(body.len())
}
