-- Operations (server/src/operations): what operators did, wallet freezes, and the outcome of each
-- `purse ledger verify`. The PostgreSQL twin is migrations/postgres/0008_operations.sql: keep both
-- in step.

-- Audit events: who did what to which resource, why and when. Append-only: corrections are new
-- rows (an unfreeze after a freeze), never edits.
CREATE TABLE audit_events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT    NOT NULL UNIQUE,
    actor         TEXT    NOT NULL CHECK (length(actor) BETWEEN 1 AND 100),
    action        TEXT    NOT NULL,
    target        TEXT    NOT NULL,
    reason        TEXT    NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    detail        TEXT,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX audit_events_target ON audit_events (target, seq);
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;

-- Wallets that cannot be debited now (one row per frozen wallet; unfreezing deletes it, the audit
-- trail keeps the history).
CREATE TABLE wallet_freezes (
    wallet_id     TEXT    PRIMARY KEY REFERENCES accounts (id),
    audit_id      TEXT    NOT NULL REFERENCES audit_events (id),
    created_at_ms INTEGER NOT NULL
);

-- One row per `purse ledger verify` run, newest last; /metrics reports the latest.
CREATE TABLE ledger_verifications (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    ok            INTEGER NOT NULL CHECK (ok IN (0, 1)),
    transfers     INTEGER NOT NULL,
    finding       TEXT,
    created_at_ms INTEGER NOT NULL
);
