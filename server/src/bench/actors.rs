//! `purse bench actors`: what wallet actors cost. Opens and funds many distinct wallets, reads the
//! server's resident memory, then touches every wallet once with a device-signed transfer of one
//! minor unit (a debit, which is what starts a wallet's actor), reads the memory again, and polls
//! `/metrics` until idle passivation brings the active-actor count back down (or the wait ends).
//!
//! Wallets are held many to a user, one per currency: a wallet actor costs the same whoever owns
//! it, while every user costs the server an argon2id hash at sign-up and log-in, which would make
//! 100,000 single-wallet users take the better part of an hour on two cores. It never waits
//! unbounded: every phase has a request timeout and passivation a deadline.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{StreamExt, stream};
use purse_core::money::{Amount, Currency};

use super::api::Api;
use super::procfs::Proc;
use super::setup::{self, BenchUser, BenchWallet, Funding};
use super::target::Target;
use super::transfers::transfer_body;
use super::{run_tag, saved};

/// Most wallets one probe opens.
pub const WALLETS_MAX: usize = 1_000_000;
/// Longest wait for passivation.
pub const PASSIVATION_WAIT_MAX: Duration = Duration::from_secs(1800);
/// The gauge of running wallet actors in `/metrics`.
pub const ACTORS_GAUGE: &str = "purse_wallet_actors_active";
/// Setup requests in flight at once.
const SETUP_PARALLEL: usize = 16;
/// How often `/metrics` is polled while waiting for passivation.
const POLL_EVERY: Duration = Duration::from_secs(2);

/// What one invocation does. Sign-ups hash passwords with argon2id, whose memory a server's
/// allocator may keep: to measure what the actors cost, set up with one server process, save,
/// and touch from a freshly started one on the same database.
#[derive(Clone, Debug)]
pub enum Phase {
    /// Set up (users, wallets, funding) and save the setup to `save` (created, never
    /// overwritten, readable by its owner only: it holds the bench devices' secret keys).
    SetupOnly { save: PathBuf },
    /// Touch the wallets of a saved setup (or of a new one when `setup` is `None`) and measure
    /// the server `server_pid`.
    Touch {
        setup: Option<PathBuf>,
        server_pid: u32,
    },
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub wallets: usize,
    pub concurrency: usize,
    pub phase: Phase,
    pub funding: Funding,
    /// How long to wait for the actor count to come back down after the touches.
    pub passivation_wait: Duration,
    /// The growth target to report against, MiB.
    pub rss_growth_target_mib: u64,
    pub request_timeout: Duration,
}

pub fn check(plan: &Plan) -> anyhow::Result<()> {
    if !(2..=WALLETS_MAX).contains(&plan.wallets) {
        bail!("--wallets must be 2 to {WALLETS_MAX}");
    }
    if !(1..=super::transfers::CONCURRENCY_MAX).contains(&plan.concurrency) {
        bail!(
            "--concurrency must be 1 to {}",
            super::transfers::CONCURRENCY_MAX
        );
    }
    if plan.passivation_wait > PASSIVATION_WAIT_MAX {
        bail!(
            "--passivation-wait must be at most {} seconds",
            PASSIVATION_WAIT_MAX.as_secs()
        );
    }
    Ok(())
}

/// Which currency each user's wallets are in: wallet `k` belongs to user `k % users` in
/// currency `k / users`, so each currency is held by several users and a touch can always pay
/// another holder of the same currency. Never leaves one wallet alone in a currency.
pub fn layout(wallets: usize, currencies: usize) -> (usize, Vec<Vec<&'static Currency>>) {
    let all = Currency::all();
    let currencies = currencies.clamp(1, all.len());
    let users = wallets.div_ceil(currencies).max(2);
    // A lone last wallet in its currency would have no one to pay: touch one more.
    let wallets = if wallets % users == 1 {
        wallets + 1
    } else {
        wallets
    };
    let mut plan = vec![Vec::new(); users];
    for k in 0..wallets {
        plan[k % users].push(&all[k / users]);
    }
    (wallets, plan)
}

/// The wallets in touch order with the wallet each pays: the next holder of its currency.
fn pairs(users: &[BenchUser]) -> Vec<(usize, &BenchWallet, &BenchWallet)> {
    let n = users.len();
    let mut out = Vec::new();
    for (u, user) in users.iter().enumerate() {
        for (c, wallet) in user.wallets.iter().enumerate() {
            // Users 0.. hold currency c contiguously (see `layout`); pay the next one, or the
            // first when this is the last holder.
            let next = (u + 1..n)
                .chain(0..u)
                .find(|&v| users[v].wallets.get(c).is_some())
                .expect("layout gives every currency two holders");
            out.push((u, wallet, &users[next].wallets[c]));
        }
    }
    out
}

