//! `purse bench transfers`: end-to-end P2P transfers per second against a running server. Sets up
//! one user and one wallet per bench wallet, funds them, then runs `concurrency` clients for the
//! duration, each sending device-signed `POST /v1/transfers` between random wallets with a unique
//! `Idempotency-Key`, one request at a time over kept-alive connections. Reports throughput,
//! latency percentiles (successful transfers only), failures by code and who used the CPU, then
//! checks conservation over the bench wallets. It never retries a failed transfer (a retry would
//! hide the failure in the figures) and never runs past the duration plus one request timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use purse_core::api::ledger::{CreateTransferRequest, TransferTo};
use purse_core::money::{self, Amount, Currency};

use super::api::Api;
use super::charges::{self, Charged, Pos};
use super::procfs::{MachineCpu, Proc};
use super::setup::{self, BenchUser, BenchWallet, Conservation, Funding};
use super::stats::Recorder;
use super::target::Target;
use super::{Rng, run_tag};

/// Most bench wallets (one user each: every sign-up costs the server an argon2id hash).
pub const WALLETS_MAX: usize = 100_000;
/// Most concurrent clients.
pub const CONCURRENCY_MAX: usize = 4096;
/// Longest load phase: it must end well within one access token's 15 minutes.
pub const DURATION_MAX: Duration = Duration::from_secs(600);
/// Most load threads (each runs its own event loop and connection pool).
pub const THREADS_MAX: usize = 16;
/// Setup requests in flight at once.
const SETUP_PARALLEL: usize = 16;

/// What to run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub wallets: usize,
    pub concurrency: usize,
    pub duration: Duration,
    /// Load before measuring starts (actors start, connections open); not counted.
    pub warmup: Duration,
    pub threads: usize,
    pub currency: &'static Currency,
    /// What each wallet is funded with.
    pub fund_minor: i64,
    /// Each transfer moves a uniformly random amount in `1..=amount_max_minor`.
    pub amount_max_minor: i64,
    pub funding: Funding,
    /// The server's pid, to report its CPU use (same machine: the target is loopback).
    pub server_pid: Option<u32>,
    pub request_timeout: Duration,
}

/// Why a plan cannot run.
pub fn check(plan: &Plan) -> anyhow::Result<()> {
    if !(2..=WALLETS_MAX).contains(&plan.wallets) {
        bail!("--wallets must be 2 to {WALLETS_MAX}");
    }
    if !(1..=CONCURRENCY_MAX).contains(&plan.concurrency) {
        bail!("--concurrency must be 1 to {CONCURRENCY_MAX}");
    }
    if plan.duration.is_zero() || plan.duration > DURATION_MAX {
        bail!("--duration must be 1 to {} seconds", DURATION_MAX.as_secs());
    }
    if plan.warmup > DURATION_MAX {
        bail!(
            "--warmup must be at most {} seconds",
            DURATION_MAX.as_secs()
        );
    }
    if !(1..=THREADS_MAX).contains(&plan.threads) {
        bail!("--threads must be 1 to {THREADS_MAX}");
    }
    if plan.amount_max_minor < 1 || plan.amount_max_minor > plan.fund_minor {
        bail!("the largest transfer must be positive and at most the funding of a wallet");
    }
    Ok(())
}

/// What the load clients send.
#[derive(Clone, Copy, Debug)]
pub(super) enum Work<'a> {
    /// Device-signed `POST /v1/transfers` between random bench wallets.
    Transfers,
    /// `POST /v1/charges` by the POS: client `i` charges pay codes of bench user `i` (one client
    /// per device, so each device's pay-code counter strictly increases).
    Charges(&'a Pos),
}

/// When a load phase measures and when it stops.
#[derive(Clone, Copy, Debug)]
struct Window {
    /// Outcomes of requests started before this are not counted (warm-up).
    measure_from: Instant,
    /// No request starts at or after this.
    deadline: Instant,
}

/// What a load phase measured.
pub(super) struct Measured {
    pub(super) recorder: Recorder,
    pub(super) window: Duration,
    client_cpu: Option<Duration>,
    server_cpu: Option<Duration>,
    /// Cores the whole machine kept busy (other processes share them).
    machine_cores: Option<f64>,
    /// The server's context switches: hand-offs between threads are a cost of their own.
    server_switches: Option<u64>,
    /// Every acknowledged charge, warm-up included (empty for transfers).
    pub(super) charges: Vec<Charged>,
}

