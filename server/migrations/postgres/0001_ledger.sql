-- The double-entry ledger (DESIGN.md "Ledger") and the idempotency records of the HTTP API.
-- The SQLite twin is migrations/sqlite/0001_ledger.sql: keep both in step.

-- Accounts: wallets (owned by a user or merchant, balance never below zero) and system accounts
-- (issuance, provider receivable, settlement, fees, ...) which carry the other side of every wallet
-- balance, so that per currency all balances sum to zero. Only balance_minor ever changes.
-- Text keys compare bytewise (COLLATE "C"): ids are ASCII, and locale-aware comparison would
-- slow every index insert of the ledger for no benefit.
CREATE TABLE accounts (
    id            TEXT COLLATE "C" PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('wallet', 'system')),
    owner_id      TEXT COLLATE "C",
    currency      TEXT NOT NULL CHECK (length(currency) = 3),
    balance_minor BIGINT NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL,
    CHECK (kind = 'system' OR balance_minor >= 0),
    CHECK ((kind = 'wallet') = (owner_id IS NOT NULL))
)
-- Balances change all the time and no index covers balance_minor: free space in each page lets
-- PostgreSQL update in place (HOT) instead of writing every index again.
WITH (fillfactor = 50);
-- One wallet per owner per currency.
CREATE UNIQUE INDEX accounts_wallet_owner_currency ON accounts (owner_id, currency) WHERE kind = 'wallet';

CREATE FUNCTION purse_accounts_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'accounts are never deleted' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.id IS DISTINCT FROM OLD.id OR NEW.kind IS DISTINCT FROM OLD.kind
       OR NEW.owner_id IS DISTINCT FROM OLD.owner_id OR NEW.currency IS DISTINCT FROM OLD.currency THEN
        RAISE EXCEPTION 'accounts: only balance_minor may change' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER accounts_guard BEFORE UPDATE OR DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION purse_accounts_guard();

-- Transfers: append-only, hash-chained. seq is the chain position (1, 2, ...) assigned by the ledger
-- writer; hash = SHA-256(prev_hash || canonical bytes), see server/src/ledger/chain.rs.
CREATE TABLE transfers (
    seq            BIGINT PRIMARY KEY,
    id             TEXT COLLATE "C" NOT NULL UNIQUE,
    reference      TEXT COLLATE "C" NOT NULL UNIQUE CHECK (length(reference) BETWEEN 1 AND 200),
    kind           TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 32),
    debit_account  TEXT COLLATE "C" NOT NULL,
    credit_account TEXT COLLATE "C" NOT NULL,
    currency       TEXT NOT NULL,
    amount_minor   BIGINT NOT NULL CHECK (amount_minor > 0 AND amount_minor <= 1000000000000000),
    memo           TEXT CHECK (memo IS NULL OR length(memo) <= 500),
    created_at_ms  BIGINT NOT NULL,
    prev_hash      BYTEA NOT NULL CHECK (length(prev_hash) = 32),
    hash           BYTEA NOT NULL CHECK (length(hash) = 32),
    CHECK (debit_account <> credit_account)
);
CREATE INDEX transfers_debit_account ON transfers (debit_account, seq);
CREATE INDEX transfers_credit_account ON transfers (credit_account, seq);

-- Same currency on both sides: both accounts must exist with the transfer's currency. Checked once
-- per INSERT statement over all its rows (the writer inserts a whole batch at once) rather than by
-- foreign keys, which PostgreSQL checks row by row with a query each. Accounts are never deleted
-- and never change currency (purse_accounts_guard), so a check at insert time holds forever.
CREATE FUNCTION purse_transfers_accounts_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad RECORD;
BEGIN
    SELECT n.seq INTO bad FROM new_rows n
    WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = n.debit_account AND a.currency = n.currency)
       OR NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = n.credit_account AND a.currency = n.currency)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'transfer seq % names an account missing in its currency', bad.seq
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER transfers_accounts_check AFTER INSERT ON transfers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION purse_transfers_accounts_check();

CREATE FUNCTION purse_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'transfers are append-only' USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
CREATE TRIGGER transfers_no_update_delete BEFORE UPDATE OR DELETE ON transfers
    FOR EACH ROW EXECUTE FUNCTION purse_append_only();
CREATE TRIGGER transfers_no_truncate BEFORE TRUNCATE ON transfers
    FOR EACH STATEMENT EXECUTE FUNCTION purse_append_only();

-- The head of the hash chain: the seq and hash of the last transfer (0 and 32 zero bytes before the
-- first). The writer locks it with its first statement and moves it in the same transaction as the
-- rows it appends, so two server processes extend one chain, never fork it.
CREATE TABLE ledger_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL CHECK (seq >= 0),
    hash BYTEA NOT NULL CHECK (length(hash) = 32)
);
INSERT INTO ledger_head (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

-- Idempotency-Key records (DESIGN.md "API conventions"): per owner, the request fingerprint and,
-- once done, the first response, replayed for a repeated key.
CREATE TABLE idempotency_keys (
    owner_id        TEXT COLLATE "C" NOT NULL,
    idem_key        TEXT COLLATE "C" NOT NULL CHECK (length(idem_key) BETWEEN 1 AND 255),
    request_hash    BYTEA NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('started', 'done')),
    response_status INTEGER,
    response_body   BYTEA,
    created_at_ms   BIGINT NOT NULL,
    updated_at_ms   BIGINT NOT NULL,
    PRIMARY KEY (owner_id, idem_key)
);
