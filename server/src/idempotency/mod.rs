//! `Idempotency-Key` for POSTs that create or move something (DESIGN.md "API conventions"): the
//! same key with the same request replays the first response (status and body); the same key
//! with a different request is `422 idempotency_key_reused`; a key whose first request is still
//! running is `409 idempotency_key_in_use`. It never moves money and is never what stops money
//! from moving twice: that is the ledger's unique transfer `reference`, derived from the key and
//! committed in the same transaction as the money (see [`crate::transfers`]).
//!
//! # How a keyed request runs ([`Idempotency::run`])
//!
//! 1. **Claim** the key in this process (an in-memory map): a second request with the key while
//!    the first runs is a 409. The claim is released when the first request has answered and its
//!    record is written, or when it is dropped (client gone, panic).
//! 2. **Look up** the record (SQLite), or on PostgreSQL **claim the key in the database** first: a
//!    `started` record, inserted only if the key has no record (the primary key decides between
//!    processes), looked up only when the insert found one. A recorded answer is replayed (with
//!    `Idempotent-Replayed: true`) if the request's [`Fingerprint`] matches, else 422; a key
//!    another process holds is a 409. Claims are written with `synchronous_commit = off`
//!    ([`Db::async_commit`]): a claim lost with the database only lets a retry execute (the
//!    ledger's reference still stops a second movement), and the money's own durable commit
//!    flushes the claim before it.
//! 3. **Execute**, then **record** the answer over the claim (group commit: many records per
//!    transaction, so a keyed request costs a share of one commit) and answer. On SQLite the
//!    answer is sent at once and recorded after: no other process can answer the key, and until
//!    the record is written the in-memory claim holds the answer, so a retry replays it from
//!    memory. The record is queued before the answer leaves and a graceful shutdown flushes the
//!    queue ([`Idempotency::flush`]); only a crash can lose it (see below). On PostgreSQL the
//!    answer waits for its record, which may lose to another process's (see below).
//!
//!    A request that moves money may instead commit its answer's record in the ledger batch
//!    that moves the money ([`Idempotency::run_with_record`], [`RecordDraft`],
//!    `ledger::Outbox::record`; P2P transfers and charges do), so the answer waits for one
//!    commit, and a crash cannot part the money from its record on either backend. The record
//!    is conditional: a key that has an answer already refuses the transfer
//!    (`LedgerError::AnsweredElsewhere`, nothing moves) and that answer is replayed
//!    ([`Answer::answered_elsewhere`]). Money therefore moves only together with its request's
//!    answer becoming the key's first recorded answer, which is what the database claim is for,
//!    so these requests write no claim on PostgreSQL either: step 2 is the look-up only.
//!
//! Answers that say nothing about the request itself are not recorded, so the same key may be
//! retried: 401, 409, 429 and every 5xx (the database claim is deleted). Validation of the request's
//! shape (a 400 before execution) happens before the key is looked at, as at Stripe.
//!
//! # Crashes and several processes
//!
//! A crash between the money's commit and the record's commit loses only the record: a retry runs
//! again, and the ledger finds the transfer by its reference and answers with it, so the replay
//! says the same thing. A crash leaves a PostgreSQL claim `started`; another request takes it over
//! once its lease ([`CLAIM_LEASE_MS`]) ran out, until then the key is a 409.
//!
//! Two processes that receive the same key at the same instant never both execute (on routes
//! that run with [`Idempotency::run`]): one wins the database claim, the other answers 409 and,
//! retried, replays the winner's answer. Without that
//! claim (before this was built) both executed; the ledger's reference kept money from moving
//! twice, but the loser could decide differently — `402 insufficient_funds` when the winner's
//! debit had just emptied the wallet but was not yet committed when the loser looked up the
//! reference — and the key then had two answers (`two_process` tests). Should a claim's lease run
//! out while its holder still runs, both may execute again; then the first answer recorded wins
//! and the other process replays it instead of its own ([`store::insert_done`]).
//!
//! A P2P transfer or a charge ([`Idempotency::run_with_record`]) may execute in both processes at
//! once; the first answer recorded still wins, and the other process replays it instead of its
//! own: a loser that moved no money finds the key answered when it records its answer; a loser
//! whose transfer would commit is refused by the ledger, because its record would not be the
//! key's first (`LedgerError::AnsweredElsewhere`), or by the transfer's unique reference. So the
//! 402-beside-201 split above cannot happen there, without a claim written per request
//! (docs/benchmarks.md, 2026-12-07: +15 % on PostgreSQL). On SQLite the server is one process per
//! database (docs/scaling.md) and the in-memory claim is exact.

