-- Operations (server/src/operations): what operators did, wallet freezes, and the outcome of each
-- `purse ledger verify`. The SQLite twin is migrations/sqlite/0008_operations.sql: keep both in
-- step.

-- Audit events: who did what to which resource, why and when. Append-only: corrections are new
-- rows (an unfreeze after a freeze), never edits.
CREATE TABLE audit_events (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            TEXT   NOT NULL UNIQUE,
    actor         TEXT   NOT NULL CHECK (length(actor) BETWEEN 1 AND 100),
    action        TEXT   NOT NULL,
    target        TEXT   NOT NULL,
    reason        TEXT   NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    detail        TEXT,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX audit_events_target ON audit_events (target, seq);
CREATE FUNCTION purse_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only' USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION purse_audit_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION purse_audit_append_only();

-- Wallets that cannot be debited now (one row per frozen wallet; unfreezing deletes it, the audit
-- trail keeps the history).
CREATE TABLE wallet_freezes (
    wallet_id     TEXT COLLATE "C" PRIMARY KEY REFERENCES accounts (id),
    audit_id      TEXT   NOT NULL REFERENCES audit_events (id),
    created_at_ms BIGINT NOT NULL
);

-- One row per `purse ledger verify` run, newest last; /metrics reports the latest.
CREATE TABLE ledger_verifications (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ok            BIGINT   NOT NULL CHECK (ok IN (0, 1)),
    transfers     BIGINT   NOT NULL,
    finding       TEXT,
    created_at_ms BIGINT   NOT NULL
);
