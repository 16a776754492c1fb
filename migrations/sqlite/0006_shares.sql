-- Share links: each opens one session's page read-only without signing in. Only a
-- token's SHA-256 is kept, so the store cannot give a link away. The link lucid posts
-- in threads is derived from the operator's key and gets a row only when revoked; a
-- link made through the API or the page gets one when made.
CREATE TABLE shares (
    token_hash TEXT PRIMARY KEY,            -- hex SHA-256 of the token
    session_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
) WITHOUT ROWID;
CREATE INDEX shares_by_session ON shares (session_id);
