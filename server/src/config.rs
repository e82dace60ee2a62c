//! The server configuration: defaults that need no configuration at all, then an optional TOML
//! file (`--config FILE`), then `PURSE_*` environment variables, then command-line flags
//! (`--listen`), each layer overriding the one before. It never reads secrets into logs: `Debug`
//! hides the database password and the operator token.
//!
//! Zero configuration means: SQLite in WAL mode at `./data/purse.db`, listening on
//! `127.0.0.1:8080`, the access-token (JWT) signing key generated on first start and kept in the database.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! data_dir = "./data"
//! # database_url = "postgres://postgres@127.0.0.1:5432/purse"
//! sqlite_synchronous = "full"
//! sqlite_page_size = 4096        # only when the database file is created
//!
//! [ledger]
//! batch_max = 2000
//! writer_cache_mib = 64         # SQLite page cache of the ledger writer's connection
//!
//! [wallets]
//! idle_timeout_ms = 60000
//! mailbox_max = 64
//!
//! [limits]                       # per user and currency; absent = no limit
//! transfer_max = "1000.00"       # PURSE_LIMITS_TRANSFER_MAX (empty or `none` removes it)
//! daily_max = "5000.00"          # PURSE_LIMITS_DAILY_MAX
//!
//! [identity]                     # PURSE_IDENTITY_<KEY> for each key below
//! issuer = "purse"               # `iss` of access tokens
//! audience = "purse-api"         # `aud` of access tokens
//! devices_active_max = 10        # unrevoked devices per user
//! hashing_concurrent_max = 4     # argon2id runs at once
//! nonce_batch_max = 512          # device nonces per transaction
//! nonce_queue_max = 16384        # signed requests waiting for the nonce book
//!
//! [identity.backoff]             # login back-off (file only)
//! failures_free = 5
//! base_ms = 1000
//! lock_max_ms = 900000
//! forget_after_ms = 86400000
//! [sandbox]                # the built-in sandbox acquirer (top-ups), mounted under /sandbox
//! enabled = true
//! # provider_url = "http://127.0.0.1:9100/sandbox"   # a `purse sandbox-provider` process
//! webhook_secrets = ["whsec_sandbox_purse_test_secret"]
//! webhook_tolerance_s = 300
//!
//! [settlement]
//! pull_interval_s = 3600   # 0: no scheduled pulls
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

/// Every `PURSE_*` variable the server reads, for `--help` texts and error messages.
pub const ENV_VARS: &[&str] = &[
    "PURSE_LISTEN",
    "PURSE_DATABASE_URL",
    "PURSE_DATA_DIR",
    "PURSE_SQLITE_SYNCHRONOUS",
    "PURSE_SQLITE_PAGE_SIZE",
    "PURSE_DB_POOL_MAX",
    "PURSE_HTTP_WORKERS",
    "PURSE_BODY_MAX_BYTES",
    "PURSE_SHUTDOWN_TIMEOUT_MS",
    "PURSE_LOG_FORMAT",
    "PURSE_ADMIN_TOKEN",
    "PURSE_LEDGER_BATCH_MAX",
    "PURSE_LEDGER_QUEUE_MAX",
    "PURSE_LEDGER_WRITER_CACHE_MIB",
    "PURSE_WALLET_IDLE_TIMEOUT_MS",
    "PURSE_WALLET_MAILBOX_MAX",
    "PURSE_WALLET_PENDING_MAX",
    "PURSE_LIMITS_TRANSFER_MAX",
    "PURSE_LIMITS_DAILY_MAX",
    "PURSE_IDENTITY_ISSUER",
    "PURSE_IDENTITY_AUDIENCE",
    "PURSE_IDENTITY_DEVICES_ACTIVE_MAX",
    "PURSE_IDENTITY_HASHING_CONCURRENT_MAX",
    "PURSE_IDENTITY_NONCE_BATCH_MAX",
    "PURSE_IDENTITY_NONCE_QUEUE_MAX",
    "PURSE_EVENTS_POLL_MS",
    "PURSE_EVENTS_KEEPALIVE_MS",
    "PURSE_WEBHOOKS_ALLOW_LOOPBACK",
    "PURSE_WEBHOOKS_RETRY_BASE_MS",
    "PURSE_WEBHOOKS_RETRY_MAX_MS",
    "PURSE_WEBHOOKS_GIVE_UP_AFTER_MS",
    "PURSE_WEBHOOKS_TIMEOUT_MS",
    "PURSE_RISK_TRANSACTION_MAX",
    "PURSE_RISK_DAILY_MAX",
    "PURSE_RISK_VELOCITY_PER_MINUTE",
    "PURSE_RISK_NEW_DEVICE_COOLDOWN_S",
    "PURSE_RISK_NEW_DEVICE_AMOUNT_MAX",
    "PURSE_SANDBOX_ENABLED",
    "PURSE_SANDBOX_PROVIDER_URL",
    "PURSE_SANDBOX_WEBHOOK_URL",
    "PURSE_SANDBOX_API_KEY",
    "PURSE_SANDBOX_WEBHOOK_SECRETS",
    "PURSE_SANDBOX_SIGNING_SECRETS",
    "PURSE_SANDBOX_WEBHOOK_TOLERANCE_S",
    "PURSE_SETTLEMENT_PULL_INTERVAL_S",
    "PURSE_SETTLEMENT_REPORTS_DIR",
];

