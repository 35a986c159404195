-- The publisher's release lifecycle (issue 4).

-- update_status is each update's place in the lifecycle (received,
-- testing, tested, failed, posted, superseded, withdrawn); its history is
-- the activity log. received_at starts the SLA clock, posted_at stops it.
CREATE TABLE update_status (
    update_id   TEXT    NOT NULL PRIMARY KEY REFERENCES updates (id) ON DELETE CASCADE,
    status      TEXT    NOT NULL,
    revision    INTEGER NOT NULL,
    since       TEXT    NOT NULL,
    received_at TEXT    NOT NULL,
    posted_at   TEXT,
    forced      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX update_status_status ON update_status (status, update_id);

-- Updates stored before the lifecycle existed were visible to everyone:
-- they stay so, as posted when they were added.
INSERT INTO update_status (update_id, status, revision, since, received_at, posted_at)
    SELECT u.id, 'posted', u.revision, r.created_at, r.created_at, r.created_at
    FROM updates u JOIN update_revisions r ON r.update_id = u.id AND r.revision = u.revision;

-- test_groups are the groups whose hosts test received updates.
CREATE TABLE test_groups (
    group_name TEXT NOT NULL PRIMARY KEY REFERENCES host_groups (name) ON DELETE CASCADE,
    added_at   TEXT NOT NULL
);

-- sla_policy: the longest time from received to posted per severity; a
-- severity without a row has no SLA.
CREATE TABLE sla_policy (
    severity TEXT   NOT NULL PRIMARY KEY,
    max_ns   BIGINT NOT NULL
);
INSERT INTO sla_policy (severity, max_ns) VALUES ('critical', 86400000000000);
