-- The double-entry ledger (DESIGN.md "Ledger") and the idempotency records of the HTTP API.
-- The PostgreSQL twin is migrations/postgres/0001_ledger.sql: keep both in step.

-- Accounts: wallets (owned by a user or merchant, balance never below zero) and system accounts
-- (issuance, provider receivable, settlement, fees, ...) which carry the other side of every wallet
-- balance, so that per currency all balances sum to zero. Only balance_minor ever changes.
CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('wallet', 'system')),
    owner_id      TEXT,
    currency      TEXT NOT NULL CHECK (length(currency) = 3),
    balance_minor INTEGER NOT NULL DEFAULT 0,
    created_at_ms INTEGER NOT NULL,
    CHECK (kind = 'system' OR balance_minor >= 0),
    -- SQLite turns an overflowing integer sum into a float; refuse it instead
    CHECK (typeof(balance_minor) = 'integer'),
    CHECK ((kind = 'wallet') = (owner_id IS NOT NULL)),
    -- the target of the transfers' (account, currency) foreign keys
    UNIQUE (id, currency)
);
-- One wallet per owner per currency.
CREATE UNIQUE INDEX accounts_wallet_owner_currency ON accounts (owner_id, currency) WHERE kind = 'wallet';

CREATE TRIGGER accounts_identity_immutable BEFORE UPDATE OF id, kind, owner_id, currency ON accounts
BEGIN
    SELECT RAISE(ABORT, 'accounts: only balance_minor may change');
END;
CREATE TRIGGER accounts_no_delete BEFORE DELETE ON accounts
BEGIN
    SELECT RAISE(ABORT, 'accounts are never deleted');
END;

-- Transfers: append-only, hash-chained. seq is the chain position (1, 2, ...) assigned by the ledger
-- writer; hash = SHA-256(prev_hash || canonical bytes), see server/src/ledger/chain.rs.
CREATE TABLE transfers (
    seq            INTEGER PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    reference      TEXT NOT NULL UNIQUE CHECK (length(reference) BETWEEN 1 AND 200),
    kind           TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 32),
    debit_account  TEXT NOT NULL,
    credit_account TEXT NOT NULL,
    currency       TEXT NOT NULL,
    amount_minor   INTEGER NOT NULL CHECK (typeof(amount_minor) = 'integer' AND amount_minor > 0 AND amount_minor <= 1000000000000000),
    memo           TEXT CHECK (memo IS NULL OR length(memo) <= 500),
    created_at_ms  INTEGER NOT NULL,
    prev_hash      BLOB NOT NULL CHECK (length(prev_hash) = 32),
    hash           BLOB NOT NULL CHECK (length(hash) = 32),
    CHECK (debit_account <> credit_account),
    -- same currency on both sides: each account must exist with the transfer's currency
    FOREIGN KEY (debit_account, currency) REFERENCES accounts (id, currency),
    FOREIGN KEY (credit_account, currency) REFERENCES accounts (id, currency)
);
CREATE INDEX transfers_debit_account ON transfers (debit_account, seq);
CREATE INDEX transfers_credit_account ON transfers (credit_account, seq);

CREATE TRIGGER transfers_no_update BEFORE UPDATE ON transfers
BEGIN
    SELECT RAISE(ABORT, 'transfers are append-only');
END;
CREATE TRIGGER transfers_no_delete BEFORE DELETE ON transfers
BEGIN
    SELECT RAISE(ABORT, 'transfers are append-only');
END;

-- The head of the hash chain: the seq and hash of the last transfer (0 and 32 zero bytes before the
-- first). The writer locks it with its first statement and moves it in the same transaction as the
-- rows it appends, so two server processes extend one chain, never fork it.
CREATE TABLE ledger_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL CHECK (seq >= 0),
    hash BLOB NOT NULL CHECK (length(hash) = 32)
);
INSERT INTO ledger_head (id, seq, hash) VALUES (1, 0, zeroblob(32));

-- Idempotency-Key records (DESIGN.md "API conventions"): per owner, the request fingerprint and,
-- once done, the first response, replayed for a repeated key.
CREATE TABLE idempotency_keys (
    owner_id        TEXT NOT NULL,
    idem_key        TEXT NOT NULL CHECK (length(idem_key) BETWEEN 1 AND 255),
    request_hash    BLOB NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('started', 'done')),
    response_status INTEGER,
    response_body   BLOB,
    created_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL,
    PRIMARY KEY (owner_id, idem_key)
);