pub mod store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use purse_core::api::PROBLEM_CONTENT_TYPE;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::db::Db;
use crate::db::group_commit::GroupCommit;
use crate::error::ApiError;

/// The request header carrying the key.
pub const HEADER: &str = "idempotency-key";
/// The response header set on a replayed answer.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Longest key, in characters (visible ASCII). UUIDs (36) and ULIDs (26) fit with room to spare;
/// bounded so that a key plus a user id fits a ledger reference (200 bytes).
pub const KEY_CHARS_MAX: usize = 128;
/// How long a `started` claim in the database (PostgreSQL, see [`Idempotency::run`]) belongs to
/// the process that made it: another process takes it over only after this, so a request whose
/// process crashed can be retried without waiting for pruning. Far above any request's run time.
pub const CLAIM_LEASE_MS: i64 = 10_000;
/// Connections of the pool claims are written through ([`Db::async_commit`]).
const CLAIM_POOL_MAX: u32 = 8;
/// Records per database transaction of the record writer.
pub const RECORD_BATCH_MAX: usize = 1000;
/// Answers waiting to be recorded; beyond it an answer is sent without its record (logged; a
/// retry is still safe, see the module docs).
pub const RECORD_QUEUE_MAX: usize = 20_000;
/// Keys in flight in this process at once; beyond it new keyed requests get 503.
pub const CLAIMS_MAX: usize = 100_000;
/// How long a record is kept. A retry after that runs again, which for money is still safe: the
/// ledger reference answers with the original transfer.
pub const RETENTION_MS: i64 = 24 * 60 * 60 * 1000;
/// How often old records are pruned, and how many per statement.
const PRUNE_EVERY_MS: u64 = 10 * 60 * 1000;
const PRUNE_ROWS_MAX: i64 = 10_000;

/// Why a keyed request is refused before (or instead of) executing.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    #[error("the Idempotency-Key header is required for this request")]
    Missing,
    #[error("the Idempotency-Key must be 1 to 128 visible ASCII characters")]
    Invalid,
    #[error("this Idempotency-Key was used for a different request")]
    Reused,
    #[error("a request with this Idempotency-Key is still being processed")]
    InUse,
    #[error("too many keyed requests in flight")]
    Busy,
    #[error("idempotency storage: {0}")]
    Storage(#[from] sqlx::Error),
    #[error("the idempotency record writer stopped")]
    Stopped,
}

impl IdempotencyError {
    pub fn code(&self) -> &'static str {
        match self {
            IdempotencyError::Missing => "idempotency_key_missing",
            IdempotencyError::Invalid => "idempotency_key_invalid",
            IdempotencyError::Reused => "idempotency_key_reused",
            IdempotencyError::InUse => "idempotency_key_in_use",
            IdempotencyError::Busy => "idempotency_busy",
            IdempotencyError::Storage(_) => "storage_error",
            IdempotencyError::Stopped => "idempotency_unavailable",
        }
    }
}

impl From<IdempotencyError> for ApiError {
    fn from(err: IdempotencyError) -> ApiError {
        let code = err.code();
        match err {
            IdempotencyError::Missing | IdempotencyError::Invalid => {
                ApiError::bad_request(code, err.to_string())
            }
            IdempotencyError::Reused => ApiError::unprocessable(code, err.to_string()),
            IdempotencyError::InUse => ApiError::conflict(code, err.to_string()),
            IdempotencyError::Busy | IdempotencyError::Stopped => {
                ApiError::unavailable(code, err.to_string())
            }
            IdempotencyError::Storage(source) => {
                ApiError::internal(format_args!("idempotency storage: {source}"))
            }
        }
    }
}

