//! `purse bench charges`: merchant charges of consumer pay codes per second against P2P transfers
//! per second, in one run on one server with the same clients and duration. Sets up the bench
//! users and wallets as `purse bench transfers` does plus one merchant with a POS key, runs the
//! transfer load, then the charge load: client `i` is a POS charging pay codes that bench user
//! `i`'s device generates offline (`purse_core::paycode`, counter 1, 2, 3, ... so each device's
//! counter strictly increases), which the server verifies with the device's key. Prints both
//! figures and their ratio, then checks conservation over the bench wallets and the merchant's
//! wallet, that the merchant holds exactly what the acknowledged charges add up to, and that every
//! acknowledged charge reads back once under its own id with its amount.
//!
//! The server's risk rules limit charges per device per minute (`PURSE_RISK_VELOCITY_PER_MINUTE`,
//! 30 by default): the server must run with that raised well above what one client sends in a
//! minute, or charges fail with `risk_velocity` (counted, never retried).

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt, stream};
use purse_core::api::merchants::CreateMerchantRequest;
use purse_core::api::payments::CreateChargeRequest;
use purse_core::money::{self, Amount};
use purse_core::paycode::{self, NewPayCode};

use super::api::Api;
use super::run_tag;
use super::setup::{self, BenchUser, BenchWallet, Conservation};
use super::target::Target;
use super::transfers::{self, Measured, Plan, Work};

/// Setup and check requests in flight at once.
const SETUP_PARALLEL: usize = 16;
/// How long each pay code is valid; generated right before it is charged.
const PAYCODE_VALIDITY_SECS: u8 = 60;

/// The merchant the POS clients charge for.
#[derive(Clone, Debug)]
pub struct Pos {
    /// `mer_...`
    pub merchant_id: String,
    /// `wal_...`
    pub wallet_id: String,
    /// `purse_pos_...`
    pub secret: String,
}

/// One acknowledged charge (201).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Charged {
    /// `chg_...`
    pub id: String,
    pub minor: i64,
}

/// What a run found, beside the printed report.
#[derive(Clone, Debug)]
pub struct Summary {
    pub transfers: u64,
    pub transfers_failed: u64,
    pub transfers_per_s: f64,
    pub charges: u64,
    pub charges_failed: u64,
    pub charges_per_s: f64,
    /// Charges per second over transfers per second.
    pub ratio: f64,
    /// Bench wallets plus the merchant's hold what was funded.
    pub conservation: Conservation,
    /// Every acknowledged charge reads back once with its amount, and the merchant holds their
    /// sum; the problems found otherwise.
    pub charge_problems: Vec<String>,
}

impl Summary {
    /// The process exit status: 0; 1 when no transfer or no charge succeeded; 3 when a check
    /// failed.
    pub fn exit_code(&self) -> u8 {
        if !self.conservation.holds() || !self.charge_problems.is_empty() {
            3
        } else if self.transfers == 0 || self.charges == 0 {
            1
        } else {
            0
        }
    }
}

/// Why a plan cannot run: as for transfers, and one bench user (device) per client.
pub fn check(plan: &Plan) -> anyhow::Result<()> {
    transfers::check(plan)?;
    if plan.wallets < plan.concurrency {
        bail!(
            "--wallets must be at least --concurrency: each POS client charges the pay codes of \
             its own device, whose counter must strictly increase"
        );
    }
    Ok(())
}

