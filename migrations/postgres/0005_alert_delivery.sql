-- Alerts that reach people (issue 8): alert channels with their subscriptions, and the
-- delivery log. An alert row is the outbox: it is written in the transaction of whatever
-- raised it, and the AlertActor fans each undispatched alert out into one delivery per
-- subscribed channel, then sends and retries those deliveries.

ALTER TABLE alerts ADD COLUMN window_end TIMESTAMPTZ;
ALTER TABLE alerts ADD COLUMN resolved_at TIMESTAMPTZ;
ALTER TABLE alerts ADD COLUMN dispatched BOOLEAN NOT NULL DEFAULT FALSE;
-- Alerts from before channels existed are not sent to channels created now.
UPDATE alerts SET dispatched = TRUE;
CREATE INDEX alerts_undispatched ON alerts (id) WHERE dispatched = FALSE;
CREATE INDEX alerts_open_windows ON alerts (window_end) WHERE resolved_at IS NULL AND window_end IS NOT NULL;

CREATE TABLE alert_channels (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    url          TEXT,
    secret       TEXT,
    min_severity TEXT NOT NULL,
    kinds        TEXT NOT NULL,
    budgets      TEXT NOT NULL,
    quiet_hours  TEXT,
    enabled      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE alert_deliveries (
    id               TEXT PRIMARY KEY,
    alert_id         TEXT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    channel_id       TEXT NOT NULL REFERENCES alert_channels(id) ON DELETE CASCADE,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ,
    claimed_until    TIMESTAMPTZ,
    last_status_code BIGINT,
    last_error       TEXT,
    delivered_at     TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (alert_id, channel_id)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX alert_deliveries_channel ON alert_deliveries (channel_id, id);
