//! The Scope's page over HTTP, on the program's own Reactor, one more
//! source beside the UDP socket (as the metrics page is): `GET /` is the
//! page (one file built into the binary, [`PAGE`]), `GET /events` the
//! loop's events as server-sent events: the flight recorder's ring first,
//! then each turn's events as the turn ends ([`ScopeEndpoint::before_wait`]).
//!
//! No page may stall the loop or grow its memory: every socket is
//! non-blocking and written until `WouldBlock`; a page is sent at most
//! [`PENDING`] bytes ahead of what its socket took, and one that stops
//! reading falls behind the ring and misses events (the page sees the gap
//! in their numbers). At most [`MAX_VIEWERS`] pages read events at once,
//! and [`MAX_CONNECTIONS`] connections are open in all; a request slower
//! than [`PATIENCE`] is dropped.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use super::flight::{FlightRecorder, WATCHED_BUDGET};

/// The page: HTML, CSS and JavaScript in one file, nothing fetched.
pub const PAGE: &str = include_str!("page.html");
/// Connections open at once: pages reading events, and requests.
pub const MAX_CONNECTIONS: usize = 8;
/// Pages reading events at once.
pub const MAX_VIEWERS: usize = 4;
/// How long a request may take to arrive whole.
pub const PATIENCE: Duration = Duration::from_secs(2);
/// The largest request read; a browser's is under a kilobyte.
const MAX_REQUEST: usize = 8192;
/// The most a page is sent ahead of what its socket took.
pub const PENDING: usize = 64 << 10;

/// Whether the events are the running loop's or a recording's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Live,
    Replay,
}

/// The Scope's listener and its connections.
pub struct ScopeEndpoint {
    listener: TcpListener,
    listener_token: Token,
    /// Tokens `first_connection ..` are connections.
    first_connection: usize,
    connections: HashMap<Token, Connection>,
    flight: Arc<FlightRecorder>,
    /// The first event of every stream: what the page is watching.
    hello: String,
    registry: Registry,
}

struct Connection {
    stream: TcpStream,
    state: State,
}

enum State {
    /// Reading the request, until `deadline`.
    Asking { request: Vec<u8>, deadline: Instant },
    /// Writing a whole answer (the page, or an error), then closing.
    Answering { answer: Vec<u8>, written: usize },
    /// Sending the events, for as long as the page reads them.
    Watching(Viewer),
}

/// A page reading the events.
struct Viewer {
    /// The number of the next event to send it.
    next: u64,
    /// What is being written to it, and how much of that is written.
    pending: Vec<u8>,
    written: usize,
    /// Events the ring dropped before they were sent to it.
    missed: u64,
}

/// What a connection is to do after it was served.
enum Next {
    Wait,
    Close,
}