/// A validated `Idempotency-Key`: 1 to [`KEY_CHARS_MAX`] visible ASCII characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(text: &str) -> Result<IdempotencyKey, IdempotencyError> {
        let ok = !text.is_empty()
            && text.len() <= KEY_CHARS_MAX
            && text.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(IdempotencyKey(text.to_owned()))
        } else {
            Err(IdempotencyError::Invalid)
        }
    }

    /// The key of a request's headers; `None` when there is none (the caller decides whether a
    /// key is required).
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, IdempotencyError> {
        let values: Vec<&HeaderValue> = headers.get_all(HEADER).collect();
        match values.as_slice() {
            [] => Ok(None),
            [value] => {
                let text = value.to_str().map_err(|_| IdempotencyError::Invalid)?;
                IdempotencyKey::parse(text).map(Some)
            }
            // Two keys on one request name no single operation.
            _ => Err(IdempotencyError::Invalid),
        }
    }

    /// The key of a request that must carry one.
    pub fn required(headers: &HeaderMap) -> Result<IdempotencyKey, IdempotencyError> {
        IdempotencyKey::from_headers(headers)?.ok_or(IdempotencyError::Missing)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What makes two requests "the same": SHA-256 over the method, the route and the request body
/// as parsed and re-serialized by the server (so whitespace and field order do not matter, but
/// every value does: `"12.50"` and `"12.5"` are different requests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub fn of<T: Serialize>(method: &str, route: &str, body: &T) -> Fingerprint {
        let mut hasher = Sha256::new();
        for part in [method.as_bytes(), b"\n", route.as_bytes(), b"\n"] {
            hasher.update(part);
        }
        let body = serde_json::to_vec(body).expect("wire types serialize");
        hasher.update(&body);
        Fingerprint(hasher.finalize().into())
    }
}

/// An answer to record and send: status and JSON body bytes.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Vec<u8>,
    /// `Some` when the answer's record was committed with the money it answers (from the
    /// request's [`RecordDraft`], see `ledger::Outbox::record`): `true` when it became the key's
    /// record, `false` when the key already had another process's answer, which then stands.
    pub recorded: Option<bool>,
}

impl Answer {
    pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Answer {
        Answer {
            status,
            body: answer_body(body),
            recorded: None,
        }
    }

    /// The answer of a request refused by the ledger because its key was answered first
    /// (`LedgerError::AnsweredElsewhere`): that answer is replayed instead, or this 409 when it
    /// cannot be read.
    pub fn answered_elsewhere() -> Answer {
        let in_use = ApiError::from(IdempotencyError::InUse);
        Answer::json(in_use.status(), &in_use.to_problem()).recorded_with_money(Some(false))
    }

    /// This answer, whose record committed with its money ([`Answer::recorded`]).
    pub fn recorded_with_money(mut self, recorded: Option<bool>) -> Answer {
        self.recorded = recorded;
        self
    }

    /// The answer as sent the first time.
    pub fn into_response(self) -> HttpResponse {
        self.to_response(false)
    }

    fn to_response(&self, replayed: bool) -> HttpResponse {
        let content_type = if self.status.is_success() {
            "application/json"
        } else {
            PROBLEM_CONTENT_TYPE
        };
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CONTENT_TYPE, content_type));
        if replayed {
            response.insert_header((HeaderName::from_static(REPLAYED_HEADER), "true"));
        }
        response.body(self.body.clone())
    }
}

/// The body bytes of a JSON answer: the same bytes whether the answer is recorded by
/// [`Idempotency::run`] or with the money ([`RecordDraft::done`]).
pub fn answer_body<T: Serialize>(body: &T) -> Vec<u8> {
    serde_json::to_vec(body).expect("wire types serialize")
}

/// The record a keyed request's answer will have, lacking only the answer: handed to the request
/// by [`Idempotency::run`] so that a handler whose request commits money can commit the answer's
/// record in the same database transaction (`ledger::Outbox::record`) instead of a transaction
/// of its own after it. On PostgreSQL, where the answer waits for its record, that is one commit
/// wait fewer per request.
#[derive(Clone, Debug)]
pub struct RecordDraft {
    owner_id: String,
    key: String,
    request_hash: [u8; 32],
}

impl RecordDraft {
    /// The draft of `owner_id`'s request under `key` with `fingerprint`.
    pub fn new(owner_id: &str, key: &str, fingerprint: Fingerprint) -> RecordDraft {
        RecordDraft {
            owner_id: owner_id.to_owned(),
            key: key.to_owned(),
            request_hash: fingerprint.0,
        }
    }

