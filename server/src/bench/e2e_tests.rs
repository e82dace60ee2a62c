//! The benches against a real server: the very app `purse serve` runs, in-process on
//! 127.0.0.1:0 over SQLite in a temporary folder, loaded over real HTTP. Short and small: these
//! check that the benches measure and verify, not how fast anything is.

use std::path::PathBuf;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use purse_core::money::Currency;

use super::actors::{self, Phase};
use super::setup::Funding;
use super::target::Target;
use super::{charges, transfers};
use crate::app::{RunOptions, Server};
use crate::config::Config;

const ADMIN_TOKEN: &str = "bench-test-operator-token-0123456789abcdef";

/// A server on its own thread and actix System; stopped on drop.
struct Running {
    target: Target,
    config: Config,
    handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Running {
    fn start(adjust: impl FnOnce(&mut Config)) -> Running {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let mut config = Config {
            listen: "127.0.0.1:0".to_owned(),
            data_dir: dir.path().join("data"),
            http_workers: 2,
            db_pool_max: 4,
            shutdown_timeout_ms: 5_000,
            ..Config::default()
        };
        adjust(&mut config);
        let server_config = config.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let server = Server::start(
                    server_config,
                    RunOptions {
                        handle_signals: false,
                    },
                )
                .await
                .expect("the server starts");
                tx.send((server.addr(), server.handle()))
                    .expect("test waits");
                server.run().await.expect("the server ran");
            })
        });
        let (addr, handle) = rx.recv().expect("the server thread answered");
        Running {
            target: Target::parse(&format!("http://{addr}")).expect("a loopback target"),
            config,
            handle,
            thread: Some(thread),
            _dir: dir,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.handle.stop(true));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn usd() -> &'static Currency {
    Currency::from_code("USD").unwrap()
}

fn plan(funding: Funding) -> transfers::Plan {
    transfers::Plan {
        wallets: 3,
        concurrency: 4,
        duration: Duration::from_millis(1500),
        warmup: Duration::ZERO,
        threads: 2,
        currency: usd(),
        fund_minor: 10_000, // 100.00 USD
        amount_max_minor: 100,
        funding,
        server_pid: Some(std::process::id()),
        request_timeout: Duration::from_secs(10),
    }
}

/// The ledger of `config`'s database verifies clean (`purse ledger verify`): its transfer count.
fn ledger_transfers(config: &Config) -> u64 {
    actix_rt::System::new().block_on(async {
        let db = crate::db::Db::open(config)
            .await
            .expect("the database opens");
        let report = crate::ledger::verify::verify(&db).await;
        db.close().await;
        let report = report.expect("the ledger verifies");
        u64::try_from(report.transfers).expect("a count")
    })
}

#[test]
fn transfers_bench_commits_and_money_is_conserved() {
    let server = Running::start(|_| {});
    let funding = Funding::Database(Box::new(server.config.clone()));
    let summary = transfers::run(&server.target, &plan(funding)).expect("the bench runs");
    assert!(summary.committed > 0, "{summary:?}");
    assert_eq!(summary.failed, 0, "{summary:?}");
    assert!(summary.transfers_per_s > 0.0);
    assert!(summary.conservation.holds(), "{summary:?}");
    assert_eq!(summary.conservation.wallets, 3);
    assert_eq!(summary.conservation.funded_minor, 3 * 10_000);
    assert_eq!(summary.exit_code(), 0);
    drop(server.handle.stop(true));
    // Every committed transfer is in the ledger, beside the three fundings.
    assert!(ledger_transfers(&server.config) >= summary.committed + 3);
}

