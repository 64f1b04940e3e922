//! Queries whose text is the same on both databases (`$N` placeholders work in both); each
//! backend binds its own money and time types. Ledger inserts are built from the column lists
//! in `rows` instead, because SQLite batches them as multi-row statements.

pub(super) const CATALOG_VERSION: &str = "SELECT version FROM catalog_version WHERE id = 1";
pub(super) const BUMP_CATALOG: &str = "UPDATE catalog_version SET version = version + 1 WHERE id = 1";

pub(super) const INSERT_BUDGET: &str = "INSERT INTO budgets (id, name, description, owner, scope, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub(super) const UPDATE_BUDGET: &str =
    "UPDATE budgets SET name = $1, description = $2, owner = $3, scope = $4, updated_at = $5 WHERE id = $6";
pub(super) const DELETE_BUDGET_POLICIES: &str = "DELETE FROM policies WHERE budget_id = $1";
pub(super) const DELETE_BUDGET_HOLDS: &str = "DELETE FROM holds WHERE budget_id = $1";
pub(super) const DELETE_BUDGET: &str = "DELETE FROM budgets WHERE id = $1";
pub(super) const LIST_BUDGETS: &str = "SELECT * FROM budgets ORDER BY name";
pub(super) const LIST_POLICY_BODIES: &str = "SELECT body FROM policies ORDER BY created_at, id";
pub(super) const UPSERT_POLICY: &str = "INSERT INTO policies (id, budget_id, body, created_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (id) DO UPDATE SET body = excluded.body";
pub(super) const DELETE_POLICY: &str = "DELETE FROM policies WHERE id = $1";
pub(super) const DELETE_POLICY_HOLDS: &str = "DELETE FROM holds WHERE policy_id = $1";

/// An expiry closes only a lease that has run out: one extended since the sweep read it stays.
pub(super) const CLOSE_ALLOCATION: &str = "UPDATE allocations SET status = $1, released_at = $2 WHERE id = $3 \
     AND status = 'active' AND ($1 <> 'expired' OR expires_at <= $2)";
/// The holds of an allocation that is no longer active (after a close).
pub(super) const DELETE_ALLOCATION_HOLDS: &str = "DELETE FROM holds WHERE allocation_id = $1 \
     AND NOT EXISTS (SELECT 1 FROM allocations WHERE id = $1 AND status = 'active')";
/// A new lease end ($1) for an active allocation ($2) whose lease has not run out at $3.
pub(super) const EXTEND_ALLOCATION: &str =
    "UPDATE allocations SET expires_at = $1 WHERE id = $2 AND status = 'active' AND expires_at > $3";
/// Its holds follow, when the allocation took the new lease.
pub(super) const EXTEND_HOLDS: &str = "UPDATE holds SET expires_at = $1 WHERE allocation_id = $2 \
     AND EXISTS (SELECT 1 FROM allocations WHERE id = $2 AND status = 'active' AND expires_at = $1)";
pub(super) const BUDGET_HOLDS: &str = "SELECT * FROM holds WHERE budget_id = $1 AND expires_at > $2";
pub(super) const ALLOCATION_HOLDS: &str = "SELECT * FROM holds WHERE allocation_id = $1 AND expires_at > $2";
pub(super) const EXPIRED_ACTIVE: &str = "SELECT id FROM allocations WHERE status = 'active' AND expires_at <= $1";
pub(super) const GET_ALLOCATION: &str = "SELECT * FROM allocations WHERE id = $1";
pub(super) const LIST_ALLOCATIONS: &str = "SELECT * FROM allocations WHERE ($1 IS NULL OR context_id = $1) \
     AND ($2 IS NULL OR status = $2) ORDER BY id DESC LIMIT $3";
pub(super) const ALLOCATION_USED: &str = "SELECT cost, total_tokens FROM usage_records WHERE allocation_id = $1";
/// Completed by the page's allocation ids and `)`.
pub(super) const ALLOCATIONS_USED_HEAD: &str =
    "SELECT allocation_id, cost, total_tokens FROM usage_records WHERE allocation_id IN (";

