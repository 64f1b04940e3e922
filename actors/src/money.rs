//! Exact money parsing. Amounts arrive as decimal strings (`"5.00"`) or JSON numbers; both are
//! read from their text straight into `Decimal`, never through `f64`.

use rust_decimal::Decimal;
use std::str::FromStr;

use crate::error::EngineError;

/// Largest amount (USD) accepted anywhere: far above any real budget, far below where
/// decimal arithmetic on sums could overflow.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0); // 1e12

/// Largest price per token accepted (USD): $1e9 per million tokens.
pub const MAX_RATE: Decimal = Decimal::from_parts(1000, 0, 0, false, 0);

/// Checks that an amount is within `0..=max`, naming the field otherwise.
pub fn check_bounds(field: &str, value: Decimal, max: Decimal) -> Result<Decimal, EngineError> {
    if value.is_sign_negative() && !value.is_zero() {
        return Err(EngineError::invalid(field, format!("{field} must not be negative (got {value})")));
    }
    if value > max {
        return Err(EngineError::invalid(field, format!("{field} must be at most {max} (got {value})")));
    }
    Ok(value)
}

/// Parses a non-negative amount from decimal or scientific text (`3e-06`).
pub fn parse_amount(field: &str, text: &str) -> Result<Decimal, EngineError> {
    let value = parse_decimal(text.trim())
        .ok_or_else(|| EngineError::invalid(field, format!("{field} '{text}' is not a decimal number")))?;
    if value.is_sign_negative() && !value.is_zero() {
        return Err(EngineError::invalid(field, format!("{field} must not be negative (got {text})")));
    }
    Ok(value.normalize_if_scientific(text))
}

/// Decimal from plain or scientific notation, exactly; `None` if the text is not a number.
pub fn parse_decimal(text: &str) -> Option<Decimal> {
    if text.contains(['e', 'E']) { Decimal::from_scientific(text).ok() } else { Decimal::from_str_exact(text).ok() }
}

trait NormalizeScientific {
    fn normalize_if_scientific(self, text: &str) -> Decimal;
}

impl NormalizeScientific for Decimal {
    // `3e-06` parses with scale 6 already; plain text keeps the caller's scale ("5.00").
    fn normalize_if_scientific(self, text: &str) -> Decimal {
        if text.contains(['e', 'E']) { self.normalize() } else { self }
    }
}

/// Serde adapter for optional money fields: accepts a decimal string or a JSON number (exact
/// text thanks to serde_json's `arbitrary_precision`), writes a decimal string.
pub mod option {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(value: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.serialize_str(&v.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        let value = Option::<serde_json::Value>::deserialize(d)?;
        match value {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => super::parse_decimal(s.trim())
                .map(Some)
                .ok_or_else(|| D::Error::custom(format!("'{s}' is not a decimal number"))),
            Some(serde_json::Value::Number(n)) => super::parse_decimal(&n.to_string())
                .map(|d| Some(d.normalize()))
                .ok_or_else(|| D::Error::custom(format!("{n} is not a decimal number"))),
            Some(other) => Err(D::Error::custom(format!("expected a decimal string, got {other}"))),
        }
    }
}

/// Formats an amount for people: at least two decimals, no trailing noise.
pub fn display(amount: Decimal) -> String {
    let normalized = amount.normalize();
    if normalized.scale() < 2 { format!("{:.2}", normalized) } else { normalized.to_string() }
}

pub fn decimal_from_str(text: &str) -> Result<Decimal, EngineError> {
    Decimal::from_str(text).map_err(|e| EngineError::Internal(format!("bad decimal '{text}' in storage: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_what_they_say() {
        assert_eq!(MAX_AMOUNT, Decimal::from(1_000_000_000_000i64));
        assert_eq!(MAX_RATE, Decimal::from(1000));
        assert!(check_bounds("x", Decimal::from(1_000_000_000_001i64), MAX_AMOUNT).is_err());
        assert!(check_bounds("x", Decimal::NEGATIVE_ONE, MAX_AMOUNT).is_err());
        assert!(check_bounds("x", Decimal::ONE, MAX_AMOUNT).is_ok());
    }

    #[test]
    fn scientific_text_is_exact() {
        assert_eq!(parse_amount("x", "3e-06").expect("ok").to_string(), "0.000003");
        assert_eq!(parse_amount("x", "5.00").expect("ok").to_string(), "5.00");
        assert!(parse_amount("x", "-1").is_err());
        assert!(parse_amount("x", "five").is_err());
        assert!(parse_amount("x", "NaN").is_err());
    }

    #[test]
    fn json_numbers_do_not_pass_through_floats() {
        #[derive(serde::Deserialize)]
        struct T {
            #[serde(with = "super::option", default)]
            v: Option<Decimal>,
        }
        let t: T = serde_json::from_str(r#"{"v": 0.1}"#).expect("parses");
        assert_eq!(t.v, Some(Decimal::new(1, 1)));
        let t: T = serde_json::from_str(r#"{"v": "0.30000000000000004"}"#).expect("parses");
        assert_eq!(t.v.expect("some").to_string(), "0.30000000000000004");
        assert!(serde_json::from_str::<T>(r#"{"v": true}"#).is_err());
        assert_eq!(display(Decimal::new(5, 0)), "5.00");
        assert_eq!(display(Decimal::new(12345, 4)), "1.2345");
    }
}
