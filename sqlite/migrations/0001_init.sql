-- Initial schema.
--
-- Times are TEXT in UTC, fixed width with microseconds
-- ("2006-01-02T15:04:05.000000Z"), so that text order is time order and a
-- PostgreSQL timestamptz holds the same values. Lists that are only ever read
-- whole (a host's products, an update's metadata) are JSON in TEXT; lists
-- that are queried (an update's products, group members) are child tables.
-- Empty strings rather than NULL stand for "not set" in key columns, because
-- unique indexes treat NULLs as distinct.

-- update_revisions keeps every revision of every update: sync and audit
-- need to know what an update said when it was approved.
CREATE TABLE update_revisions (
    update_id  TEXT    NOT NULL,
    revision   INTEGER NOT NULL,
    -- digest is the sha256 of the canonical metadata (the Update without
    -- revision, created_at and created_by): equal digests, no new revision.
    digest     TEXT    NOT NULL,
    doc        TEXT    NOT NULL, -- the Update as JSON
    created_at TEXT    NOT NULL,
    created_by TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (update_id, revision)
);

-- updates points at the latest revision and carries the columns
-- ListUpdates filters on.
CREATE TABLE updates (
    id       TEXT    NOT NULL PRIMARY KEY,
    revision INTEGER NOT NULL,
    kind     TEXT    NOT NULL,
    severity TEXT    NOT NULL,
    FOREIGN KEY (id, revision) REFERENCES update_revisions (update_id, revision)
);

-- update_products lists the product names of the latest revision.
CREATE TABLE update_products (
    update_id TEXT NOT NULL REFERENCES updates (id) ON DELETE CASCADE,
    product   TEXT NOT NULL,
    PRIMARY KEY (update_id, product)
);
CREATE INDEX update_products_product ON update_products (product, update_id);

CREATE TABLE hosts (
    id               TEXT    NOT NULL PRIMARY KEY,
    hostname         TEXT    NOT NULL DEFAULT '',
    os               TEXT    NOT NULL DEFAULT '',
    arch             TEXT    NOT NULL DEFAULT '',
    mode             TEXT    NOT NULL DEFAULT '',
    agent            TEXT    NOT NULL DEFAULT '',
    interval_ns      BIGINT  NOT NULL DEFAULT 0,
    products         TEXT    NOT NULL DEFAULT '[]', -- JSON []InstalledProduct
    installed        TEXT    NOT NULL DEFAULT '[]', -- JSON []string
    reboot_pending   TEXT    NOT NULL DEFAULT '[]', -- JSON []string
    inventory_digest TEXT    NOT NULL DEFAULT '',
    credential_hash  BLOB    NOT NULL,
    enrolled_at      TEXT    NOT NULL,
    last_checkin     TEXT
);

-- host_groups, not "groups": GROUPS is a keyword in SQL:2011 window frames.
CREATE TABLE host_groups (
    name        TEXT NOT NULL PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL
);

CREATE TABLE group_members (
    group_name TEXT NOT NULL REFERENCES host_groups (name) ON DELETE CASCADE,
    host_id    TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    PRIMARY KEY (group_name, host_id)
);
CREATE INDEX group_members_host ON group_members (host_id, group_name);

CREATE TABLE tokens (
    id          TEXT    NOT NULL PRIMARY KEY,
    kind        TEXT    NOT NULL,
    name        TEXT    NOT NULL DEFAULT '',
    role        TEXT    NOT NULL DEFAULT '',
    group_name  TEXT    NOT NULL DEFAULT '', -- no foreign key: enrolment creates it
    mode        TEXT    NOT NULL DEFAULT '',
    expires_at  TEXT,
    uses_left   INTEGER,                     -- NULL = unlimited
    secret_hash BLOB,
    created_at  TEXT    NOT NULL,
    created_by  TEXT    NOT NULL DEFAULT '',
    revoked     BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE approvals (
    update_id  TEXT NOT NULL REFERENCES updates (id),
    group_name TEXT NOT NULL REFERENCES host_groups (name) ON DELETE CASCADE,
    action     TEXT NOT NULL,
    deadline   TEXT,
    created_by TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    PRIMARY KEY (update_id, group_name)
);
CREATE INDEX approvals_group ON approvals (group_name);

-- deployments is the state agents last reported per (host, update). No
-- foreign key on update_id: an agent may report an update this server has
-- not synced yet.
CREATE TABLE deployments (
    host_id    TEXT    NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    update_id  TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    exit_code  INTEGER NOT NULL DEFAULT 0,
    detail     TEXT    NOT NULL DEFAULT '',
    updated_at TEXT    NOT NULL,
    PRIMARY KEY (host_id, update_id)
);

-- events is the append-only activity log. seq is the cursor readers page
-- with; AUTOINCREMENT guarantees it is never reused, even after old events
-- are pruned (PostgreSQL: an identity column). No foreign keys: the audit
-- log outlives the hosts and updates it mentions.
CREATE TABLE events (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    id        TEXT    NOT NULL,
    at        TEXT    NOT NULL,
    type      TEXT    NOT NULL,
    actor     TEXT    NOT NULL DEFAULT '',
    host_id   TEXT    NOT NULL DEFAULT '',
    update_id TEXT    NOT NULL DEFAULT '',
    state     TEXT    NOT NULL DEFAULT '',
    exit_code INTEGER NOT NULL DEFAULT 0,
    detail    TEXT    NOT NULL DEFAULT ''
);
-- Event IDs are unique per host: agents choose their own IDs, so one host
-- must not be able to suppress another's reports by reusing an ID.
CREATE UNIQUE INDEX events_host_id ON events (host_id, id);
CREATE INDEX events_host_seq ON events (host_id, seq);
CREATE INDEX events_update_seq ON events (update_id, seq);
CREATE INDEX events_type_seq ON events (type, seq);
