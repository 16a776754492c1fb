-- The agent a session runs with, by its configured id (`built-in`, `gemini`): the
-- one its request asked for, else the default when it came in. NULL for sessions
-- made before agents could be chosen: they run with the default.
ALTER TABLE sessions ADD COLUMN agent TEXT;

-- The model the session's agent asked lucid's model gateway for, once it did.
ALTER TABLE sessions ADD COLUMN model TEXT;
