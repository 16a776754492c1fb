-- Requests answered to their platform but not decided yet: the forge could not say
-- whether their author may ask (its API down, its token refused). Each is retried
-- with backoff until the forge answers; its delivery is recorded then, when the
-- request is decided, so a redelivery meanwhile finds it here.
CREATE TABLE held_requests (
    platform TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    -- The intent and the place's policy, as JSON.
    intent TEXT NOT NULL,
    policy TEXT NOT NULL,
    -- Who asked, on which forge.
    forge TEXT NOT NULL,
    login TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    -- When it is next tried (milliseconds since the epoch); a replica trying it
    -- moves this on first, so that another does not try it at the same time.
    next_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_error TEXT,
    PRIMARY KEY (platform, delivery_id)
);

CREATE INDEX held_requests_due ON held_requests (next_at);