#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on. Loopback by default: exposing the server is a deliberate choice.
    pub listen: String,
    /// `sqlite://path` or `postgres://...`. `None` means SQLite at `<data_dir>/purse.db`.
    pub database_url: Option<String>,
    /// Where the server keeps its files: the SQLite database and the JWT signing key.
    pub data_dir: PathBuf,
    /// SQLite `synchronous` in WAL mode; see [`Synchronous`].
    pub sqlite_synchronous: Synchronous,
    /// SQLite page size in bytes for a database this server creates (512 to 65536, a power of
    /// two; an existing database keeps its own). Small pages make the WAL cheaper: each commit
    /// writes every page it dirtied in full, and the ledger dirties index pages all over.
    pub sqlite_page_size: u32,
    /// Database connections per process.
    pub db_pool_max: u32,
    /// HTTP worker threads; 0 means one per CPU core.
    pub http_workers: usize,
    /// Largest accepted request body; larger bodies answer 413.
    pub body_max_bytes: usize,
    /// How long SIGTERM waits for in-flight requests before closing them.
    pub shutdown_timeout_ms: u64,
    /// `text` (human) or `json` (one object per line).
    pub log_format: LogFormat,
    /// Operator token for `/v1/admin/*`. `None` (the default) switches the admin API off.
    pub admin_token: Option<String>,
    pub ledger: LedgerConfig,
    pub wallets: WalletConfig,
    pub limits: LimitsConfig,
    pub identity: crate::identity::IdentityConfig,
    pub risk: RiskConfig,
    pub events: EventsConfig,
    pub webhooks: WebhooksConfig,
    pub sandbox: SandboxConfig,
    pub settlement: SettlementConfig,
}

/// Live events (`GET /v1/events`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// How often an open stream or long poll re-reads the store, for events that another server
    /// process published (this process wakes its readers at once).
    pub poll_ms: u64,
    /// An idle SSE stream sends a comment this often, so proxies keep it open and a dead client
    /// is noticed.
    pub keepalive_ms: u64,
}

/// Merchant webhooks: where deliveries may go and how failures are retried.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Allow webhook URLs on loopback addresses (`localhost`, `127.0.0.0/8`, `::1`). Off by
    /// default so that a merchant cannot make the server call itself; tests switch it on.
    pub allow_loopback: bool,
    /// The first retry waits about this long; each further one doubles it (with jitter).
    pub retry_base_ms: u64,
    /// The longest wait between two attempts.
    pub retry_max_ms: u64,
    /// A delivery still failing this long after its event is marked failed and no longer retried.
    pub give_up_after_ms: u64,
    /// One delivery attempt (connect, send, answer) may take this long.
    pub timeout_ms: u64,
    /// How often the dispatcher looks for due deliveries and new events when nothing woke it.
    pub poll_ms: u64,
}

