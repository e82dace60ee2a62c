-- Identity (DESIGN.md "Identity and authentication"): users, login sessions with rotating refresh
-- tokens, devices with their Ed25519 public keys, device-signature nonces, login back-off, and the
-- server's access-token signing key. The PostgreSQL twin is migrations/postgres/0002_identity.sql:
-- keep both in step.

-- A user signs up with an email or a phone (normalised by the server: lower-case email, E.164 phone).
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT UNIQUE CHECK (email IS NULL OR length(email) BETWEEN 3 AND 254),
    phone         TEXT UNIQUE CHECK (phone IS NULL OR length(phone) BETWEEN 8 AND 16),
    -- argon2id PHC string; never the password
    password_hash TEXT NOT NULL CHECK (password_hash LIKE '$argon2%'),
    created_at_ms INTEGER NOT NULL,
    CHECK (email IS NOT NULL OR phone IS NOT NULL)
);

-- A login session: one family of refresh tokens. Reusing a spent token revokes the family.
CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id),
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER,
    revoked_why   TEXT CHECK (revoked_why IS NULL OR revoked_why IN ('logout', 'reuse'))
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Refresh tokens, stored as SHA-256 of the token text. used_at_ms is set exactly once (rotation).
CREATE TABLE refresh_tokens (
    token_hash    BLOB PRIMARY KEY CHECK (length(token_hash) = 32),
    session_id    TEXT NOT NULL REFERENCES sessions (id),
    issued_at_ms  INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    used_at_ms    INTEGER
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Devices: the public half of each phone's Ed25519 key. A revoked device stays, so its history and
-- its key (never to be registered again) are kept.
CREATE TABLE devices (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id),
    public_key    BLOB NOT NULL UNIQUE CHECK (length(public_key) = 32),
    name          TEXT CHECK (name IS NULL OR length(name) BETWEEN 1 AND 64),
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);
CREATE INDEX devices_user ON devices (user_id, created_at_ms);

-- Nonces of accepted device signatures. The primary key is the replay check: a second insert of
-- the same (device, nonce) fails, whichever server process tries it. Pruned once out of the window.
CREATE TABLE device_nonces (
    device_id    TEXT NOT NULL,
    nonce        TEXT NOT NULL CHECK (length(nonce) BETWEEN 16 AND 64),
    timestamp_ms INTEGER NOT NULL,
    PRIMARY KEY (device_id, nonce)
);
CREATE INDEX device_nonces_timestamp ON device_nonces (timestamp_ms);

-- Failed-login runs per login identifier (also for identifiers without an account, so back-off does
-- not reveal which accounts exist).
CREATE TABLE login_failures (
    login_key         TEXT PRIMARY KEY CHECK (length(login_key) <= 300),
    failures          INTEGER NOT NULL CHECK (failures >= 0),
    last_failure_ms   INTEGER NOT NULL,
    locked_until_ms   INTEGER NOT NULL DEFAULT 0
);

-- The server's signing keys, one row per purpose. The first process to start inserts its freshly
-- generated key; every other process (and every restart) reads that row, so all agree.
CREATE TABLE server_keys (
    purpose       TEXT PRIMARY KEY CHECK (purpose IN ('access_token')),
    kid           TEXT NOT NULL,
    secret_seed   BLOB NOT NULL CHECK (length(secret_seed) = 32),
    public_key    BLOB NOT NULL CHECK (length(public_key) = 32),
    created_at_ms INTEGER NOT NULL
);
