-- Charges no longer carry UNIQUE (device_id, counter): a pay code (device and counter) is accepted
-- at most once already, twice over, in the transaction that stores its charge: the conditional
-- upsert of paycode_counters (strictly above the last accepted counter) and the UNIQUE reference
-- `paycode:<device>:<counter>` of the transfer that pays it. The third index cost every charge one
-- more B-tree insert in the ledger writer's batch. The SQLite twin is
-- migrations/sqlite/0009_charges_counter_index.sql.
ALTER TABLE charges DROP CONSTRAINT charges_device_id_counter_key;