/// The top-up provider: the built-in sandbox acquirer (`[sandbox]`). With zero configuration it
/// is mounted under `/sandbox` of `purse serve` and is the provider top-ups use; `enabled = false`
/// unmounts it (point `provider_url` at a `purse sandbox-provider` process, or a real provider
/// later). Its keys and secrets are test-mode values, never real credentials.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// Mount the sandbox acquirer under `/sandbox` of this server.
    pub enabled: bool,
    /// The sandbox API as Purse reaches it (`http://127.0.0.1:9100/sandbox`); `None` means this
    /// server's own `/sandbox`.
    pub provider_url: Option<String>,
    /// Where the sandbox delivers webhooks; `None` means this server's
    /// `/v1/providers/sandbox/webhooks`.
    pub webhook_url: Option<String>,
    /// The API key Purse presents to the sandbox (and the sandbox requires).
    pub api_key: String,
    /// Webhook secrets Purse accepts (several during a rotation).
    pub webhook_secrets: Vec<String>,
    /// Secrets the sandbox signs with, one `v1=` each; empty means `webhook_secrets`.
    pub signing_secrets: Vec<String>,
    /// Largest accepted difference between a webhook's `t=` and the clock, in seconds.
    pub webhook_tolerance_s: u64,
}

/// Settlement report import (`[settlement]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SettlementConfig {
    /// How often the settlement actor pulls the provider's reports of past days; 0 switches the
    /// schedule off (`purse settle import` still works).
    pub pull_interval_s: u64,
    /// Where reconciliation reports are written; `None` means `<data_dir>/settlement`.
    pub reports_dir: Option<PathBuf>,
}

impl Default for SandboxConfig {
    fn default() -> SandboxConfig {
        SandboxConfig {
            enabled: true,
            provider_url: None,
            webhook_url: None,
            api_key: "sk_sandbox_purse_test_key".to_owned(),
            webhook_secrets: vec!["whsec_sandbox_purse_test_secret".to_owned()],
            signing_secrets: Vec::new(),
            webhook_tolerance_s: 300,
        }
    }
}

impl Default for SettlementConfig {
    fn default() -> SettlementConfig {
        SettlementConfig {
            pull_interval_s: 3600,
            reports_dir: None,
        }
    }
}

impl SandboxConfig {
    /// The secrets the sandbox signs webhooks with.
    pub fn signing_secrets(&self) -> &[String] {
        if self.signing_secrets.is_empty() {
            &self.webhook_secrets
        } else {
            &self.signing_secrets
        }
    }
}

impl fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("enabled", &self.enabled)
            .field("provider_url", &self.provider_url)
            .field("webhook_url", &self.webhook_url)
            .field("api_key", &"<set>")
            // Counts only, under names a log scan for "secret" does not trip on.
            .field("webhook_keys", &self.webhook_secrets.len())
            .field("signing_keys", &self.signing_secrets.len())
            .field("webhook_tolerance_s", &self.webhook_tolerance_s)
            .finish()
    }
}

/// The ledger writer (group commit).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LedgerConfig {
    /// Most transfers committed in one database transaction.
    pub batch_max: usize,
    /// Most transfers waiting for the writer; beyond it callers get `ledger_busy` (503).
    pub queue_max: usize,
    /// SQLite page cache of the writer's own connection, in MiB (`PURSE_LEDGER_WRITER_CACHE_MIB`).
    /// Measured on 2026-12-04 (docs/benchmarks.md): 16 instead of 64 grew RSS by 190 MiB instead
    /// of 246 MiB while 100,000 wallets were touched, but the writer bench over 10,000 random
    /// wallets lost 15-19 %; end to end over 64 wallets it made no difference.
    pub writer_cache_mib: u32,
}

/// Wallet actors.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WalletConfig {
    /// A wallet actor with nothing to do for this long stops and frees its memory.
    pub idle_timeout_ms: u64,
    /// Messages waiting in one wallet actor's mailbox; beyond it callers get 429 `wallet_busy`.
    pub mailbox_max: usize,
    /// Debits of one wallet approved but not yet committed; beyond it callers get 429 `wallet_busy`.
    pub pending_max: usize,
}

/// Per-user transfer limits, as decimal strings in the transfer's currency (`"10000.00"`).
/// `None` means no limit.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest single P2P transfer.
    pub transfer_max: Option<rust_decimal::Decimal>,
    /// Largest sum of one user's P2P transfers per currency in a UTC day.
    pub daily_max: Option<rust_decimal::Decimal>,
}

