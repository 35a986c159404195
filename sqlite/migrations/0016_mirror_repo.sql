-- The TUF repository that signs each synced update (issue 8): the id of
-- the server that published it, as the upstream's feed said. '' for an
-- update synced from an upstream without signed updates.
ALTER TABLE update_origins ADD COLUMN repo TEXT NOT NULL DEFAULT '';
