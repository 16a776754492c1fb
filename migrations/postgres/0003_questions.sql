-- A request lucid could not start yet because it had to ask something first (which
-- repository?), kept until the answer comes in its thread.
CREATE TABLE questions (
    platform   TEXT NOT NULL,
    thread_key TEXT NOT NULL,
    -- The trigger as JSON, still missing what was asked.
    trigger    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (platform, thread_key)
);