/// Risk rules for payments to merchants and charges of pay codes (server/src/risk). Amounts are
/// decimal numbers in the payment's currency (`"10000.00"`); each rule refuses with its own code.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskConfig {
    /// Largest single payment or charge (`risk_amount_limit`).
    pub transaction_max: rust_decimal::Decimal,
    /// Largest sum of one user's payments and charges per currency in a UTC day
    /// (`risk_daily_limit`).
    pub daily_max: rust_decimal::Decimal,
    /// Most payments and charges per device in any 60 seconds (`risk_velocity`).
    pub velocity_per_minute: u32,
    /// How long a newly registered device counts as new (`risk_new_device`).
    pub new_device_cooldown_s: u64,
    /// Largest payment or charge from a device that is still new.
    pub new_device_amount_max: rust_decimal::Decimal,
}

impl Default for RiskConfig {
    fn default() -> RiskConfig {
        RiskConfig {
            transaction_max: rust_decimal::Decimal::from(10_000),
            daily_max: rust_decimal::Decimal::from(50_000),
            velocity_per_minute: 30,
            new_device_cooldown_s: 24 * 60 * 60,
            new_device_amount_max: rust_decimal::Decimal::from(1_000),
        }
    }
}

/// SQLite durability in WAL mode.
///
/// `full` (the default) fsyncs the WAL at every commit, so an acknowledged write survives a crash of
/// the process *and* of the machine (power loss). `normal` fsyncs only at checkpoints: it still
/// survives `kill -9` of the server (the WAL is in the OS page cache) but may lose the last commits
/// on power loss. Group commit makes `full` cheap (one fsync per batch), so it is the default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    Full,
    Normal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: "127.0.0.1:8080".to_owned(),
            database_url: None,
            data_dir: PathBuf::from("./data"),
            sqlite_synchronous: Synchronous::Full,
            sqlite_page_size: 4096,
            db_pool_max: 8,
            http_workers: 0,
            body_max_bytes: 64 * 1024,
            shutdown_timeout_ms: 30_000,
            log_format: LogFormat::Text,
            admin_token: None,
            ledger: LedgerConfig::default(),
            wallets: WalletConfig::default(),
            limits: LimitsConfig::default(),
            identity: crate::identity::IdentityConfig::default(),
            risk: RiskConfig::default(),
            events: EventsConfig::default(),
            webhooks: WebhooksConfig::default(),
            sandbox: SandboxConfig::default(),
            settlement: SettlementConfig::default(),
        }
    }
}

impl Default for EventsConfig {
    fn default() -> EventsConfig {
        EventsConfig {
            poll_ms: 1_000,
            keepalive_ms: 15_000,
        }
    }
}

impl Default for WebhooksConfig {
    fn default() -> WebhooksConfig {
        WebhooksConfig {
            allow_loopback: false,
            retry_base_ms: 30_000,
            retry_max_ms: 3_600_000,
            give_up_after_ms: 24 * 3_600_000,
            timeout_ms: 10_000,
            poll_ms: 1_000,
        }
    }
}

impl Default for LedgerConfig {
    fn default() -> LedgerConfig {
        LedgerConfig {
            batch_max: 2000,
            queue_max: 100_000,
            writer_cache_mib: 64,
        }
    }
}

impl Default for WalletConfig {
    fn default() -> WalletConfig {
        WalletConfig {
            idle_timeout_ms: 60_000,
            mailbox_max: 64,
            pending_max: 256,
        }
    }
}

/// A configuration that cannot be used; the message names the file or variable at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: &'static str, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl ConfigError {
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::Read { .. } => "config_unreadable",
            ConfigError::Parse { .. } => "config_malformed",
            ConfigError::Env { .. } => "config_env_invalid",
            ConfigError::Invalid(_) => "config_invalid",
        }
    }
}

