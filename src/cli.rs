//! The command-line conventions every program of the project keeps:
//! `--help` and `--version` print to stdout and exit 0; a usage error is one
//! line on stderr and exit 2; a failure at run time is one line on stderr and
//! exit 1, never a backtrace.

use std::process::ExitCode;
use std::str::FromStr;

use getopts::{Matches, Options};

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
    let matches = options.parse(args).map_err(|err| err.to_string())?;
    if matches.opt_present("help") {
        print!("{}", options.usage(&format!("Usage: {program} {usage}")));
        return Ok(None);
    }
    if matches.opt_present("version") {
        println!("{program} {}", env!("CARGO_PKG_VERSION"));
        return Ok(None);
    }
    Ok(Some(matches))
}

/// Adds `--trace`, which both binaries read as `logging::init(.., trace)`.
pub fn trace_flag(options: &mut Options) {
    options.optflag(
        "",
        "trace",
        "log every Reactor event, datagram and state transition",
    );
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
            eprintln!("{program}: {usage}\nTry '{program} --help'.");
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
