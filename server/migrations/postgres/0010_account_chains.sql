-- Each account's transfers form a list linked through the transfers themselves, replacing the
-- indexes transfers (debit_account, seq) and transfers (credit_account, seq). A transfer names the
-- previous transfer of its debit account and of its credit account (their seq, 0 when it is the
-- account's first); an account names its last transfer. The ledger writer already updates every
-- account a batch touches (its balance), so the list costs no page the batch did not dirty anyway,
-- where each of the two indexes cost one randomly placed B-tree page per transfer
-- (docs/benchmarks.md, 2026-12-08). History pages and daily limits walk the list from the account
-- (server/src/ledger/store.rs); `purse ledger verify` recomputes it from the chain.
-- The SQLite twin is migrations/sqlite/0010_account_chains.sql.
ALTER TABLE accounts ADD COLUMN last_transfer_seq BIGINT NOT NULL DEFAULT 0
    CHECK (last_transfer_seq >= 0);
ALTER TABLE transfers ADD COLUMN debit_prev_seq BIGINT NOT NULL DEFAULT 0
    CHECK (debit_prev_seq >= 0 AND debit_prev_seq < seq);
ALTER TABLE transfers ADD COLUMN credit_prev_seq BIGINT NOT NULL DEFAULT 0
    CHECK (credit_prev_seq >= 0 AND credit_prev_seq < seq);

-- The links of the transfers written before this migration, from the indexes still here.
ALTER TABLE transfers DISABLE TRIGGER transfers_no_update_delete;
WITH sides (seq, account, side) AS (
    SELECT seq, debit_account, 'debit' FROM transfers
    UNION ALL
    SELECT seq, credit_account, 'credit' FROM transfers
), links (seq, side, prev) AS (
    SELECT seq, side, lag(seq, 1, 0) OVER (PARTITION BY account ORDER BY seq) FROM sides
)
UPDATE transfers SET debit_prev_seq = d.prev, credit_prev_seq = c.prev
FROM links AS d, links AS c
WHERE d.seq = transfers.seq AND d.side = 'debit' AND c.seq = transfers.seq AND c.side = 'credit';
ALTER TABLE transfers ENABLE TRIGGER transfers_no_update_delete;
UPDATE accounts SET last_transfer_seq = last.seq
FROM (
    SELECT account, max(seq) AS seq FROM (
        SELECT debit_account AS account, seq FROM transfers
        UNION ALL
        SELECT credit_account, seq FROM transfers
    ) AS sides GROUP BY account
) AS last
WHERE last.account = accounts.id;

DROP INDEX transfers_debit_account;
DROP INDEX transfers_credit_account;
