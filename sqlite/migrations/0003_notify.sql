-- Notifications: subscriptions and the outbox of deliveries.

CREATE TABLE subscriptions (
    id           TEXT    NOT NULL PRIMARY KEY,
    channel      TEXT    NOT NULL DEFAULT 'email',
    address      TEXT    NOT NULL, -- mail address, or webhook URL
    events       TEXT    NOT NULL DEFAULT '[]', -- JSON []string
    products     TEXT    NOT NULL DEFAULT '[]', -- JSON []string
    min_severity TEXT    NOT NULL DEFAULT '',
    kinds        TEXT    NOT NULL DEFAULT '[]', -- JSON []string
    mode         TEXT    NOT NULL,
    alerts       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TEXT    NOT NULL,
    created_by   TEXT    NOT NULL DEFAULT ''
);

-- notify_cursor is the seq of the last event turned into deliveries: one
-- row, moved in the same transaction as the deliveries it produced.
CREATE TABLE notify_cursor (
    id  INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    seq BIGINT  NOT NULL
);
INSERT INTO notify_cursor (id, seq) VALUES (1, 0);

-- deliveries is the outbox. An open delivery (sealed = FALSE) still takes
-- events; the first attempt seals it so a resend is the same mail. No
-- foreign key on subscription_id: a sent delivery outlives its subscription.
CREATE TABLE deliveries (
    id              TEXT    NOT NULL PRIMARY KEY,
    subscription_id TEXT    NOT NULL,
    channel         TEXT    NOT NULL DEFAULT 'email',
    address         TEXT    NOT NULL,
    mode            TEXT    NOT NULL DEFAULT '',
    events          TEXT    NOT NULL, -- JSON []Event
    status          TEXT    NOT NULL,
    sealed          BOOLEAN NOT NULL DEFAULT FALSE,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    last_error      TEXT    NOT NULL DEFAULT '',
    created_at      TEXT    NOT NULL,
    sent_at         TEXT
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_open ON deliveries (subscription_id, sealed, status);
