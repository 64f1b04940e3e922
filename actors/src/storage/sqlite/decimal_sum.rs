//! `decimal_sum(text)`: an exact decimal SUM for SQLite, registered on every connection.
//!
//! SQLite keeps money as TEXT (it has no decimal type), and its own SUM converts text to
//! floating point: summing a year of costs would drift by fractions of a cent. Reports group
//! in the database (`GROUP BY` over a million rows must not page every row through Rust), so
//! the sum has to be exact inside SQLite too. SQLite's `decimal` extension is not part of the
//! library sqlx bundles, hence this small aggregate (the same mechanism sqlx uses for its own
//! `regexp`): each step parses the value with `rust_decimal` and adds it with overflow checked;
//! NULLs are skipped (as SUM does); no non-NULL value gives NULL (as SUM does); a value that is
//! not a decimal, or an overflow, makes the query fail with an error naming it, never a wrong
//! number.

use libsqlite3_sys as ffi;
use rust_decimal::Decimal;
use std::ffi::c_int;
use std::str::FromStr;

static NAME: &[u8] = b"decimal_sum\0";

/// Per-group state, in memory SQLite allocates (zeroed) for the aggregate.
#[repr(C)]
struct Sum {
    started: bool,
    /// A non-NULL value was added.
    any: bool,
    failed: bool,
    total: Decimal,
}

/// Registers `decimal_sum` on a connection; returns SQLite's result code.
///
/// # Safety
/// `db` must be a valid, open connection handle, used by no other thread during the call.
pub unsafe fn register(db: *mut ffi::sqlite3) -> c_int {
    // SAFETY: `db` is valid (caller); NAME is NUL-terminated; step and final match the
    // signatures SQLite expects for an aggregate of one argument.
    unsafe {
        ffi::sqlite3_create_function_v2(
            db,
            NAME.as_ptr().cast(),
            1,
            ffi::SQLITE_UTF8 | ffi::SQLITE_DETERMINISTIC,
            std::ptr::null_mut(),
            None,
            Some(step),
            Some(finish),
            None,
        )
    }
}

unsafe extern "C" fn step(ctx: *mut ffi::sqlite3_context, argc: c_int, argv: *mut *mut ffi::sqlite3_value) {
    // A panic must not cross into C: caught, it fails the query instead.
    let outcome = std::panic::catch_unwind(|| {
        // SAFETY: SQLite passes `argc` valid values; the aggregate context is at least
        // `size_of::<Sum>()` bytes, zeroed on first use, aligned for any type (sqlite3_malloc).
        unsafe {
            let sum = ffi::sqlite3_aggregate_context(ctx, std::mem::size_of::<Sum>() as c_int) as *mut Sum;
            if sum.is_null() || argc != 1 {
                ffi::sqlite3_result_error_nomem(ctx);
                return;
            }
            let sum = &mut *sum;
            if !sum.started {
                std::ptr::write(&mut sum.total, Decimal::ZERO);
                sum.started = true;
            }
            let value = *argv;
            if sum.failed || ffi::sqlite3_value_type(value) == ffi::SQLITE_NULL {
                return;
            }
            let text = ffi::sqlite3_value_text(value);
            let len = ffi::sqlite3_value_bytes(value);
            if text.is_null() || len < 0 {
                sum.failed = true;
                return;
            }
            let bytes = std::slice::from_raw_parts(text, len as usize);
            match std::str::from_utf8(bytes).ok().and_then(|s| Decimal::from_str(s.trim()).ok()) {
                Some(d) => match sum.total.checked_add(d) {
                    Some(total) => {
                        sum.total = total;
                        sum.any = true;
                    }
                    None => sum.failed = true,
                },
                None => sum.failed = true,
            }
        }
    });
    if outcome.is_err() {
        // SAFETY: ctx is the live context of this call.
        unsafe { fail(ctx, "decimal_sum: internal error") };
    }
}

unsafe extern "C" fn finish(ctx: *mut ffi::sqlite3_context) {
    let outcome = std::panic::catch_unwind(|| {
        // SAFETY: size 0 returns the context `step` allocated, or NULL when no row was seen.
        unsafe {
            let sum = ffi::sqlite3_aggregate_context(ctx, 0) as *mut Sum;
            if sum.is_null() || !(*sum).started || !((*sum).any || (*sum).failed) {
                ffi::sqlite3_result_null(ctx);
                return;
            }
            let sum = &*sum;
            if sum.failed {
                fail(ctx, "decimal_sum: a value is not a decimal number, or the sum overflows");
                return;
            }
            let text = sum.total.to_string();
            // SQLITE_TRANSIENT: SQLite copies the text before `text` is dropped.
            ffi::sqlite3_result_text(ctx, text.as_ptr().cast(), text.len() as c_int, ffi::SQLITE_TRANSIENT());
        }
    });
    if outcome.is_err() {
        // SAFETY: ctx is the live context of this call.
        unsafe { fail(ctx, "decimal_sum: internal error") };
    }
}

/// # Safety
/// `ctx` must be the context of a running call.
unsafe fn fail(ctx: *mut ffi::sqlite3_context, message: &str) {
    // SAFETY: the message's bytes and length are valid; SQLite copies them.
    unsafe { ffi::sqlite3_result_error(ctx, message.as_ptr().cast(), message.len() as c_int) };
}
