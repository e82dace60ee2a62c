//! Prometheus metrics, served as text at `/metrics`: HTTP requests and latency per route, ledger
//! batch sizes and commit latency, active wallet actors and mailbox rejections. Each app instance
//! owns its own registry (never the process-global one), so tests can run several servers in one
//! process. It never labels a metric with user data or ids: labels are route patterns and codes.

use std::sync::Arc;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// All metrics of one server; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    http_requests: IntCounterVec,
    http_latency: HistogramVec,
    ledger_batch_size: Histogram,
    ledger_commit_seconds: Histogram,
    ledger_transfers: IntCounterVec,
    wallet_actors_active: IntGauge,
    wallet_mailbox_rejections: IntCounter,
    ledger_verify_ok: IntGauge,
    ledger_verify_last_run: IntGauge,
    topups: IntCounterVec,
    settlement_mismatches: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new_custom(Some("purse".to_owned()), None)
            .expect("a constant, valid metric prefix");
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route and status"),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let http_latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
            ]),
            &["method", "route"],
        )
        .expect("valid metric");
        let ledger_batch_size = Histogram::with_opts(
            HistogramOpts::new(
                "ledger_batch_size",
                "Transfers committed per ledger database transaction",
            )
            .buckets(vec![
                1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0,
            ]),
        )
        .expect("valid metric");
        let ledger_commit_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "ledger_commit_duration_seconds",
                "Time to commit one ledger batch",
            )
            .buckets(vec![
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0,
            ]),
        )
        .expect("valid metric");
        let ledger_transfers = IntCounterVec::new(
            Opts::new(
                "ledger_transfers_total",
                "Transfers handled by the ledger writer, by outcome",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let wallet_actors_active = IntGauge::new(
            "wallet_actors_active",
            "Wallet actors currently running in this process",
        )
        .expect("valid metric");
        let wallet_mailbox_rejections = IntCounter::new(
            "wallet_mailbox_rejections_total",
            "Requests refused with 429 wallet_busy because a wallet mailbox was full",
        )
        .expect("valid metric");
        let ledger_verify_ok = IntGauge::new(
            "ledger_verify_ok",
            "1 when the latest `purse ledger verify` found the ledger consistent, 0 when not \
             (absent until one ran)",
        )
        .expect("valid metric");
        let ledger_verify_last_run = IntGauge::new(
            "ledger_verify_last_run_timestamp_seconds",
            "Unix time of the latest `purse ledger verify` run (0 until one ran)",
        )
        .expect("valid metric");
        let topups = IntCounterVec::new(
            Opts::new(
                "topups_total",
                "Top-ups entering each state (pending, succeeded, failed, canceled, charged_back)",
            ),
            &["state"],
        )
        .expect("valid metric");
        let settlement_mismatches = IntCounterVec::new(
            Opts::new(
                "settlement_mismatches_total",
                "Settlement report findings that need a human, by kind",
            ),
            &["kind"],
        )
        .expect("valid metric");
        for collector in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_latency.clone()),
            Box::new(ledger_batch_size.clone()),
            Box::new(ledger_commit_seconds.clone()),
            Box::new(ledger_transfers.clone()),
            Box::new(wallet_actors_active.clone()),
            Box::new(wallet_mailbox_rejections.clone()),
            Box::new(ledger_verify_last_run.clone()),
            Box::new(topups.clone()),
            Box::new(settlement_mismatches.clone()),
        ] {
            registry
                .register(collector)
                .expect("each metric is registered once");
        }
        Metrics {
            inner: Arc::new(Inner {
                registry,
                http_requests,
                http_latency,
                ledger_batch_size,
                ledger_commit_seconds,
                ledger_transfers,
                wallet_actors_active,
                wallet_mailbox_rejections,
                ledger_verify_ok,
                ledger_verify_last_run,
                topups,
                settlement_mismatches,
            }),
        }
    }

    /// Records one HTTP request. `route` is the matched pattern (`/v1/transfers/{id}`), or
    /// `unmatched` so that probing random paths cannot create unbounded label values.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.inner
            .http_requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.inner
            .http_latency
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    pub fn observe_ledger_batch(&self, committed: usize, rejected: usize, seconds: f64) {
        self.inner.ledger_batch_size.observe(committed as f64);
        self.inner.ledger_commit_seconds.observe(seconds);
        self.inner
            .ledger_transfers
            .with_label_values(&["committed"])
            .inc_by(committed as u64);
        self.inner
            .ledger_transfers
            .with_label_values(&["rejected"])
            .inc_by(rejected as u64);
    }

    pub fn wallet_actor_started(&self) {
        self.inner.wallet_actors_active.inc();
    }

    pub fn wallet_actor_stopped(&self) {
        self.inner.wallet_actors_active.dec();
    }

    pub fn wallet_actors_active(&self) -> i64 {
        self.inner.wallet_actors_active.get()
    }

    pub fn wallet_mailbox_rejected(&self) {
        self.inner.wallet_mailbox_rejections.inc();
    }

    /// Reports the latest `purse ledger verify` run (read from the database at scrape time, so
    /// every process reports the same run whichever process or job ran it).
    pub fn set_ledger_verification(&self, ok: bool, at_ms: i64) {
        let inner = &self.inner;
        if inner.ledger_verify_last_run.get() == 0 {
            // Registered on first report, so "never ran" is an absent series, not a false 0.
            let _ = inner
                .registry
                .register(Box::new(inner.ledger_verify_ok.clone()));
        }
        inner.ledger_verify_ok.set(i64::from(ok));
        inner
            .ledger_verify_last_run
            .set(at_ms.div_euclid(1000).max(1));
    }

    /// A top-up entered `state` (a fixed set of names, never user data).
    pub fn topup(&self, state: &str) {
        self.inner.topups.with_label_values(&[state]).inc();
    }

    /// `count` settlement findings of `kind` (`missing`, `unknown`, `amount_mismatch`, ...).
    pub fn settlement_mismatches(&self, kind: &str, count: u64) {
        self.inner
            .settlement_mismatches
            .with_label_values(&[kind])
            .inc_by(count);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.inner.registry.gather(), &mut buffer)
            .expect("text encoding into memory cannot fail");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}