/// What a run found, beside the printed report.
#[derive(Clone, Debug)]
pub struct Summary {
    pub committed: u64,
    pub failed: u64,
    pub transfers_per_s: f64,
    pub conservation: Conservation,
}

impl Summary {
    /// The process exit status: 0, 1 when no transfer succeeded, 3 when conservation is violated.
    pub fn exit_code(&self) -> u8 {
        if !self.conservation.holds() {
            3
        } else if self.committed == 0 {
            1
        } else {
            0
        }
    }
}

/// Runs the bench and prints its report.
pub fn run(target: &Target, plan: &Plan) -> anyhow::Result<Summary> {
    check(plan)?;
    let run = run_tag();
    println!(
        "purse bench transfers: {} | {} wallets | {} clients on {} thread(s) | {} s + {} s warm-up | run {run}",
        target.base,
        plan.wallets,
        plan.concurrency,
        plan.threads,
        plan.duration.as_secs_f64(),
        plan.warmup.as_secs_f64(),
    );
    let (senders, funded_minor) = actix_rt::System::new().block_on(prepare(target, plan, &run))?;
    let senders = Arc::new(senders);
    let measured = load(target, plan, &run, &senders, Work::Transfers)?;
    let conservation =
        actix_rt::System::new().block_on(conserve(target, plan, &senders, funded_minor))?;
    Ok(report(plan, &measured, &conservation))
}

pub(super) async fn prepare(
    target: &Target,
    plan: &Plan,
    run: &str,
) -> anyhow::Result<(Vec<BenchUser>, i64)> {
    let api = Api::new(target, SETUP_PARALLEL, plan.request_timeout);
    api.ready().await.with_context(|| {
        format!(
            "no ready Purse server at {} (start one with `purse serve`)",
            target.base
        )
    })?;
    let started = Instant::now();
    let plan_users = vec![vec![plan.currency]; plan.wallets];
    let mut users = setup::create_users(&api, run, &plan_users, SETUP_PARALLEL).await?;
    println!(
        "setup: {} users signed up, logged in, each with a new Ed25519 device and a {} wallet, in {}",
        users.len(),
        plan.currency.code,
        setup::secs(started.elapsed())
    );
    let started = Instant::now();
    let wallets: Vec<(&BenchWallet, i64)> = users
        .iter()
        .map(|u| (&u.wallets[0], plan.fund_minor))
        .collect();
    setup::fund(&api, &plan.funding, run, &wallets, 64).await?;
    println!(
        "funding: {} {} each through {}, in {}",
        money::format_minor(plan.fund_minor, plan.currency),
        plan.currency.code,
        plan.funding.describe(),
        setup::secs(started.elapsed())
    );
    let funded_minor = plan
        .fund_minor
        .checked_mul(i64::try_from(plan.wallets)?)
        .context("the total funding overflows")?;
    // Access tokens live 15 minutes; the load (at most 10) gets fresh ones.
    setup::refresh_tokens(&api, &mut users, SETUP_PARALLEL).await?;
    Ok((users, funded_minor))
}

