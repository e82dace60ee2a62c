//! Settlement: matching a provider's settlement report (the money it actually paid out) with the
//! top-ups Purse credited, posting the settlement to the ledger, and writing a reconciliation
//! report of what did not match. `purse settle import FILE` runs it by hand; the settlement actor
//! ([`start_puller`]) pulls past days' reports from the provider on a schedule.
//!
//! The import streams: it reads the file line by line and works in chunks of [`CHUNK_LINES`]
//! (one look-up query and one update per chunk), so memory does not grow with the file.
//!
//! Each line is classified (the reconciliation report lists every line with its kind):
//! - `matched`: a capture of a captured top-up (or a chargeback of a charged-back one) with the
//!   same currency and amount, not settled before;
//! - `unknown`: no top-up has that provider reference, or the top-up is not in a state the line
//!   can settle (a capture of a failed top-up; any refund: Purse never refunds top-ups);
//! - `amount_mismatch`: the currency or the gross amount differs from the top-up (not posted:
//!   held for a human; the top-up counts as seen, so it is not also `missing`);
//! - `duplicate`: the same capture (or chargeback) appears twice, in this report or an earlier one;
//! - `malformed`: the line does not parse, or names another report.
//!
//! and after the lines, `missing`: top-ups captured (or charged back) on the report's day that no
//! report settled.
//!
//! **Invariant:** a report moves money once. Only `matched` lines are posted, as three ledger
//! transfers per currency and report: `settle:<report id>:<CUR>:captures` (bank settlement →
//! provider receivable, the gross of matched captures), `settle:<report id>:<CUR>:reversals`
//! (receivable → bank settlement, the gross of matched chargebacks) and
//! `settle:<report id>:<CUR>:fees` (provider fees expense → bank settlement). Bank settlement
//! therefore moves by the report's net payout and the receivable returns to zero for every
//! settled top-up. The references are `UNIQUE`, and a report recorded `imported` is never
//! imported again: a second import of the same file changes nothing. (One transfer per line would
//! be 1–2 million ledger rows for a large report, over a minute of ledger writer time; the
//! per-line detail lives in the reconciliation report and the top-ups' `settled_report_id`.)

pub mod csv;
pub mod store;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::db::Db;
use crate::ledger::{Ledger, LedgerError, NewTransfer, SystemAccount, TransferKind, now_ms};
use crate::metrics::Metrics;
use crate::providers::Provider;
use crate::providers::sandbox::SandboxClient;
use csv::{Day, Line, LineType};

/// Lines matched per database round trip.
pub const CHUNK_LINES: usize = 1000;
/// Most past days the settlement actor looks back for reports not yet imported.
pub const PULL_DAYS_MAX: i64 = 7;

/// Why an import failed (a report with bad lines still imports: those lines are findings).
#[derive(Debug, thiserror::Error)]
pub enum SettlementError {
    #[error("the file does not start with the settlement report header")]
    Header,
    #[error("the report has no lines")]
    Empty,
    #[error("reading the report: {0}")]
    Read(#[from] std::io::Error),
    #[error("storage error: {0}")]
    Storage(#[from] sqlx::Error),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// The kinds of finding, in the order the summary lists them.
pub const KINDS: [&str; 6] = [
    "matched",
    "unknown",
    "amount_mismatch",
    "duplicate",
    "malformed",
    "missing",
];

/// One line of the reconciliation report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The report line (1 = the first line after the header); 0 for `missing`.
    pub line: u64,
    pub kind: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub provider_reference: String,
    pub topup: String,
    pub currency: String,
    /// What Purse expected (minor units), when known.
    pub expected_minor: Option<i64>,
    /// What the report says (minor units), when it parsed.
    pub reported_minor: Option<i64>,
    pub detail: String,
}

/// Totals posted for one currency, minor units.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub captures_minor: i64,
    pub reversals_minor: i64,
    pub fees_minor: i64,
    pub net_minor: i64,
}

/// The outcome of an import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub report_id: String,
    pub report_date: String,
    pub lines: u64,
    /// Count per kind (see [`KINDS`]).
    pub counts: BTreeMap<String, u64>,
    /// What was posted, per currency.
    pub posted: BTreeMap<String, Totals>,
    pub json_path: String,
    pub csv_path: String,
    /// True when this report had been imported before and nothing was done now.
    #[serde(default)]
    pub already_imported: bool,
}

