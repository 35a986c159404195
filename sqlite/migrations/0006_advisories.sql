-- Security advisories imported from CSAF 2.0 documents (issue 4).

-- advisories keeps the latest revision of each advisory; doc is the
-- patchgate.Advisory as JSON. current_release_date decides whether an
-- imported document is a new revision.
CREATE TABLE advisories (
    id                   TEXT    NOT NULL PRIMARY KEY,
    revision             INTEGER NOT NULL,
    current_release_date TEXT    NOT NULL,
    severity             TEXT    NOT NULL DEFAULT '',
    doc                  TEXT    NOT NULL,
    imported_at          TEXT    NOT NULL
);
CREATE INDEX advisories_release ON advisories (current_release_date DESC, id);

-- advisory_cves lists the CVEs of each advisory, for --cve.
CREATE TABLE advisory_cves (
    advisory_id TEXT NOT NULL REFERENCES advisories (id) ON DELETE CASCADE,
    cve         TEXT NOT NULL,
    PRIMARY KEY (cve, advisory_id)
);
