//! Setting up the people of a bench run over the public API (sign up, log in, register a device
//! with a fresh Ed25519 key, open wallets), funding their wallets through the operator's path, and
//! reading the balances back for the conservation check. It never writes to the database except
//! through [`Ledger::fund`], the very call `purse admin fund` makes.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt, stream};
use purse_core::api::ledger::AdminFundRequest;
use purse_core::keys::SecretKey;
use purse_core::money::{self, Amount, Currency, MoneyError};

use super::api::{Api, CallError, Session};
use crate::config::{Config, redact_url};
use crate::db::Db;
use crate::ledger::Ledger;
use crate::metrics::Metrics;

/// A bench user: a session with a registered device, and its wallets.
#[derive(Debug)]
pub struct BenchUser {
    pub email: String,
    pub session: Session,
    pub wallets: Vec<BenchWallet>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchWallet {
    /// `wal_...`
    pub id: String,
    pub currency: &'static Currency,
}

/// How wallets get their money.
#[derive(Clone, Debug)]
pub enum Funding {
    /// `POST /v1/admin/fund` with the operator token (`PURSE_ADMIN_TOKEN` of the server).
    AdminApi { token: String },
    /// [`Ledger::fund`] on the server's own database, exactly as `purse admin fund` does; the
    /// configuration is loaded the same way (`--config`, `PURSE_*`, or the zero-config
    /// `./data/purse.db`).
    Database(Box<Config>),
}

impl Funding {
    /// Where the money comes from, for the report (database URLs redacted).
    pub fn describe(&self) -> String {
        match self {
            Funding::AdminApi { .. } => "the admin API".to_owned(),
            Funding::Database(config) => {
                format!("the database {}", redact_url(&config.database_url()))
            }
        }
    }
}

/// Signs up `plan.len()` users (user `i` opens a wallet in each currency of `plan[i]`), at most
/// `parallel` at once. Emails are `bench-<run>-<i>@example.com`.
pub async fn create_users(
    api: &Api,
    run: &str,
    plan: &[Vec<&'static Currency>],
    parallel: usize,
) -> anyhow::Result<Vec<BenchUser>> {
    let password = format!("bench-password-{run}");
    let total = plan.len();
    let started = Instant::now();
    let mut done = 0usize;
    let mut users = Vec::with_capacity(total);
    let mut pending = stream::iter(plan.iter().enumerate())
        .map(|(i, currencies)| create_user(api, run, i, &password, currencies))
        .buffered(parallel.max(1));
    while let Some(user) = pending.next().await {
        users.push(user?);
        done += 1;
        if total >= 1000 && done % (total / 10) == 0 {
            eprintln!(
                "  users: {done}/{total} set up ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(users)
}

async fn create_user(
    api: &Api,
    run: &str,
    index: usize,
    password: &str,
    currencies: &[&'static Currency],
) -> anyhow::Result<BenchUser> {
    let email = format!("bench-{run}-{index}@example.com");
    let who = email.as_str();
    let step = |what: &'static str| move |err: CallError| anyhow::anyhow!("{what} of {who}: {err}");
    api.signup(&email, password)
        .await
        .map_err(step("sign-up"))?;
    let tokens = api.login(&email, password).await.map_err(step("login"))?;
    let key = SecretKey::generate();
    let device = api
        .register_device(&tokens.access_token, &key)
        .await
        .map_err(step("device registration"))?;
    let mut wallets = Vec::with_capacity(currencies.len());
    for &currency in currencies {
        let id = api
            .open_wallet(&tokens.access_token, currency.code)
            .await
            .map_err(step("opening a wallet"))?;
        wallets.push(BenchWallet { id, currency });
    }
    Ok(BenchUser {
        session: Session {
            user_id: tokens.user_id,
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            device_id: device.id,
            key,
        },
        email,
        wallets,
    })
}

/// Trades every user's refresh token for a fresh token pair, so a long setup does not leave the
/// load phase with access tokens about to expire.
pub async fn refresh_tokens(
    api: &Api,
    users: &mut [BenchUser],
    parallel: usize,
) -> anyhow::Result<()> {
    let fresh: Vec<_> = stream::iter(users.iter())
        .map(|user| async move {
            api.refresh(&user.session.refresh_token)
                .await
                .with_context(|| format!("refreshing the tokens of {}", user.email))
        })
        .buffered(parallel.max(1))
        .try_collect()
        .await?;
    for (user, tokens) in users.iter_mut().zip(fresh) {
        user.session.access_token = tokens.access_token;
        user.session.refresh_token = tokens.refresh_token;
    }
    Ok(())
}

/// Credits each `(wallet, minor units)` once, under the reference `bench:<run>:<wallet id>`, at
/// most `parallel` at once (the ledger writer batches them).
pub async fn fund(
    api: &Api,
    funding: &Funding,
    run: &str,
    wallets: &[(&BenchWallet, i64)],
    parallel: usize,
) -> anyhow::Result<()> {
    let reference = |wallet: &BenchWallet| format!("bench:{run}:{}", wallet.id);
    match funding {
        Funding::AdminApi { token } => {
            stream::iter(wallets)
                .map(|&(wallet, minor)| async move {
                    let request = AdminFundRequest {
                        wallet_id: wallet.id.clone(),
                        amount: money::format_minor(minor, wallet.currency),
                        reference: Some(reference(wallet)),
                    };
                    api.admin_fund(token, &request)
                        .await
                        .with_context(|| format!("funding {} through the admin API", wallet.id))
                })
                .buffer_unordered(parallel.max(1))
                .try_for_each(|_| async { Ok(()) })
                .await
        }
        Funding::Database(config) => {
            let db = Db::open(config).await.with_context(|| {
                format!(
                    "opening {} to fund the bench wallets",
                    redact_url(&config.database_url())
                )
            })?;
            let ledger = Ledger::start(db.clone(), &config.ledger, &config.wallets, Metrics::new());
            let outcome = fund_in_ledger(&ledger, config, wallets, &reference, parallel).await;
            ledger.shutdown().await;
            db.close().await;
            outcome
        }
    }
}

async fn fund_in_ledger(
    ledger: &Ledger,
    config: &Config,
    wallets: &[(&BenchWallet, i64)],
    reference: &impl Fn(&BenchWallet) -> String,
    parallel: usize,
) -> anyhow::Result<()> {
    // A wallet the server just opened must be in this database, or we are pointed at another one.
    if let Some((first, _)) = wallets.first()
        && ledger.account(&first.id).await?.is_none()
    {
        bail!(
            "the server's wallet {} is not in {}: run `purse bench` from the folder of the \
             zero-config `purse serve`, or give it the server's PURSE_DATABASE_URL / --config, \
             or fund through the admin API with --admin-token",
            first.id,
            redact_url(&config.database_url())
        );
    }
    stream::iter(wallets)
        .map(|&(wallet, minor)| async move {
            ledger
                .fund(&wallet.id, minor, Some(reference(wallet)))
                .await
                .map_err(|err| anyhow::anyhow!("funding {}: {}: {err}", wallet.id, err.code()))
        })
        .buffer_unordered(parallel.max(1))
        .try_for_each(|_| async { Ok(()) })
        .await
}

/// Every wallet's balance in minor units, as its owner reads it over the API.
pub async fn balances(
    api: &Api,
    users: &[BenchUser],
    parallel: usize,
) -> anyhow::Result<Vec<(BenchWallet, i64)>> {
    let pairs = users
        .iter()
        .flat_map(|user| user.wallets.iter().map(move |wallet| (user, wallet)));
    stream::iter(pairs)
        .map(|(user, wallet)| async move {
            let text = api
                .wallet_balance(&user.session.access_token, &wallet.id)
                .await
                .with_context(|| format!("reading the balance of {}", wallet.id))?;
            let minor = balance_minor(&text, wallet.currency).with_context(|| {
                format!(
                    "wallet {} answered an unreadable balance {text:?}",
                    wallet.id
                )
            })?;
            Ok::<_, anyhow::Error>((wallet.clone(), minor))
        })
        .buffered(parallel.max(1))
        .try_collect()
        .await
}

/// A balance as the API shows it (`"12.50"`, `"0.00"`, or negative for system accounts) in
/// minor units; `None` when it is not a well-formed amount of `currency`.
pub fn balance_minor(text: &str, currency: &'static Currency) -> Option<i64> {
    let (negative, magnitude) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    match Amount::parse(magnitude, currency) {
        Ok(amount) if negative => Some(-amount.minor()),
        Ok(amount) => Some(amount.minor()),
        Err(MoneyError::AmountNotPositive) if !negative => Some(0),
        Err(_) => None,
    }
}

/// The outcome of the conservation check over the bench wallets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conservation {
    pub wallets: usize,
    pub funded_minor: i64,
    pub held_minor: i64,
    /// Wallets whose balance is below zero.
    pub negative: Vec<String>,
}

impl Conservation {
    /// Money moved only between these wallets, so together they hold exactly what was funded.
    pub fn check(balances: &[(BenchWallet, i64)], funded_minor: i64) -> Conservation {
        let held_minor = balances
            .iter()
            .try_fold(0i64, |sum, (_, minor)| sum.checked_add(*minor))
            // An overflowing sum cannot equal any funding: report it as the maximum.
            .unwrap_or(i64::MAX);
        Conservation {
            wallets: balances.len(),
            funded_minor,
            held_minor,
            negative: balances
                .iter()
                .filter(|(_, minor)| *minor < 0)
                .map(|(wallet, _)| wallet.id.clone())
                .collect(),
        }
    }

    pub fn holds(&self) -> bool {
        self.held_minor == self.funded_minor && self.negative.is_empty()
    }
}

/// Seconds with one decimal, for progress lines.
pub fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> &'static Currency {
        Currency::from_code("USD").unwrap()
    }

    #[test]
    fn balances_parse_exactly_including_zero_and_negative() {
        assert_eq!(balance_minor("12.50", usd()), Some(1250));
        assert_eq!(balance_minor("0.00", usd()), Some(0));
        assert_eq!(balance_minor("0", usd()), Some(0));
        assert_eq!(balance_minor("-0.05", usd()), Some(-5));
        let jpy = Currency::from_code("JPY").unwrap();
        assert_eq!(balance_minor("1500", jpy), Some(1500));
        for bad in ["", "-", "--1", "1.005", "abc", "-0", "1e3", " 1"] {
            assert_eq!(balance_minor(bad, usd()), None, "{bad:?}");
        }
        assert_eq!(balance_minor("1.5", jpy), None);
    }

    #[test]
    fn conservation_needs_the_exact_sum_and_no_negative_balance() {
        let wallet = |id: &str| BenchWallet {
            id: id.to_owned(),
            currency: usd(),
        };
        let ok = [(wallet("a"), 700), (wallet("b"), 300)];
        assert!(Conservation::check(&ok, 1000).holds());
        let lost = [(wallet("a"), 700), (wallet("b"), 299)];
        let check = Conservation::check(&lost, 1000);
        assert!(!check.holds());
        assert_eq!(check.held_minor, 999);
        let negative = [(wallet("a"), 1100), (wallet("b"), -100)];
        let check = Conservation::check(&negative, 1000);
        assert!(!check.holds());
        assert_eq!(check.negative, vec!["b".to_owned()]);
        let overflow = [(wallet("a"), i64::MAX), (wallet("b"), 1)];
        assert!(!Conservation::check(&overflow, 1000).holds());
    }
}