/// Imports settlement reports; cheap to clone.
#[derive(Clone)]
pub struct Settlement {
    db: Db,
    ledger: Ledger,
    metrics: Metrics,
    reports_dir: PathBuf,
    provider: &'static str,
}

/// The reconciliation report writers: JSON (one object) and CSV, both streamed.
struct Writers {
    json: std::io::BufWriter<std::fs::File>,
    csv: std::io::BufWriter<std::fs::File>,
    first: bool,
}

impl Writers {
    fn open(dir: &Path, report_id: &str, report_date: &str) -> std::io::Result<Writers> {
        std::fs::create_dir_all(dir)?;
        let mut json = std::io::BufWriter::new(std::fs::File::create(
            dir.join(format!("{report_id}.json")),
        )?);
        let mut csv =
            std::io::BufWriter::new(std::fs::File::create(dir.join(format!("{report_id}.csv")))?);
        write!(
            json,
            "{{\"report_id\":{},\"report_date\":{},\"findings\":[",
            serde_json::Value::from(report_id),
            serde_json::Value::from(report_date)
        )?;
        writeln!(
            csv,
            "line,kind,type,provider_reference,topup,currency,expected_minor,reported_minor,detail"
        )?;
        Ok(Writers {
            json,
            csv,
            first: true,
        })
    }

    fn write(&mut self, finding: &Finding) -> std::io::Result<()> {
        if !self.first {
            self.json.write_all(b",")?;
        }
        self.first = false;
        serde_json::to_writer(&mut self.json, finding)?;
        let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        writeln!(
            self.csv,
            "{},{},{},{},{},{},{},{},{}",
            finding.line,
            finding.kind,
            finding.type_,
            finding.provider_reference,
            finding.topup,
            finding.currency,
            opt(finding.expected_minor),
            opt(finding.reported_minor),
            finding.detail.replace(',', ";"),
        )
    }

    fn finish(mut self, summary: &Summary) -> std::io::Result<()> {
        write!(self.json, "],\"summary\":")?;
        serde_json::to_writer(&mut self.json, summary)?;
        self.json.write_all(b"}\n")?;
        self.json.flush()?;
        self.csv.flush()
    }
}

/// One parsed (or not) line waiting in the current chunk.
struct Pending {
    line_no: u64,
    parsed: Result<Line, String>,
}

impl Settlement {
    pub fn new(db: Db, ledger: Ledger, metrics: Metrics, reports_dir: PathBuf) -> Settlement {
        Settlement {
            db,
            ledger,
            metrics,
            reports_dir,
            provider: "sandbox",
        }
    }

    /// True when `report_id` was imported completely.
    pub async fn imported(&self, report_id: &str) -> Result<bool, SettlementError> {
        Ok(
            matches!(store::report(&self.db, report_id).await?, Some((status, _)) if status == "imported"),
        )
    }

