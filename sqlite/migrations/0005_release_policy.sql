-- The publisher's release policy, continued (issue 4).

-- min_success: how many of a test group's hosts that need an update must
-- install it before it is tested; 0 means every one of them.
ALTER TABLE test_groups ADD COLUMN min_success INTEGER NOT NULL DEFAULT 0;
