-- Events a platform delivered that lucid acknowledged before acting on them: a Notion
-- event names a page but carries none of its values, so the page is read after the
-- answer. Kept until done, so a crash loses none; the delivery id dedupes
-- redeliveries while the row lasts.
CREATE TABLE inbox (
    platform    TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    -- What to read again (a Notion page or comment), and what kind of thing it is.
    subject     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    done_at     BIGINT,
    PRIMARY KEY (platform, delivery_id)
);
CREATE INDEX inbox_waiting ON inbox (platform, done_at, received_at);
CREATE INDEX inbox_subject ON inbox (platform, subject, kind, done_at);

-- Where a platform's reading left off (a Notion database's last poll).
CREATE TABLE marks (
    platform   TEXT NOT NULL,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (platform, name)
);
