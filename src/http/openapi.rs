//! The OpenAPI document served at `/api/v1/openapi.json`: every path of the resource files and
//! the bearer scheme.

use utoipa::OpenApi;

use super::{alerts, allocations, budgets, keys, monitoring, policies, prices, usage};

#[derive(OpenApi)]
#[openapi(
    info(title = "Tekton Budget", description = "LLM cost and budget daemon. Money is a decimal string (USD); token counts are integers."),
    paths(
        budgets::list_budgets, budgets::create_budget, budgets::get_budget, budgets::update_budget,
        budgets::delete_budget, policies::list_policies, policies::add_policy, policies::get_policy,
        policies::update_policy, policies::delete_policy, budgets::budget_status, allocations::allocate,
        allocations::list_allocations, allocations::get_allocation, allocations::release, usage::record_usage,
        usage::list_usage, usage::get_usage, usage::usage_summary, prices::list_prices, prices::show_price,
        prices::price_history, prices::set_price, prices::estimate, keys::list_keys, keys::create_key,
        keys::revoke_key, alerts::list_alerts, monitoring::price_sources, monitoring::refresh_prices,
        monitoring::price_updates, monitoring::pending_prices, monitoring::approve_price,
        monitoring::reject_price, monitoring::price_conflicts
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
