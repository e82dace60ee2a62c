-- Merchants and payments (server/src/merchants, server/src/payments, server/src/risk): merchant
-- profiles, their signing keys and POS API keys, the QR codes the server made, payments of
-- merchant-presented codes, charges of consumer pay codes, refunds, the pay code counter of each
-- device, and risk rejections. Money itself lives only in the ledger: these rows point at ledger
-- transfers (`transfer_id`). The SQLite twin is migrations/sqlite/0005_payments.sql: keep both in step.

CREATE TABLE merchants (
    id            TEXT   PRIMARY KEY,
    owner_id      TEXT   NOT NULL,
    name          TEXT   NOT NULL CHECK (length(name) BETWEEN 1 AND 25),
    city          TEXT   NOT NULL CHECK (length(city) BETWEEN 1 AND 15),
    country       TEXT   NOT NULL CHECK (length(country) = 2),
    mcc           TEXT   NOT NULL CHECK (length(mcc) = 4),
    currency      TEXT   NOT NULL CHECK (length(currency) = 3),
    wallet_id     TEXT   NOT NULL UNIQUE,
    status        TEXT   NOT NULL CHECK (status IN ('active', 'inactive')),
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX merchants_owner ON merchants (owner_id, created_at_ms);

-- Merchant signing keys: `secret_seed` is set for keys the server generated (it signs the QR codes
-- it makes), NULL for public keys the merchant registered (codes signed at the till). A key id is
-- registered once, ever.
CREATE TABLE merchant_keys (
    key_id        TEXT   PRIMARY KEY CHECK (length(key_id) = 16),
    merchant_id   TEXT   NOT NULL REFERENCES merchants (id),
    public_key    BYTEA NOT NULL UNIQUE CHECK (length(public_key) = 32),
    secret_seed   BYTEA CHECK (secret_seed IS NULL OR length(secret_seed) = 32),
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
CREATE INDEX merchant_keys_merchant ON merchant_keys (merchant_id, created_at_ms);

-- POS API keys, stored as SHA-256 of the secret; the secret is shown once.
CREATE TABLE merchant_api_keys (
    id            TEXT   PRIMARY KEY,
    merchant_id   TEXT   NOT NULL REFERENCES merchants (id),
    name          TEXT   NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    secret_hash   BYTEA NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
CREATE INDEX merchant_api_keys_merchant ON merchant_api_keys (merchant_id, created_at_ms);

-- QR codes the server made. A dynamic code's reference is unique per merchant: it names the one
-- payment the code may make (the ledger reference `qr:<merchant>:<reference>`).
CREATE TABLE merchant_qr_codes (
    id            TEXT   PRIMARY KEY,
    merchant_id   TEXT   NOT NULL REFERENCES merchants (id),
    kind          TEXT   NOT NULL CHECK (kind IN ('static', 'dynamic')),
    key_id        TEXT   NOT NULL,
    amount_minor  BIGINT CHECK (amount_minor IS NULL OR amount_minor > 0),
    currency      TEXT   NOT NULL,
    reference     TEXT,
    expires_at_ms BIGINT,
    payload       TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX merchant_qr_codes_reference ON merchant_qr_codes (merchant_id, reference)
    WHERE kind = 'dynamic';

-- Payments of merchant-presented codes. A row is written (pending) before the money moves, under
-- the payer's Idempotency-Key, so a retry after a crash finds the same payment id.
CREATE TABLE payments (
    id               TEXT   PRIMARY KEY,
    merchant_id      TEXT   NOT NULL REFERENCES merchants (id),
    payer_id         TEXT   NOT NULL,
    payer_wallet     TEXT   NOT NULL,
    device_id        TEXT   NOT NULL,
    idempotency_key  TEXT   NOT NULL,
    amount_minor     BIGINT NOT NULL CHECK (amount_minor > 0),
    currency         TEXT   NOT NULL,
    reference        TEXT,
    status           TEXT   NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    refunded_minor   BIGINT NOT NULL DEFAULT 0
                     CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor),
    transfer_id      TEXT,
    created_at_ms    BIGINT NOT NULL,
    UNIQUE (payer_id, idempotency_key)
);
CREATE INDEX payments_payer ON payments (payer_id, created_at_ms);
CREATE INDEX payments_device ON payments (device_id, created_at_ms);

-- Charges of consumer pay codes, made by a merchant (owner or POS key) under its Idempotency-Key.
CREATE TABLE charges (
    id               TEXT   PRIMARY KEY,
    merchant_id      TEXT   NOT NULL REFERENCES merchants (id),
    payer_id         TEXT   NOT NULL,
    payer_wallet     TEXT   NOT NULL,
    device_id        TEXT   NOT NULL,
    counter          BIGINT NOT NULL,
    idempotency_key  TEXT   NOT NULL,
    amount_minor     BIGINT NOT NULL CHECK (amount_minor > 0),
    currency         TEXT   NOT NULL,
    reference        TEXT,
    status           TEXT   NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    refunded_minor   BIGINT NOT NULL DEFAULT 0
                     CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor),
    transfer_id      TEXT,
    created_at_ms    BIGINT NOT NULL,
    UNIQUE (merchant_id, idempotency_key),
    UNIQUE (device_id, counter)
);
CREATE INDEX charges_payer ON charges (payer_id, created_at_ms);
CREATE INDEX charges_device ON charges (device_id, created_at_ms);

-- The highest pay code counter accepted per device. Advanced only by a conditional upsert
-- (`WHERE last_counter < new`), so two processes can never both accept one counter.
CREATE TABLE paycode_counters (
    device_id     TEXT   PRIMARY KEY,
    last_counter  BIGINT NOT NULL CHECK (last_counter >= 0)
);

-- Pay codes name their device by key id (first 8 bytes of SHA-256 of the public key); devices
-- store the public key only, so this index is filled in on first use (server/src/payments).
CREATE TABLE device_key_ids (
    key_id        TEXT   PRIMARY KEY CHECK (length(key_id) = 16),
    device_id     TEXT   NOT NULL UNIQUE
);

-- Refunds. The amount is reserved on the payment or charge (`refunded_minor`) in the same
-- transaction as this row is inserted (pending), then the money moves under `refund:<id>`.
CREATE TABLE refunds (
    id               TEXT   PRIMARY KEY,
    payment_id       TEXT   NOT NULL,
    merchant_id      TEXT   NOT NULL REFERENCES merchants (id),
    idempotency_key  TEXT   NOT NULL,
    amount_minor     BIGINT NOT NULL CHECK (amount_minor > 0),
    currency         TEXT   NOT NULL,
    reason           TEXT,
    status           TEXT   NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    transfer_id      TEXT,
    created_at_ms    BIGINT NOT NULL,
    UNIQUE (merchant_id, idempotency_key)
);
CREATE INDEX refunds_payment ON refunds (payment_id);

-- Payments and charges the risk rules refused (operator view: GET /v1/admin/risk-rejections).
CREATE TABLE risk_rejections (
    id            TEXT   PRIMARY KEY,
    rule          TEXT   NOT NULL,
    user_id       TEXT   NOT NULL,
    device_id     TEXT,
    merchant_id   TEXT   NOT NULL,
    amount_minor  BIGINT NOT NULL,
    currency      TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX risk_rejections_created ON risk_rejections (created_at_ms, id);
