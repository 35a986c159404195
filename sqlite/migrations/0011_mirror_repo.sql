-- The TUF repository that signs each synced update (issue 8): the id of
-- the server that published it, as the upstream's feed said. '' for an
-- update synced from an upstream without signed updates.
ALTER TABLE update_origins ADD COLUMN repo TEXT NOT NULL DEFAULT '';

-- Fingerprints of 1.root.json an upstream's repositories must have when
-- first mirrored (upstream add --root-fingerprint REPO=FP): JSON object
-- repository -> fingerprint; '{}' trusts them on the first sync.
ALTER TABLE upstreams ADD COLUMN root_pins TEXT NOT NULL DEFAULT '{}';