impl ScopeEndpoint {
    /// Listens on `addr`, registered under `listener_token`; connections
    /// get the tokens from `first_connection` on. `program` and `mode` are
    /// told to each page first.
    pub fn bind(
        addr: SocketAddr,
        registry: &Registry,
        (listener_token, first_connection): (Token, usize),
        flight: Arc<FlightRecorder>,
        (program, mode): (&str, Mode),
    ) -> io::Result<Self> {
        let mut listener = TcpListener::bind(addr)?;
        registry.register(&mut listener, listener_token, Interest::READABLE)?;
        let (mode, budget) = match mode {
            Mode::Live => ("live", WATCHED_BUDGET),
            Mode::Replay => ("replay", 0),
        };
        let hello = format!(
            "event: hello\ndata: {{\"program\":\"{program}\",\"mode\":\"{mode}\",\
             \"ring\":{},\"budget\":{budget}}}\n\n",
            flight.capacity()
        );
        Ok(Self {
            listener,
            listener_token,
            first_connection,
            connections: HashMap::new(),
            flight,
            hello,
            registry: registry.try_clone()?,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Whether `token` is the listener's or one of its connections'.
    pub fn owns(&self, token: Token) -> bool {
        token == self.listener_token || self.connections.contains_key(&token)
    }

    /// What `token` is, for the trace.
    pub fn source_name(&self, token: Token) -> &'static str {
        match self.connections.get(&token).map(|c| &c.state) {
            None => "scope listener",
            Some(State::Watching(_)) => "scope page reading events",
            Some(_) => "scope request",
        }
    }

    /// Handles an event of the listener or of a connection.
    pub fn on_ready(&mut self, token: Token, now: Instant) {
        if token == self.listener_token {
            self.accept(now);
        } else if let Some(connection) = self.connections.get_mut(&token) {
            if let Next::Close = serve(connection, &self.flight, &self.hello) {
                self.close(token);
            }
        }
    }

    /// Sends each page the events it has not had yet: the end of a turn.
    pub fn before_wait(&mut self) {
        let mut done = Vec::new();
        for (&token, connection) in &mut self.connections {
            if let State::Watching(viewer) = &mut connection.state {
                if let Next::Close = viewer.send(&mut connection.stream, &self.flight) {
                    done.push(token);
                }
            }
        }
        for token in done {
            self.close(token);
        }
    }

    /// The earliest moment a request runs out of time.
    pub fn next_deadline(&self) -> Option<Instant> {
        let deadlines = self.connections.values().filter_map(|c| match c.state {
            State::Asking { deadline, .. } => Some(deadline),
            _ => None,
        });
        deadlines.min()
    }

    /// Drops the requests that ran out of time.
    pub fn on_deadline(&mut self, now: Instant) {
        let late: Vec<Token> = self
            .connections
            .iter()
            .filter(|(_, c)| matches!(c.state, State::Asking { deadline, .. } if deadline <= now))
            .map(|(&token, _)| token)
            .collect();
        for token in late {
            log::debug!("scope: a request took over {PATIENCE:?}: closed");
            self.close(token);
        }
    }

    /// Accepts until `WouldBlock`, [`MAX_CONNECTIONS`] a turn; a
    /// connection with no free slot is closed.
    fn accept(&mut self, now: Instant) {
        for _ in 0..MAX_CONNECTIONS {
            let mut stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    log::debug!("scope: accept failed: {err}");
                    return;
                }
            };
            let mut tokens =
                (self.first_connection..self.first_connection + MAX_CONNECTIONS).map(Token);
            let Some(token) = tokens.find(|token| !self.connections.contains_key(token)) else {
                log::debug!("scope: {MAX_CONNECTIONS} connections open: one more closed");
                continue;
            };
            let interest = Interest::READABLE | Interest::WRITABLE;
            if let Err(err) = self.registry.register(&mut stream, token, interest) {
                log::debug!("scope: cannot watch a connection: {err}");
                continue;
            }
            // Epoll reports what is ready at registration: the request, if
            // it came with the connection, is read at the next poll.
            let state = State::Asking {
                request: Vec::new(),
                deadline: now + PATIENCE,
            };
            self.connections.insert(token, Connection { stream, state });
        }
        // Edge-triggered: registering again makes epoll report, at the next
        // poll, the connections still queued.
        let (listener, token) = (&mut self.listener, self.listener_token);
        if let Err(err) = self
            .registry
            .reregister(listener, token, Interest::READABLE)
        {
            log::warn!("scope: queued connections may wait for another: {err}");
        }
    }

    fn close(&mut self, token: Token) {
        if let Some(mut connection) = self.connections.remove(&token) {
            if let State::Watching(viewer) = &connection.state {
                self.flight.watching(false);
                log::debug!("scope: a page stopped reading ({} missed)", viewer.missed);
            }
            let _ = self.registry.deregister(&mut connection.stream);
        }
    }
}

