-- Top-ups, provider webhooks, settlement reports (server/src/topups, server/src/settlement) and the
-- built-in sandbox acquirer's own state (server/src/sandbox: a separate system that happens to
-- share the database; Purse code never reads its tables). The SQLite twin is
-- migrations/sqlite/0007_topups.sql: keep both in step.
CREATE TABLE topups (
    id                   TEXT    PRIMARY KEY,
    owner_id             TEXT    NOT NULL,
    wallet_id            TEXT    NOT NULL,
    currency             TEXT    NOT NULL,
    amount_minor         BIGINT NOT NULL CHECK (amount_minor > 0),
    method               TEXT    NOT NULL CHECK (method IN ('card', 'bank_transfer')),
    status               TEXT    NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled', 'charged_back')),
    provider             TEXT    NOT NULL,
    provider_ref         TEXT,
    next_action_url      TEXT,
    failure_code         TEXT,
    transfer_id          TEXT,
    captured_at_ms       BIGINT,
    charged_back_at_ms   BIGINT,
    settled_report_id    TEXT,
    chargeback_report_id TEXT,
    created_at_ms        BIGINT NOT NULL,
    updated_at_ms        BIGINT NOT NULL
);
CREATE UNIQUE INDEX topups_provider_ref ON topups (provider, provider_ref);
CREATE INDEX topups_owner ON topups (owner_id, created_at_ms);
CREATE INDEX topups_captured ON topups (captured_at_ms);
CREATE INDEX topups_settled ON topups (settled_report_id);
CREATE INDEX topups_chargeback_settled ON topups (chargeback_report_id);

-- Provider webhook events already applied: a duplicate delivery is a no-op.
CREATE TABLE provider_webhook_events (
    provider       TEXT    NOT NULL,
    event_id       TEXT    NOT NULL,
    type           TEXT    NOT NULL,
    received_at_ms BIGINT NOT NULL,
    PRIMARY KEY (provider, event_id)
);

-- Settlement reports imported: one row per report id, `imported` once its transfers are posted.
CREATE TABLE settlement_reports (
    report_id      TEXT    PRIMARY KEY,
    provider       TEXT    NOT NULL,
    report_date    TEXT    NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('importing', 'imported')),
    summary        TEXT,
    started_at_ms  BIGINT NOT NULL,
    imported_at_ms BIGINT
);

-- The sandbox acquirer's payment intents.
CREATE TABLE sandbox_intents (
    id                 TEXT    PRIMARY KEY,
    amount_minor       BIGINT NOT NULL,
    currency           TEXT    NOT NULL,
    method             TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    reference          TEXT    NOT NULL,
    fee_minor          BIGINT NOT NULL,
    created_at_ms      BIGINT NOT NULL,
    captured_at_ms     BIGINT,
    declined_at_ms     BIGINT,
    charged_back_at_ms BIGINT
);
CREATE INDEX sandbox_intents_captured ON sandbox_intents (captured_at_ms);
CREATE INDEX sandbox_intents_charged_back ON sandbox_intents (charged_back_at_ms);
