//! `purse`: the Purse server and its command-line tools.
//!
//! Every sub-command lives in its own module under `cli/`; this file only parses the command line
//! and maps the outcome to an exit status. Commands that print a verdict (for example
//! `purse qr decode`) return the exit status themselves.

mod cli;

use std::process::ExitCode;

use clap::Parser;

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