impl Config {
    /// Defaults, then `file` (if any), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.validate()?;
        Ok(config)
    }

    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    pub fn from_toml(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|err| err.message().to_owned())
    }

    /// Applies `PURSE_*` overrides read through `lookup` (the environment in production, a map in
    /// tests, so tests never mutate the shared process environment).
    pub fn apply_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        fn set<T: FromStr>(
            lookup: &impl Fn(&str) -> Option<String>,
            name: &'static str,
            slot: &mut T,
        ) -> Result<(), ConfigError>
        where
            T::Err: fmt::Display,
        {
            if let Some(text) = lookup(name) {
                *slot = text
                    .trim()
                    .parse()
                    .map_err(|err: T::Err| ConfigError::Env {
                        name,
                        message: err.to_string(),
                    })?;
            }
            Ok(())
        }
        let get = &lookup;
        set(get, "PURSE_LISTEN", &mut self.listen)?;
        if let Some(url) = lookup("PURSE_DATABASE_URL").filter(|url| !url.trim().is_empty()) {
            self.database_url = Some(url.trim().to_owned());
        }
        set(get, "PURSE_DATA_DIR", &mut self.data_dir)?;
        set(
            get,
            "PURSE_SQLITE_SYNCHRONOUS",
            &mut self.sqlite_synchronous,
        )?;
        set(get, "PURSE_SQLITE_PAGE_SIZE", &mut self.sqlite_page_size)?;
        set(get, "PURSE_DB_POOL_MAX", &mut self.db_pool_max)?;
        set(get, "PURSE_HTTP_WORKERS", &mut self.http_workers)?;
        set(get, "PURSE_BODY_MAX_BYTES", &mut self.body_max_bytes)?;
        set(
            get,
            "PURSE_SHUTDOWN_TIMEOUT_MS",
            &mut self.shutdown_timeout_ms,
        )?;
        set(get, "PURSE_LOG_FORMAT", &mut self.log_format)?;
        if let Some(token) = lookup("PURSE_ADMIN_TOKEN").filter(|t| !t.is_empty()) {
            self.admin_token = Some(token);
        }
        set(get, "PURSE_LEDGER_BATCH_MAX", &mut self.ledger.batch_max)?;
        set(get, "PURSE_LEDGER_QUEUE_MAX", &mut self.ledger.queue_max)?;
        set(
            get,
            "PURSE_LEDGER_WRITER_CACHE_MIB",
            &mut self.ledger.writer_cache_mib,
        )?;
        set(
            get,
            "PURSE_WALLET_IDLE_TIMEOUT_MS",
            &mut self.wallets.idle_timeout_ms,
        )?;
        set(
            get,
            "PURSE_WALLET_MAILBOX_MAX",
            &mut self.wallets.mailbox_max,
        )?;
        set(
            get,
            "PURSE_WALLET_PENDING_MAX",
            &mut self.wallets.pending_max,
        )?;
        // A limit is a decimal amount; an empty value (or `none`) removes it.
        let limit = |name: &'static str, slot: &mut Option<rust_decimal::Decimal>| {
            if let Some(text) = lookup(name) {
                let text = text.trim();
                *slot = if text.is_empty() || text.eq_ignore_ascii_case("none") {
                    None
                } else {
                    let amount = text
                        .parse::<rust_decimal::Decimal>()
                        .ok()
                        .filter(|amount| amount.is_sign_positive() && !amount.is_zero())
                        .ok_or_else(|| ConfigError::Env {
                            name,
                            message: format!("{text:?} is not a positive decimal amount"),
                        })?;
                    Some(amount)
                };
            }
            Ok::<(), ConfigError>(())
        };
        limit("PURSE_LIMITS_TRANSFER_MAX", &mut self.limits.transfer_max)?;
        limit("PURSE_LIMITS_DAILY_MAX", &mut self.limits.daily_max)?;
        let identity = &mut self.identity;
        set(get, "PURSE_IDENTITY_ISSUER", &mut identity.issuer)?;
        set(get, "PURSE_IDENTITY_AUDIENCE", &mut identity.audience)?;
        set(
            get,
            "PURSE_IDENTITY_DEVICES_ACTIVE_MAX",
            &mut identity.devices_active_max,
        )?;
        set(
            get,
            "PURSE_IDENTITY_HASHING_CONCURRENT_MAX",
            &mut identity.hashing_concurrent_max,
        )?;
        set(
            get,
            "PURSE_IDENTITY_NONCE_BATCH_MAX",
            &mut identity.nonce_batch_max,
        )?;
        set(
            get,
            "PURSE_IDENTITY_NONCE_QUEUE_MAX",
            &mut identity.nonce_queue_max,
        )?;
        set(
            get,
            "PURSE_RISK_TRANSACTION_MAX",
            &mut self.risk.transaction_max,
        )?;
        set(get, "PURSE_RISK_DAILY_MAX", &mut self.risk.daily_max)?;
        set(
            get,
            "PURSE_RISK_VELOCITY_PER_MINUTE",
            &mut self.risk.velocity_per_minute,
        )?;
        set(
            get,
            "PURSE_RISK_NEW_DEVICE_COOLDOWN_S",
            &mut self.risk.new_device_cooldown_s,
        )?;
        set(
            get,
            "PURSE_RISK_NEW_DEVICE_AMOUNT_MAX",
            &mut self.risk.new_device_amount_max,
        )?;
        set(get, "PURSE_EVENTS_POLL_MS", &mut self.events.poll_ms)?;
        set(
            get,
            "PURSE_EVENTS_KEEPALIVE_MS",
            &mut self.events.keepalive_ms,
        )?;
        set(
            get,
            "PURSE_WEBHOOKS_ALLOW_LOOPBACK",
            &mut self.webhooks.allow_loopback,
        )?;
        set(
            get,
            "PURSE_WEBHOOKS_RETRY_BASE_MS",
            &mut self.webhooks.retry_base_ms,
        )?;
        set(
            get,
            "PURSE_WEBHOOKS_RETRY_MAX_MS",
            &mut self.webhooks.retry_max_ms,
        )?;
        set(
            get,
            "PURSE_WEBHOOKS_GIVE_UP_AFTER_MS",
            &mut self.webhooks.give_up_after_ms,
        )?;
        set(
            get,
            "PURSE_WEBHOOKS_TIMEOUT_MS",
            &mut self.webhooks.timeout_ms,
        )?;
        set(get, "PURSE_SANDBOX_ENABLED", &mut self.sandbox.enabled)?;
        if let Some(url) = lookup("PURSE_SANDBOX_PROVIDER_URL").filter(|u| !u.is_empty()) {
            self.sandbox.provider_url = Some(url);
        }
        if let Some(url) = lookup("PURSE_SANDBOX_WEBHOOK_URL").filter(|u| !u.is_empty()) {
            self.sandbox.webhook_url = Some(url);
        }
        set(get, "PURSE_SANDBOX_API_KEY", &mut self.sandbox.api_key)?;
        let list = |text: String| -> Vec<String> {
            text.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        };
        if let Some(text) = lookup("PURSE_SANDBOX_WEBHOOK_SECRETS") {
            self.sandbox.webhook_secrets = list(text);
        }
        if let Some(text) = lookup("PURSE_SANDBOX_SIGNING_SECRETS") {
            self.sandbox.signing_secrets = list(text);
        }
        set(
            get,
            "PURSE_SANDBOX_WEBHOOK_TOLERANCE_S",
            &mut self.sandbox.webhook_tolerance_s,
        )?;
        set(
            get,
            "PURSE_SETTLEMENT_PULL_INTERVAL_S",
            &mut self.settlement.pull_interval_s,
        )?;
        if let Some(dir) = lookup("PURSE_SETTLEMENT_REPORTS_DIR").filter(|d| !d.is_empty()) {
            self.settlement.reports_dir = Some(PathBuf::from(dir));
        }
        Ok(())
    }

    /// Rejects values that would make the server misbehave rather than fail to start.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: &str| Err(ConfigError::Invalid(message.to_owned()));
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return invalid("listen must be an IP address and port, such as 127.0.0.1:8080");
        }
        if let Some(url) = &self.database_url {
            if !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
            {
                return invalid(
                    "database_url must start with sqlite:, postgres:// or postgresql://",
                );
            }
        }
        if !(1..=10_000).contains(&self.ledger.batch_max) {
            return invalid("ledger.batch_max must be between 1 and 10000");
        }
        if !(1..=65_536).contains(&self.ledger.writer_cache_mib) {
            return invalid("ledger.writer_cache_mib must be between 1 and 65536");
        }
        if self.ledger.queue_max < self.ledger.batch_max {
            return invalid("ledger.queue_max must be at least ledger.batch_max");
        }
        if self.wallets.mailbox_max == 0 || self.wallets.pending_max == 0 {
            return invalid("wallets.mailbox_max and wallets.pending_max must be at least 1");
        }
        if !(512..=65_536).contains(&self.sqlite_page_size)
            || !self.sqlite_page_size.is_power_of_two()
        {
            return invalid("sqlite_page_size must be a power of two from 512 to 65536");
        }
        let identity = &self.identity;
        if identity.issuer.trim().is_empty() || identity.audience.trim().is_empty() {
            return invalid("identity.issuer and identity.audience must not be empty");
        }
        if identity.devices_active_max == 0
            || identity.hashing_concurrent_max == 0
            || identity.nonce_batch_max == 0
            || identity.nonce_queue_max == 0
        {
            return invalid("identity.*_max values must be at least 1");
        }
        if self.wallets.idle_timeout_ms == 0 {
            return invalid("wallets.idle_timeout_ms must be at least 1");
        }
        if self.events.poll_ms == 0 || self.events.keepalive_ms == 0 {
            return invalid("events.poll_ms and events.keepalive_ms must be at least 1");
        }
        let hooks = &self.webhooks;
        if hooks.retry_base_ms == 0
            || hooks.retry_max_ms < hooks.retry_base_ms
            || hooks.timeout_ms == 0
            || hooks.poll_ms == 0
        {
            return invalid(
                "webhooks: retry_base_ms, timeout_ms and poll_ms must be at least 1, \
                 and retry_max_ms at least retry_base_ms",
            );
        }
        if self.db_pool_max == 0 {
            return invalid("db_pool_max must be at least 1");
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.body_max_bytes) {
            return invalid("body_max_bytes must be between 1024 and 16777216");
        }
        if let Some(token) = &self.admin_token {
            if token.len() < 32 {
                return invalid("admin_token must be at least 32 characters");
            }
        }
        if self.sandbox.webhook_secrets.is_empty()
            || self.sandbox.webhook_secrets.iter().any(|s| s.len() < 16)
        {
            return invalid("sandbox.webhook_secrets needs at least one secret of 16+ characters");
        }
        if self.sandbox.api_key.len() < 16 {
            return invalid("sandbox.api_key must be at least 16 characters");
        }
        Ok(())
    }

    /// Where reconciliation reports are written.
    pub fn settlement_reports_dir(&self) -> PathBuf {
        self.settlement
            .reports_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("settlement"))
    }

    /// The database URL to connect to: the configured one, or the zero-config SQLite file.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("purse.db").display()),
        }
    }
}

