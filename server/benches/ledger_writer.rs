//! Ledger writer throughput, no HTTP, on SQLite (a file in a temporary directory, WAL,
//! `synchronous=FULL`) and PostgreSQL (a fresh database on 127.0.0.1:5432, dropped afterwards).
//!
//! - `commit_batch/<backend>/<n>`: one database transaction appending `n` wallet-to-wallet
//!   transfers with their balance updates and hash chain (`ledger::store::commit_batch`, the
//!   writer's unit of work). Throughput is transfers per second.
//! - `money_path/<backend>`: `Ledger::transfer` with 4,096 transfers in flight over 1,000 wallets:
//!   wallet actors approve, the writer actor group-commits. Everything but HTTP.
//! - `lone_transfer/<backend>`: one `Ledger::transfer` at a time on an idle ledger: the latency of
//!   a single commit (the writer does not wait to fill a batch).
//!
//! Run: `cargo bench -p purse-server --bench ledger_writer`. PostgreSQL: `PURSE_BENCH_PG_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`); skipped with a message when
//! unreachable. Target (issue 3): >= 50,000 transfers/s on each backend.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures_util::future::join_all;
use purse_server::config::Config;
use purse_server::db::Db;
use purse_server::ids::{IdKind, new_id, new_sortable_id};
use purse_server::ledger::store::{self, Prepared};
use purse_server::ledger::{Account, AccountKind, Ledger, NewTransfer, TransferKind, now_ms};
use purse_server::metrics::Metrics;
use sqlx::Connection;

const WALLETS: usize = 10_000;
const FUND_MINOR: i64 = 1_000_000_000_000;

struct Bench {
    name: &'static str,
    config: Config,
    pg_database: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

fn pg_admin_url() -> String {
    std::env::var("PURSE_BENCH_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn backends() -> Vec<Bench> {
    let mut benches = Vec::new();
    let dir = tempfile::tempdir().expect("tempdir");
    benches.push(Bench {
        name: "sqlite",
        config: {
            let mut config = Config {
                data_dir: dir.path().join("data"),
                ..Config::default()
            };
            // PURSE_SQLITE_PAGE_SIZE and the other server variables, to compare settings.
            config
                .apply_env(|name| std::env::var(name).ok())
                .expect("valid PURSE_* variables");
            config
        },
        pg_database: None,
        _dir: dir,
    });
    let admin = pg_admin_url();
    let name = format!("purse_bench_{}", &new_id(IdKind::Session)[4..]);
    let created = runtime().block_on(async {
        let mut conn = sqlx::PgConnection::connect(&admin).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        conn.close().await
    });
    match created {
        Ok(()) => {
            let (prefix, _) = admin.rsplit_once('/').expect("URL with a database");
            let url = format!("{prefix}/{name}");
            let dir = tempfile::tempdir().expect("tempdir");
            benches.push(Bench {
                name: "postgres",
                config: Config {
                    data_dir: dir.path().join("data"),
                    database_url: Some(url.clone()),
                    ..Config::default()
                },
                pg_database: Some((admin, name)),
                _dir: dir,
            });
        }
        Err(err) => eprintln!("SKIPPED PostgreSQL benchmarks: {admin} unreachable ({err})"),
    }
    benches
}

impl Drop for Bench {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg_database {
            let _ = runtime().block_on(async {
                let mut conn = sqlx::PgConnection::connect(admin).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
            });
        }
    }
}

/// Opens the database, creates `WALLETS` funded USD wallets; returns their ids.
async fn setup(config: &Config) -> (Db, Vec<String>) {
    let db = Db::open(config).await.expect("database");
    let issuance = Account {
        id: "sys_issuance_usd".to_owned(),
        kind: AccountKind::System,
        owner_id: None,
        currency: "USD".to_owned(),
        balance_minor: 0,
        created_at_ms: now_ms(),
    };
    store::insert_account_if_absent(&db, &issuance)
        .await
        .expect("issuance");
    let mut wallets = Vec::with_capacity(WALLETS);
    for i in 0..WALLETS {
        let wallet = Account {
            id: new_id(IdKind::Wallet),
            kind: AccountKind::Wallet,
            owner_id: Some(format!("usr_bench{i}")),
            currency: "USD".to_owned(),
            balance_minor: 0,
            created_at_ms: now_ms(),
        };
        store::insert_account_if_absent(&db, &wallet)
            .await
            .expect("wallet");
        wallets.push(wallet.id);
    }
    for chunk in wallets.chunks(2_000) {
        let batch: Vec<Prepared> = chunk
            .iter()
            .map(|wallet| prepared("sys_issuance_usd", wallet, FUND_MINOR, "issuance"))
            .collect();
        let results = store::commit_batch(&db, &batch).await.expect("fund");
        assert!(results.iter().all(|r| r.is_ok()));
    }
    (db, wallets)
}

fn prepared(from: &str, to: &str, amount_minor: i64, kind: &'static str) -> Prepared {
    Prepared {
        id: new_sortable_id(IdKind::Transfer),
        reference: new_id(IdKind::Transfer),
        kind,
        debit_account: from.to_owned(),
        credit_account: to.to_owned(),
        currency: "USD".to_owned(),
        amount_minor,
        memo: None,
        created_at_ms: now_ms(),
        events: Vec::new(),
        charge: None,
        nonce: None,
        record: None,
    }
}

/// A cheap deterministic generator of wallet pairs.
struct Pairs(u64);

impl Pairs {
    fn next(&mut self, n: usize) -> (usize, usize) {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let from = (self.0 % n as u64) as usize;
        let to = (from + 1 + ((self.0 >> 32) % (n as u64 - 1)) as usize) % n;
        (from, to)
    }
}

fn commit_batch(c: &mut Criterion) {
    let mut group = c.benchmark_group("commit_batch");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.warm_up_time(Duration::from_secs(2));
    for bench in backends() {
        let rt = runtime();
        let (shared, wallets) = rt.block_on(setup(&bench.config));
        // The connection the ledger writer commits on (see `Db::dedicated_writer`).
        let db =
            rt.block_on(async { shared.dedicated_writer(bench.config.ledger.writer_cache_mib) });
        let mut pairs = Pairs(0x9e37_79b9_7f4a_7c15);
        for n in [500usize, 2_000, 8_000] {
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::new(bench.name, n), &n, |b, &n| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let batch: Vec<Prepared> = (0..n)
                            .map(|_| {
                                let (from, to) = pairs.next(wallets.len());
                                prepared(&wallets[from], &wallets[to], 1, "p2p")
                            })
                            .collect();
                        let started = Instant::now();
                        let results = rt
                            .block_on(store::commit_batch(&db, &batch))
                            .expect("commit");
                        total += started.elapsed();
                        assert!(results.iter().all(|r| r.is_ok()));
                    }
                    total
                });
            });
        }
        rt.block_on(db.close());
        rt.block_on(shared.close());
    }
    group.finish();
}

