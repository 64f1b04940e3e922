-- Tekton Budget schema (PostgreSQL). Money is NUMERIC; times are TIMESTAMPTZ;
-- ids are UUIDv7 TEXT, so they sort by creation time and batched inserts stay append-only.

CREATE TABLE budgets (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT,
    owner       TEXT,
    scope       TEXT NOT NULL,          -- JSON ScopeFilter
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE policies (
    id         TEXT PRIMARY KEY,
    budget_id  TEXT NOT NULL REFERENCES budgets(id) ON DELETE CASCADE,
    body       TEXT NOT NULL,           -- JSON Policy (limits as decimal strings)
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX policies_budget ON policies(budget_id);

CREATE TABLE allocations (
    id              TEXT PRIMARY KEY,
    component       TEXT NOT NULL,
    context_id      TEXT,
    provider        TEXT NOT NULL,
    model           TEXT NOT NULL,
    task_type       TEXT,
    tier            TEXT NOT NULL,
    priority        BIGINT NOT NULL,
    reserved_cost   NUMERIC NOT NULL,
    reserved_tokens BIGINT NOT NULL,
    priced          BOOLEAN NOT NULL,

    status          TEXT NOT NULL,
    budgets         TEXT NOT NULL,      -- JSON array of budget ids
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    released_at     TIMESTAMPTZ
);
CREATE INDEX allocations_context ON allocations(context_id);
CREATE INDEX allocations_active ON allocations(status, expires_at);

-- What an active allocation holds against each policy window.
CREATE TABLE holds (
    allocation_id TEXT NOT NULL,
    policy_id     TEXT NOT NULL,
    budget_id     TEXT NOT NULL,
    window_key    TEXT NOT NULL,
    cost          NUMERIC NOT NULL,
    tokens        BIGINT NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (allocation_id, policy_id)
);
CREATE INDEX holds_window ON holds(policy_id, window_key);

CREATE TABLE usage_records (
    id                    TEXT PRIMARY KEY,
    allocation_id         TEXT,
    component             TEXT NOT NULL,
    context_id            TEXT,
    provider              TEXT NOT NULL,
    model                 TEXT NOT NULL,
    task_type             TEXT,
    tier                  TEXT NOT NULL,
    input_tokens          BIGINT NOT NULL,
    output_tokens         BIGINT NOT NULL,
    cache_read_tokens     BIGINT NOT NULL,
    cache_write_tokens    BIGINT NOT NULL,
    cache_write_1h_tokens BIGINT NOT NULL,
    reasoning_tokens      BIGINT NOT NULL,
    total_tokens          BIGINT NOT NULL,
    cost                  NUMERIC,           -- NULL when unpriced
    priced                BOOLEAN NOT NULL,
    cost_breakdown        TEXT,
    price_ref             TEXT,
    request_id            TEXT UNIQUE,
    timestamp             TIMESTAMPTZ NOT NULL,
    recorded_at           TIMESTAMPTZ NOT NULL,
    metadata              TEXT NOT NULL,
    budgets               TEXT NOT NULL
);
CREATE INDEX usage_timestamp ON usage_records(timestamp);
CREATE INDEX usage_allocation ON usage_records(allocation_id);

-- What each usage record charged to each policy window.
CREATE TABLE charges (
    record_id  TEXT NOT NULL,
    policy_id  TEXT NOT NULL,
    budget_id  TEXT NOT NULL,
    window_key TEXT NOT NULL,
    cost       NUMERIC NOT NULL,
    tokens     BIGINT NOT NULL,
    PRIMARY KEY (record_id, policy_id)
);
CREATE INDEX charges_window ON charges(policy_id, window_key);

-- Versioned prices. The built-in LiteLLM table is version 0 and is not stored here.
CREATE TABLE prices (
    id             TEXT PRIMARY KEY,
    provider       TEXT NOT NULL,
    model          TEXT NOT NULL,
    source         TEXT NOT NULL,
    body           TEXT NOT NULL,       -- JSON ModelPrice (rates as decimal strings)
    effective_from TIMESTAMPTZ NOT NULL,
    effective_to   TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX prices_model ON prices(provider, model, effective_from);

CREATE TABLE alerts (
    id           TEXT PRIMARY KEY,
    severity     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    budget_id    TEXT,
    policy_id    TEXT,
    message      TEXT NOT NULL,
    details      TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    acknowledged BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    key_hash   TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
