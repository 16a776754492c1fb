-- Who asked for each session and where (the place: a channel, a repository's
-- issues), for the limits on sessions per person and per place.
ALTER TABLE sessions ADD COLUMN author_id TEXT;
ALTER TABLE sessions ADD COLUMN place TEXT;

-- Sessions made before: the person from the author, the place from the thread (as
-- ThreadRef::place says; lucid's own pages have none).
UPDATE sessions SET author_id = author::json ->> 'id';
UPDATE sessions SET place = CASE thread::json ->> 'platform'
    WHEN 'github' THEN thread::json ->> 'repo'
    WHEN 'slack' THEN (thread::json ->> 'team') || '/' || (thread::json ->> 'channel')
    WHEN 'discord' THEN thread::json ->> 'channel'
    WHEN 'notion' THEN thread::json ->> 'page'
    WHEN 'web' THEN NULL
    ELSE thread::json ->> 'place'
END;

-- A person's sessions not yet finished, and those of the last hour; a place's not
-- yet finished.
CREATE INDEX sessions_live_by_author ON sessions (platform, author_id)
    WHERE state IN ('queued', 'provisioning', 'running');
CREATE INDEX sessions_by_author ON sessions (platform, author_id, created_at);
CREATE INDEX sessions_live_by_place ON sessions (platform, place)
    WHERE state IN ('queued', 'provisioning', 'running');
