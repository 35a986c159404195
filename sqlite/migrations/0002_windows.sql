-- Maintenance windows (one per group) and emergency approvals.

-- windows holds the admin's window of a group. duration_ns is elapsed time;
-- schedule is a cron expression or a monthly rule, evaluated in time_zone
-- (an IANA name) by the domain, never by SQL.
CREATE TABLE windows (
    group_name  TEXT   NOT NULL PRIMARY KEY REFERENCES host_groups (name) ON DELETE CASCADE,
    schedule    TEXT   NOT NULL,
    duration_ns BIGINT NOT NULL,
    time_zone   TEXT   NOT NULL,
    updated_at  TEXT   NOT NULL,
    updated_by  TEXT   NOT NULL DEFAULT ''
);

-- An emergency approval installs outside maintenance windows.
ALTER TABLE approvals ADD COLUMN emergency BOOLEAN NOT NULL DEFAULT FALSE;

-- Rollout policies are the admin's intent; rollout_halts is the override
-- the automatic brake writes (never the policy); rollout_starts are the
-- permissions to start handed out at check-in, counted against the limits.
CREATE TABLE rollout_policies (
    group_name             TEXT    NOT NULL PRIMARY KEY REFERENCES host_groups (name) ON DELETE CASCADE,
    max_concurrent         INTEGER NOT NULL DEFAULT 0,
    max_concurrent_percent INTEGER NOT NULL DEFAULT 0,
    max_failures           INTEGER NOT NULL DEFAULT 0,
    max_failures_percent   INTEGER NOT NULL DEFAULT 0,
    canary                 INTEGER NOT NULL DEFAULT 0,
    updated_at             TEXT    NOT NULL,
    updated_by             TEXT    NOT NULL DEFAULT ''
);

CREATE TABLE rollout_halts (
    group_name TEXT    NOT NULL PRIMARY KEY REFERENCES host_groups (name) ON DELETE CASCADE,
    halted     BOOLEAN NOT NULL,
    reason     TEXT    NOT NULL DEFAULT '',
    update_id  TEXT    NOT NULL DEFAULT '',
    at         TEXT    NOT NULL,
    resumed_at TEXT
);

CREATE TABLE rollout_starts (
    group_name TEXT NOT NULL REFERENCES host_groups (name) ON DELETE CASCADE,
    update_id  TEXT NOT NULL,
    host_id    TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    granted_at TEXT NOT NULL,
    PRIMARY KEY (group_name, update_id, host_id)
);
