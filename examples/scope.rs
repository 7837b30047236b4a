//! The Reactor Scope over a recording (`reactor-server --record FILE`, or
//! a simulation's, `tests/simulation.rs`):
//!
//! ```sh
//! cargo run --example scope -- FILE                  # the page, on http://127.0.0.1:9200/
//! cargo run --example scope -- --bind ADDR FILE      # elsewhere
//! cargo run --example scope -- --export-perfetto FILE > trace.json
//! ```
//!
//! The first serves the page that `--scope ADDR` serves live, with the
//! recording's events for its stream (`reactor_hub::scope::replay`: every
//! event of the file, not only the last 10,000). The
//! last writes the recording as Chrome's Trace Event Format, which
//! Perfetto's UI (ui.perfetto.dev) and `chrome://tracing` open: a turn of
//! the loop is a slice on the Reactor's track, its wait and handlers nested
//! inside, a datagram read is linked by an arrow to those it caused, and
//! the sessions online are a counter (`reactor_hub::scope::perfetto`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use reactor_hub::cli::{self, Tracing};
use reactor_hub::reactor::on_thread::Listening;
use reactor_hub::reactor::Reactor;
use reactor_hub::scope::replay::Replay;
use reactor_hub::scope::{perfetto, recording};

const PROGRAM: &str = "scope";

enum Command {
    Serve { file: PathBuf, bind: SocketAddr },
    Export(PathBuf),
}

fn parse_args(args: &[String]) -> Result<Option<Command>, String> {
    let mut options = getopts::Options::new();
    options
        .optopt(
            "",
            "bind",
            "serve the page on this address (default 127.0.0.1:9200)",
            "ADDR",
        )
        .optopt(
            "",
            "export-perfetto",
            "write the recording FILE as Chrome's Trace Event Format on stdout",
            "FILE",
        );
    let usage = "[--bind ADDR] FILE | --export-perfetto FILE > trace.json\n\n\
                 FILE is a recording made with --record FILE.";
    let Some(matches) = cli::parse_with_operands(PROGRAM, usage, options, args)? else {
        return Ok(None);
    };
    if let Some(file) = matches.opt_str("export-perfetto") {
        cli::no_operands(&matches)?;
        return Ok(Some(Command::Export(PathBuf::from(file))));
    }
    let [file] = matches.free.as_slice() else {
        return Err("name one recording FILE (made with --record FILE)".into());
    };
    let bind = cli::value(&matches, "bind", SocketAddr::from(([127, 0, 0, 1], 9200)))?;
    Ok(Some(Command::Serve {
        file: file.into(),
        bind,
    }))
}

/// The recording's events; says why there are none.
fn read(file: &PathBuf) -> Result<Vec<recording::Event>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|err| format!("cannot read {}: {err}", file.display()))?;
    let events = recording::read(&text);
    if events.is_empty() {
        return Err(format!("{}: no recorded event", file.display()));
    }
    Ok(events)
}

fn serve(file: PathBuf, bind: SocketAddr) -> Result<(), String> {
    let events = read(&file)?;
    let mut reactor = Reactor::new().map_err(|err| format!("cannot start the loop: {err}"))?;
    let mut replay = Replay::bind(&reactor, bind, &events)
        .map_err(|err| format!("cannot serve the page on {bind}: {err}"))?;
    let addr = replay.local_addr().map_err(|err| err.to_string())?;
    log::info!(
        "scope on http://{addr}/ ({} events of {})",
        events.len(),
        file.display()
    );
    reactor
        .run(&mut replay)
        .map_err(|err| format!("event loop failed: {err}"))
}

fn main() -> ExitCode {
    cli::main(PROGRAM, parse_args, |command| {
        reactor_hub::logging::init(PROGRAM, &Tracing::default())?;
        match command {
            Command::Serve { file, bind } => serve(file, bind),
            Command::Export(file) => {
                print!("{}", perfetto::export(&read(&file)?));
                Ok(())
            }
        }
    })
}
