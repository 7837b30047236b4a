//! `GET /metrics` over HTTP, on the hub's own Reactor: a listening TCP
//! socket and its connections are sources beside the UDP socket, and no
//! scrape may stall the hub. `HEAD` gets GET's answer without its body:
//! load balancers and Prometheus probe with it.
//!
//! Everything is bounded: at most [`MAX_CONNECTIONS`] connections at once
//! and as many accepted a turn, a request larger than [`MAX_REQUEST`]
//! bytes or slower than [`PATIENCE`] is dropped, and a connection is
//! closed once its one answer is written. A newcomer is never turned
//! away: a scraper sends its whole request at once, so it is usually
//! answered on arrival without taking a slot, and when it must wait for
//! its request and the table is full, the connection idle longest makes
//! room. So clients that hold connections open (one byte now and then, or
//! nothing at all) cannot keep the scraper out. Requests are parsed with
//! `httparse`; reads and writes go until `WouldBlock`, as everywhere on
//! the Reactor.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use super::exposition::Format;

/// Connections served at once, and accepted in one turn of the Reactor.
pub const MAX_CONNECTIONS: usize = 4;
/// The largest request read; a scraper's is a few hundred bytes.
pub const MAX_REQUEST: usize = 4096;
/// How long a connection may take from accept to its answer written.
pub const PATIENCE: Duration = Duration::from_secs(1);

/// One connection: what it sent so far, then the answer being written.
struct Connection {
    stream: TcpStream,
    deadline: Instant,
    /// The endpoint's [`Scrape::turns`] when bytes last moved either way
    /// (or it was accepted): the one idle longest makes room for a newcomer.
    moved: u64,
    request: Vec<u8>,
    /// The answer, and how much of it is written.
    answer: Option<(Vec<u8>, usize)>,
}

/// The metrics endpoint: a listener and its connections.
pub struct Scrape {
    listener: TcpListener,
    listener_token: Token,
    /// Tokens `first_connection ..` are connections.
    first_connection: usize,
    connections: HashMap<Token, Connection>,
    /// Counts accepts and the times a connection is served, so that which
    /// one moved last is exact, even among those of one burst of accepts
    /// (one `now`: ties would make one slot churn, and a newcomer in it be
    /// evicted by the very next one).
    turns: u64,
    registry: Registry,
    /// Connections closed unanswered: evicted, too big, too slow, or broken.
    pub refused: u64,
}

/// What a connection is to do after an event.
enum Next {
    Wait,
    Close,
}

/// Makes the metrics page in a format; called once per request answered.
type Page<'a> = dyn FnMut(Format) -> String + 'a;