    /// Imports one report read from `reader`; `progress` is told the bytes read so far.
    pub async fn import(
        &self,
        mut reader: impl BufRead,
        mut progress: impl FnMut(u64),
    ) -> Result<Summary, SettlementError> {
        let mut text = String::new();
        let mut bytes_read = reader.read_line(&mut text)? as u64;
        if text.trim_end_matches(['\r', '\n']) != csv::HEADER {
            return Err(SettlementError::Header);
        }
        text.clear();
        bytes_read += reader.read_line(&mut text)? as u64;
        let first = Line::parse(&text).map_err(|_| SettlementError::Empty)?;
        let report_id = first.report_id.clone();
        let report_date = first.report_date.clone();
        let day = Day::parse(&report_date).ok_or(SettlementError::Empty)?;
        let json_path = self.reports_dir.join(format!("{report_id}.json"));
        let csv_path = self.reports_dir.join(format!("{report_id}.csv"));
        if let Some((status, summary)) = store::report(&self.db, &report_id).await? {
            if status == "imported" {
                let mut summary: Summary = summary
                    .and_then(|text| serde_json::from_str(&text).ok())
                    .ok_or_else(|| {
                        SettlementError::Read(std::io::Error::other("stored summary unreadable"))
                    })?;
                summary.already_imported = true;
                return Ok(summary);
            }
        }
        store::begin(&self.db, &report_id, self.provider, &report_date, now_ms()).await?;
        let mut writers = Writers::open(&self.reports_dir, &report_id, &report_date)?;
        let mut counts: BTreeMap<String, u64> =
            KINDS.iter().map(|kind| ((*kind).to_owned(), 0)).collect();
        let mut posted: BTreeMap<String, Totals> = BTreeMap::new();
        let mut chunk: Vec<Pending> = Vec::with_capacity(CHUNK_LINES);
        chunk.push(Pending {
            line_no: 1,
            parsed: Ok(first),
        });
        let mut line_no = 1u64;
        loop {
            text.clear();
            let n = reader.read_line(&mut text)?;
            let at_end = n == 0;
            if !at_end {
                bytes_read += n as u64;
                let trimmed = text.trim_end_matches(['\r', '\n']);
                if !trimmed.is_empty() {
                    line_no += 1;
                    let parsed = if trimmed.len() > csv::LINE_BYTES_MAX {
                        Err("line too long".to_owned())
                    } else {
                        match Line::parse(trimmed) {
                            Ok(line) if line.report_id != report_id => {
                                Err("names another report id".to_owned())
                            }
                            Ok(line) if line.report_date != report_date => {
                                Err("names another report date".to_owned())
                            }
                            Ok(line) => Ok(line),
                            Err(err) => Err(err.to_string()),
                        }
                    };
                    chunk.push(Pending { line_no, parsed });
                }
            }
            if chunk.len() >= CHUNK_LINES || (at_end && !chunk.is_empty()) {
                self.match_chunk(&report_id, &chunk, &mut writers, &mut counts, &mut posted)
                    .await?;
                chunk.clear();
                progress(bytes_read);
            }
            if at_end {
                break;
            }
        }
        for chargebacks in [false, true] {
            let mut after = String::new();
            loop {
                let page = store::unsettled(
                    &self.db,
                    self.provider,
                    chargebacks,
                    day.start_ms(),
                    day.end_ms(),
                    &after,
                    CHUNK_LINES as i64,
                )
                .await?;
                for expected in &page {
                    *counts.entry("missing".to_owned()).or_default() += 1;
                    writers.write(&Finding {
                        line: 0,
                        kind: "missing".to_owned(),
                        type_: if chargebacks { "chargeback" } else { "capture" }.to_owned(),
                        provider_reference: expected.provider_ref.clone().unwrap_or_default(),
                        topup: expected.id.clone(),
                        currency: expected.currency.clone(),
                        expected_minor: Some(if chargebacks {
                            -expected.amount_minor
                        } else {
                            expected.amount_minor
                        }),
                        reported_minor: None,
                        detail: "not in the report".to_owned(),
                    })?;
                }
                match page.last() {
                    Some(last) if page.len() == CHUNK_LINES => after = last.id.clone(),
                    _ => break,
                }
            }
        }
        for (currency, totals) in &posted {
            self.post(&report_id, currency, totals).await?;
        }
        let summary = Summary {
            report_id: report_id.clone(),
            report_date,
            lines: line_no,
            counts,
            posted,
            json_path: json_path.display().to_string(),
            csv_path: csv_path.display().to_string(),
            already_imported: false,
        };
        writers.finish(&summary)?;
        let summary_json = serde_json::to_string(&summary).expect("a summary serializes");
        store::finish(&self.db, &report_id, &summary_json, now_ms()).await?;
        for kind in KINDS.iter().filter(|kind| **kind != "matched") {
            let count = summary.counts.get(*kind).copied().unwrap_or(0);
            if count > 0 {
                self.metrics.settlement_mismatches(kind, count);
            }
        }
        Ok(summary)
    }

