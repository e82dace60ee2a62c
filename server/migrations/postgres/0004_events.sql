-- Events: what happened to a user or a merchant, in order, for Server-Sent Events, webhooks and
-- the SDK's event wait (server/src/events). `seq` is the one database-assigned order besides the
-- ledger's chain: readers resume after a seq (Last-Event-ID carries the public `evt_` id, which
-- maps to it). `dedupe_key` makes publishing idempotent: a retried business operation publishes
-- its event once. The SQLite twin is migrations/sqlite/0004_events.sql: keep both in step.
CREATE TABLE events (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            TEXT   NOT NULL UNIQUE,
    owner_id      TEXT   NOT NULL,
    type          TEXT   NOT NULL,
    data          TEXT   NOT NULL,
    dedupe_key    TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (owner_id, dedupe_key)
);
CREATE INDEX events_owner_seq ON events (owner_id, seq);
