-- Alerts: one per de-duplication key (a threshold crossing is keyed by kind, policy and
-- window, so several daemons seeing it store it once), and when an alert was acknowledged.

ALTER TABLE alerts ADD COLUMN dedup_key TEXT;
ALTER TABLE alerts ADD COLUMN acknowledged_at TIMESTAMPTZ;
CREATE UNIQUE INDEX alerts_dedup_key ON alerts (dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX alerts_budget ON alerts (budget_id);