fn money_path(c: &mut Criterion) {
    const IN_FLIGHT: usize = 4_096;
    const ACTIVE_WALLETS: usize = 1_000;
    let mut group = c.benchmark_group("money_path");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.warm_up_time(Duration::from_secs(2));
    group.throughput(Throughput::Elements(IN_FLIGHT as u64));
    for bench in backends() {
        let system = actix_rt::System::new();
        let (db, wallets) = system.block_on(setup(&bench.config));
        let mut config = bench.config.clone();
        config.wallets.mailbox_max = IN_FLIGHT;
        config.wallets.pending_max = IN_FLIGHT;
        let ledger = system.block_on(async {
            Ledger::start(db.clone(), &config.ledger, &config.wallets, Metrics::new())
        });
        let mut pairs = Pairs(0x2545_f491_4f6c_dd1d);
        group.bench_function(bench.name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let transfers: Vec<NewTransfer> = (0..IN_FLIGHT)
                        .map(|_| {
                            let (from, to) = pairs.next(ACTIVE_WALLETS);
                            NewTransfer {
                                reference: new_id(IdKind::Transfer),
                                kind: TransferKind::P2p,
                                debit_account: wallets[from].clone(),
                                credit_account: wallets[to].clone(),
                                currency: "USD".to_owned(),
                                amount_minor: 1,
                                memo: None,
                            }
                        })
                        .collect();
                    let started = Instant::now();
                    let results = system
                        .block_on(join_all(transfers.into_iter().map(|t| ledger.transfer(t))));
                    total += started.elapsed();
                    let failed = results.iter().filter(|r| r.is_err()).count();
                    assert_eq!(failed, 0, "{:?}", results.iter().find(|r| r.is_err()));
                }
                total
            });
        });
        system.block_on(async {
            ledger.shutdown().await;
            db.close().await;
        });
    }
    group.finish();
}

fn lone_transfer(c: &mut Criterion) {
    let mut group = c.benchmark_group("lone_transfer");
    group.sample_size(50);
    group.measurement_time(Duration::from_secs(5));
    group.warm_up_time(Duration::from_secs(1));
    for bench in backends() {
        let system = actix_rt::System::new();
        let (db, wallets) = system.block_on(setup(&bench.config));
        let ledger = system.block_on(async {
            Ledger::start(
                db.clone(),
                &bench.config.ledger,
                &bench.config.wallets,
                Metrics::new(),
            )
        });
        let mut pairs = Pairs(0x1234_5678_9abc_def1);
        group.bench_function(bench.name, |b| {
            b.iter(|| {
                let (from, to) = pairs.next(wallets.len());
                let transfer = NewTransfer {
                    reference: new_id(IdKind::Transfer),
                    kind: TransferKind::P2p,
                    debit_account: wallets[from].clone(),
                    credit_account: wallets[to].clone(),
                    currency: "USD".to_owned(),
                    amount_minor: 1,
                    memo: None,
                };
                system
                    .block_on(ledger.transfer(transfer))
                    .expect("transfer")
            });
        });
        system.block_on(async {
            ledger.shutdown().await;
            db.close().await;
        });
    }
    group.finish();
}

criterion_group!(benches, commit_batch, money_path, lone_transfer);
criterion_main!(benches);
