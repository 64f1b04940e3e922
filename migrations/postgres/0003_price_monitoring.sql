-- Price monitoring: each source's health, every applied change, and changes held for approval.

CREATE TABLE price_source_state (
    name           TEXT PRIMARY KEY,
    last_attempt   TIMESTAMPTZ,
    last_success   TIMESTAMPTZ,
    last_error     TEXT,
    last_error_at  TIMESTAMPTZ,
    model_count    BIGINT NOT NULL DEFAULT 0,
    agreements     BIGINT NOT NULL DEFAULT 0,
    disagreements  BIGINT NOT NULL DEFAULT 0,
    etag           TEXT,
    last_modified  TEXT
);

-- One row per applied price change: which fields moved, by how much, on whose word.
CREATE TABLE price_updates (
    id         TEXT PRIMARY KEY,
    provider   TEXT NOT NULL,
    model      TEXT NOT NULL,
    version_id TEXT NOT NULL,
    source     TEXT NOT NULL,
    kind       TEXT NOT NULL,          -- auto | approved | manual
    status     TEXT NOT NULL,          -- verified | unverified | conflict
    changes    TEXT NOT NULL,          -- JSON [{field, old, new, percent}]
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX price_updates_model ON price_updates(provider, model);

-- Changes above the approval threshold, and conflicts between sources.
CREATE TABLE price_pending (
    id             TEXT PRIMARY KEY,
    provider       TEXT NOT NULL,
    model          TEXT NOT NULL,
    reason         TEXT NOT NULL,      -- threshold | conflict | untrusted
    status         TEXT NOT NULL,      -- pending | approved | rejected | superseded
    verification   TEXT NOT NULL,      -- verified | unverified | conflict
    proposed       TEXT NOT NULL,      -- JSON ModelPrice
    changes        TEXT NOT NULL,      -- JSON [{field, old, new, percent}]
    candidates     TEXT NOT NULL,      -- JSON [{source, trust, input, output, ...}]
    source         TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    decided_at     TIMESTAMPTZ,
    note           TEXT
);
CREATE INDEX price_pending_status ON price_pending(status, provider, model);
