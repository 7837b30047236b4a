//! `GET /metrics` over HTTP, on the hub's own Reactor: a listening TCP
//! socket and its connections are sources beside the UDP socket, and no
//! scrape may stall the hub. `HEAD` gets GET's answer without its body:
//! load balancers and Prometheus probe with it.
//!
//! Everything is bounded: at most [`MAX_CONNECTIONS`] connections at once
//! (a further one is closed on arrival), a request larger than
//! [`MAX_REQUEST`] bytes or slower than [`PATIENCE`] is dropped, and a
//! connection is closed once its one answer is written. Requests are parsed
//! with `httparse`; reads and writes go until `WouldBlock`, as everywhere
//! on the Reactor.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use super::exposition::Format;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 4;
/// The largest request read; a scraper's is a few hundred bytes.
pub const MAX_REQUEST: usize = 4096;
/// How long a connection may take from accept to its answer written.
pub const PATIENCE: Duration = Duration::from_secs(1);

/// One connection: what it sent so far, then the answer being written.
struct Connection {
    stream: TcpStream,
    deadline: Instant,
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
    registry: Registry,
    /// Connections closed unanswered: too many, too big, too slow, or broken.
    pub refused: u64,
}

/// What a connection is to do after an event.
enum Next {
    Wait,
    Close,
}

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
    /// the metrics page, in a format, when a request asks for it.
    pub fn on_ready(&mut self, token: Token, now: Instant, page: impl FnOnce(Format) -> String) {
        if token == self.listener_token {
            return self.accept(now);
        }
        let Some(connection) = self.connections.get_mut(&token) else {
            return;
        };
        let next = match connection.answer {
            Some(_) => write_answer(connection),
            None => read_request(connection, page),
        };
        match next {
            Next::Wait => {}
            Next::Close => self.close(token),
        }
    }

    /// Accepts until `WouldBlock`; past [`MAX_CONNECTIONS`] a connection is
    /// closed at once.
    fn accept(&mut self, now: Instant) {
        loop {
            let mut stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                // ECONNABORTED, EMFILE, ...: this one connection is lost.
                Err(err) => {
                    log::debug!("metrics: accept failed: {err}");
                    return;
                }
            };
            let Some(token) = self.free_token() else {
                self.refused += 1;
                continue; // dropping the stream closes it
            };
            let interest = Interest::READABLE | Interest::WRITABLE;
            if self
                .registry
                .register(&mut stream, token, interest)
                .is_err()
            {
                self.refused += 1;
                continue;
            }
            let connection = Connection {
                stream,
                deadline: now + PATIENCE,
                request: Vec::new(),
                answer: None,
            };
            self.connections.insert(token, connection);
        }
    }

    fn free_token(&self) -> Option<Token> {
        (self.first_connection..self.first_connection + MAX_CONNECTIONS)
            .map(Token)
            .find(|token| !self.connections.contains_key(token))
    }

    fn close(&mut self, token: Token) {
        if let Some(mut connection) = self.connections.remove(&token) {
            let _ = self.registry.deregister(&mut connection.stream);
        }
    }
}

/// Reads what the client sent, and once it is a whole request, prepares
/// the answer and starts writing it.
fn read_request(connection: &mut Connection, page: impl FnOnce(Format) -> String) -> Next {
    let mut chunk = [0; 1024];
    loop {
        match connection.stream.read(&mut chunk) {
            Ok(0) => return Next::Close,
            Ok(len) => {
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
    write_answer(connection)
}

/// Writes what is left of the answer; closes once it is all written.
fn write_answer(connection: &mut Connection) -> Next {
    let Some((answer, written)) = &mut connection.answer else {
        return Next::Wait;
    };
    while *written < answer.len() {
        match connection.stream.write(&answer[*written..]) {
            Ok(0) => return Next::Close,
            Ok(len) => *written += len,
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

    /// The whole answer a [`Scrape`] gives to `request`, over loopback.
    fn answer(request: &str) -> String {
        let mut poll = Poll::new().unwrap();
        let addr = "127.0.0.1:0".parse().unwrap();
        let mut scrape = Scrape::bind(addr, poll.registry(), Token(0), 1).unwrap();
        let mut client = Client::connect(scrape.local_addr().unwrap()).unwrap();
        client.write_all(request.as_bytes()).unwrap();
        let mut events = Events::with_capacity(8);
        let mut accepted = false;
        while !accepted || !scrape.connections.is_empty() {
            poll.poll(&mut events, Some(PATIENCE)).unwrap();
            assert!(!events.is_empty(), "no answer within {PATIENCE:?}");
            for event in &events {
                accepted |= event.token() == Token(0);
                scrape.on_ready(event.token(), Instant::now(), |_| PAGE.to_owned());
            }
        }
        let mut answer = String::new();
        client.read_to_string(&mut answer).unwrap();
        answer
    }

    #[test]
    fn head_gets_what_get_gets_but_the_body() {
        let get = answer("GET /metrics HTTP/1.1\r\n\r\n");
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
}
