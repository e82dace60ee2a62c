//! A real `purse serve` for the full-flow binding tests: the workspace's `purse` binary (built by
//! `cargo build --bin purse` once per test run, or taken from env `PURSE_BIN`), on SQLite in a
//! temporary directory, listening on a free loopback port, with an operator token so the tests
//! can fund wallets. Stopped (killed) when dropped; `purse ledger verify` checks its database.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

use crate::util::{assert_success, repo};

/// How long the server may take to start (migrations on a fresh SQLite file).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The `purse` binary of this workspace.
pub fn purse_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("PURSE_BIN") {
            return PathBuf::from(bin);
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = Command::new(cargo)
            .current_dir(repo())
            .args(["build", "--locked", "--bin", "purse"])
            .output()
            .expect("cargo runs");
        assert_success("cargo build --bin purse", &output);
        // target/<profile>/deps/ holds the cdylib of this test run; the binary is one level up.
        let bin = crate::util::cdylib_dir()
            .parent()
            .expect("deps/ has a parent")
            .join("purse");
        assert!(bin.is_file(), "no purse binary at {}", bin.display());
        bin
    })
}

pub struct PurseServer {
    child: Child,
    pub url: String,
    pub admin_token: String,
    pub data_dir: tempfile::TempDir,
}

impl PurseServer {
    pub fn start() -> PurseServer {
        let data_dir = tempfile::tempdir().unwrap();
        let admin_token = format!("test-operator-token-{:020}", std::process::id());
        let mut child = Command::new(purse_bin())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PURSE_DATA_DIR", data_dir.path())
            .env("PURSE_ADMIN_TOKEN", &admin_token)
            .env("PURSE_HTTP_WORKERS", "2")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("purse serve starts");
        // The address is in the "listening on http://…" log line; the rest of the log is drained
        // on a thread so the server never blocks on a full pipe.
        let stderr = child.stderr.take().unwrap();
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sender = Some(sender);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let Some(at) = line.find("listening on http://") else {
                    continue;
                };
                if let Some(sender) = sender.take() {
                    let url = line[at + "listening on ".len()..]
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let _ = sender.send(url);
                }
            }
        });
        let url = match receiver.recv_timeout(START_TIMEOUT) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!("purse serve did not report its address (exit: {status:?})");
            }
        };
        PurseServer {
            child,
            url,
            admin_token,
            data_dir,
        }
    }

    /// `purse ledger verify` over the server's database: the hash chain and every balance.
    pub fn verify_ledger(&self) {
        let output = Command::new(purse_bin())
            .args(["ledger", "verify"])
            .env("PURSE_DATA_DIR", self.data_dir.path())
            .output()
            .expect("purse ledger verify runs");
        assert_success("purse ledger verify", &output);
    }
}

impl Drop for PurseServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