#[test]
fn transfers_bench_funds_through_the_admin_api_and_refuses_another_database() {
    let server = Running::start(|config| config.admin_token = Some(ADMIN_TOKEN.to_owned()));
    let funding = Funding::AdminApi {
        token: ADMIN_TOKEN.to_owned(),
    };
    let summary = transfers::run(&server.target, &plan(funding)).expect("the bench runs");
    assert!(
        summary.committed > 0 && summary.conservation.holds(),
        "{summary:?}"
    );

    let elsewhere = tempfile::tempdir().unwrap();
    let other = Config {
        data_dir: elsewhere.path().join("data"),
        ..server.config.clone()
    };
    let err = transfers::run(&server.target, &plan(Funding::Database(Box::new(other))))
        .expect_err("funding a database the server does not use must fail");
    assert!(err.to_string().contains("is not in"), "{err:#}");

    let wrong = Funding::AdminApi {
        token: "x".repeat(40),
    };
    let err = transfers::run(&server.target, &plan(wrong)).expect_err("a wrong operator token");
    assert!(
        format!("{err:#}").contains("admin_token_invalid"),
        "{err:#}"
    );
}

#[test]
fn a_server_that_is_not_there_is_a_clear_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let target = Target::parse(&format!("http://{addr}")).unwrap();
    let funding = Funding::AdminApi {
        token: ADMIN_TOKEN.to_owned(),
    };
    let err = transfers::run(&target, &plan(funding)).expect_err("nothing listens");
    assert!(
        format!("{err:#}").contains("no ready Purse server"),
        "{err:#}"
    );
}

#[test]
fn actors_probe_touches_every_wallet_and_sees_them_passivate() {
    let server = Running::start(|config| config.wallets.idle_timeout_ms = 300);
    let save: PathBuf = server._dir.path().join("setup.json");
    let funding = Funding::Database(Box::new(server.config.clone()));
    let probe = |phase: Phase| actors::Plan {
        wallets: 6,
        concurrency: 4,
        phase,
        funding: funding.clone(),
        passivation_wait: Duration::from_secs(30),
        rss_growth_target_mib: 150,
        request_timeout: Duration::from_secs(10),
    };
    let pid = std::process::id();

    let saved = actors::run(
        &server.target,
        &probe(Phase::SetupOnly { save: save.clone() }),
    );
    assert_eq!(saved.expect("setup runs"), 0);
    assert!(save.exists());
    let touched = actors::run(
        &server.target,
        &probe(Phase::Touch {
            setup: Some(save.clone()),
            server_pid: pid,
        }),
    );
    // 0: every wallet was touched and the actor count came back down.
    assert_eq!(touched.expect("the probe runs"), 0);

    let fresh = actors::run(
        &server.target,
        &probe(Phase::Touch {
            setup: None,
            server_pid: pid,
        }),
    );
    assert_eq!(fresh.expect("the probe runs"), 0);
    drop(server.handle.stop(true));
    // 6 fundings and 6 touches per probe run (the saved setup was funded once, touched once).
    assert!(ledger_transfers(&server.config) >= 24);
}

#[test]
fn charges_bench_charges_pay_codes_and_checks_them() {
    // Each client charges its device about once per request round trip: far above the default
    // 30 per device per minute.
    let server = Running::start(|config| config.risk.velocity_per_minute = 1_000_000);
    let funding = Funding::Database(Box::new(server.config.clone()));
    let plan = transfers::Plan {
        wallets: 2,
        concurrency: 2,
        duration: Duration::from_secs(1),
        threads: 1,
        // Charges only drain the payers (to the merchant): one minor unit each keeps a fast
        // machine's thousand charges a second far from the 100.00 USD each payer holds.
        amount_max_minor: 1,
        ..plan(funding)
    };
    let summary = charges::run(&server.target, &plan).expect("the bench runs");
    assert!(summary.transfers > 0, "{summary:?}");
    assert!(summary.charges > 0, "{summary:?}");
    assert_eq!(summary.transfers_failed, 0, "{summary:?}");
    assert_eq!(summary.charges_failed, 0, "{summary:?}");
    assert!(summary.ratio > 0.0, "{summary:?}");
    assert!(summary.conservation.holds(), "{summary:?}");
    // The bench wallets and the merchant's.
    assert_eq!(summary.conservation.wallets, 3);
    assert!(summary.charge_problems.is_empty(), "{summary:?}");
    assert_eq!(summary.exit_code(), 0);
    // More wallets than clients are required: one device per POS client.
    let crowded = transfers::Plan {
        concurrency: 3,
        ..plan
    };
    assert!(charges::check(&crowded).is_err());
    drop(server);
}
