//! Shared test helpers: start the real server in-process on 127.0.0.1:0 (own thread, own actix
//! System) on SQLite in a temporary directory or on a fresh PostgreSQL database, an HTTP client,
//! and the `purse` binary for CLI checks against the same database.
//!
//! PostgreSQL: `PURSE_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) names
//! the admin connection; each test creates `purse_test_<random>` and drops it afterwards. When
//! PostgreSQL is unreachable the test prints why and passes, unless `CI=true`, where it fails.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use purse_server::app::{RunOptions, Server};
use purse_server::config::Config;
use serde_json::Value;
use sqlx::Connection;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

/// How long [`TestServer::stop`] waits for the server thread to end.
const SERVER_STOP_WAIT: Duration = Duration::from_secs(60);

/// A server running for one test; stopped (and its PostgreSQL database dropped) on drop.
pub struct TestServer {
    pub base: String,
    pub database_url: String,
    pub backend: Backend,
    pub data_dir: PathBuf,
    handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Dropped after the server stopped (field order): the PostgreSQL database goes last.
    db: TestDb,
}

fn pg_admin_url() -> String {
    std::env::var("PURSE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Runs `future` to completion on a fresh runtime in its own thread, so it works from inside the
/// test's own runtime (and from `Drop`).
pub fn block_on<F>(future: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a tokio runtime")
                    .block_on(future)
            })
            .join()
            .expect("helper thread")
    })
}

/// Creates a fresh PostgreSQL database; `None` (with the reason printed) when PostgreSQL cannot be
/// reached outside CI. Panics under `CI=true`.
pub fn create_pg_database(test: &str) -> Option<(String, String)> {
    let admin = pg_admin_url();
    let name = format!(
        "purse_test_{}",
        purse_server::ids::new_id(purse_server::ids::IdKind::Session).trim_start_matches("ses_")
    );
    let created = block_on(async {
        let mut conn =
            tokio::time::timeout(Duration::from_secs(3), sqlx::PgConnection::connect(&admin))
                .await
                .map_err(|_| "timed out connecting".to_owned())?
                .map_err(|err| err.to_string())?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .map_err(|err| err.to_string())?;
        conn.close().await.map_err(|err| err.to_string())
    });
    match created {
        Ok(()) => {
            let (prefix, _) = admin.rsplit_once('/').expect("URL with a database");
            Some((format!("{prefix}/{name}"), name))
        }
        Err(reason) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{test}: PostgreSQL at {admin} is required when CI=true: {reason}");
            }
            eprintln!("SKIPPED {test} on PostgreSQL: {admin} unreachable ({reason})");
            None
        }
    }
}

pub fn drop_pg_database(name: &str) {
    let admin = pg_admin_url();
    let result = block_on(async {
        let mut conn = sqlx::PgConnection::connect(&admin).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await?;
        conn.close().await
    });
    if let Err(err) = result {
        eprintln!("could not drop test database {name}: {err}");
    }
}

/// A database for one test (SQLite in a temporary directory, or a fresh PostgreSQL database that
/// is dropped afterwards), with the test configuration pointing at it.
pub struct TestDb {
    pub config: Config,
    pub backend: Backend,
    pg_database: Option<String>,
    dir: tempfile::TempDir,
}

impl TestDb {
    /// `None` when PostgreSQL is unreachable outside CI (the reason is printed).
    pub fn new(backend: Backend, test: &str) -> Option<TestDb> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut config = Config {
            listen: "127.0.0.1:0".to_owned(),
            data_dir: dir.path().join("data"),
            http_workers: 2,
            db_pool_max: 4,
            shutdown_timeout_ms: 5_000,
            ..Config::default()
        };
        let pg_database = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let (url, name) = create_pg_database(test)?;
                config.database_url = Some(url);
                Some(name)
            }
        };
        Some(TestDb {
            config,
            backend,
            pg_database,
            dir,
        })
    }

    pub fn database_url(&self) -> String {
        self.config.database_url()
    }

    /// Connects and migrates, as the server does at start.
    pub async fn open(&self) -> purse_server::db::Db {
        purse_server::db::Db::open(&self.config)
            .await
            .expect("test database opens")
    }

    /// Runs the `purse` binary against this database.
    pub fn purse(&self, args: &[&str]) -> CliOutput {
        run_purse(args, &self.database_url(), &self.config.data_dir)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_database {
            drop_pg_database(name);
        }
        let _ = &self.dir;
    }
}

impl TestServer {
    /// Starts a server with the test defaults; `None` when the backend is unavailable (see module
    /// docs).
    pub fn start(backend: Backend, test: &str) -> Option<TestServer> {
        TestServer::start_with(backend, test, |_| {})
    }

    /// Starts a server after `adjust` changed the test configuration.
    pub fn start_with(
        backend: Backend,
        test: &str,
        adjust: impl FnOnce(&mut Config),
    ) -> Option<TestServer> {
        let mut db = TestDb::new(backend, test)?;
        adjust(&mut db.config);
        TestServer::start_on(db, test)
    }

