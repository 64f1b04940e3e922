//! The whole builtin LiteLLM map parses.

use budget_actors::pricing::{PriceTable, ServiceTier, Usage};

#[test]
fn pricing_builtin_map_parses() {
    let table = PriceTable::builtin().expect("builtin map parses");
    // 4,878 keys, less the two reserved ones.
    println!("builtin map: {} entries, {} skipped {:?}", table.len(), table.skipped(), table.skipped_entries());
    assert!((4_850..=4_900).contains(&table.len()), "{} entries", table.len());
    assert_eq!(table.len() + table.skipped(), 4_876);
    assert_eq!(table.skipped(), 0, "{:?}", table.skipped_entries());
}

#[test]
fn pricing_every_entry_prices_without_panicking() {
    let table = PriceTable::builtin().expect("builtin map parses");
    let usage = Usage {
        input_tokens: 250_000,
        cache_read_tokens: 30_000,
        cache_write_tokens: 5_000,
        cache_write_1h_tokens: 1_000,
        output_tokens: 4_000,
        reasoning_tokens: 1_000,
    };
    let at =
        chrono::DateTime::parse_from_rfc3339("2026-03-02T02:00:00Z").expect("timestamp").with_timezone(&chrono::Utc);
    let mut priced = 0;
    for (key, price) in table.iter() {
        let provider = price.litellm_provider.as_deref().unwrap_or("");
        for tier in [ServiceTier::Standard, ServiceTier::Batch, ServiceTier::Flex, ServiceTier::Priority] {
            let b = price.cost(provider, &usage, at, tier);
            let sum = b.input + b.cache_read + b.cache_write + b.cache_write_1h + b.output + b.reasoning + b.request;
            assert_eq!(b.total, sum, "{key} {tier:?}");
            assert!(b.total >= rust_decimal::Decimal::ZERO, "{key}");
        }
        priced += 1;
    }
    assert_eq!(priced, table.len());
}
