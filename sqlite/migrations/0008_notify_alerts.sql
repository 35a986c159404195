-- Notifications, second part: admin alerts, manual action mails and the
-- periodic status report.

-- A subscription may ask for the status report, and names the time zone
-- its digests are computed in ('' = the server's).
ALTER TABLE subscriptions ADD COLUMN reports BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE subscriptions ADD COLUMN timezone TEXT NOT NULL DEFAULT '';

-- stream separates the mails of one subscription that do not go together:
-- '' (fixes, immediate or digest), 'alert', 'report', and 'manual' (mail to
-- a host owner: subscription_id is 'owner:' + address, no subscription row).
ALTER TABLE deliveries ADD COLUMN stream TEXT NOT NULL DEFAULT '';
DROP INDEX deliveries_open;
CREATE INDEX deliveries_open ON deliveries (subscription_id, stream, sealed, status);

-- owners are who is told that a manual host needs installs by hand: one
-- address per host and per group. No foreign key (hosts and groups are in
-- different tables): triggers drop the owner with its host or group.
CREATE TABLE owners (
    scope      TEXT NOT NULL CHECK (scope IN ('host', 'group')),
    name       TEXT NOT NULL,
    address    TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (scope, name)
);

CREATE TRIGGER owners_host_deleted AFTER DELETE ON hosts
BEGIN
    DELETE FROM owners WHERE scope = 'host' AND name = OLD.id;
END;
CREATE TRIGGER owners_group_deleted AFTER DELETE ON host_groups
BEGIN
    DELETE FROM owners WHERE scope = 'group' AND name = OLD.name;
END;

-- compliance_snapshots is the history the status report charts: one row
-- per day (in the server's time zone) and group, the last of the day wins.
CREATE TABLE compliance_snapshots (
    day        TEXT    NOT NULL, -- YYYY-MM-DD
    group_name TEXT    NOT NULL,
    hosts      INTEGER NOT NULL,
    applicable INTEGER NOT NULL,
    installed  INTEGER NOT NULL,
    compliant  REAL    NOT NULL,
    taken_at   TEXT    NOT NULL,
    PRIMARY KEY (day, group_name)
);