    /// The record of answering `status` with `body` (see [`answer_body`]).
    pub fn done(&self, status: StatusCode, body: Vec<u8>, now_ms: i64) -> store::NewRecord {
        store::NewRecord {
            owner_id: self.owner_id.clone(),
            key: self.key.clone(),
            request_hash: self.request_hash,
            response_status: status.as_u16(),
            response_body: body,
            now_ms,
        }
    }
}

/// Whether an answer describes the request (recorded and replayed) or only this moment (not
/// recorded, so the client may retry with the same key). A 401 is about the credentials, not the
/// request: a P2P transfer finds its device signature replayed only when it runs (the nonce
/// commits with the money), and that answer must not become the key's.
fn is_recorded(status: StatusCode) -> bool {
    !(status.is_server_error()
        || status == StatusCode::CONFLICT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::UNAUTHORIZED)
}

/// Keys claimed in this process. `None` while the request runs; on SQLite, its answer while the
/// answer's record is being written (a retry then replays it from here).
type ClaimMap = Mutex<HashMap<(String, String), Option<Arc<Answered>>>>;

/// An answer sent and not yet recorded, with the fingerprint of its request.
struct Answered {
    fingerprint: Fingerprint,
    answer: Answer,
}

/// A key claimed by a running request in this process; released on drop.
struct Claim {
    claims: Arc<ClaimMap>,
    owner_id: String,
    key: String,
}

impl Claim {
    /// Lets a retry in this process replay `answered` until the claim is dropped.
    fn answered(&self, answered: Arc<Answered>) {
        let mut claims = self.claims.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = claims.get_mut(&(self.owner_id.clone(), self.key.clone())) {
            *slot = Some(answered);
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut claims = self.claims.lock().unwrap_or_else(|p| p.into_inner());
        claims.remove(&(
            std::mem::take(&mut self.owner_id),
            std::mem::take(&mut self.key),
        ));
    }
}

/// The idempotency handle shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct Idempotency {
    db: Db,
    /// Where PostgreSQL claims are written and released: [`Db::async_commit`].
    claim_db: Db,
    claims: Arc<ClaimMap>,
    /// Writes answers over claims, many per transaction; answers whether the record is now the
    /// key's record (see [`store::insert_done`]).
    writer: GroupCommit<store::NewRecord, bool>,
}

impl Idempotency {
    /// Starts the record writer and the pruning timer on the current runtime.
    pub fn start(db: Db) -> Idempotency {
        Idempotency::start_with_writer(db.clone(), db)
    }

    /// [`Idempotency::start`] with records committed through `record_writer` (the process's
    /// write gate, see [`crate::ledger::Ledger::write_gate`]); lookups and pruning use `db`.
    pub fn start_with_writer(db: Db, record_writer: Db) -> Idempotency {
        let writer = GroupCommit::start(
            "idempotency records",
            RECORD_BATCH_MAX,
            RECORD_QUEUE_MAX,
            move |records: Vec<store::NewRecord>| {
                let db = record_writer.clone();
                async move { store::insert_done(&db, &records).await }
            },
        );
        tokio::spawn(prune_records(db.clone()));
        Idempotency {
            claim_db: db.async_commit(CLAIM_POOL_MAX),
            db,
            claims: Arc::new(Mutex::new(HashMap::new())),
            writer,
        }
    }

    /// Claims the key in this process: `Err` with the answer to send when the key is held (409, or
    /// the replay of an answer whose record is being written).
    fn claim(
        &self,
        owner_id: &str,
        key: &IdempotencyKey,
        fingerprint: Fingerprint,
    ) -> Result<Claim, Result<HttpResponse, ApiError>> {
        let mut claims = self.claims.lock().unwrap_or_else(|p| p.into_inner());
        let entry = (owner_id.to_owned(), key.as_str().to_owned());
        match claims.get(&entry) {
            Some(Some(answered)) if answered.fingerprint == fingerprint => {
                return Err(Ok(answered.answer.to_response(true)));
            }
            Some(Some(_)) => return Err(Err(IdempotencyError::Reused.into())),
            Some(None) => return Err(Err(IdempotencyError::InUse.into())),
            None => {}
        }
        if claims.len() >= CLAIMS_MAX {
            return Err(Err(IdempotencyError::Busy.into()));
        }
        claims.insert(entry, None);
        Ok(Claim {
            claims: self.claims.clone(),
            owner_id: owner_id.to_owned(),
            key: key.as_str().to_owned(),
        })
    }

