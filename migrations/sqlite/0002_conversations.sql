-- The agent's conversation with the model, so that a follow-up after the session
-- finished resumes it where it stopped (JSON array of messages, rewritten each step).
CREATE TABLE conversations (
    session_id TEXT PRIMARY KEY REFERENCES sessions (id),
    messages   TEXT NOT NULL,
    updated_at BIGINT NOT NULL
) WITHOUT ROWID;

-- Messages lucid keeps editing in a thread (GitHub's progress comment, Slack's status
-- message), so that a restarted lucid edits the same one instead of posting another.
CREATE TABLE thread_messages (
    session_id TEXT NOT NULL REFERENCES sessions (id),
    purpose    TEXT NOT NULL,
    message_id TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (session_id, purpose)
) WITHOUT ROWID;