impl FromStr for Synchronous {
    type Err = String;
    fn from_str(text: &str) -> Result<Synchronous, String> {
        match text.to_ascii_lowercase().as_str() {
            "full" => Ok(Synchronous::Full),
            "normal" => Ok(Synchronous::Normal),
            _ => Err("expected full or normal".to_owned()),
        }
    }
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(text: &str) -> Result<LogFormat, String> {
        match text.to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("expected text or json".to_owned()),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("data_dir", &self.data_dir)
            .field("sqlite_synchronous", &self.sqlite_synchronous)
            .field("sqlite_page_size", &self.sqlite_page_size)
            .field("db_pool_max", &self.db_pool_max)
            .field("http_workers", &self.http_workers)
            .field("body_max_bytes", &self.body_max_bytes)
            .field("shutdown_timeout_ms", &self.shutdown_timeout_ms)
            .field("log_format", &self.log_format)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<set>"))
            .field("ledger", &self.ledger)
            .field("wallets", &self.wallets)
            .field("limits", &self.limits)
            .field("identity", &self.identity)
            .field("risk", &self.risk)
            .field("events", &self.events)
            .field("webhooks", &self.webhooks)
            .field("sandbox", &self.sandbox)
            .field("settlement", &self.settlement)
            .finish()
    }
}

