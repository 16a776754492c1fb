-- Every platform's status message is kept under one purpose: GitHub's progress
-- comment was kept as 'progress'.
UPDATE thread_messages SET purpose = 'status' WHERE purpose = 'progress';

-- A session's title as its platform gave it (an issue's), kept as data for the
-- change request instead of being read back out of the task's text.
ALTER TABLE sessions ADD COLUMN title TEXT;

-- The forge a session's repository lives on, so that a worker claims only sessions
-- whose forge it serves. Repositories named so far were all on GitHub.
ALTER TABLE sessions ADD COLUMN forge TEXT;
UPDATE sessions SET forge = 'github' WHERE repo IS NOT NULL;