    /// Runs `execute` at most once per (`owner_id`, `key`) and request (see the module docs) and
    /// returns the answer to send: the fresh one, or the recorded one.
    pub async fn run<F, Fut>(
        &self,
        owner_id: &str,
        key: &IdempotencyKey,
        fingerprint: Fingerprint,
        execute: F,
    ) -> Result<HttpResponse, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Answer, ApiError>>,
    {
        self.run_keyed(
            owner_id,
            key,
            fingerprint,
            BeforeExecuting::Database,
            |_| execute(),
        )
        .await
    }

    /// [`Idempotency::run`] for a request whose money commits with its answer's record (the
    /// ledger's outbox): `execute` gets the [`RecordDraft`] and says in [`Answer::recorded`]
    /// whether the record was written with the money, or (`Some(false)`) that nothing moved
    /// because the key already had an answer, which is then replayed. No claim is written to the
    /// database for it (module docs, "Several processes").
    ///
    /// `look_up: false` skips reading the key's record before executing, on PostgreSQL, for a
    /// request that changes nothing before its money but what is undone or harmless when it
    /// turns out to be a retry: a key answered before is then found when this answer is recorded
    /// (with its money, or after it by [`store::insert_done`]'s rule), and the recorded answer
    /// is replayed instead. On SQLite, where answers leave before their record, it always reads.
    pub async fn run_with_record<F, Fut>(
        &self,
        owner_id: &str,
        key: &IdempotencyKey,
        fingerprint: Fingerprint,
        look_up: bool,
        execute: F,
    ) -> Result<HttpResponse, ApiError>
    where
        F: FnOnce(RecordDraft) -> Fut,
        Fut: Future<Output = Result<Answer, ApiError>>,
    {
        let before = if look_up || matches!(self.db, Db::Sqlite(_)) {
            BeforeExecuting::LookUp
        } else {
            BeforeExecuting::None
        };
        self.run_keyed(owner_id, key, fingerprint, before, execute)
            .await
    }

    /// Runs a keyed request, after the database work `before` asks for.
    async fn run_keyed<F, Fut>(
        &self,
        owner_id: &str,
        key: &IdempotencyKey,
        fingerprint: Fingerprint,
        before: BeforeExecuting,
        execute: F,
    ) -> Result<HttpResponse, ApiError>
    where
        F: FnOnce(RecordDraft) -> Fut,
        Fut: Future<Output = Result<Answer, ApiError>>,
    {
        let claim = match self.claim(owner_id, key, fingerprint) {
            Ok(claim) => claim,
            Err(answer) => return answer,
        };
        let shared = match before {
            BeforeExecuting::Database => self.shared_claim(owner_id, key, fingerprint).await?,
            BeforeExecuting::LookUp => self.recorded_answer(owner_id, key, fingerprint).await?,
            BeforeExecuting::None => SharedClaim::NotNeeded,
        };
        let shared = match shared {
            SharedClaim::Answer(response) => return response,
            SharedClaim::Held(guard) => Some(guard),
            SharedClaim::NotNeeded => None,
        };
        let draft = RecordDraft::new(owner_id, key.as_str(), fingerprint);
        let answer = match execute(draft).await {
            Ok(answer) => answer,
            Err(err) if is_recorded(err.status()) => Answer::json(err.status(), &err.to_problem()),
            // Not recorded: answered as is, with its Retry-After (the claim is released on drop).
            Err(err) => return Ok(err.error_response()),
        };
        match answer.recorded {
            // Committed with the money: the claim's work is done.
            Some(true) => {
                if let Some(guard) = shared {
                    guard.keep();
                }
                drop(claim);
                return Ok(answer.to_response(false));
            }
            Some(false) => {
                if let Some(guard) = shared {
                    guard.keep();
                }
                return self
                    .answered_elsewhere(owner_id, key, fingerprint, answer)
                    .await;
            }
            None => {}
        }
        if is_recorded(answer.status) {
            let record = store::NewRecord {
                owner_id: owner_id.to_owned(),
                key: key.as_str().to_owned(),
                request_hash: fingerprint.0,
                response_status: answer.status.as_u16(),
                response_body: answer.body.clone(),
                now_ms: now_ms(),
            };
            if matches!(self.db, Db::Sqlite(_)) {
                // SQLite: no other process answers this key, so the answer is final now. Send it
                // without waiting for its record; until the record is written, the claim stays
                // and a retry replays the answer from memory.
                let response = answer.to_response(false);
                claim.answered(Arc::new(Answered {
                    fingerprint,
                    answer,
                }));
                // Queued before the answer leaves, so a shutdown's `flush` writes it.
                match self.writer.enqueue(record) {
                    Ok(written) => {
                        tokio::spawn(async move {
                            if let Err(err) = written.await {
                                tracing::warn!(error = %err, "idempotency record not written");
                            }
                            drop(claim);
                        });
                    }
                    // The claim is released now, so a retry runs (safely: module docs).
                    Err(err) => tracing::warn!(error = %err, "idempotency record not queued"),
                }
                return Ok(response);
            }
            let recorded = self.record(record).await;
            match recorded {
                Recorded::Written => {
                    if let Some(guard) = shared {
                        guard.keep();
                    }
                }
                // Another process answered this key first (it took over a claim whose lease
                // ran out): its answer is the key's answer.
                Recorded::AnsweredElsewhere => {
                    if let Some(guard) = shared {
                        guard.keep();
                    }
                    return self
                        .answered_elsewhere(owner_id, key, fingerprint, answer)
                        .await;
                }
                // The claim is released on drop, so a retry runs (safely: module docs).
                Recorded::Failed => {}
            }
        }
        drop(claim);
        Ok(answer.to_response(false))
    }

