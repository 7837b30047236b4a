use super::*;
use proptest::prelude::*;

fn token(s: &str) -> SessionToken {
    SessionToken::parse(s.as_bytes()).unwrap()
}

fn msg_id(s: &str) -> MsgId {
    MsgId::parse(s.as_bytes()).unwrap()
}

/// One message of every kind, with awkward bodies where a body is allowed.
fn every_kind() -> Vec<Message<'static>> {
    let t = token("aB3$%~");
    let m = msg_id("0123456789");
    vec![
        Message::Login(Login {
            from: "alice",
            password: b"wonder land!",
            reply_to: ReplyTo::Source,
        }),
        Message::Login(Login {
            from: "alice",
            password: b"pw",
            reply_to: ReplyTo::Addr("127.0.0.1:5000".parse().unwrap()),
        }),
        Message::Login(Login {
            from: "a.b_c-d",
            password: b"",
            reply_to: ReplyTo::SourceIpAt(40000),
        }),
        Message::Login(Login {
            from: "alice",
            password: b"pw",
            reply_to: ReplyTo::Addr("[::1]:7".parse().unwrap()),
        }),
        Message::Logoff(Logoff {
            from: "alice",
            token: t,
        }),
        Message::Chat(Chat {
            from: "alice",
            to: "bob",
            token: t,
            msg_id: m,
            body: b"hi #<tricky>-> body \xff\xfe",
        }),
        Message::Chat(Chat {
            from: "alice",
            to: "bob",
            token: t,
            msg_id: m,
            body: b"",
        }),
        Message::Receipt(Receipt {
            from: "bob",
            token: t,
            msg_id: m,
            body: b"Success: hi #<tricky>",
        }),
        Message::Success(Success {
            to: "alice",
            token: t,
        }),
        Message::PasswordMismatch(PasswordMismatch { to: "alice" }),
        Message::LogInAgain(LogInAgain { to: "alice" }),
        Message::Reply(Reply {
            to: "alice",
            token: t,
            msg_id: m,
            outcome: Outcome::Accepted(b"hello <b>#"),
        }),
        Message::Reply(Reply {
            to: "alice",
            token: t,
            msg_id: m,
            outcome: Outcome::TokenError,
        }),
        Message::Reply(Reply {
            to: "alice",
            token: t,
            msg_id: m,
            outcome: Outcome::DestinationOffline,
        }),
        Message::Reply(Reply {
            to: "alice",
            token: t,
            msg_id: m,
            outcome: Outcome::LogInAgain,
        }),
    ]
}

