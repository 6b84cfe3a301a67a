//! Limits on what blindspot accepts, checked at the edge before anything is allocated or run:
//! the ranges of numeric parameters (one helper per kind of range, called from each parameter's
//! owner) and the memory budget that data sets, images and arrays must fit.
//!
//! The budget is `BLINDSPOT_MEMORY_BUDGET` (bytes, or with a K/M/G suffix), 8 GiB by default:
//! large enough for the paper's VGG16 on hundreds of 224×224 images, small enough that a typo
//! (`synthetic = 1000000000000`) is an error instead of an abort allocating petabytes.
use crate::error::{Error, Result};

/// The default memory budget: 8 GiB.
pub const DEFAULT_BUDGET: u64 = 8 << 30;

/// Parses `4096`, `512K`, `64M`, `8G`.
fn parse_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_uppercase()),
        _ => (text, 'B'),
    };
    let shift = match unit {
        'B' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        'T' => 40,
        _ => return None,
    };
    digits.trim().parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// The memory budget in bytes.
pub fn memory_budget() -> Result<u64> {
    match std::env::var("BLINDSPOT_MEMORY_BUDGET") {
        Err(_) => Ok(DEFAULT_BUDGET),
        Ok(text) => parse_bytes(&text).filter(|&b| b > 0).ok_or_else(|| {
            Error::input(
                format!("BLINDSPOT_MEMORY_BUDGET = `{text}` is not a size"),
                "environment",
                "write bytes, optionally with K, M, G or T: BLINDSPOT_MEMORY_BUDGET=16G",
            )
        }),
    }
}

/// "WHAT would need X of memory, over the budget of Y" when `bytes` exceed the budget.
fn over_budget(what: &str, bytes: u128) -> Result<Option<String>> {
    let budget = memory_budget()? as u128;
    Ok((bytes > budget).then(|| {
        format!(
            "{what} would need {} of memory, over the budget of {}",
            human(bytes),
            human(budget)
        )
    }))
}

/// Refuses `what` when its `bytes` (computed without overflow by the caller, e.g. in u128)
/// exceed the memory budget.
pub fn fits(what: &str, place: &str, bytes: u128) -> Result<()> {
    match over_budget(what, bytes)? {
        None => Ok(()),
        Some(message) => Err(Error::input(
            message,
            place,
            "use less data, smaller images or a smaller batch size (batch_size, --batch-size), \
             or raise the budget with BLINDSPOT_MEMORY_BUDGET (e.g. 32G) if the machine has the \
             memory",
        )),
    }
}

/// [`fits`] for a parameter check: the message names the budget's variable.
pub fn within(what: &str, bytes: u128) -> std::result::Result<(), String> {
    match over_budget(what, bytes).map_err(|e| e.to_string())? {
        None => Ok(()),
        Some(message) => Err(format!(
            "{message} (BLINDSPOT_MEMORY_BUDGET raises it if the machine has the memory)"
        )),
    }
}

/// How many items of `bytes_each` fit in the budget, at most `most` (at least 1); refuses
/// `what` when not even one does.
pub fn items_within(what: &str, place: &str, bytes_each: u128, most: i64) -> Result<i64> {
    fits(what, place, bytes_each)?;
    let budget = memory_budget()? as u128;
    Ok((budget / bytes_each.max(1)).min(most.max(1) as u128).max(1) as i64)
}

/// Bytes in the largest unit that keeps a number ≥ 1.
fn human(bytes: u128) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", units[unit])
}

/// `name = value` must be a whole number in `low..=high`.
pub fn int(name: &str, value: i64, low: i64, high: i64) -> std::result::Result<(), String> {
    match (low..=high).contains(&value) {
        true => Ok(()),
        false => Err(format!(
            "{name} = {value} is out of range: use {low} to {high}"
        )),
    }
}

/// `name = value` must be a whole number in `low..=high` (unsigned).
pub fn count(name: &str, value: usize, low: usize, high: usize) -> std::result::Result<(), String> {
    match (low..=high).contains(&value) {
        true => Ok(()),
        false => Err(format!(
            "{name} = {value} is out of range: use {low} to {high}"
        )),
    }
}

/// `name = value` must be a finite number in [low, high] (or (low, high] with `open_low`).
pub fn real(
    name: &str,
    value: f64,
    low: f64,
    high: f64,
    open_low: bool,
) -> std::result::Result<(), String> {
    let above = if open_low { value > low } else { value >= low };
    match value.is_finite() && above && value <= high {
        true => Ok(()),
        false => {
            let bracket = if open_low { "(" } else { "[" };
            let (value, low, high) = (readable(value), readable(low), readable(high));
            Err(format!(
                "{name} = {value} is out of range: use a number in {bracket}{low}, {high}]"
            ))
        }
    }
}

/// A number as a person reads it in a message: plainly between 1e-4 and 1e6, in scientific
/// notation beyond (1e-300, not a 0 followed by 299 zeros and a 1).
fn readable(x: f64) -> String {
    match x == 0.0 || !x.is_finite() || (1e-4..1e6).contains(&x.abs()) {
        true => x.to_string(),
        false => format!("{x:e}"),
    }
}

/// The smallest family-wise error a run may ask for: below it the per-verdict error of a large
/// family reaches where the Student-t quantiles lose their precision (intervals become infinite
/// or NaN, and a verdict would follow them).
pub const MIN_FAMILY_WISE_ERROR: f64 = 1e-9;

/// A family-wise error in [1e-9, 0.5]: a probability the arithmetic behind every interval
/// supports, and at most a coin flip (beyond it a three-way decision means nothing).
pub fn family_wise_error(name: &str, value: f64) -> std::result::Result<(), String> {
    real(name, value, MIN_FAMILY_WISE_ERROR, 0.5, false)
}

/// A name that may become a file or folder name (a suite's, which is the default `out/NAME`):
/// 1 to 64 of `A-Z a-z 0-9 . _ + -`, not starting with `.` or `-`. So no name is a path
/// (`../victim`, `/etc`), a hidden file or an option.
pub fn plain_name(what: &str, name: &str) -> std::result::Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-');
    let ok = (1..=64).contains(&name.chars().count())
        && name.chars().all(allowed)
        && !name.starts_with(['.', '-']);
    match ok {
        true => Ok(()),
        false => Err(format!(
            "{what} = {:?} is not a plain name: use 1 to 64 letters, digits, `.`, `_`, `+` or \
             `-`, not starting with `.` or `-`",
            name.chars().take(80).collect::<String>()
        )),
    }
}

/// Keeps freed tensor memory in the process for the next allocation of its size: glibc's
/// allocator serves blocks up to 32 MiB from its heap rather than from fresh `mmap`s, and trims
/// the heap's free top only beyond 1 GiB. libtorch frees and allocates the same large buffers
/// at every forward, and a fresh mapping is faulted in and zeroed page by page: measured on
/// ScoreCAM with the exported small VGG (64 masked inputs per forward, 2 threads), 46.5 images/s
/// with glibc's defaults and 79.6 with these (docs/performance.md). The values do not change a
/// number. A `GLIBC_TUNABLES` that sets malloc's own parameters wins. Called by
/// [`crate::precision::init`], first thing in every front end.
pub fn keep_freed_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("malloc")) {
            return;
        }
        // SAFETY: mallopt only sets the allocator's parameters; both values are in range.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        }
    }
}
