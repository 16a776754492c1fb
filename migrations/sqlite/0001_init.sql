-- Sessions: one row per task handed to lucid. Times are Unix milliseconds.
-- Tables keyed by text are WITHOUT ROWID: clustered on their key, so an insert
-- writes one B-tree instead of a table and its key index.
CREATE TABLE sessions (
    id               TEXT PRIMARY KEY,      -- UUIDv7, so it sorts by creation
    platform         TEXT NOT NULL,
    thread           TEXT NOT NULL,         -- ThreadRef as JSON
    author           TEXT NOT NULL,         -- Author as JSON
    task             TEXT NOT NULL,
    repo             TEXT,
    delivery_id      TEXT NOT NULL,
    state            TEXT NOT NULL,
    reason           TEXT,
    branch           TEXT,
    pr_url           TEXT,
    tokens_in        BIGINT NOT NULL DEFAULT 0,
    tokens_out       BIGINT NOT NULL DEFAULT 0,
    cost_micros      BIGINT NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    last_seq         BIGINT NOT NULL DEFAULT 0,  -- number of the newest event
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_state ON sessions (state, id);
CREATE INDEX sessions_claimable ON sessions (id)
    WHERE state IN ('queued', 'provisioning', 'running');

-- The append-only event log of each session, numbered from 1 without gaps.
CREATE TABLE events (
    session_id TEXT NOT NULL REFERENCES sessions (id),
    seq        BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    body       TEXT NOT NULL,               -- EventBody as JSON
    created_at BIGINT NOT NULL,
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;

-- Every webhook delivery lucid acknowledged; the key is what dedupes retries.
CREATE TABLE deliveries (
    platform    TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    session_id  TEXT,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (platform, delivery_id)
) WITHOUT ROWID;

-- Which session a conversation belongs to, so follow-ups find it.
CREATE TABLE threads (
    platform   TEXT NOT NULL,
    thread_key TEXT NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (platform, thread_key)
) WITHOUT ROWID;

-- Credentials sealed with AES-256-GCM under LUCID_SECRET_KEY.
CREATE TABLE credentials (
    name       TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL,
    nonce      BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    updated_at BIGINT NOT NULL
);
