-- Sessions whose thread is not yet caught up with their end: marked when a worker
-- starts following the thread, given the time of the end when the session finishes,
-- removed once the thread's last write (the status message in its final state, the
-- remaining moments, the ending) landed. A lucid that dies while that write waits for
-- its platform leaves the mark behind, and whichever lucid claims it next (under a
-- lease, like a session's) writes the end. `lease_owner` names the one follower that
-- may write the thread's end.
CREATE TABLE pending_thread_ends (
    session_id       TEXT PRIMARY KEY REFERENCES sessions (id),
    lease_owner      TEXT NOT NULL,
    lease_expires_at BIGINT,
    ended_at         BIGINT
);