/// Reads, answers or sends what `connection` is ready for.
fn serve(connection: &mut Connection, flight: &FlightRecorder, hello: &str) -> Next {
    let stream = &mut connection.stream;
    match &mut connection.state {
        State::Asking { request, .. } => {
            if let Next::Close = read_all(stream, request) {
                return Next::Close;
            }
            let Some(next) = answer(request, flight, hello) else {
                return Next::Wait;
            };
            connection.state = next;
            serve(connection, flight, hello)
        }
        State::Answering { answer, written } => match write_all(stream, answer, written) {
            Next::Wait if *written < answer.len() => Next::Wait,
            _ => Next::Close,
        },
        State::Watching(viewer) => {
            // A page sends nothing after its request: reading tells when
            // it has gone.
            if let Next::Close = read_all(stream, &mut Vec::new()) {
                return Next::Close;
            }
            viewer.send(stream, flight)
        }
    }
}

/// What to do with a request: `None` until it is whole.
fn answer(request: &[u8], flight: &FlightRecorder, hello: &str) -> Option<State> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    let (status, content_type, body) = match parsed.parse(request) {
        Ok(httparse::Status::Partial) if request.len() < MAX_REQUEST => return None,
        Ok(httparse::Status::Partial) | Err(_) => (400, "text/plain", "bad request\n"),
        Ok(httparse::Status::Complete(_)) => match (parsed.method, parsed.path) {
            (Some("GET"), Some("/" | "/index.html")) => (200, "text/html; charset=utf-8", PAGE),
            (Some("GET"), Some("/events")) if flight.viewers() >= MAX_VIEWERS => {
                (503, "text/plain", "too many pages are watching\n")
            }
            (Some("GET"), Some("/events")) => {
                flight.watching(true);
                return Some(State::Watching(Viewer::new(hello)));
            }
            (Some("GET"), _) => (404, "text/plain", "try / or /events\n"),
            _ => (405, "text/plain", "GET only\n"),
        },
    };
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        503 => "Service Unavailable",
        _ => "Method Not Allowed",
    };
    let answer = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    Some(State::Answering {
        answer: answer.into_bytes(),
        written: 0,
    })
}

impl Viewer {
    /// A page about to get the stream's head, `hello`, and the ring.
    fn new(hello: &str) -> Self {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                    Cache-Control: no-cache\r\nConnection: close\r\n\r\n";
        Self {
            next: 0,
            pending: [head, hello].concat().into_bytes(),
            written: 0,
            missed: 0,
        }
    }

    /// Writes what is pending, then the events after it, until the socket
    /// would block or nothing new is left.
    fn send(&mut self, stream: &mut TcpStream, flight: &FlightRecorder) -> Next {
        loop {
            if self.written == self.pending.len() {
                self.pending.clear();
                self.written = 0;
                let (next, missed) = flight.read(self.next, &mut self.pending, PENDING);
                self.next = next;
                self.missed += missed;
                if self.pending.is_empty() {
                    return Next::Wait;
                }
            }
            if let Next::Close = write_all(stream, &self.pending, &mut self.written) {
                return Next::Close;
            }
            if self.written < self.pending.len() {
                return Next::Wait;
            }
        }
    }
}

/// Reads until `WouldBlock` into `into`, at most [`MAX_REQUEST`] bytes in
/// all; `Close` if the peer has gone or sent too much.
fn read_all(stream: &mut TcpStream, into: &mut Vec<u8>) -> Next {
    let mut chunk = [0; 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Next::Close,
            Ok(len) if into.len() + len > MAX_REQUEST => return Next::Close,
            Ok(len) => into.extend_from_slice(&chunk[..len]),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Next::Wait,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Next::Close,
        }
    }
}

/// Writes `bytes` from `written` on until done or `WouldBlock`.
fn write_all(stream: &mut TcpStream, bytes: &[u8], written: &mut usize) -> Next {
    while *written < bytes.len() {
        match stream.write(&bytes[*written..]) {
            Ok(0) => return Next::Close,
            Ok(len) => *written += len,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Next::Wait,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Next::Close,
        }
    }
    Next::Wait
}