/// Runs transfers then charges and prints the report.
pub fn run(target: &Target, plan: &Plan) -> anyhow::Result<Summary> {
    check(plan)?;
    let run = run_tag();
    println!(
        "purse bench charges: {} | {} wallets | {} clients on {} thread(s) | {} s + {} s warm-up per phase | run {run}",
        target.base,
        plan.wallets,
        plan.concurrency,
        plan.threads,
        plan.duration.as_secs_f64(),
        plan.warmup.as_secs_f64(),
    );
    let (users, funded_minor) =
        actix_rt::System::new().block_on(transfers::prepare(target, plan, &run))?;
    let pos = actix_rt::System::new().block_on(open_shop(target, plan, &run))?;
    let users = Arc::new(users);
    println!("phase 1: P2P transfers");
    let transferred = transfers::load(target, plan, &run, &users, Work::Transfers)?;
    let transfers_per_s = transfers::print_load("transfers", plan, &transferred);
    println!(
        "phase 2: charges of pay codes by {} POS clients",
        plan.concurrency
    );
    let charged = transfers::load(target, plan, &run, &users, Work::Charges(&pos))?;
    let charges_per_s = transfers::print_load("charges", plan, &charged);
    let ratio = charges_per_s / transfers_per_s.max(f64::EPSILON);
    println!("ratio: charges/transfers = {ratio:.2} (target at least 0.8)");
    let (conservation, charge_problems) = actix_rt::System::new().block_on(verify(
        target,
        plan,
        &users,
        &pos,
        funded_minor,
        &charged.charges,
    ))?;
    Ok(report(
        plan,
        &transferred,
        &charged,
        ratio,
        conservation,
        charge_problems,
    ))
}

/// A user owning one merchant in the bench currency, and a POS key of it.
async fn open_shop(target: &Target, plan: &Plan, run: &str) -> anyhow::Result<Pos> {
    let api = Api::new(target, 1, plan.request_timeout);
    let owner = setup::create_users(&api, &format!("{run}-owner"), &[Vec::new()], 1)
        .await?
        .pop()
        .context("the merchant owner")?;
    let request = CreateMerchantRequest {
        name: "Purse bench shop".to_owned(),
        city: "Bench".to_owned(),
        country: "US".to_owned(),
        mcc: "5411".to_owned(),
        currency: plan.currency.code.to_owned(),
    };
    let merchant = api
        .create_merchant(&owner.session.access_token, &request)
        .await
        .context("creating the bench merchant")?;
    let key = api
        .create_pos_key(&owner.session.access_token, &merchant.id, "bench till")
        .await
        .context("creating the bench POS key")?;
    let secret = key
        .secret
        .context("the new POS key's answer carries no secret")?;
    println!(
        "merchant: {} with wallet {} and one POS key",
        merchant.id, merchant.wallet_id
    );
    Ok(Pos {
        merchant_id: merchant.id,
        wallet_id: merchant.wallet_id,
        secret,
    })
}

/// One charge of `minor` units: `payer`'s device makes pay code number `counter` now, the POS
/// charges it under `idempotency_key`. Errors are the stable code the failure is counted under.
pub(super) async fn charge(
    api: &Api,
    pos: &Pos,
    payer: &BenchUser,
    counter: u32,
    minor: i64,
    idempotency_key: &str,
) -> Result<Charged, String> {
    let currency = payer.wallets[0].currency;
    let amount = Amount::from_minor(minor, currency).map_err(|err| err.code().to_owned())?;
    let issued_at_unix = u64::try_from(crate::ledger::now_ms() / 1000).unwrap_or(0);
    let code = paycode::generate(
        &payer.session.key,
        &NewPayCode {
            counter,
            issued_at_unix,
            validity_secs: PAYCODE_VALIDITY_SECS,
            cap: None,
        },
    )
    .map_err(|err| err.code().to_owned())?;
    let body = CreateChargeRequest {
        paycode: code,
        amount: amount.to_string(),
        currency: currency.code.to_owned(),
        reference: Some(format!("bench-{counter}")),
    };
    let body = serde_json::to_vec(&body).map_err(|_| "request_unserializable".to_owned())?;
    let receipt = api
        .charge(&pos.secret, body, idempotency_key)
        .await
        .map_err(|err| err.code().to_owned())?;
    Ok(Charged {
        id: receipt.id,
        minor,
    })
}