impl Scrape {
    /// Listens on `addr`, registered under `listener_token`; connections
    /// get the tokens from `first_connection` on.
    pub fn bind(
        addr: SocketAddr,
        registry: &Registry,
        listener_token: Token,
        first_connection: usize,
    ) -> io::Result<Self> {
        let mut listener = TcpListener::bind(addr)?;
        registry.register(&mut listener, listener_token, Interest::READABLE)?;
        Ok(Self {
            listener,
            listener_token,
            first_connection,
            connections: HashMap::new(),
            turns: 0,
            registry: registry.try_clone()?,
            refused: 0,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Whether `token` is the listener's or one of its connections'.
    pub fn owns(&self, token: Token) -> bool {
        token == self.listener_token || self.connections.contains_key(&token)
    }

    /// The earliest moment a connection runs out of time.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.connections.values().map(|c| c.deadline).min()
    }

    /// Closes the connections that ran out of time.
    pub fn on_deadline(&mut self, now: Instant) {
        let late: Vec<Token> = self
            .connections
            .iter()
            .filter(|(_, c)| c.deadline <= now)
            .map(|(&token, _)| token)
            .collect();
        for token in late {
            log::debug!("metrics: a request took over {PATIENCE:?}: closed");
            self.refused += 1;
            self.close(token);
        }
    }

    /// Handles an event of the listener or of a connection; `page` makes
    /// the metrics page, in a format, for each request that asks for it.
    pub fn on_ready(&mut self, token: Token, now: Instant, mut page: impl FnMut(Format) -> String) {
        if token == self.listener_token {
            self.accept(now, &mut page);
        } else {
            self.serve(token, &mut page);
        }
    }

    /// Reads or writes what `token`'s connection is ready for, and closes
    /// it once done; returns whether it is still open.
    fn serve(&mut self, token: Token, page: &mut Page) -> bool {
        let Some(connection) = self.connections.get_mut(&token) else {
            return false;
        };
        self.turns += 1;
        match step(connection, self.turns, page) {
            Next::Wait => true,
            Next::Close => {
                self.close(token);
                false
            }
        }
    }

    /// Accepts until `WouldBlock`, [`MAX_CONNECTIONS`] a turn. A
    /// connection whose request is already here is answered at once;
    /// another waits in a slot for the rest.
    ///
    /// The bound keeps a burst (each connection perhaps a page to build)
    /// from holding up the UDP socket, and no newcomer is evicted in the
    /// turn that accepted it; the rest wait in the kernel's queue, where a
    /// scraper's request comes meanwhile.
    fn accept(&mut self, now: Instant, page: &mut Page) {
        for _ in 0..MAX_CONNECTIONS {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                // ECONNABORTED, EMFILE, ...: this one connection is lost.
                Err(err) => {
                    log::debug!("metrics: accept failed: {err}");
                    return;
                }
            };
            self.turns += 1;
            let mut connection = Connection {
                stream,
                deadline: now + PATIENCE,
                moved: self.turns,
                request: Vec::new(),
                answer: None,
            };
            // Registering after the read misses nothing: epoll reports
            // what is ready at registration.
            if let Next::Close = step(&mut connection, self.turns, page) {
                continue;
            }
            let Some(token) = self.make_room(page) else {
                self.refused += 1;
                continue; // dropping the stream closes it
            };
            let interest = Interest::READABLE | Interest::WRITABLE;
            if self
                .registry
                .register(&mut connection.stream, token, interest)
                .is_err()
            {
                self.refused += 1;
                continue;
            }
            self.connections.insert(token, connection);
        }
        // Readiness is edge-triggered: registering again makes epoll
        // report, at the next poll, the connections still queued.
        let (listener, token) = (&mut self.listener, self.listener_token);
        if let Err(err) = self
            .registry
            .reregister(listener, token, Interest::READABLE)
        {
            log::warn!("metrics: queued connections may wait for another: {err}");
        }
    }

    /// A free token; when there is none, the connection idle longest's.
    /// That one is served once more first (its request may be waiting in
    /// an event not handled yet), and closed if that does not finish it.
    fn make_room(&mut self, page: &mut Page) -> Option<Token> {
        let mut tokens =
            (self.first_connection..self.first_connection + MAX_CONNECTIONS).map(Token);
        if let Some(free) = tokens.find(|token| !self.connections.contains_key(token)) {
            return Some(free);
        }
        let (&idlest, _) = self.connections.iter().min_by_key(|(_, c)| c.moved)?;
        if self.serve(idlest, page) {
            log::debug!("metrics: the connection idle longest made room for a new one");
            self.refused += 1;
            self.close(idlest);
        }
        Some(idlest)
    }

    fn close(&mut self, token: Token) {
        if let Some(mut connection) = self.connections.remove(&token) {
            let _ = self.registry.deregister(&mut connection.stream);
        }
    }
}

/// Reads the request, or writes the answer once there is one; `turn`
/// becomes the connection's [`Connection::moved`] if bytes move.
fn step(connection: &mut Connection, turn: u64, page: &mut Page) -> Next {
    match connection.answer {
        Some(_) => write_answer(connection, turn),
        None => read_request(connection, turn, page),
    }
}

/// Reads what the client sent, and once it is a whole request, prepares
/// the answer and starts writing it.
fn read_request(connection: &mut Connection, turn: u64, page: &mut Page) -> Next {
    let mut chunk = [0; 1024];
    loop {
        match connection.stream.read(&mut chunk) {
            Ok(0) => return Next::Close,
            Ok(len) => {
                connection.moved = turn;
                connection.request.extend_from_slice(&chunk[..len]);
                if connection.request.len() > MAX_REQUEST {
                    log::debug!("metrics: a request over {MAX_REQUEST} bytes: closed");
                    return Next::Close;
                }
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Next::Close,
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    let (status, content_type, body) = match request.parse(&connection.request) {
        Ok(httparse::Status::Partial) => return Next::Wait,
        Err(_) => (400, "text/plain", "bad request\n".to_owned()),
        Ok(httparse::Status::Complete(_)) => match (request.method, request.path) {
            (Some("GET" | "HEAD"), Some("/metrics")) => {
                let accept = request
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("accept"))
                    .map(|h| h.value);
                let format = Format::accepted(accept);
                (200, format.content_type(), page(format))
            }
            (Some("GET" | "HEAD"), _) => (404, "text/plain", "try /metrics\n".to_owned()),
            _ => (405, "text/plain", "GET or HEAD /metrics only\n".to_owned()),
        },
    };
    let head_only = request.method == Some("HEAD");
    let answer = respond(status, content_type, &body, head_only);
    connection.answer = Some((answer, 0));
    write_answer(connection, turn)
}

/// Writes what is left of the answer; closes once it is all written.
fn write_answer(connection: &mut Connection, turn: u64) -> Next {
    let Some((answer, written)) = &mut connection.answer else {
        return Next::Wait;
    };
    while *written < answer.len() {
        match connection.stream.write(&answer[*written..]) {
            Ok(0) => return Next::Close,
            Ok(len) => {
                *written += len;
                connection.moved = turn;
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Next::Wait,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Next::Close,
        }
    }
    Next::Close
}

/// An HTTP/1.1 answer that closes the connection; to a HEAD request
/// (`head_only`), the same head, `Content-Length` included, and no body.
fn respond(status: u16, content_type: &str, body: &str, head_only: bool) -> Vec<u8> {
    let (reason, allow) = match status {
        200 => ("OK", ""),
        400 => ("Bad Request", ""),
        404 => ("Not Found", ""),
        _ => ("Method Not Allowed", "Allow: GET, HEAD\r\n"),
    };
    let length = body.len();
    let body = if head_only { "" } else { body };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n{allow}\
         Content-Length: {length}\r\nConnection: close\r\n\r\n{body}"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream as Client;

    use mio::{Events, Poll};

    use super::*;

    const PAGE: &str = "a_page 1\n";
    /// A scraper's request, whole.
    const GET: &str = "GET /metrics HTTP/1.1\r\n\r\n";

    /// A [`Scrape`] on loopback, and the poll that drives it.
    struct Endpoint {
        poll: Poll,
        events: Events,
        scrape: Scrape,
    }

    impl Endpoint {
        fn new() -> Self {
            let poll = Poll::new().unwrap();
            let addr = "127.0.0.1:0".parse().unwrap();
            let scrape = Scrape::bind(addr, poll.registry(), Token(0), 1).unwrap();
            let events = Events::with_capacity(16);
            Self {
                poll,
                events,
                scrape,
            }
        }

        /// A client, connected, that has sent `bytes`.
        fn client(&self, bytes: &str) -> Client {
            let mut client = Client::connect(self.scrape.local_addr().unwrap()).unwrap();
            client.set_read_timeout(Some(PATIENCE)).unwrap();
            client.write_all(bytes.as_bytes()).unwrap();
            client
        }

        /// Handles events until `done`; fails if that takes over
        /// [`PATIENCE`].
        fn until(&mut self, mut done: impl FnMut(&Scrape) -> bool) {
            let now = Instant::now();
            let deadline = now + PATIENCE;
            while !done(&self.scrape) {
                let left = deadline.saturating_duration_since(Instant::now());
                assert!(!left.is_zero(), "not done within {PATIENCE:?}");
                self.poll.poll(&mut self.events, Some(left)).unwrap();
                for event in &self.events {
                    self.scrape
                        .on_ready(event.token(), now, |_| PAGE.to_owned());
                }
            }
        }
    }

    /// Whether the endpoint has written to `client` or closed it.
    fn heard_from(client: &Client) -> bool {
        client.set_nonblocking(true).unwrap();
        let peeked = client.peek(&mut [0]);
        client.set_nonblocking(false).unwrap();
        !matches!(peeked, Err(err) if err.kind() == io::ErrorKind::WouldBlock)
    }

    /// Everything the endpoint wrote to `client`, up to its close.
    fn read_all(mut client: Client) -> String {
        let mut answer = String::new();
        client.read_to_string(&mut answer).unwrap();
        answer
    }

    /// The whole answer a [`Scrape`] gives to `request`, over loopback.
    fn answer(request: &str) -> String {
        let mut endpoint = Endpoint::new();
        let client = endpoint.client(request);
        endpoint.until(|scrape| heard_from(&client) && scrape.connections.is_empty());
        read_all(client)
    }

    /// Fills the table with clients that sent `bytes`, a part of a
    /// request, each taken in turn.
    fn fill(endpoint: &mut Endpoint, bytes: &str) -> Vec<Client> {
        let mut clients = Vec::new();
        for n in 1..=MAX_CONNECTIONS {
            clients.push(endpoint.client(bytes));
            endpoint.until(|scrape| {
                let waiting = scrape.connections.values();
                waiting.filter(|c| c.request == bytes.as_bytes()).count() == n
            });
        }
        clients
    }

    fn answered_with_the_page(answer: &str) -> bool {
        answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with(PAGE)
    }

    #[test]
    fn head_gets_what_get_gets_but_the_body() {
        let get = answer(GET);
        let head = answer("HEAD /metrics HTTP/1.1\r\n\r\n");
        assert_eq!(get, format!("{head}{PAGE}"));
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        let length = format!("\r\nContent-Length: {}\r\n", PAGE.len());
        assert!(head.contains(&length), "{head}");
        let elsewhere = answer("HEAD / HTTP/1.1\r\n\r\n");
        assert!(elsewhere.starts_with("HTTP/1.1 404"), "{elsewhere}");
        assert!(elsewhere.ends_with("\r\n\r\n"), "no body: {elsewhere}");
    }

    #[test]
    fn another_method_is_told_which_are_allowed() {
        let post = answer("POST /metrics HTTP/1.1\r\n\r\n");
        assert!(
            post.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{post}"
        );
        assert!(post.contains("\r\nAllow: GET, HEAD\r\n"), "{post}");
    }

    /// Connections that sent half a request fill the table: a newcomer's
    /// whole request is answered on arrival, and they keep their slots.
    #[test]
    fn a_newcomer_is_answered_when_slow_connections_fill_the_table() {
        let mut endpoint = Endpoint::new();
        let _slow = fill(&mut endpoint, "GET /metr");
        let newcomer = endpoint.client(GET);
        endpoint.until(|_| heard_from(&newcomer));
        let answer = read_all(newcomer);
        assert!(answered_with_the_page(&answer), "{answer}");
        assert_eq!(endpoint.scrape.connections.len(), MAX_CONNECTIONS);
        assert_eq!(endpoint.scrape.refused, 0);
    }

    /// The table is full and newcomers have sent nothing yet: each takes
    /// the slot of the connection whose bytes moved least recently, so a
    /// newcomer outlives older connections; its request is answered when
    /// it comes.
    #[test]
    fn the_connection_idle_longest_makes_room() {
        let mut endpoint = Endpoint::new();
        let mut clients = fill(&mut endpoint, "G");
        // The first moves again: the second is now idle longest.
        clients[0].write_all(b"E").unwrap();
        endpoint.until(|scrape| scrape.connections.values().any(|c| c.request == b"GE"));
        let first = endpoint.client("");
        endpoint.until(|scrape| scrape.refused == 1);
        let second = endpoint.client("");
        endpoint.until(|scrape| scrape.refused == 2);
        for (n, mut client) in clients.into_iter().enumerate() {
            if n == 1 || n == 2 {
                let read = client.read(&mut [0]).ok();
                assert_eq!(read, Some(0), "client {n} should be closed");
            } else {
                assert!(!heard_from(&client), "client {n} should be open");
            }
        }
        assert!(!heard_from(&second), "the second newcomer should be open");
        (&first).write_all(GET.as_bytes()).unwrap();
        endpoint.until(|_| heard_from(&first));
        let answer = read_all(first);
        assert!(answered_with_the_page(&answer), "{answer}");
    }

    /// The connection idle longest is served once more before it is
    /// closed: its whole request may have come, its event not handled yet.
    #[test]
    fn the_idlest_is_answered_if_its_request_came() {
        let mut endpoint = Endpoint::new();
        let mut clients = fill(&mut endpoint, "GET /metrics");
        let rest = b" HTTP/1.1\r\n\r\n";
        clients[0].write_all(rest).unwrap();
        // The rest is in the endpoint's socket; the poll is not asked.
        let deadline = Instant::now() + PATIENCE;
        let mut peeked = [0; 64];
        while endpoint.scrape.connections.values().all(|c| {
            let len = c.stream.peek(&mut peeked).unwrap_or(0);
            len < rest.len()
        }) {
            assert!(Instant::now() < deadline, "the rest never came");
        }
        let _newcomer = endpoint.client("");
        let first = clients.remove(0);
        while !heard_from(&first) {
            assert!(Instant::now() < deadline, "the newcomer never came");
            let now = Instant::now();
            endpoint.scrape.on_ready(Token(0), now, |_| PAGE.to_owned());
        }
        let answer = read_all(first);
        assert!(answered_with_the_page(&answer), "{answer}");
        assert_eq!(endpoint.scrape.refused, 0);
    }

    /// A burst of connections is accepted a table's worth a turn, so that
    /// it cannot hold up the UDP socket; the rest are announced again and
    /// served in the next turns.
    #[test]
    fn a_burst_is_accepted_a_table_at_a_time() {
        let mut endpoint = Endpoint::new();
        let clients: Vec<Client> = (0..3 * MAX_CONNECTIONS)
            .map(|_| endpoint.client(GET))
            .collect();
        let now = Instant::now();
        endpoint.scrape.on_ready(Token(0), now, |_| PAGE.to_owned());
        assert_eq!(endpoint.scrape.turns, MAX_CONNECTIONS as u64, "accepts");
        endpoint.until(|_| clients.iter().all(heard_from));
        for client in clients {
            let answer = read_all(client);
            assert!(answered_with_the_page(&answer), "{answer}");
        }
    }
}