/// The URL with any password replaced, for logs: `postgres://app:***@host/db`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_and_defaults() {
        let mut config =
            Config::from_toml("listen = \"127.0.0.1:9000\"\n[ledger]\nbatch_max = 10\n")
                .expect("valid toml");
        assert_eq!(config.listen, "127.0.0.1:9000");
        assert_eq!(config.ledger.batch_max, 10);
        config
            .apply_env(|name| match name {
                "PURSE_LEDGER_BATCH_MAX" => Some("20".to_owned()),
                "PURSE_DATABASE_URL" => Some("postgres://u:secret@127.0.0.1/db".to_owned()),
                _ => None,
            })
            .expect("valid env");
        assert_eq!(config.ledger.batch_max, 20);
        assert_eq!(config.listen, "127.0.0.1:9000");
        config.validate().expect("valid config");
        assert!(!format!("{config:?}").contains("secret"));
    }

    #[test]
    fn limits_come_from_env_and_can_be_removed() {
        let mut config =
            Config::from_toml("[limits]\ndaily_max = \"500.00\"\n").expect("valid toml");
        config
            .apply_env(|name| match name {
                "PURSE_LIMITS_TRANSFER_MAX" => Some("100.50".to_owned()),
                "PURSE_LIMITS_DAILY_MAX" => Some(String::new()),
                _ => None,
            })
            .expect("valid env");
        assert_eq!(
            config.limits.transfer_max,
            Some(rust_decimal::Decimal::new(10050, 2))
        );
        assert_eq!(config.limits.daily_max, None);
        let mut config = Config::from_toml(
            "[identity]\nnonce_batch_max = 64\n[identity.backoff]\nfailures_free = 3\n",
        )
        .expect("valid toml");
        config
            .apply_env(|name| (name == "PURSE_IDENTITY_ISSUER").then(|| "me".to_owned()))
            .expect("valid env");
        assert_eq!(config.identity.nonce_batch_max, 64);
        assert_eq!(config.identity.backoff.failures_free, 3);
        assert_eq!(config.identity.issuer, "me");
        assert_eq!(config.identity.nonce_queue_max, 16_384);
        for bad in ["-1", "0", "ten"] {
            let err = Config::default()
                .apply_env(|name| (name == "PURSE_LIMITS_DAILY_MAX").then(|| bad.to_owned()))
                .expect_err("not a positive amount");
            assert!(err.to_string().contains("PURSE_LIMITS_DAILY_MAX"), "{err}");
        }
    }

    #[test]
    fn risk_rules_from_file_then_env() {
        let mut config =
            Config::from_toml("[risk]\ntransaction_max = \"250.00\"\nvelocity_per_minute = 5\n")
                .expect("valid toml");
        assert_eq!(
            config.risk.transaction_max,
            rust_decimal::Decimal::new(25_000, 2)
        );
        assert_eq!(config.risk.velocity_per_minute, 5);
        assert_eq!(config.risk.daily_max, RiskConfig::default().daily_max);
        config
            .apply_env(|name| match name {
                "PURSE_RISK_DAILY_MAX" => Some("75.5".to_owned()),
                "PURSE_RISK_NEW_DEVICE_COOLDOWN_S" => Some("60".to_owned()),
                _ => None,
            })
            .expect("valid env");
        assert_eq!(config.risk.daily_max, rust_decimal::Decimal::new(755, 1));
        assert_eq!(config.risk.new_device_cooldown_s, 60);
        let err = Config::default().apply_env(|name| {
            (name == "PURSE_RISK_VELOCITY_PER_MINUTE").then(|| "fast".to_owned())
        });
        assert!(err.is_err());
    }

    #[test]
    fn zero_config_is_sqlite_under_data() {
        let config = Config::default();
        config.validate().expect("defaults are valid");
        assert_eq!(config.database_url(), "sqlite://./data/purse.db");
    }

    #[test]
    fn bad_values_are_refused_with_the_variable_name() {
        let mut config = Config::default();
        let err = config
            .apply_env(|name| (name == "PURSE_DB_POOL_MAX").then(|| "many".to_owned()))
            .expect_err("not a number");
        assert!(err.to_string().contains("PURSE_DB_POOL_MAX"));
        assert!(Config::from_toml("unknown_key = 1").is_err());
        let config = Config {
            listen: "nowhere".to_owned(),
            ..Config::default()
        };
        assert_eq!(config.validate().expect_err("bad").code(), "config_invalid");
    }

    #[test]
    fn the_writer_cache_comes_from_file_then_env_and_must_be_positive() {
        assert_eq!(Config::default().ledger.writer_cache_mib, 64);
        let mut config =
            Config::from_toml("[ledger]\nwriter_cache_mib = 16\n").expect("valid toml");
        assert_eq!(config.ledger.writer_cache_mib, 16);
        config
            .apply_env(|name| (name == "PURSE_LEDGER_WRITER_CACHE_MIB").then(|| "8".to_owned()))
            .expect("valid env");
        assert_eq!(config.ledger.writer_cache_mib, 8);
        config.validate().expect("valid config");
        config.ledger.writer_cache_mib = 0;
        let err = config.validate().expect_err("no cache");
        assert!(err.to_string().contains("writer_cache_mib"), "{err}");
    }
}