    async fn match_chunk(
        &self,
        report_id: &str,
        chunk: &[Pending],
        writers: &mut Writers,
        counts: &mut BTreeMap<String, u64>,
        posted: &mut BTreeMap<String, Totals>,
    ) -> Result<(), SettlementError> {
        let refs: Vec<&str> = chunk
            .iter()
            .filter_map(|p| p.parsed.as_ref().ok())
            .map(|line| line.provider_reference.as_str())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let candidates: HashMap<String, store::Candidate> =
            store::candidates(&self.db, self.provider, &refs)
                .await?
                .into_iter()
                .map(|c| (c.provider_ref.clone(), c))
                .collect();
        let mut seen: HashSet<(LineType, &str)> = HashSet::new();
        let mut settled: Vec<&str> = Vec::new();
        let mut charged_back: Vec<&str> = Vec::new();
        for pending in chunk {
            let line = match &pending.parsed {
                Ok(line) => line,
                Err(detail) => {
                    *counts.entry("malformed".to_owned()).or_default() += 1;
                    writers.write(&Finding {
                        line: pending.line_no,
                        kind: "malformed".to_owned(),
                        type_: String::new(),
                        provider_reference: String::new(),
                        topup: String::new(),
                        currency: String::new(),
                        expected_minor: None,
                        reported_minor: None,
                        detail: detail.clone(),
                    })?;
                    continue;
                }
            };
            let candidate = candidates.get(&line.provider_reference);
            let (kind, detail) = classify(line, candidate, report_id, &mut seen);
            let expected_minor = candidate.map(|c| match line.line_type {
                LineType::Capture => c.amount_minor,
                LineType::Refund | LineType::Chargeback => -c.amount_minor,
            });
            if kind == "matched" {
                let candidate = candidate.expect("matched lines have a top-up");
                let totals = posted.entry(line.currency.clone()).or_default();
                match line.line_type {
                    LineType::Capture => {
                        totals.captures_minor += line.gross_minor;
                        settled.push(&candidate.id);
                    }
                    LineType::Chargeback | LineType::Refund => {
                        totals.reversals_minor += -line.gross_minor;
                        charged_back.push(&candidate.id);
                    }
                }
                totals.fees_minor += line.fee_minor;
                totals.net_minor += line.net_minor;
            }
            if kind == "amount_mismatch" {
                // Seen in the report (so not also `missing`), but not posted: held for a human.
                let candidate = candidate.expect("mismatched lines have a top-up");
                match line.line_type {
                    LineType::Capture => settled.push(&candidate.id),
                    LineType::Chargeback | LineType::Refund => charged_back.push(&candidate.id),
                }
            }
            *counts.entry(kind.to_owned()).or_default() += 1;
            writers.write(&Finding {
                line: pending.line_no,
                kind: kind.to_owned(),
                type_: line.line_type.as_str().to_owned(),
                provider_reference: line.provider_reference.clone(),
                topup: candidate.map(|c| c.id.clone()).unwrap_or_default(),
                currency: line.currency.clone(),
                expected_minor,
                reported_minor: Some(line.gross_minor),
                detail: detail.to_owned(),
            })?;
        }
        store::mark(&self.db, "settled_report_id", &settled, report_id).await?;
        store::mark(&self.db, "chargeback_report_id", &charged_back, report_id).await?;
        Ok(())
    }