/// Conservation over the bench wallets and the merchant's, then the acknowledged charges.
async fn verify(
    target: &Target,
    plan: &Plan,
    users: &[BenchUser],
    pos: &Pos,
    funded_minor: i64,
    charged: &[Charged],
) -> anyhow::Result<(Conservation, Vec<String>)> {
    let api = Api::new(target, SETUP_PARALLEL, plan.request_timeout);
    let mut balances = setup::balances(&api, users, SETUP_PARALLEL).await?;
    let text = api
        .merchant_balance(&pos.secret, &pos.merchant_id)
        .await
        .context("reading the merchant's balance")?;
    let merchant_minor = setup::balance_minor(&text, plan.currency).with_context(|| {
        format!("the merchant's wallet answered an unreadable balance {text:?}")
    })?;
    balances.push((
        BenchWallet {
            id: pos.wallet_id.clone(),
            currency: plan.currency,
        },
        merchant_minor,
    ));
    let conservation = Conservation::check(&balances, funded_minor);
    let mut problems = Vec::new();
    let charged_minor: i64 = charged.iter().map(|c| c.minor).sum();
    if merchant_minor != charged_minor {
        problems.push(format!(
            "the merchant holds {} but the acknowledged charges add up to {}",
            money::format_minor(merchant_minor, plan.currency),
            money::format_minor(charged_minor, plan.currency)
        ));
    }
    let distinct: HashSet<&str> = charged.iter().map(|c| c.id.as_str()).collect();
    if distinct.len() != charged.len() {
        problems.push(format!(
            "{} acknowledged charges carry only {} distinct ids",
            charged.len(),
            distinct.len()
        ));
    }
    let read: Vec<Option<String>> = stream::iter(charged)
        .map(|c| {
            let api = &api;
            async move {
                let charge = api
                    .get_charge(&pos.secret, &c.id)
                    .await
                    .with_context(|| format!("reading charge {}", c.id))?;
                let amount = Amount::parse(&charge.amount, plan.currency).map(|a| a.minor());
                Ok::<_, anyhow::Error>(
                    (amount != Ok(c.minor) || charge.merchant_id != pos.merchant_id).then(|| {
                        format!(
                            "charge {} reads back {} {} of {}",
                            c.id, charge.amount, charge.currency, charge.merchant_id
                        )
                    }),
                )
            }
        })
        .buffer_unordered(SETUP_PARALLEL)
        .try_collect()
        .await?;
    problems.extend(read.into_iter().flatten());
    Ok((conservation, problems))
}

/// Prints the checks and the result line.
fn report(
    plan: &Plan,
    transferred: &Measured,
    charged: &Measured,
    ratio: f64,
    conservation: Conservation,
    charge_problems: Vec<String>,
) -> Summary {
    let verdict = transfers::print_conservation(plan.currency, &conservation);
    if charge_problems.is_empty() {
        println!(
            "charges: ok: {} acknowledged charges each read back once with their amount; the merchant holds their sum",
            charged.charges.len()
        );
    } else {
        println!("charges: VIOLATED:");
        for problem in charge_problems.iter().take(20) {
            println!("  {problem}");
        }
    }
    let (t, c) = (&transferred.recorder, &charged.recorder);
    let rate =
        |m: &Measured| m.recorder.succeeded() as f64 / m.window.as_secs_f64().max(f64::EPSILON);
    let (transfers_per_s, charges_per_s) = (rate(transferred), rate(charged));
    println!(
        "result: transfers_per_s={transfers_per_s:.1} transfers_p50_ms={:.2} transfers_p99_ms={:.2} charges_per_s={charges_per_s:.1} charges_p50_ms={:.2} charges_p99_ms={:.2} ratio={ratio:.2} failed={} conservation={verdict} charges_check={}",
        t.latency_ms(0.5),
        t.latency_ms(0.99),
        c.latency_ms(0.5),
        c.latency_ms(0.99),
        t.failed() + c.failed(),
        if charge_problems.is_empty() {
            "ok"
        } else {
            "violated"
        },
    );
    let summary = Summary {
        transfers: t.succeeded(),
        transfers_failed: t.failed(),
        transfers_per_s,
        charges: c.succeeded(),
        charges_failed: c.failed(),
        charges_per_s,
        ratio,
        conservation,
        charge_problems,
    };
    if summary.transfers == 0 || summary.charges == 0 {
        eprintln!("error: no transfer or no charge succeeded");
    }
    summary
}
