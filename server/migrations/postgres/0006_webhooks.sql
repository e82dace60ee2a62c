-- Merchant webhooks (server/src/webhooks): one endpoint per merchant, one delivery per (merchant,
-- event) that the dispatcher claims with a lease before each attempt, and the attempt log the
-- merchant reads. The sqlite twin is migrations/sqlite/0006_webhooks.sql: keep both in step.

-- The signing secrets are kept as written (they key HMAC-SHA256, so they cannot be hashed);
-- `previous_secret` is the one replaced by the last rotation, still signed with until
-- `previous_expires_at_ms`. `after_seq` is the events.seq up to which deliveries were queued.
CREATE TABLE webhook_endpoints (
    merchant_id           TEXT   NOT NULL PRIMARY KEY,
    url                   TEXT   NOT NULL,
    secret                TEXT   NOT NULL,
    previous_secret       TEXT,
    previous_expires_at_ms BIGINT,
    after_seq             BIGINT NOT NULL,
    created_at_ms         BIGINT NOT NULL,
    updated_at_ms         BIGINT NOT NULL
);

-- state: pending (attempts left), succeeded, failed (gave up). A process may attempt a pending
-- delivery only after moving lease_until_ms past now with a conditional UPDATE that also checks
-- the attempt count it read, so two processes never make the same attempt.
CREATE TABLE webhook_deliveries (
    merchant_id          TEXT   NOT NULL,
    event_id             TEXT   NOT NULL,
    event_seq            BIGINT NOT NULL,
    event_created_at_ms  BIGINT NOT NULL,
    state                TEXT   NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
    attempts             BIGINT NOT NULL DEFAULT 0,
    next_attempt_at_ms   BIGINT NOT NULL,
    lease_until_ms       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (merchant_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at_ms);

-- One row per attempt, for GET /v1/merchants/{id}/webhook/deliveries (newest first by seq).
CREATE TABLE webhook_attempts (
    seq               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                TEXT   NOT NULL UNIQUE,
    merchant_id       TEXT   NOT NULL,
    event_id          TEXT   NOT NULL,
    event_type        TEXT   NOT NULL,
    attempt           BIGINT NOT NULL,
    status_code       BIGINT,
    error             TEXT,
    outcome           TEXT   NOT NULL CHECK (outcome IN ('succeeded', 'retrying', 'failed')),
    next_retry_at_ms  BIGINT,
    created_at_ms     BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_merchant ON webhook_attempts (merchant_id, seq);