    /// Posts the totals of one currency (see the module invariant).
    async fn post(
        &self,
        report_id: &str,
        currency: &str,
        totals: &Totals,
    ) -> Result<(), SettlementError> {
        let ledger = &self.ledger;
        let bank = ledger
            .system_account(SystemAccount::Settlement, currency)
            .await?;
        let receivable = ledger
            .system_account(SystemAccount::ProviderReceivable, currency)
            .await?;
        let fees = ledger
            .system_account(SystemAccount::ProviderFees, currency)
            .await?;
        let legs = [
            (
                "captures",
                TransferKind::Settlement,
                &bank.id,
                &receivable.id,
                totals.captures_minor,
            ),
            (
                "reversals",
                TransferKind::Settlement,
                &receivable.id,
                &bank.id,
                totals.reversals_minor,
            ),
            (
                "fees",
                TransferKind::Fee,
                &fees.id,
                &bank.id,
                totals.fees_minor,
            ),
        ];
        for (leg, kind, debit, credit, amount_minor) in legs {
            if amount_minor == 0 {
                continue;
            }
            ledger
                .transfer(NewTransfer {
                    reference: format!("settle:{report_id}:{currency}:{leg}"),
                    kind,
                    debit_account: debit.clone(),
                    credit_account: credit.clone(),
                    currency: currency.to_owned(),
                    amount_minor,
                    memo: None,
                })
                .await?;
        }
        Ok(())
    }
}

/// The kind of `line` given the top-up its reference names (see the module docs).
fn classify<'a>(
    line: &'a Line,
    candidate: Option<&store::Candidate>,
    report_id: &str,
    seen: &mut HashSet<(LineType, &'a str)>,
) -> (&'static str, &'static str) {
    let Some(candidate) = candidate else {
        return ("unknown", "no top-up has this provider reference");
    };
    let (state_ok, settled_by) = match line.line_type {
        LineType::Capture => (
            matches!(candidate.status.as_str(), "succeeded" | "charged_back"),
            &candidate.settled_report_id,
        ),
        LineType::Chargeback => (
            candidate.status == "charged_back",
            &candidate.chargeback_report_id,
        ),
        LineType::Refund => return ("unknown", "Purse never refunds top-ups"),
    };
    if !state_ok {
        return ("unknown", "the top-up is not in a state this line settles");
    }
    if !seen.insert((line.line_type, line.provider_reference.as_str())) {
        return ("duplicate", "listed twice in this report");
    }
    if let Some(by) = settled_by {
        return if by == report_id {
            ("duplicate", "listed twice in this report")
        } else {
            ("duplicate", "settled by an earlier report")
        };
    }
    if line.currency != candidate.currency || line.gross_minor.abs() != candidate.amount_minor {
        return (
            "amount_mismatch",
            "the currency or amount differs from the top-up",
        );
    }
    ("matched", "")
}

/// The settlement actor: every `interval`, imports the provider's reports of the past
/// [`PULL_DAYS_MAX`] days (yesterday first) that are not imported yet. Runs on the current actix
/// runtime until the process stops.
pub fn start_puller(settlement: Settlement, provider: SandboxClient, interval: Duration) {
    if interval.is_zero() {
        return;
    }
    actix_rt::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            let today = Day::of_ms(now_ms());
            let mut day = today;
            for _ in 0..PULL_DAYS_MAX {
                day = day.previous();
                if let Err(err) = pull_one(&settlement, &provider, day).await {
                    tracing::warn!(error = %err, date = %day, "settlement pull failed");
                }
            }
        }
    });
}

async fn pull_one(
    settlement: &Settlement,
    provider: &SandboxClient,
    day: Day,
) -> Result<(), String> {
    if settlement
        .imported(&day.report_id())
        .await
        .map_err(|e| e.to_string())?
    {
        return Ok(());
    }
    std::fs::create_dir_all(&settlement.reports_dir).map_err(|e| e.to_string())?;
    let path = settlement
        .reports_dir
        .join(format!("{}.report.csv", day.report_id()));
    provider
        .fetch_settlement_report(&day.to_string(), &path)
        .await
        .map_err(|e| e.to_string())?;
    let file = std::fs::File::open(&path).map_err(|e| e.to_string())?;
    match settlement
        .import(std::io::BufReader::new(file), |_| {})
        .await
    {
        Ok(summary) => {
            tracing::info!(report = %summary.report_id, lines = summary.lines, "settlement report imported");
            Ok(())
        }
        // A day without captures has no lines: nothing to settle.
        Err(SettlementError::Empty) => Ok(()),
        Err(err) => Err(err.to_string()),
    }
}