pub(super) fn load(
    target: &Target,
    plan: &Plan,
    run: &str,
    senders: &Arc<Vec<BenchUser>>,
    work: Work<'_>,
) -> anyhow::Result<Measured> {
    let start = Instant::now();
    let measure_from = start + plan.warmup;
    let deadline = measure_from + plan.duration;
    let phase = Window {
        measure_from,
        deadline,
    };
    let cpu_at = |proc: Proc| proc.cpu_time().ok();
    let (recorders, cpu_before, machine_before) = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..plan.threads)
            .map(|thread| {
                let senders = Arc::clone(senders);
                scope.spawn(move || {
                    let clients: Vec<usize> =
                        (thread..plan.concurrency).step_by(plan.threads).collect();
                    actix_rt::System::new().block_on(load_thread(
                        target, plan, run, &senders, work, &clients, phase,
                    ))
                })
            })
            .collect();
        // Sample CPU counters when measuring starts, from this otherwise idle thread.
        std::thread::sleep(measure_from.saturating_duration_since(Instant::now()));
        let cpu_before = (
            cpu_at(Proc::Me),
            plan.server_pid.and_then(|p| cpu_at(Proc::Pid(p))),
        );
        let machine_before = MachineCpu::read().ok();
        let switches_before = plan
            .server_pid
            .and_then(|p| Proc::Pid(p).context_switches().ok());
        let recorders: Vec<(Recorder, Vec<Charged>)> = threads
            .into_iter()
            .map(|t| t.join().expect("a load thread does not panic"))
            .collect();
        (recorders, cpu_before, (machine_before, switches_before))
    });
    let (machine_before, switches_before) = machine_before;
    let server_switches = plan
        .server_pid
        .and_then(|p| Proc::Pid(p).context_switches().ok())
        .zip(switches_before)
        .map(|(after, before)| after.saturating_sub(before));
    let window = measure_from.elapsed();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let machine_cores = match (machine_before, MachineCpu::read().ok()) {
        (Some(before), Some(after)) => Some(after.busy_cores_since(&before, cores)),
        _ => None,
    };
    let spent =
        |before: Option<Duration>, proc: Option<Proc>| Some(cpu_at(proc?)?.saturating_sub(before?));
    let mut recorder = Recorder::new();
    let mut charged = Vec::new();
    for (r, c) in recorders {
        recorder.merge(&r);
        charged.extend(c);
    }
    Ok(Measured {
        charges: charged,
        recorder,
        window,
        client_cpu: spent(cpu_before.0, Some(Proc::Me)),
        server_cpu: spent(cpu_before.1, plan.server_pid.map(Proc::Pid)),
        machine_cores,
        server_switches,
    })
}

async fn load_thread(
    target: &Target,
    plan: &Plan,
    run: &str,
    senders: &[BenchUser],
    work: Work<'_>,
    clients: &[usize],
    window: Window,
) -> (Recorder, Vec<Charged>) {
    let api = Api::new(target, clients.len(), plan.request_timeout);
    let loops = clients
        .iter()
        .map(|&client| client_loop(&api, plan, run, senders, work, client, window));
    let mut total = Recorder::new();
    let mut charged = Vec::new();
    for (recorder, c) in futures_util::future::join_all(loops).await {
        total.merge(&recorder);
        charged.extend(c);
    }
    (total, charged)
}

/// One client: one transfer (or charge) at a time until the deadline.
async fn client_loop(
    api: &Api,
    plan: &Plan,
    run: &str,
    senders: &[BenchUser],
    work: Work<'_>,
    client: usize,
    window: Window,
) -> (Recorder, Vec<Charged>) {
    let Window {
        measure_from,
        deadline,
    } = window;
    let mut rng = Rng::from_os();
    let mut recorder = Recorder::new();
    let mut charged = Vec::new();
    let n = senders.len();
    let amount_max = usize::try_from(plan.amount_max_minor).unwrap_or(usize::MAX);
    let mut seq = 0u64;
    loop {
        let started = Instant::now();
        if started >= deadline {
            break;
        }
        let from = rng.below(n);
        let to = (from + 1 + rng.below(n - 1)) % n;
        let minor = i64::try_from(1 + rng.below(amount_max)).unwrap_or(1);
        let key = format!("bench-{run}-{client}-{seq}");
        seq += 1;
        let outcome = match work {
            Work::Transfers => {
                let (sender, recipient) = (&senders[from], &senders[to]);
                match transfer_body(&sender.wallets[0], &recipient.wallets[0], minor) {
                    Ok(body) => api
                        .signed_post(&sender.session, "/v1/transfers", body, &key, 201)
                        .await
                        .map(|_| ())
                        .map_err(|err| err.code().to_owned()),
                    Err(code) => Err(code.to_owned()),
                }
            }
            Work::Charges(pos) => {
                // Counters start at 1 and rise by one per code: strictly increasing per device.
                let counter = u32::try_from(seq).unwrap_or(u32::MAX);
                match charges::charge(api, pos, &senders[client], counter, minor, &key).await {
                    Ok(done) => {
                        charged.push(done);
                        Ok(())
                    }
                    Err(code) => Err(code),
                }
            }
        };
        let latency = started.elapsed();
        if started >= measure_from {
            match outcome {
                Ok(()) => recorder.ok(latency),
                Err(code) => recorder.error(&code),
            }
        }
    }
    (recorder, charged)
}