/// The value of the gauge `name` in Prometheus text.
pub fn gauge(metrics: &str, name: &str) -> Option<i64> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let value = rest.strip_prefix(' ')?.split_whitespace().next()?;
        value.parse().ok()
    })
}

async fn actors_active(api: &Api) -> anyhow::Result<i64> {
    let text = api.metrics().await.context("reading /metrics")?;
    gauge(&text, ACTORS_GAUGE).with_context(|| format!("/metrics has no {ACTORS_GAUGE}"))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

pub fn run(target: &Target, plan: &Plan) -> anyhow::Result<u8> {
    check(plan)?;
    actix_rt::System::new().block_on(probe(target, plan))
}

async fn probe(target: &Target, plan: &Plan) -> anyhow::Result<u8> {
    let api = Api::new(
        target,
        plan.concurrency.max(SETUP_PARALLEL),
        plan.request_timeout,
    );
    api.ready().await.with_context(|| {
        format!(
            "no ready Purse server at {} (start one with `purse serve`)",
            target.base
        )
    })?;
    let (run, mut users) = match &plan.phase {
        Phase::Touch {
            setup: Some(path), ..
        } => {
            let (run, users) = saved::load(path)?;
            println!(
                "purse bench actors: {} | {} wallets of {} users from {} | run {run}",
                target.base,
                users.iter().map(|u| u.wallets.len()).sum::<usize>(),
                users.len(),
                path.display()
            );
            (run, users)
        }
        Phase::Touch { setup: None, .. } | Phase::SetupOnly { .. } => {
            let run = run_tag();
            let users = set_up(&api, plan, &run, target).await?;
            (run, users)
        }
    };
    let server_pid = match &plan.phase {
        Phase::SetupOnly { save } => {
            saved::save(save, &run, &users)?;
            println!(
                "setup saved to {} (secret device keys of bench users: delete it after the probe)",
                save.display()
            );
            return Ok(0);
        }
        Phase::Touch { server_pid, .. } => *server_pid,
    };
    // Access tokens live 15 minutes; the touches get fresh ones.
    setup::refresh_tokens(&api, &mut users, SETUP_PARALLEL).await?;
    touch(&api, plan, Proc::Pid(server_pid), &run, &users).await
}

/// Signs up the users, opens their wallets and funds each with one major unit.
async fn set_up(
    api: &Api,
    plan: &Plan,
    run: &str,
    target: &Target,
) -> anyhow::Result<Vec<BenchUser>> {
    let (wallets, layout) = layout(plan.wallets, Currency::all().len());
    println!(
        "purse bench actors: {} | {wallets} wallets held by {} users | run {run}",
        target.base,
        layout.len()
    );
    let started = Instant::now();
    let users = setup::create_users(api, run, &layout, SETUP_PARALLEL).await?;
    println!(
        "setup: {} users, {wallets} wallets opened in {}",
        users.len(),
        setup::secs(started.elapsed())
    );
    let started = Instant::now();
    let funds: Vec<(&BenchWallet, i64)> = users
        .iter()
        .flat_map(|u| u.wallets.iter())
        .map(|w| Ok((w, Amount::parse("1", w.currency)?.minor())))
        .collect::<Result<_, purse_core::money::MoneyError>>()?;
    setup::fund(api, &plan.funding, run, &funds, 64).await?;
    println!(
        "funding: one major unit each through {}, in {}",
        plan.funding.describe(),
        setup::secs(started.elapsed())
    );
    Ok(users)
}

/// Touches every wallet once and watches memory and the actor count.
async fn touch(
    api: &Api,
    plan: &Plan,
    server: Proc,
    run: &str,
    users: &[BenchUser],
) -> anyhow::Result<u8> {
    let actors_before = actors_active(api).await?;
    let rss_before = server.rss_bytes()?;
    println!(
        "before touching: server RSS {:.1} MiB, {actors_before} wallet actors",
        mib(rss_before),
    );

    let started = Instant::now();
    let pairs = pairs(users);
    let touched = stream::iter(pairs.iter().enumerate())
        .map(|(i, &(u, from, to))| async move {
            let body = transfer_body(from, to, 1).map_err(str::to_owned)?;
            let key = format!("touch-{run}-{i}");
            api.signed_post(&users[u].session, "/v1/transfers", body, &key, 201)
                .await
                .map(|_| ())
                .map_err(|err| err.code().to_owned())
        })
        .buffer_unordered(plan.concurrency);
    let mut ok = 0usize;
    let mut errors = std::collections::BTreeMap::<String, usize>::new();
    let mut peak_actors = actors_before;
    let mut next_poll = Instant::now() + POLL_EVERY;
    let mut touched = std::pin::pin!(touched);
    while let Some(outcome) = touched.next().await {
        match outcome {
            Ok(()) => ok += 1,
            Err(code) => *errors.entry(code).or_default() += 1,
        }
        if Instant::now() >= next_poll {
            peak_actors = peak_actors.max(actors_active(api).await?);
            next_poll = Instant::now() + POLL_EVERY;
        }
    }
    let touch_time = started.elapsed();
    let actors_after = actors_active(api).await?;
    peak_actors = peak_actors.max(actors_after);
    let rss_after = server.rss_bytes()?;
    let growth = rss_after.saturating_sub(rss_before);
    println!(
        "touched: {ok} of {} wallets in {} ({:.0}/s); failures: {}",
        pairs.len(),
        setup::secs(touch_time),
        ok as f64 / touch_time.as_secs_f64().max(f64::EPSILON),
        if errors.is_empty() {
            "none".to_owned()
        } else {
            format!("{errors:?}")
        }
    );
    println!(
        "after touching: server RSS {:.1} MiB, growth {:.1} MiB ({:.0} bytes per wallet touched; target <= {} MiB: {}), {actors_after} wallet actors (peak seen {peak_actors})",
        mib(rss_after),
        mib(growth),
        growth as f64 / ok.max(1) as f64,
        plan.rss_growth_target_mib,
        if mib(growth) <= plan.rss_growth_target_mib as f64 {
            "met"
        } else {
            "MISSED"
        }
    );

    let started = Instant::now();
    let deadline = started + plan.passivation_wait;
    let mut actors_now = actors_after;
    while actors_now > actors_before && Instant::now() < deadline {
        actix_rt::time::sleep(POLL_EVERY).await;
        actors_now = actors_active(api).await?;
    }
    let rss_end = server.rss_bytes()?;
    let passivated = actors_now <= actors_before;
    println!(
        "passivation: {actors_now} wallet actors after {} ({}), server RSS {:.1} MiB",
        setup::secs(started.elapsed()),
        if passivated {
            "back to the level before touching"
        } else {
            "NOT back down before the wait ended"
        },
        mib(rss_end)
    );
    println!(
        "result: wallets_touched={ok} rss_growth_mib={:.1} actors_peak={peak_actors} actors_after_passivation={actors_now} passivated={passivated}",
        mib(growth)
    );
    if ok == 0 {
        eprintln!("error: no wallet could be touched");
        return Ok(1);
    }
    Ok(if passivated { 0 } else { 4 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_spreads_currencies_over_at_least_two_users() {
        let c = Currency::all().len();
        for wallets in [2, 3, 10, c, c + 1, 2 * c + 1, 100_000] {
            let (total, plan) = layout(wallets, c);
            assert!(total == wallets || total == wallets + 1, "{wallets}");
            assert_eq!(plan.iter().map(Vec::len).sum::<usize>(), total);
            assert!(plan.len() >= 2);
            // Every currency in use has at least two holders, and no user holds one twice.
            let mut holders = std::collections::HashMap::new();
            for user in &plan {
                let mut mine = std::collections::HashSet::new();
                for currency in user {
                    assert!(mine.insert(currency.code));
                    *holders.entry(currency.code).or_insert(0) += 1;
                }
            }
            assert!(holders.values().all(|&n| n >= 2), "{wallets}: {holders:?}");
        }
        let (total, plan) = layout(100_000, c);
        assert_eq!(total, 100_000);
        assert_eq!(plan.len(), 100_000_usize.div_ceil(c));
    }

    #[test]
    fn reads_the_actor_gauge() {
        let text = "# HELP purse_wallet_actors_active Wallet actors\n\
                    # TYPE purse_wallet_actors_active gauge\n\
                    purse_wallet_actors_active_other 9\n\
                    purse_wallet_actors_active 1234\n";
        assert_eq!(gauge(text, ACTORS_GAUGE), Some(1234));
        assert_eq!(gauge("purse_x 1\n", ACTORS_GAUGE), None);
    }
}