    /// Starts a server on a prepared database (which it owns from now on).
    pub fn start_on(db: TestDb, test: &str) -> Option<TestServer> {
        let config = db.config.clone();
        let database_url = config.database_url();
        let data_dir = config.data_dir.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                match Server::start(
                    config,
                    RunOptions {
                        handle_signals: false,
                    },
                )
                .await
                {
                    Ok(server) => {
                        let _ = tx.send(Ok((server.addr(), server.handle())));
                        server.run().await.expect("server ran");
                    }
                    Err(err) => {
                        let _ = tx.send(Err(err.to_string()));
                    }
                }
            })
        });
        let (addr, handle) = rx
            .recv()
            .expect("server thread answered")
            .unwrap_or_else(|err| panic!("{test}: server did not start: {err}"));
        Some(TestServer {
            base: format!("http://{addr}"),
            database_url,
            backend: db.backend,
            data_dir,
            handle,
            thread: Some(thread),
            db,
        })
    }

    /// A second server process on this server's database (same configuration): the first one
    /// owns the database and drops it; this one must be dropped first.
    pub fn second(&self, test: &str) -> TestServer {
        let db = TestDb {
            config: self.db.config.clone(),
            backend: self.backend,
            pg_database: None,
            dir: tempfile::tempdir().expect("temporary directory"),
        };
        TestServer::start_on(db, test).expect("a second server on a database that exists")
    }

    /// The database this server runs on.
    pub fn db(&self) -> &TestDb {
        &self.db
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server gracefully and waits for it (the database stays until drop).
    pub fn stop(&mut self) {
        // `stop` sends the command at once; the returned future only reports completion, which
        // joining the server thread waits for instead.
        drop(self.handle.stop(true));
        if let Some(thread) = self.thread.take() {
            // Bounded: once in a CI run (2026-12-02, `model::model_sqlite`) a graceful stop never
            // returned (the server future stayed pending after every check had passed; cause not
            // found yet, see docs/reliability.md). A stuck teardown must not hang the suite for
            // good: it is reported loudly and the thread is left behind.
            let deadline = std::time::Instant::now() + SERVER_STOP_WAIT;
            while !thread.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if thread.is_finished() {
                thread.join().expect("server thread ended cleanly");
            } else {
                eprintln!(
                    "WARNING: the test server at {} did not stop within {} s; left running",
                    self.base,
                    SERVER_STOP_WAIT.as_secs()
                );
            }
        }
    }

    /// Runs the `purse` binary against this server's database and data directory.
    pub fn purse(&self, args: &[&str]) -> CliOutput {
        run_purse(args, &self.database_url, &self.data_dir)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Stop before `db` drops its PostgreSQL database.
        self.stop();
    }
}

pub struct CliOutput {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run_purse(args: &[&str], database_url: &str, data_dir: &Path) -> CliOutput {
    let output = Command::new(env!("CARGO_BIN_EXE_purse"))
        .args(args)
        .env("PURSE_DATABASE_URL", database_url)
        .env("PURSE_DATA_DIR", data_dir)
        .env_remove("PURSE_ADMIN_TOKEN")
        .output()
        .expect("run purse");
    CliOutput {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// An HTTP client with timeouts suited to tests.
pub fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish()
}

/// A response: status, content type and body parsed as JSON (Null when it is not JSON).
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub text: String,
    pub json: Value,
}

pub async fn read(
    response: awc::ClientResponse<
        impl futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>>
        + Unpin,
    >,
) -> Reply {
    let mut response = response;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = response
        .body()
        .limit(16 * 1024 * 1024)
        .await
        .expect("read body");
    let text = String::from_utf8_lossy(&body).into_owned();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        content_type,
        text,
        json,
    }
}

pub async fn get(url: &str) -> Reply {
    read(client().get(url).send().await.expect("GET sent")).await
}

pub async fn post_json(url: &str, body: &Value) -> Reply {
    read(client().post(url).send_json(body).await.expect("POST sent")).await
}

/// Asserts that `reply` is a problem+json with `status` and `code`.
pub fn assert_problem(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "status of {}", reply.text);
    assert!(
        reply.content_type.starts_with("application/problem+json"),
        "content type {} of {}",
        reply.content_type,
        reply.text
    );
    assert_eq!(reply.json["code"], code, "code of {}", reply.text);
    assert_eq!(
        reply.json["status"], status,
        "status field of {}",
        reply.text
    );
    assert!(reply.json["title"].is_string(), "title of {}", reply.text);
    assert!(reply.json["type"].is_string(), "type of {}", reply.text);
}

/// A `purse serve` process (the real binary) on a given database, data directory and port, with
/// its log in `<data dir>/../serve-<port>.log`. Killed with SIGKILL on drop.
pub struct ServeProcess {
    child: std::process::Child,
    pub base: String,
    pub port: u16,
}

/// A free loopback port (the kernel's choice, released at once so `purse serve` can bind it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

impl ServeProcess {
    /// Starts `purse serve` on `db` at `port` with `env` added, and waits until `/readyz`
    /// answers 200 (at most 60 s).
    pub async fn start(db: &TestDb, port: u16, env: &[(&str, &str)]) -> ServeProcess {
        let log_path = db
            .config
            .data_dir
            .parent()
            .expect("data dir has a parent")
            .join(format!("serve-{port}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_purse"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PURSE_") {
                command.env_remove(key);
            }
        }
        let child = command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("PURSE_DATABASE_URL", db.database_url())
            .env("PURSE_DATA_DIR", &db.config.data_dir)
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("spawn purse serve");
        let mut process = ServeProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
            port,
        };
        process.wait_ready(&log_path).await;
        process
    }

    async fn wait_ready(&mut self, log_path: &Path) {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(2))
            .finish();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                let log = std::fs::read_to_string(log_path).unwrap_or_default();
                panic!("purse serve exited early ({status}); log:\n{log}");
            }
            let ready = client.get(format!("{}/readyz", self.base)).send().await;
            if ready.is_ok_and(|response| response.status().as_u16() == 200) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "purse serve on port {} not ready after 60 s",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, then reap: nothing of the process survives but what it committed.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (graceful drain), then wait up to 30 s, then SIGKILL.
    pub fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill9();
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}