pub(super) const GET_USAGE: &str = "SELECT * FROM usage_records WHERE id = $1";
pub(super) const USAGE_BY_REQUEST: &str = "SELECT * FROM usage_records WHERE request_id = $1";
pub(super) const LIST_USAGE: &str = "SELECT * FROM usage_records WHERE ($1 IS NULL OR timestamp >= $1) \
     AND ($2 IS NULL OR timestamp < $2) AND ($3 IS NULL OR provider = $3) AND ($4 IS NULL OR model = $4) \
     AND ($5 IS NULL OR component = $5) AND ($6 IS NULL OR context_id = $6) AND ($7 IS NULL OR task_type = $7) \
     AND ($8 IS NULL OR allocation_id = $8) AND ($9 IS NULL OR id > $9) ORDER BY id LIMIT $10";
pub(super) const LIST_ALERTS: &str = "SELECT * FROM alerts WHERE ($1 IS NULL OR kind = $1) \
     AND ($2 IS NULL OR severity = $2) AND ($3 IS NULL OR budget_id = $3) AND ($4 IS NULL OR acknowledged = $4) \
     AND ($5 IS NULL OR created_at >= $5) ORDER BY id DESC LIMIT $6";
pub(super) const ACKNOWLEDGE_ALERT: &str =
    "UPDATE alerts SET acknowledged = TRUE, acknowledged_at = COALESCE(acknowledged_at, $2) WHERE id = $1";
pub(super) const GET_ALERT: &str = "SELECT * FROM alerts WHERE id = $1";

pub(super) const CLOSE_PRICE_VERSION: &str = "UPDATE prices SET effective_to = $1 WHERE provider = $2 AND model = $3 \
     AND effective_to IS NULL AND effective_from <= $1";
pub(super) const INSERT_PRICE_VERSION: &str = "INSERT INTO prices (id, provider, model, source, body, effective_from, \
     effective_to, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
pub(super) const PRICE_VERSIONS: &str = "SELECT * FROM prices ORDER BY provider, model, effective_from";
pub(super) const UPSERT_SOURCE_STATE: &str = "INSERT INTO price_source_state (name, last_attempt, last_success, \
     last_error, last_error_at, model_count, agreements, disagreements, etag, last_modified) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
     ON CONFLICT (name) DO UPDATE SET last_attempt = excluded.last_attempt, last_success = excluded.last_success, \
     last_error = excluded.last_error, last_error_at = excluded.last_error_at, model_count = excluded.model_count, \
     agreements = excluded.agreements, disagreements = excluded.disagreements, etag = excluded.etag, \
     last_modified = excluded.last_modified";
pub(super) const SOURCE_STATES: &str = "SELECT * FROM price_source_state ORDER BY name";
pub(super) const INSERT_PRICE_UPDATE: &str = "INSERT INTO price_updates (id, provider, model, version_id, source, kind, \
     status, changes, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
pub(super) const APPROVE_PENDING: &str =
    "UPDATE price_pending SET status = 'approved', decided_at = $1 WHERE id = $2 AND status = 'pending'";
pub(super) const SUPERSEDE_PENDING: &str = "UPDATE price_pending SET status = 'superseded', decided_at = $1 \
     WHERE provider = $2 AND model = $3 AND status = 'pending'";
pub(super) const LIST_PRICE_UPDATES: &str = "SELECT * FROM price_updates WHERE ($1 IS NULL OR provider = $1) \
     AND ($2 IS NULL OR model = $2) ORDER BY id DESC LIMIT $3";
pub(super) const INSERT_PENDING: &str = "INSERT INTO price_pending (id, provider, model, reason, status, verification, \
     proposed, changes, candidates, source, created_at, decided_at, note) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
pub(super) const LIST_PENDING: &str =
    "SELECT * FROM price_pending WHERE ($1 IS NULL OR status = $1) ORDER BY id DESC LIMIT $2";
