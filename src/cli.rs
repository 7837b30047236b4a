//! The command-line conventions every program of the project keeps:
//! `--help` and `--version` print to stdout and exit 0; a usage error is one
//! line on stderr and exit 2; a failure at run time is one line on stderr and
//! exit 1, never a backtrace. A mistyped flag is answered with the nearest
//! one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use getopts::{Fail, Matches, Options};

/// Parses `args` against `options`, to which it adds `--help` and
/// `--version`. `Ok(None)` means one of those was answered and the program
/// is done; `Err` is a usage error, as is any argument that is not a flag.
pub fn parse(
    program: &str,
    usage: &str,
    options: Options,
    args: &[String],
) -> Result<Option<Matches>, String> {
    let matches = parse_with_operands(program, usage, options, args)?;
    if let Some(matches) = &matches {
        no_operands(matches)?;
    }
    Ok(matches)
}

/// A usage error if `matches` holds an argument that is not a flag.
pub fn no_operands(matches: &Matches) -> Result<(), String> {
    match matches.free.first() {
        Some(extra) => Err(format!("unexpected argument {extra:?}")),
        None => Ok(()),
    }
}

/// As [`parse`], but leaves the arguments that are not flags (`matches.free`)
/// to the caller, for a program that takes operands.
pub fn parse_with_operands(
    program: &str,
    usage: &str,
    mut options: Options,
    args: &[String],
) -> Result<Option<Matches>, String> {
    options
        .optflag("h", "help", "print this help and exit")
        .optflag("V", "version", "print the version and exit");
    let help = options.usage(&format!("Usage: {program} {usage}"));
    let matches = options.parse(args).map_err(|err| match err {
        Fail::UnrecognizedOption(name) => unknown_flag(&name, &help),
        other => other.to_string(),
    })?;
    if matches.opt_present("help") {
        print!("{help}");
        return Ok(None);
    }
    if matches.opt_present("version") {
        println!("{program} {}", env!("CARGO_PKG_VERSION"));
        return Ok(None);
    }
    Ok(Some(matches))
}

/// The usage error for a flag `help` does not name, with the one it names
/// that is nearest (at most two letters off).
fn unknown_flag(name: &str, help: &str) -> String {
    // getopts names the flag without its dashes: one for a letter.
    let typed = name.trim_start_matches('-');
    let name = match typed.chars().count() {
        1 => format!("-{typed}"),
        _ => format!("--{typed}"),
    };
    let nearest = help
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter_map(|word| word.strip_prefix("--"))
        .filter(|flag| !flag.is_empty())
        .map(|flag| (edit_distance(typed, flag), flag))
        .min();
    match nearest {
        Some((distance, flag)) if distance <= 2 => {
            format!("unknown flag {name} (did you mean --{flag}?)")
        }
        _ => format!("unknown flag {name}"),
    }
}

/// How many letters to insert, delete or change to make `a` into `b`
/// (Levenshtein's distance).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The port of `text`, or a usage error unless it is written `HOST:PORT`
/// (a host name or an address, then a port number), as `--flag` needs it.
pub fn host_port(flag: &str, text: &str) -> Result<u16, String> {
    if let Ok(addr) = text.parse::<std::net::SocketAddr>() {
        return Ok(addr.port());
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!(
            "--{flag}: {text:?} is not a HOST:PORT address (no port)"
        ));
    };
    match port.parse() {
        Ok(port) if !host.is_empty() => Ok(port),
        _ => Err(format!("--{flag}: {text:?} is not a HOST:PORT address")),
    }
}

/// Adds `--trace`, `--record FILE` and `--scope ADDR`, which both binaries
/// read as a [`Tracing`] and hand to `logging::init`.
pub fn trace_flag(options: &mut Options) {
    options
        .optflag(
            "",
            "trace",
            "log every Reactor event, datagram and state transition",
        )
        .optopt(
            "",
            "record",
            "write every trace event to FILE, a JSON object a line (at most 256 MiB)",
            "FILE",
        )
        .optopt(
            "",
            "scope",
            "serve the Reactor Scope, a page that shows the loop turn by turn, on this address",
            "ADDR",
        );
}

/// What `--trace`, `--record FILE` and `--scope ADDR` ask for.
#[derive(Clone, Debug, Default)]
pub struct Tracing {
    /// Trace lines on stderr.
    pub print: bool,
    /// The same events, to this file.
    pub record: Option<PathBuf>,
    /// The same events, to the Scope's pages served on this address.
    pub scope: Option<SocketAddr>,
}

impl Tracing {
    pub fn from(matches: &Matches) -> Result<Self, String> {
        Ok(Self {
            print: matches.opt_present("trace"),
            record: matches.opt_str("record").map(PathBuf::from),
            scope: optional_value(matches, "scope")?,
        })
    }

    /// Whether the state machines must report what the trace shows.
    pub fn any(&self) -> bool {
        self.print || self.record.is_some() || self.scope.is_some()
    }
}

/// The value of `--name`, parsed, or `default` when the flag is absent.
pub fn value<T: FromStr>(matches: &Matches, name: &str, default: T) -> Result<T, String> {
    Ok(optional_value(matches, name)?.unwrap_or(default))
}

/// The value of `--name`, parsed, if the flag is present.
pub fn optional_value<T: FromStr>(matches: &Matches, name: &str) -> Result<Option<T>, String> {
    matches
        .opt_str(name)
        .map(|text| {
            text.parse()
                .map_err(|_| format!("--{name}: {text:?} is not a valid value"))
        })
        .transpose()
}

/// Runs a program: its flags through `configure` (a usage error exits 2),
/// then `run` (an error exits 1, as one line on stderr).
pub fn main<C>(
    program: &str,
    configure: impl FnOnce(&[String]) -> Result<Option<C>, String>,
    run: impl FnOnce(C) -> Result<(), String>,
) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match configure(&args) {
        Ok(Some(config)) => config,
        Ok(None) => return ExitCode::SUCCESS,
        Err(usage) => {
            eprintln!("{program}: {usage}; see {program} --help");
            return ExitCode::from(2);
        }
    };
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{program}: error: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mistyped_flag_is_answered_with_the_nearest() {
        let help = "Usage: x [--server ADDR]\n    --server ADDR  the hub\n    --listen ADDR\n";
        assert_eq!(
            unknown_flag("sever", help),
            "unknown flag --sever (did you mean --server?)"
        );
        assert_eq!(
            unknown_flag("lisen", help),
            "unknown flag --lisen (did you mean --listen?)"
        );
        assert_eq!(unknown_flag("bogus", help), "unknown flag --bogus");
        assert_eq!(unknown_flag("q", help), "unknown flag -q");
    }

    #[test]
    fn edit_distance_counts_insertions_deletions_and_changes() {
        assert_eq!(edit_distance("sever", "server"), 1);
        assert_eq!(edit_distance("server", "sever"), 1);
        assert_eq!(edit_distance("trace", "tarce"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn host_port_wants_a_port() {
        assert_eq!(host_port("bind", "127.0.0.1:0"), Ok(0));
        assert_eq!(host_port("bind", "localhost:32000"), Ok(32000));
        assert_eq!(host_port("bind", "[::1]:9"), Ok(9));
        let no_port = host_port("bind", "127.0.0.1").unwrap_err();
        assert_eq!(
            no_port,
            r#"--bind: "127.0.0.1" is not a HOST:PORT address (no port)"#
        );
        assert!(host_port("bind", ":80").is_err());
        assert!(host_port("bind", "host:http").is_err());
    }
}