    /// The answer to send when another process recorded its answer to `key` first (it took over
    /// a claim whose lease ran out): that one, replayed; `answer` only if it cannot be read.
    async fn answered_elsewhere(
        &self,
        owner_id: &str,
        key: &IdempotencyKey,
        fingerprint: Fingerprint,
        answer: Answer,
    ) -> Result<HttpResponse, ApiError> {
        tracing::info!(
            key = key.as_str(),
            "idempotency key answered first by another request"
        );
        match store::find(&self.db, owner_id, key.as_str())
            .await
            .map_err(IdempotencyError::from)?
        {
            Some(record) => replay(record, fingerprint),
            None => Ok(answer.to_response(false)),
        }
    }

    /// The key's recorded answer, replayed, if it has one; else run without a database claim.
    async fn recorded_answer(
        &self,
        owner_id: &str,
        key: &IdempotencyKey,
        fingerprint: Fingerprint,
    ) -> Result<SharedClaim, IdempotencyError> {
        Ok(match store::find(&self.db, owner_id, key.as_str()).await? {
            Some(record) => SharedClaim::Answer(replay(record, fingerprint)),
            None => SharedClaim::NotNeeded,
        })
    }

    /// On PostgreSQL, where several processes may serve one database, claims the key in the
    /// database (a `started` record) before the request executes, so that only one process runs
    /// it: a key another process holds is a 409, one it answered replays. A claim whose holder
    /// crashed is taken over once its lease ([`CLAIM_LEASE_MS`]) ran out. On SQLite (one process
    /// per database) the in-memory claim is exact and nothing is written before executing.
    async fn shared_claim(
        &self,
        owner_id: &str,
        key: &IdempotencyKey,
        fingerprint: Fingerprint,
    ) -> Result<SharedClaim, IdempotencyError> {
        if matches!(self.db, Db::Sqlite(_)) {
            return self.recorded_answer(owner_id, key, fingerprint).await;
        }
        // Claim first: a fresh key (the common case) costs one statement, not a read and a write.
        let now = now_ms();
        let mut held =
            store::claim(&self.claim_db, owner_id, key.as_str(), &fingerprint.0, now).await?;
        if !held {
            match store::find(&self.db, owner_id, key.as_str()).await? {
                Some(record)
                    if record.state == "started"
                        && record.request_hash == fingerprint.0
                        && now - record.updated_at_ms >= CLAIM_LEASE_MS =>
                {
                    held = store::take_over(
                        &self.claim_db,
                        owner_id,
                        key.as_str(),
                        record.updated_at_ms,
                        now,
                    )
                    .await?;
                }
                Some(record) => return Ok(SharedClaim::Answer(replay(record, fingerprint))),
                // Released between our write and our read: retrying is the client's call.
                None => return Ok(SharedClaim::Answer(Err(IdempotencyError::InUse.into()))),
            }
        }
        if held {
            return Ok(SharedClaim::Held(ClaimGuard {
                db: Some(self.claim_db.clone()),
                owner_id: owner_id.to_owned(),
                key: key.as_str().to_owned(),
            }));
        }
        // Someone claimed or answered it between our read and our write.
        Ok(SharedClaim::Answer(
            match store::find(&self.db, owner_id, key.as_str()).await? {
                Some(record) => replay(record, fingerprint),
                None => Err(IdempotencyError::InUse.into()),
            },
        ))
    }

