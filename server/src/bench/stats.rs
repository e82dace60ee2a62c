//! What a load run measured: latencies of successful requests in an HDR histogram (bounded memory
//! whatever the request count, 3 significant digits), and failures counted by their stable code.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies above this are clamped into the top bucket (requests time out long before).
const LATENCY_US_MAX: u64 = 120_000_000;

/// Outcomes of requests: one per load client, merged at the end.
#[derive(Clone, Debug)]
pub struct Recorder {
    latency_us: Histogram<u64>,
    errors: BTreeMap<String, u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            latency_us: Histogram::new_with_bounds(1, LATENCY_US_MAX, 3)
                .expect("constant, valid histogram bounds"),
            errors: BTreeMap::new(),
        }
    }

    /// A request that succeeded after `latency`.
    pub fn ok(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_us
            .saturating_record(us.clamp(1, LATENCY_US_MAX));
    }

    /// A request that failed with `code`.
    pub fn error(&mut self, code: &str) {
        *self.errors.entry(code.to_owned()).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Recorder) {
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms of one run share their bounds");
        for (code, count) in &other.errors {
            *self.errors.entry(code.clone()).or_default() += count;
        }
    }

    pub fn succeeded(&self) -> u64 {
        self.latency_us.len()
    }

    pub fn failed(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn errors(&self) -> &BTreeMap<String, u64> {
        &self.errors
    }

    /// The latency at `quantile` (0.5, 0.99, ...), in milliseconds; zero with no samples.
    pub fn latency_ms(&self, quantile: f64) -> f64 {
        // Reporting only: latencies are not money.
        self.latency_us.value_at_quantile(quantile) as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.latency_us.max() as f64 / 1000.0
    }

    pub fn mean_ms(&self) -> f64 {
        self.latency_us.mean() / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_errors_merge() {
        let mut a = Recorder::new();
        for ms in 1..=100 {
            a.ok(Duration::from_millis(ms));
        }
        let mut b = Recorder::new();
        b.ok(Duration::from_secs(2));
        b.error("wallet_busy");
        b.error("wallet_busy");
        a.error("timeout");
        a.merge(&b);
        assert_eq!(a.succeeded(), 101);
        assert_eq!(a.failed(), 3);
        assert_eq!(a.errors()["wallet_busy"], 2);
        assert_eq!(a.errors()["timeout"], 1);
        // 3 significant digits: 51 ms and 100 ms within 0.1 %.
        assert!(
            (a.latency_ms(0.5) - 51.0).abs() < 0.1,
            "{}",
            a.latency_ms(0.5)
        );
        assert!((a.latency_ms(0.99) - 100.0).abs() < 0.1);
        assert!((a.max_ms() - 2000.0).abs() < 2.0);
        assert_eq!(Recorder::new().latency_ms(0.99), 0.0);
    }

    #[test]
    fn extreme_latencies_are_clamped_not_lost() {
        let mut r = Recorder::new();
        r.ok(Duration::ZERO);
        r.ok(Duration::from_secs(3600));
        assert_eq!(r.succeeded(), 2);
        assert!(r.max_ms() <= LATENCY_US_MAX as f64 / 1000.0 * 1.001);
    }
}