pub(super) const GET_PENDING: &str = "SELECT * FROM price_pending WHERE id = $1";
pub(super) const DECIDE_PENDING: &str =
    "UPDATE price_pending SET status = $1, decided_at = $2, note = $3 WHERE id = $4 AND status = 'pending'";

pub(super) const INSERT_KEY: &str = "INSERT INTO api_keys (id, name, role, prefix, key_hash, created_at, revoked_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub(super) const FIND_KEY: &str = "SELECT * FROM api_keys WHERE key_hash = $1";
pub(super) const LIST_KEYS: &str = "SELECT * FROM api_keys ORDER BY created_at";
pub(super) const REVOKE_KEY: &str = "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";

pub(super) const INSERT_CHANNEL: &str = "INSERT INTO alert_channels (id, name, kind, url, secret, min_severity, \
     kinds, budgets, quiet_hours, enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
pub(super) const UPDATE_CHANNEL: &str = "UPDATE alert_channels SET name = $2, kind = $3, url = $4, secret = $5, \
     min_severity = $6, kinds = $7, budgets = $8, quiet_hours = $9, enabled = $10, updated_at = $11 WHERE id = $1";
pub(super) const DELETE_CHANNEL: &str = "DELETE FROM alert_channels WHERE id = $1";
pub(super) const LIST_CHANNELS: &str = "SELECT * FROM alert_channels ORDER BY name";
pub(super) const UNDISPATCHED_ALERTS: &str = "SELECT * FROM alerts WHERE dispatched = FALSE ORDER BY id LIMIT $1";
pub(super) const MARK_DISPATCHED: &str = "UPDATE alerts SET dispatched = TRUE WHERE id = $1";
pub(super) const INSERT_DELIVERY: &str = "INSERT INTO alert_deliveries (id, alert_id, channel_id, status, attempts, \
     next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, 'pending', 0, $4, $4, $4) \
     ON CONFLICT (alert_id, channel_id) DO NOTHING";
/// Due deliveries whose claim (if any) has lapsed: a pass that died mid-send (a killed daemon)
/// leaves its claims to run out, and the deliveries are sent again.
/// Whether any delivery is due: read first, so that an idle tick takes no write lock.
pub(super) const ANY_DUE_DELIVERY: &str = "SELECT 1 FROM alert_deliveries WHERE status = 'pending' \
     AND next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until <= $1) LIMIT 1";
pub(super) const CLAIM_DELIVERIES_SQLITE: &str = "UPDATE alert_deliveries SET claimed_until = $2 WHERE id IN \
     (SELECT id FROM alert_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
     AND (claimed_until IS NULL OR claimed_until <= $1) ORDER BY next_attempt_at LIMIT $3) RETURNING *";
/// Several daemons may claim at once: `SKIP LOCKED` gives each its own deliveries.
pub(super) const CLAIM_DELIVERIES_POSTGRES: &str = "UPDATE alert_deliveries SET claimed_until = $2 WHERE id IN \
     (SELECT id FROM alert_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
     AND (claimed_until IS NULL OR claimed_until <= $1) ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
     RETURNING *";
/// $2 status, $3 attempts added, $4 next attempt, $5 status code, $6 error, $7 delivered at, $8 now.
pub(super) const FINISH_DELIVERY: &str = "UPDATE alert_deliveries SET status = $2, attempts = attempts + $3, \
     next_attempt_at = $4, claimed_until = NULL, last_status_code = COALESCE($5, last_status_code), \
     last_error = CASE WHEN $2 = 'delivered' THEN NULL ELSE COALESCE($6, last_error) END, \
     delivered_at = $7, updated_at = $8 WHERE id = $1";
pub(super) const LIST_DELIVERIES: &str = "SELECT * FROM alert_deliveries WHERE ($1 IS NULL OR alert_id = $1) \
     AND ($2 IS NULL OR channel_id = $2) AND ($3 IS NULL OR status = $3) ORDER BY id DESC LIMIT $4";
pub(super) const RESOLVE_ALERTS: &str =
    "UPDATE alerts SET resolved_at = $1 WHERE resolved_at IS NULL AND window_end IS NOT NULL AND window_end <= $1";