    /// Waits until every answer already sent has its record written (or failed): for shutdown,
    /// after the HTTP server stopped.
    pub async fn flush(&self) {
        self.writer.flush().await;
    }

    /// Queues `record` and waits for its commit. A failure is logged, not returned as an error:
    /// the request has already executed, and a later retry is safe without the record (module
    /// docs).
    async fn record(&self, record: store::NewRecord) -> Recorded {
        match self.writer.submit(record).await {
            Ok(true) => Recorded::Written,
            Ok(false) => Recorded::AnsweredElsewhere,
            Err(err) => {
                tracing::warn!(error = %err, "idempotency record not written");
                Recorded::Failed
            }
        }
    }
}

/// What became of a record handed to the writer.
enum Recorded {
    Written,
    /// The key already had another process's answer, which stands.
    AnsweredElsewhere,
    Failed,
}

/// The outcome of [`Idempotency::shared_claim`].
/// What a keyed request does in the database before it executes.
enum BeforeExecuting {
    /// PostgreSQL: claim the key (a `started` record), or replay its answer; SQLite: look up.
    Database,
    /// Replay the key's recorded answer if it has one.
    LookUp,
    /// Nothing: a recorded answer is found when this one is recorded.
    None,
}

enum SharedClaim {
    /// Do not execute: answer this (a replay, 409 or 422).
    Answer(Result<HttpResponse, ApiError>),
    /// Execute: this process holds the key in the database.
    Held(ClaimGuard),
    /// Execute: the in-memory claim suffices (SQLite), or the answer's record commits with the
    /// money only if the key has no answer yet ([`Idempotency::run_with_record`]).
    NotNeeded,
}

/// A `started` record this process wrote; deleted on drop (so a retry of a request that ended
/// without a recorded answer runs at once) unless [`ClaimGuard::keep`] was called after the
/// answer was recorded over it.
struct ClaimGuard {
    db: Option<Db>,
    owner_id: String,
    key: String,
}

impl ClaimGuard {
    fn keep(mut self) {
        self.db = None;
    }
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        let Some(db) = self.db.take() else {
            return;
        };
        let (owner_id, key) = (
            std::mem::take(&mut self.owner_id),
            std::mem::take(&mut self.key),
        );
        // Best effort: if this fails (or there is no runtime), the lease runs out instead.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(err) = store::release(&db, &owner_id, &key).await {
                    tracing::warn!(error = %err, "idempotency claim not released");
                }
            });
        }
    }
}

fn replay(record: store::Record, fingerprint: Fingerprint) -> Result<HttpResponse, ApiError> {
    if record.request_hash != fingerprint.0 {
        return Err(IdempotencyError::Reused.into());
    }
    match (
        record.state.as_str(),
        record.response_status,
        record.response_body,
    ) {
        ("done", Some(status), Some(body)) => {
            let status = u16::try_from(status)
                .ok()
                .and_then(|s| StatusCode::from_u16(s).ok())
                .ok_or_else(|| ApiError::internal("idempotency record with a bad status"))?;
            Ok(Answer {
                status,
                body,
                recorded: None,
            }
            .to_response(true))
        }
        // Claimed by a request still running (in another process, on PostgreSQL).
        _ => Err(IdempotencyError::InUse.into()),
    }
}

async fn prune_records(db: Db) {
    // The first sweep after one period, not at start-up, where it would compete with migrations
    // and the first requests for SQLite's write lock.
    let period = Duration::from_millis(PRUNE_EVERY_MS);
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let before_ms = now_ms() - RETENTION_MS;
        loop {
            match store::prune(&db, before_ms, PRUNE_ROWS_MAX).await {
                Ok(n) if n == PRUNE_ROWS_MAX as u64 => continue,
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "pruning idempotency records failed");
                    break;
                }
            }
        }
    }
}

