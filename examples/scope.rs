//! The Reactor Scope over a recording (`reactor-server --record FILE`):
//!
//! ```sh
//! cargo run --example scope -- --export-perfetto FILE > trace.json
//! ```
//!
//! writes it as Chrome's Trace Event Format, which Perfetto's UI
//! (ui.perfetto.dev) and `chrome://tracing` open: a turn of the loop is a
//! slice on the Reactor's track, its wait and handlers nested inside, a
//! datagram read is linked by an arrow to those it caused, and the sessions
//! online are a counter (`reactor_hub::scope::perfetto`). The page that
//! replays a recording in the browser is still to come.

use std::path::PathBuf;
use std::process::ExitCode;

use reactor_hub::cli;
use reactor_hub::scope::{perfetto, recording};

const PROGRAM: &str = "scope";

fn parse_args(args: &[String]) -> Result<Option<PathBuf>, String> {
    let mut options = getopts::Options::new();
    options.optopt(
        "",
        "export-perfetto",
        "write the recording FILE as Chrome's Trace Event Format on stdout",
        "FILE",
    );
    let usage = "--export-perfetto FILE > trace.json\n\n\
                 FILE is a recording made with --record FILE.";
    let Some(matches) = cli::parse(PROGRAM, usage, options, args)? else {
        return Ok(None);
    };
    match matches.opt_str("export-perfetto") {
        Some(file) => Ok(Some(PathBuf::from(file))),
        None => Err("--export-perfetto FILE: the recording to export".into()),
    }
}

fn main() -> ExitCode {
    cli::main(PROGRAM, parse_args, |file| {
        let text = std::fs::read_to_string(&file)
            .map_err(|err| format!("cannot read {}: {err}", file.display()))?;
        let events = recording::read(&text);
        if events.is_empty() {
            return Err(format!("{}: no recorded event", file.display()));
        }
        print!("{}", perfetto::export(&events));
        Ok(())
    })
}
