//! `purse`: the Purse server and its command-line tools.
//!
//! Everything lives in the `purse_server` library (so tests can start the app in-process); this
//! file only parses the command line and maps the outcome to an exit status. Commands that print a
//! verdict (for example `purse qr decode`, `purse ledger verify`) return the exit status themselves.

use std::process::ExitCode;

use clap::Parser;
use purse_server::cli;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
