-- Idempotency records are kept for a day (server/src/idempotency/mod.rs, RETENTION_MS) and then
-- pruned in bounded steps; this index lets each step find the oldest records without scanning the
-- table. The SQLite twin is migrations/sqlite/0003_idempotency.sql: keep both in step.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at_ms);
