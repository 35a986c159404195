-- Upstream sync and server hierarchy (issue 7).

-- server_identity is this server's id, sent up the chain with feed
-- requests so that loops are refused.
CREATE TABLE server_identity (
    id        INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    server_id TEXT    NOT NULL
);
INSERT INTO server_identity (id, server_id) VALUES (1, 'srv-' || lower(hex(randomblob(8))));

-- feed_log is the change feed an upstream serves: one row per update, at
-- the sequence number of its latest change of status or revision. A change
-- replaces the row, so the log stays as long as the catalog, never needs
-- pruning, and a new downstream reading from 0 gets the whole catalog once.
-- Triggers write it (delete, then insert: a conflict clause of the
-- statement that fires a trigger would override one inside it) in the transaction of the change; SQLite serialises
-- writers, so sequence order is commit order.
CREATE TABLE feed_log (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    update_id TEXT    NOT NULL UNIQUE
);
INSERT INTO feed_log (update_id) SELECT update_id FROM update_status ORDER BY update_id;

CREATE TRIGGER feed_status_insert AFTER INSERT ON update_status BEGIN
    DELETE FROM feed_log WHERE update_id = NEW.update_id;
    INSERT INTO feed_log (update_id) VALUES (NEW.update_id);
END;
CREATE TRIGGER feed_status_update AFTER UPDATE ON update_status
    WHEN OLD.status IS NOT NEW.status OR OLD.revision IS NOT NEW.revision BEGIN
    DELETE FROM feed_log WHERE update_id = NEW.update_id;
    INSERT INTO feed_log (update_id) VALUES (NEW.update_id);
END;
CREATE TRIGGER feed_revision_update AFTER UPDATE OF revision ON updates
    WHEN OLD.revision IS NOT NEW.revision BEGIN
    DELETE FROM feed_log WHERE update_id = NEW.id;
    INSERT INTO feed_log (update_id) VALUES (NEW.id);
END;
CREATE TRIGGER feed_update_delete AFTER DELETE ON updates BEGIN
    DELETE FROM feed_log WHERE update_id = OLD.id;
END;

-- downstream_chains: the chain of server ids each downstream sent with its
-- last feed request; this server sends them on up.
CREATE TABLE downstream_chains (
    server_id TEXT NOT NULL PRIMARY KEY,
    chain     TEXT NOT NULL, -- JSON []string
    seen_at   TEXT NOT NULL
);

-- upstreams this server syncs from. token is the secret of a
-- downstream-role token on the upstream (it must be sent, so it cannot be
-- a hash). cursor moves only in the transaction that stores what it covers.
CREATE TABLE upstreams (
    name           TEXT    NOT NULL PRIMARY KEY,
    url            TEXT    NOT NULL,
    ca_fingerprint TEXT    NOT NULL DEFAULT '',
    token          TEXT    NOT NULL,
    products       TEXT    NOT NULL DEFAULT '[]', -- JSON []string
    kinds          TEXT    NOT NULL DEFAULT '[]', -- JSON []string
    content        TEXT    NOT NULL,
    cursor         BIGINT  NOT NULL DEFAULT 0,
    ancestors      TEXT    NOT NULL DEFAULT '[]', -- JSON []string: server ids above, the upstream's first
    mode           TEXT    NOT NULL DEFAULT 'autonomous', -- or replica: groups, approvals, windows from it
    policy_digest  TEXT    NOT NULL DEFAULT '', -- of the replica policy last applied
    created_at     TEXT    NOT NULL,
    created_by     TEXT    NOT NULL DEFAULT ''
);

-- update_origins: the upstream each synced update came from and what it
-- said last. No foreign key to upstreams: removing an upstream keeps its
-- updates and their origin.
CREATE TABLE update_origins (
    update_id         TEXT    NOT NULL PRIMARY KEY REFERENCES updates (id) ON DELETE CASCADE,
    upstream          TEXT    NOT NULL,
    upstream_revision INTEGER NOT NULL,
    upstream_status   TEXT    NOT NULL,
    upstream_seq      BIGINT  NOT NULL,
    synced_at         TEXT    NOT NULL
);
CREATE INDEX update_origins_upstream ON update_origins (upstream, update_id);

-- synced_payloads: the content of synced updates' latest revisions and
-- where to fetch it.
CREATE TABLE synced_payloads (
    update_id TEXT   NOT NULL REFERENCES updates (id) ON DELETE CASCADE,
    sha256    TEXT   NOT NULL,
    size      BIGINT NOT NULL,
    upstream  TEXT   NOT NULL,
    PRIMARY KEY (update_id, sha256)
);
CREATE INDEX synced_payloads_sha ON synced_payloads (sha256);

-- sync_conflicts: update ids an upstream offered while held from another
-- origin; reported, never overwritten.
CREATE TABLE sync_conflicts (
    upstream   TEXT    NOT NULL,
    update_id  TEXT    NOT NULL,
    held_from  TEXT    NOT NULL,
    revision   INTEGER NOT NULL,
    first_seen TEXT    NOT NULL,
    last_seen  TEXT    NOT NULL,
    PRIMARY KEY (upstream, update_id)
);

-- sync_runs is the sync history.
CREATE TABLE sync_runs (
    id          TEXT   NOT NULL PRIMARY KEY,
    upstream    TEXT   NOT NULL,
    status      TEXT   NOT NULL,
    trigger     TEXT   NOT NULL DEFAULT '',
    started_at  TEXT   NOT NULL,
    finished_at TEXT,
    counts      TEXT   NOT NULL DEFAULT '{}', -- JSON SyncCounts
    cursor      BIGINT NOT NULL DEFAULT 0,
    error       TEXT   NOT NULL DEFAULT '',
    done        INTEGER NOT NULL DEFAULT 0, -- feed entries seen
    policy      TEXT   NOT NULL DEFAULT '' -- JSON ReplicaApplied of a replica's run
);
CREATE INDEX sync_runs_upstream ON sync_runs (upstream, started_at);
CREATE INDEX sync_runs_started ON sync_runs (started_at);

-- site_compliance: the compliance summaries downstream sites rolled up to
-- this server, replaced per sending downstream (via) at each report.
CREATE TABLE site_compliance (
    server_id    TEXT NOT NULL PRIMARY KEY,
    name         TEXT NOT NULL,
    via          TEXT NOT NULL,
    generated_at TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    rows         TEXT NOT NULL -- JSON []ComplianceRow
);
CREATE INDEX site_compliance_via ON site_compliance (via);
