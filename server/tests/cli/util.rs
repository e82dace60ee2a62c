//! Shared helpers for the CLI tests: run the real `purse` binary and read its JSON answer. It never
//! fakes the binary; every test here drives the executable cargo built for this test run.
//!
//! ```text
//! let out = purse(["keys", "show", path]).run();
//! let json = out.ok();                       // exit 0, stdout is one JSON value
//! purse(["keys", "show", "nope"]).run().fails("key_file_unreadable"); // exit 1, error.code
//! ```

#![allow(dead_code)] // shared by every CLI test module; not all of them use every helper

use std::ffi::OsStr;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

/// A `purse` invocation being prepared. Environment variables starting with `PURSE_` are removed
/// from the child so the developer's shell cannot change a test's outcome; set them with `env`.
pub struct Purse {
    cmd: Command,
    stdin: Option<Vec<u8>>,
}

/// Starts preparing `purse <args>`.
pub fn purse<I, S>(args: I) -> Purse
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_purse"));
    cmd.args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PURSE_") {
            cmd.env_remove(key);
        }
    }
    Purse { cmd, stdin: None }
}

impl Purse {
    /// Feeds `input` on stdin (otherwise stdin is empty, so a command can never wait for input).
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Purse {
        self.stdin = Some(input.into());
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Purse {
        self.cmd.env(key, value);
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<std::path::Path>) -> Purse {
        self.cmd.current_dir(dir);
        self
    }

    /// Runs the command to completion and captures everything it printed.
    pub fn run(mut self) -> Output {
        self.cmd
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.cmd.spawn().expect("spawn the purse binary");
        if let Some(input) = self.stdin.take() {
            let mut pipe = child.stdin.take().expect("stdin is piped");
            // A command may exit before reading everything (that is its right): ignore EPIPE.
            let _ = pipe.write_all(&input);
        }
        let out = child.wait_with_output().expect("wait for the purse binary");
        Output {
            status: out.status.code(),
            stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
        }
    }
}

/// What one `purse` run did.
#[derive(Debug)]
pub struct Output {
    /// `None` when the process was killed by a signal (a crash, which every helper here rejects).
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Stdout parsed as exactly one JSON value (surrounding whitespace allowed).
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}): {self:#?}"))
    }

    /// Asserts exit status 0 and returns stdout as JSON.
    pub fn ok(&self) -> Value {
        assert_eq!(self.status, Some(0), "expected success: {self:#?}");
        self.json()
    }

    /// Asserts exit status 1 and a JSON answer on stdout whose `error.code` is `code`; returns it.
    pub fn fails(&self, code: &str) -> Value {
        assert_eq!(self.status, Some(1), "expected exit status 1: {self:#?}");
        let json = self.json();
        assert_eq!(json["error"]["code"], code, "unexpected error: {self:#?}");
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "error without a message: {self:#?}"
        );
        json
    }
}

/// A test that needs something outside Rust (Node.js and the npm packages of `tests/node`) calls
/// this when it is missing, then returns: it says why the test checks nothing, or fails when env
/// `CI=true`, where every suite is required. The note goes straight to stderr so it shows in a
/// normal `cargo test` run (libtest only captures `print!`/`eprint!`).
pub fn missing_prerequisite(why: &str) {
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("{why}: required because CI=true (scripts/install-test-deps installs it)");
    }
    let _ = writeln!(
        std::io::stderr(),
        "note: test skipped: {why} (run scripts/install-test-deps; with CI=true this fails)"
    );
}