#[test]
fn every_kind_round_trips() {
    for message in every_kind() {
        let bytes = message.to_bytes();
        assert_eq!(message.encoded_len(), bytes.len(), "{message:?}");
        assert_eq!(
            parse(&bytes),
            Ok(message),
            "{}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

#[test]
fn encodes_the_contract_byte_for_byte() {
    let t = token("XYZ&*!");
    let m = msg_id("4821930475");
    let cases: Vec<(Message, &[u8])> = vec![
        (
            Message::Login(Login {
                from: "alice",
                password: b"secret",
                reply_to: ReplyTo::Addr("127.0.0.1:40000".parse().unwrap()),
            }),
            b"alice->server#login<secret><127.0.0.1><40000>",
        ),
        (
            Message::Chat(Chat {
                from: "alice",
                to: "bob",
                token: t,
                msg_id: m,
                body: b"hello there",
            }),
            b"alice->bob#<XYZ&*!><4821930475>hello there",
        ),
        (
            Message::Reply(Reply {
                to: "alice",
                token: t,
                msg_id: m,
                outcome: Outcome::Accepted(b"hello there"),
            }),
            b"server->alice#<XYZ&*!><4821930475>Success: hello there",
        ),
        (
            Message::Reply(Reply {
                to: "alice",
                token: t,
                msg_id: m,
                outcome: Outcome::DestinationOffline,
            }),
            b"server->alice#<XYZ&*!><4821930475>Error: destination offline!",
        ),
        (
            Message::Success(Success {
                to: "alice",
                token: t,
            }),
            b"server->alice#Success<XYZ&*!>",
        ),
        (
            Message::PasswordMismatch(PasswordMismatch { to: "alice" }),
            b"server->alice#Error: password does not match!",
        ),
        (
            Message::Logoff(Logoff {
                from: "alice",
                token: t,
            }),
            b"alice->server#logoff<XYZ&*!>",
        ),
    ];
    for (message, wire) in cases {
        assert_eq!(message.to_bytes(), wire);
    }
}

#[test]
fn a_message_ends_at_its_first_nul_and_loses_trailing_newlines() {
    let mut buffer = b"alice->server#login<pw>\r\n\0garbage after the text".to_vec();
    buffer.resize(MAX_DATAGRAM, 0xAA);
    assert_eq!(
        parse(&buffer),
        Ok(Message::Login(Login {
            from: "alice",
            password: b"pw",
            reply_to: ReplyTo::Source
        }))
    );
    assert_eq!(frame(b"a\n\r\n"), b"a");
    assert_eq!(frame(b"\0a"), b"");
}

#[test]
fn a_body_may_hold_the_separators() {
    let wire = b"alice->bob#<abcdef><0123456789>x->y#<z>#<>";
    match parse(wire) {
        Ok(Message::Chat(Chat { body, .. })) => assert_eq!(body, b"x->y#<z>#<>"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn ids_may_hold_dashes_before_the_arrow() {
    match parse(b"a-->b-#<abcdef><0123456789>x") {
        Ok(Message::Chat(Chat { from, to, .. })) => assert_eq!((from, to), ("a-", "b-")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn login_address_forms() {
    let source: SocketAddr = "10.0.0.9:1234".parse().unwrap();
    let cases: &[(&[u8], Option<SocketAddr>)] = &[
        (b"a->server#login<p>", Some(source)),
        (
            b"a->server#login<p><0.0.0.0><5000>",
            Some("10.0.0.9:5000".parse().unwrap()),
        ),
        (
            b"a->server#login<p><127.0.0.1><5000>",
            Some("127.0.0.1:5000".parse().unwrap()),
        ),
        // An IPv4 socket cannot send to an IPv6 address...
        (b"x->server#login<><::1><1>", None),
        // ...unless it is an IPv4 address in IPv6 clothing.
        (
            b"a->server#login<p><::ffff:127.0.0.1><5000>",
            Some("127.0.0.1:5000".parse().unwrap()),
        ),
    ];
    for (wire, expected) in cases {
        match parse(wire) {
            Ok(Message::Login(Login { reply_to, .. })) => {
                assert_eq!(reply_to.resolve(source), *expected)
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn an_ipv6_socket_reaches_ipv4_addresses_in_their_mapped_form() {
    let source: SocketAddr = "[::1]:1234".parse().unwrap();
    let cases: &[(&[u8], SocketAddr)] = &[
        (
            b"a->server#login<p><::1><5000>",
            "[::1]:5000".parse().unwrap(),
        ),
        (
            b"a->server#login<p><127.0.0.1><5000>",
            "[::ffff:127.0.0.1]:5000".parse().unwrap(),
        ),
    ];
    for (wire, expected) in cases {
        match parse(wire) {
            Ok(Message::Login(Login { reply_to, .. })) => {
                assert_eq!(reply_to.resolve(source), Some(*expected))
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn malformed_inputs_are_typed_errors() {
    let long = vec![b'a'; MAX_DATAGRAM + 1];
    let cases: &[(&[u8], ParseError)] = &[
        (b"", ParseError::MissingArrow),
        (b"hello", ParseError::MissingArrow),
        (b"alice->bob", ParseError::MissingHash),
        (b"->bob#x", ParseError::BadId),
        (b"al ice->bob#x", ParseError::BadId),
        (b"alice->#x", ParseError::BadId),
        (b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa->b#x", ParseError::BadId),
        (b"server->server#x", ParseError::ServerToServer),
        (b"alice->bob#hello", ParseError::BadToken),
        (b"alice->bob#<abc><0123456789>x", ParseError::BadToken),
        (b"alice->bob#<abc de><0123456789>x", ParseError::BadToken),
        (b"alice->bob#<abcdef><012345678>x", ParseError::BadMsgId),
        (b"alice->bob#<abcdef>0123456789x", ParseError::BadMsgId),
        (b"alice->server#login", ParseError::BadLogin),
        (b"alice->server#login<pw", ParseError::BadLogin),
        (b"alice->server#login<p<w>", ParseError::BadLogin),
        (b"alice->server#login<pw><127.0.0.1>", ParseError::BadLogin),
        (
            b"alice->server#login<pw><localhost><80>",
            ParseError::BadLogin,
        ),
        (
            b"alice->server#login<pw><127.0.0.1><0>",
            ParseError::BadLogin,
        ),
        (
            b"alice->server#login<pw><127.0.0.1><70000>",
            ParseError::BadLogin,
        ),
        (
            b"alice->server#login<pw><127.0.0.1><80>x",
            ParseError::BadLogin,
        ),
        (b"alice->server#logoff", ParseError::BadToken),
        (b"alice->server#logoff<abcdef>x", ParseError::UnknownRequest),
        (b"alice->server#hello", ParseError::UnknownRequest),
        (b"server->alice#Success", ParseError::BadToken),
        (b"server->alice#Error: who knows", ParseError::BadToken),
        (
            b"server->alice#<abcdef><0123456789>Fine",
            ParseError::UnknownReply,
        ),
        (&long, ParseError::TooLong(MAX_DATAGRAM + 1)),
    ];
    for (wire, expected) in cases {
        assert_eq!(
            parse(wire),
            Err(*expected),
            "{}",
            String::from_utf8_lossy(wire)
        );
    }
}

/// Other hubs' tokens and error texts: the client reads them, the hub's
/// own parser does not.
#[test]
fn the_client_reads_other_hubs_the_hub_holds_everyone_to_the_contract() {
    let token = SessionToken(*b"a #<>x");
    let cases: [(&[u8], Message); 3] = [
        (
            b"server->alice#Success<a #<>x>",
            Message::Success(Success { to: "alice", token }),
        ),
        (
            b"server->alice#<a #<>x><0123456789>ERROR: Destination offline.\n",
            Message::Reply(Reply {
                to: "alice",
                token,
                msg_id: msg_id("0123456789"),
                outcome: Outcome::OtherError(b"ERROR: Destination offline."),
            }),
        ),
        (
            b"bob->alice#<a #<>x><0123456789>hi",
            Message::Chat(Chat {
                from: "bob",
                to: "alice",
                token,
                msg_id: msg_id("0123456789"),
                body: b"hi",
            }),
        ),
    ];
    for (datagram, message) in cases {
        assert_eq!(parse_from_any_hub(datagram), Ok(message));
        assert!(parse(datagram).is_err(), "{}", datagram.escape_ascii());
    }
    assert_eq!(
        parse(b"server->alice#<abcdef><0123456789>Error: destination offline"),
        Err(ParseError::UnknownReply)
    );
    // Neither reads a reply that is no success and no error.
    assert_eq!(
        parse_from_any_hub(b"server->alice#<abcdef><0123456789>Delivered"),
        Err(ParseError::UnknownReply)
    );
    // A request to the hub is read by the contract alone.
    assert_eq!(
        parse_from_any_hub(b"alice->server#logoff<a #<>x>"),
        Err(ParseError::BadToken)
    );
}

#[test]
fn generated_tokens_and_ids_parse_back() {
    let mut rng = rand::rng();
    for _ in 0..1000 {
        let t = SessionToken::generate(&mut rng);
        assert!(t
            .as_str()
            .bytes()
            .all(|b| SessionToken::ALPHABET.contains(&b)));
        assert_eq!(SessionToken::parse(t.as_str().as_bytes()), Some(t));
        let m = MsgId::random(&mut rng);
        assert!(m.as_str().bytes().all(|b| b.is_ascii_digit()));
    }
}

#[test]
fn token_comparison() {
    assert!(token("abcdef").matches(&token("abcdef")));
    assert!(!token("abcdef").matches(&token("abcdeg")));
    assert!(!constant_time_eq(b"abc", b"abcd"));
}

/// The figure of docs/security.md: a million seeded datagrams, most of them a valid message
/// of some kind with a few bytes changed, the rest random bytes.
#[test]
#[ignore = "a million cases: run with --release -- --ignored"]
fn a_million_mutated_datagrams_parse_without_panic() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let valid: Vec<Vec<u8>> = every_kind().iter().map(Message::to_bytes).collect();
    let mut parsed = 0;
    for _ in 0..1_000_000 {
        let datagram: Vec<u8> = if rng.random_bool(0.2) {
            (0..rng.random_range(0..1100))
                .map(|_| rng.random())
                .collect()
        } else {
            let mut datagram = valid[rng.random_range(0..valid.len())].clone();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..datagram.len());
                match rng.random_range(0..3) {
                    0 => datagram[at] = rng.random(),
                    1 => drop(datagram.remove(at)),
                    _ => datagram.insert(at, b"<>#-\0\n"[rng.random_range(0..6)]),
                }
            }
            datagram
        };
        if let Ok(message) = parse(&datagram) {
            parsed += 1;
            let bytes = message.to_bytes();
            assert_eq!(parse(&bytes), Ok(message));
        }
    }
    // Mutations keep many datagrams valid: the parser's accepting paths ran too.
    assert!(parsed > 50_000, "{parsed}");
}

/// Datagrams close to the grammar: most are malformed in one place, and
/// some are whole messages (fields of a token's and an id's length).
const NEAR_MISS: &str = "[a-z]{1,3}(->|->|->|-)(server|bob|)(#|#|#|)(login|logoff|Success|)\
                         (<[!-;=?-~]{6}>|<[!-;=?-~]{10}>|<[^>]{0,12}>){0,2}(|[ -~]{1,20})";

/// The guard on the property below: its strategy, sampled with a fixed
/// seed, does make messages that parse, so its round-trip branch runs.
#[test]
fn near_misses_include_messages_that_parse() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let strategy = proptest::string::string_regex(NEAR_MISS).unwrap();
    let mut runner = TestRunner::deterministic();
    let parsed = (0..10_000)
        .filter(|_| {
            let text = strategy.new_tree(&mut runner).unwrap().current();
            parse(text.as_bytes()).is_ok()
        })
        .count();
    assert!(parsed >= 100, "only {parsed} of 10,000 parse");
}

proptest! {
    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1100)) {
        let strict = parse(&bytes);
        let generous = parse_from_any_hub(&bytes);
        // What the contract accepts, the client's reading accepts the same.
        if strict.is_ok() {
            prop_assert_eq!(generous, strict);
        }
    }

    #[test]
    fn parse_never_panics_on_near_misses(text in NEAR_MISS) {
        if let Ok(message) = parse(text.as_bytes()) {
            // Whatever parses, encodes back to something that parses the same.
            let bytes = message.to_bytes();
            prop_assert_eq!(parse(&bytes), Ok(message));
        }
    }

    #[test]
    fn chat_bodies_round_trip(body in proptest::collection::vec(any::<u8>().prop_filter("no NUL", |b| *b != 0), 0..900)) {
        let message = Message::Chat(Chat {
            from: "alice", to: "bob", token: token("abcdef"), msg_id: msg_id("0123456789"), body: &body,
        });
        let bytes = message.to_bytes();
        prop_assert_eq!(message.encoded_len(), bytes.len());
        let trimmed = frame(&body);
        match parse(&bytes) {
            Ok(Message::Chat(Chat { body: parsed, .. })) => prop_assert_eq!(parsed, trimmed),
            other => prop_assert!(false, "{:?}", other),
        }
    }
}
