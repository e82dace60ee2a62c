-- Charges no longer carry UNIQUE (device_id, counter): a pay code (device and counter) is accepted
-- at most once already, twice over, in the transaction that stores its charge: the conditional
-- upsert of paycode_counters (strictly above the last accepted counter) and the UNIQUE reference
-- `paycode:<device>:<counter>` of the transfer that pays it. The third index cost every charge one
-- more B-tree insert and dirty page in the ledger writer's batch (docs/benchmarks.md, 2026-12-04).
-- SQLite cannot drop a table constraint, so the table is rebuilt with the same columns, rows,
-- checks and remaining indexes. The PostgreSQL twin is migrations/postgres/0009_charges_counter_index.sql.
CREATE TABLE charges_rebuilt (
    id               TEXT   PRIMARY KEY,
    merchant_id      TEXT   NOT NULL REFERENCES merchants (id),
    payer_id         TEXT   NOT NULL,
    payer_wallet     TEXT   NOT NULL,
    device_id        TEXT   NOT NULL,
    counter          INTEGER NOT NULL,
    idempotency_key  TEXT   NOT NULL,
    amount_minor     INTEGER NOT NULL CHECK (amount_minor > 0),
    currency         TEXT   NOT NULL,
    reference        TEXT,
    status           TEXT   NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    refunded_minor   INTEGER NOT NULL DEFAULT 0
                     CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor),
    transfer_id      TEXT,
    created_at_ms    INTEGER NOT NULL,
    UNIQUE (merchant_id, idempotency_key)
);
INSERT INTO charges_rebuilt (id, merchant_id, payer_id, payer_wallet, device_id, counter,
    idempotency_key, amount_minor, currency, reference, status, refunded_minor, transfer_id,
    created_at_ms)
SELECT id, merchant_id, payer_id, payer_wallet, device_id, counter, idempotency_key, amount_minor,
    currency, reference, status, refunded_minor, transfer_id, created_at_ms
FROM charges ORDER BY rowid;
DROP TABLE charges;
ALTER TABLE charges_rebuilt RENAME TO charges;
CREATE INDEX charges_payer ON charges (payer_id, created_at_ms);
CREATE INDEX charges_device ON charges (device_id, created_at_ms);
