//! How reports print numbers: fixed decimals, never a negative zero.
//!
//! Rust's `{:.3}` keeps the sign of a value that rounds to zero (`-0.000` for −4e-8), so two
//! machines whose last bits differ around zero, or an exact `-0.0`, print different text for the
//! same number. Every table, report and reason prints through [`fixed`] and [`pct`], which
//! show a value that rounds to zero as `0.000`. Written here because `std::fmt` has no such flag.
use std::fmt;

/// `value` with `decimals` digits after the point; a value that rounds to zero has no sign.
/// NaN and infinities print as Rust prints them.
pub fn fixed(value: f64, decimals: usize) -> String {
    Fixed { value, decimals }.to_string()
}

/// `value` × 100 with `decimals` digits and a `%` sign (0.1234 → `12.34%` at 2), without a
/// negative zero.
pub fn pct(value: f64, decimals: usize) -> String {
    format!("{}%", fixed(100.0 * value, decimals))
}

/// A number shown with fixed decimals and no negative zero, for `format!` arguments whose
/// width or alignment the caller sets (`{:>9}`).
#[derive(Debug, Clone, Copy)]
pub struct Fixed {
    /// The number.
    pub value: f64,
    /// Digits after the decimal point.
    pub decimals: usize,
}

impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = format!("{:.*}", self.decimals, self.value);
        let text = match text.strip_prefix('-') {
            Some(rest) if rest.bytes().all(|b| b == b'0' || b == b'.') => rest.to_string(),
            _ => text,
        };
        f.pad(&text)
    }
}