fn now_ms() -> i64 {
    crate::ledger::now_ms()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bounded_visible_ascii() {
        assert!(IdempotencyKey::parse("a").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(KEY_CHARS_MAX)).is_ok());
        for bad in [
            "",
            " ",
            "a b",
            "ключ",
            "a\tb",
            &"k".repeat(KEY_CHARS_MAX + 1),
        ] {
            assert_eq!(
                IdempotencyKey::parse(bad).expect_err(bad).code(),
                "idempotency_key_invalid"
            );
        }
    }

    #[test]
    fn fingerprints_see_every_value_but_not_layout() {
        #[derive(Serialize)]
        struct Body {
            amount: &'static str,
        }
        let a = Fingerprint::of("POST", "/v1/transfers", &Body { amount: "12.50" });
        let b = Fingerprint::of("POST", "/v1/transfers", &Body { amount: "12.50" });
        let c = Fingerprint::of("POST", "/v1/transfers", &Body { amount: "12.5" });
        let d = Fingerprint::of("POST", "/v1/wallets", &Body { amount: "12.50" });
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn only_answers_about_the_request_are_recorded() {
        for status in [200, 201, 400, 402, 404, 422] {
            assert!(
                is_recorded(StatusCode::from_u16(status).unwrap()),
                "{status}"
            );
        }
        for status in [409, 429, 500, 503] {
            assert!(
                !is_recorded(StatusCode::from_u16(status).unwrap()),
                "{status}"
            );
        }
    }

    /// The 409 is deterministic within a process: while the first request runs, a second with
    /// the same key is refused without running; afterwards it replays. On a real SQLite file.
    #[tokio::test]
    async fn a_key_in_flight_is_409_then_replays() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let config = crate::config::Config {
            data_dir: dir.path().to_owned(),
            ..crate::config::Config::default()
        };
        let db = Db::open(&config).await.expect("database");
        let idempotency = Idempotency::start(db.clone());
        let key = IdempotencyKey::parse("k-1").expect("key");
        let fingerprint = Fingerprint::of("POST", "/v1/test", &"body");
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let runs = std::sync::atomic::AtomicUsize::new(0);

        let first = idempotency.run("usr_a", &key, fingerprint, || async {
            runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            released.await.expect("released");
            Ok(Answer::json(StatusCode::CREATED, &"done"))
        });
        let second = async {
            // `join!` polls `first` before this: the key is claimed by now.
            let refused = idempotency
                .run("usr_a", &key, fingerprint, || async {
                    runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Ok(Answer::json(StatusCode::CREATED, &"twice"))
                })
                .await
                .expect_err("in use");
            // Another user's identical key is independent.
            let other = idempotency
                .run("usr_b", &key, fingerprint, || async {
                    Ok(Answer::json(StatusCode::CREATED, &"b"))
                })
                .await
                .expect("runs");
            release.send(()).expect("first still waits");
            (refused, other)
        };
        let (first, (refused, other)) = tokio::join!(first, second);
        assert_eq!(refused.status(), StatusCode::CONFLICT);
        assert_eq!(refused.code(), "idempotency_key_in_use");
        assert_eq!(other.status(), StatusCode::CREATED);
        let first = first.expect("first answers");
        assert_eq!(first.status(), StatusCode::CREATED);
        assert!(first.headers().get(REPLAYED_HEADER).is_none());

        let replay = idempotency
            .run("usr_a", &key, fingerprint, || async {
                runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(Answer::json(StatusCode::CREATED, &"again"))
            })
            .await
            .expect("replays");
        assert_eq!(replay.status(), StatusCode::CREATED);
        assert_eq!(
            replay.headers().get(REPLAYED_HEADER).map(|v| v.as_bytes()),
            Some(&b"true"[..])
        );
        let body = actix_web::body::to_bytes(replay.into_body())
            .await
            .expect("body");
        assert_eq!(&body[..], b"\"done\"");
        let reused = idempotency
            .run(
                "usr_a",
                &key,
                Fingerprint::of("POST", "/v1/test", &"other"),
                || async {
                    runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Ok(Answer::json(StatusCode::CREATED, &"other"))
                },
            )
            .await
            .expect_err("reused");
        assert_eq!(reused.code(), "idempotency_key_reused");
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
        db.close().await;
    }
}