/// The exact bytes of one `POST /v1/transfers` body: `minor` units from `from` to `to`.
pub(super) fn transfer_body(
    from: &BenchWallet,
    to: &BenchWallet,
    minor: i64,
) -> Result<Vec<u8>, &'static str> {
    let amount = Amount::from_minor(minor, from.currency).map_err(|err| err.code())?;
    let body = CreateTransferRequest {
        from_wallet: from.id.clone(),
        to: TransferTo::Wallet(to.id.clone()),
        amount: amount.to_string(),
        currency: from.currency.code.to_owned(),
        memo: None,
    };
    serde_json::to_vec(&body).map_err(|_| "request_unserializable")
}

async fn conserve(
    target: &Target,
    plan: &Plan,
    users: &[BenchUser],
    funded_minor: i64,
) -> anyhow::Result<Conservation> {
    let api = Api::new(target, SETUP_PARALLEL, plan.request_timeout);
    let balances = setup::balances(&api, users, SETUP_PARALLEL).await?;
    Ok(Conservation::check(&balances, funded_minor))
}

/// Prints the figures.
fn report(plan: &Plan, measured: &Measured, conservation: &Conservation) -> Summary {
    let r = &measured.recorder;
    let rate = print_load("transfers", plan, measured);
    let verdict = print_conservation(plan.currency, conservation);
    println!(
        "result: transfers_per_s={rate:.1} p50_ms={:.2} p99_ms={:.2} p999_ms={:.2} committed={} failed={} conservation={verdict}",
        r.latency_ms(0.5),
        r.latency_ms(0.99),
        r.latency_ms(0.999),
        r.succeeded(),
        r.failed()
    );
    let summary = Summary {
        committed: r.succeeded(),
        failed: r.failed(),
        transfers_per_s: rate,
        conservation: conservation.clone(),
    };
    if summary.committed == 0 {
        eprintln!("error: no transfer succeeded");
    }
    summary
}

/// Prints what one load phase of `what` ("transfers", "charges") measured; answers its rate per
/// second.
pub(super) fn print_load(what: &str, plan: &Plan, measured: &Measured) -> f64 {
    let r = &measured.recorder;
    let seconds = measured.window.as_secs_f64();
    let rate = r.succeeded() as f64 / seconds.max(f64::EPSILON);
    println!(
        "load: {} {what} committed in {seconds:.2} s = {rate:.1} {what}/s ({} failed)",
        r.succeeded(),
        r.failed()
    );
    println!(
        "latency (committed {what}): p50 {:.2} ms | p99 {:.2} ms | p999 {:.2} ms | max {:.2} ms | mean {:.2} ms",
        r.latency_ms(0.5),
        r.latency_ms(0.99),
        r.latency_ms(0.999),
        r.max_ms(),
        r.mean_ms()
    );
    if r.errors().is_empty() {
        println!("errors: none");
    } else {
        let list: Vec<String> = r.errors().iter().map(|(c, n)| format!("{c} {n}")).collect();
        println!("errors: {}", list.join(", "));
    }
    let cores = |cpu: Option<Duration>| {
        cpu.map_or("n/a".to_owned(), |d| {
            format!("{:.2} cores", d.as_secs_f64() / seconds.max(f64::EPSILON))
        })
    };
    let available = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "cpu while measuring: server {} | load generator {} | whole machine {} of {available} cores busy",
        match plan.server_pid {
            Some(pid) => format!("{} (pid {pid})", cores(measured.server_cpu)),
            None => "n/a (give --server-pid)".to_owned(),
        },
        cores(measured.client_cpu),
        measured
            .machine_cores
            .map_or("n/a".to_owned(), |c| format!("{c:.2}")),
    );
    if let Some(switches) = measured.server_switches {
        println!(
            "server context switches while measuring: {switches} ({:.1} per committed request)",
            switches as f64 / r.succeeded().max(1) as f64
        );
    }
    rate
}

/// Prints the conservation check; answers `"ok"` or `"violated"`.
pub(super) fn print_conservation(
    currency: &'static Currency,
    conservation: &Conservation,
) -> &'static str {
    if conservation.holds() {
        println!(
            "conservation: ok: {} wallets hold {} {} = what was funded, none negative",
            conservation.wallets,
            money::format_minor(conservation.held_minor, currency),
            currency.code
        );
        "ok"
    } else {
        println!(
            "conservation: VIOLATED: {} wallets hold {} {} but {} was funded; negative balances: {:?}",
            conservation.wallets,
            money::format_minor(conservation.held_minor, currency),
            currency.code,
            money::format_minor(conservation.funded_minor, currency),
            conservation.negative
        );
        "violated"
    }
}
