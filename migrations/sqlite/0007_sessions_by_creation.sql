-- Sessions by when they were made: the pages' month total and the usage report sum
-- a span of days without reading every session.
CREATE INDEX sessions_by_creation ON sessions (created_at);
