-- Automatic approval rules (the admin's intent) and the ledger of the
-- approvals they made.

-- rules: the lists (kinds, severities, products, groups) are JSON arrays of
-- strings; durations are nanoseconds; the domain validates them.
CREATE TABLE rules (
    name        TEXT    NOT NULL PRIMARY KEY,
    kinds       TEXT    NOT NULL DEFAULT '[]',
    severities  TEXT    NOT NULL DEFAULT '[]',
    products    TEXT    NOT NULL DEFAULT '[]',
    groups_json TEXT    NOT NULL DEFAULT '[]',
    delay_ns    BIGINT  NOT NULL DEFAULT 0,
    deadline_ns BIGINT  NOT NULL DEFAULT 0,
    after_group TEXT    NOT NULL DEFAULT '',
    min_success INTEGER NOT NULL DEFAULT 0,
    soak_ns     BIGINT  NOT NULL DEFAULT 0,
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    created_by  TEXT    NOT NULL DEFAULT '',
    created_at  TEXT    NOT NULL
);

-- rule_approvals: each (update, group) a rule approved, once; a rule never
-- approves a pair again, so an approval an admin removed stays removed.
-- Kept when the rule is deleted; goes with its group.
CREATE TABLE rule_approvals (
    update_id   TEXT NOT NULL REFERENCES updates (id),
    group_name  TEXT NOT NULL REFERENCES host_groups (name) ON DELETE CASCADE,
    rule_name   TEXT NOT NULL,
    action      TEXT NOT NULL,
    deadline    TEXT,
    approved_at TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (update_id, group_name)
);
