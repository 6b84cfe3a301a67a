//! Telling a new processor from a regression: the default suite's table compared with its pinned
//! text (the README's excerpt, the snapshot) word for word, except that a printed decimal
//! number may move within the documented tolerance (docs/precision.md, "What is tested").
//!
//! The words (verdicts, names, rules), the integers (n, undefined counts, draws) and the numbers
//! in scientific notation (the error control's per-verdict rate) must be equal. A decimal number
//! printed with d decimals may move by [`RELATIVE`] of its interval's half-width (the statistical
//! resolution of the number: far less than could change a verdict) plus 10^-d (both sides are
//! rounded to d decimals, by up to half a unit each). Its interval is the `[low, high]` it
//! belongs to or precedes on its line (a result's mean, std and bounds; a negative control's
//! mean), else the `± half-width` of its line (the theorem's rows), else the previous line's (the
//! both-signs line under its result); a number with none may move by the rounding alone.
use crate::common::{ensure, TestResult};
use libtest_mimic::Trial;

/// How far a number may move, as a share of its interval's half-width: twice the largest share
/// measured between two kernel sets on the default suite, rounded up (docs/precision.md: 1.16%,
/// EigenGradCAM's randomization bound, which moved by 4.4e-3 of a half-width of 0.377 when ATen
/// computed without its vectorised kernels).
pub const RELATIVE: f64 = 0.025;

/// One printed token: a word (compared exactly) or a number with its printed decimals.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    /// A decimal number: its value (percent points for a `%` number) and printed decimals.
    Decimal {
        value: f64,
        decimals: i32,
        percent: bool,
        text: String,
    },
}

/// Splits a line into words and decimal numbers; whitespace only separates (column padding
/// follows the width of the numbers, so it is not compared).
fn tokens(line: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<Token>| {
        if !word.is_empty() {
            out.push(Token::Word(std::mem::take(word)));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let starts_number = c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()));
        let after_word = word
            .chars()
            .last()
            .is_some_and(|w| w.is_alphanumeric() || w == '_');
        if starts_number && !after_word {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            // Scientific notation (9.17e-5) and anything glued to letters stay words.
            let glued = chars.get(i).is_some_and(|n| n.is_alphabetic() || *n == '_');
            let text: String = chars[start..i].iter().collect();
            let decimals = text.split_once('.').map(|(_, f)| f.len() as i32);
            match (glued, decimals, text.parse::<f64>()) {
                (false, Some(decimals), Ok(value)) if decimals > 0 => {
                    flush(&mut word, &mut out);
                    let percent = chars.get(i) == Some(&'%');
                    if percent {
                        i += 1;
                    }
                    out.push(Token::Decimal {
                        value,
                        decimals,
                        percent,
                        text,
                    });
                }
                _ => word.push_str(&text),
            }
            continue;
        }
        if c.is_whitespace() {
            flush(&mut word, &mut out);
        } else {
            word.push(c);
        }
        i += 1;
    }
    flush(&mut word, &mut out);
    out
}

/// A decimal number that moved: where, from what to what, by how much, and what was allowed.
#[derive(Debug, Clone, PartialEq)]
pub struct Moved {
    pub line: String,
    pub expected: String,
    pub actual: String,
    pub by: f64,
    pub allowed: f64,
}

impl std::fmt::Display for Moved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} -> {} (by {:.3e}, allowed {:.3e}) in `{}`",
            self.expected,
            self.actual,
            self.by,
            self.allowed,
            self.line.trim()
        )
    }
}

/// The half-width that scales each token's tolerance (module doc); 0 for words, and for a
/// number with no interval on its line or the line before.
fn scales(tokens: &[Token], previous: f64) -> (Vec<f64>, f64) {
    let value = |t: Option<&Token>| match t {
        Some(Token::Decimal { value, .. }) => Some(*value),
        _ => None,
    };
    let word = |t: Option<&Token>, w: &str| matches!(t, Some(Token::Word(x)) if x == w);
    // Intervals `[ a , b ]`: (first token, last token, half-width).
    let mut intervals = Vec::new();
    for i in 0..tokens.len() {
        if word(tokens.get(i), "[") && word(tokens.get(i + 2), ",") && word(tokens.get(i + 4), "]")
        {
            if let (Some(a), Some(b)) = (value(tokens.get(i + 1)), value(tokens.get(i + 3))) {
                intervals.push((i, i + 4, (b - a).abs() / 2.0));
            }
        }
    }
    let plus_minus = (1..tokens.len().saturating_sub(1))
        .find(|&i| word(tokens.get(i), "±") && value(tokens.get(i + 1)).is_some())
        .and_then(|i| value(tokens.get(i + 1)));
    let line_scale = intervals
        .last()
        .map(|i| i.2)
        .or(plus_minus)
        .unwrap_or(previous);
    let per_token = (0..tokens.len())
        .map(|i| {
            intervals
                .iter()
                .find(|&&(_, last, _)| i <= last)
                .or(intervals.last())
                .map_or(line_scale, |iv| iv.2)
        })
        .collect();
    (per_token, line_scale)
}

/// How two printed lines compare: None when their words differ (another verdict, method or
/// rule); else the numbers that moved, each with what it was allowed. `previous` is the
/// half-width of the pinned line before (for a line without an interval of its own).
pub fn compare_line(expected: &str, actual: &str, previous: f64) -> Option<Vec<Moved>> {
    let (a, b) = (tokens(expected), tokens(actual));
    if a.len() != b.len() {
        return None;
    }
    let (scale, _) = scales(&a, previous);
    let mut moved = Vec::new();
    for ((x, y), scale) in a.iter().zip(&b).zip(scale) {
        match (x, y) {
            (Token::Word(p), Token::Word(q)) if p == q => {}
            (
                Token::Decimal {
                    value: u,
                    decimals: d,
                    percent: p,
                    text: s,
                },
                Token::Decimal {
                    value: v,
                    decimals: e,
                    percent: q,
                    text: t,
                },
            ) if d == e && p == q => {
                if s != t {
                    moved.push(Moved {
                        line: actual.to_string(),
                        expected: s.clone(),
                        actual: t.clone(),
                        by: (u - v).abs(),
                        allowed: RELATIVE * scale + 10f64.powi(-d),
                    });
                }
            }
            _ => return None,
        }
    }
    Some(moved)
}

/// The half-width a line hands to the next one ([`scales`]).
fn line_scale(line: &str, previous: f64) -> f64 {
    scales(&tokens(line), previous).1
}

/// What a comparison of a pinned text with a new one found.
#[derive(Debug, Default)]
pub struct Comparison {
    /// Pinned lines with no counterpart whose words agree (another verdict, a missing line).
    pub changed: Vec<String>,
    /// Numbers that moved by more than the tolerance.
    pub beyond: Vec<Moved>,
    /// Numbers that moved within it (a new processor's last digits).
    pub within: Vec<Moved>,
}

impl Comparison {
    /// Ok when every pinned line is there with its words and its numbers within the tolerance;
    /// the error names what changed and every number beyond the tolerance.
    pub fn verdict(&self, what: &str) -> TestResult {
        if !self.within.is_empty() {
            eprintln!(
                "note: {what}: {} number(s) moved within the tolerance (another processor's \
                 last digits, docs/precision.md):\n  {}",
                self.within.len(),
                self.within
                    .iter()
                    .map(|m| m.to_string())
                    .collect::<Vec<_>>()
                    .join("\n  ")
            );
        }
        let mut problems: Vec<String> = self
            .changed
            .iter()
            .map(|l| format!("changed or missing: `{}`", l.trim()))
            .collect();
        problems.extend(
            self.beyond
                .iter()
                .map(|m| format!("beyond the tolerance: {m}")),
        );
        ensure(problems.is_empty(), || {
            format!(
                "{what}:\n{}\n(if the change is intended, update the pinned text: \
                 INSTA_UPDATE=always for the snapshot, the README excerpt by hand)",
                problems.join("\n")
            )
        })
    }
}

/// Every pinned line against the new text's lines: in order when `in_order` (a whole table
/// against its snapshot: line i with line i), else anywhere (an excerpt: each of its lines must
/// match some line of the table).
pub fn compare(pinned: &str, text: &str, in_order: bool) -> Comparison {
    let lines = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.to_string())
            .collect()
    };
    let (pinned, text) = (lines(pinned), lines(text));
    let mut out = Comparison::default();
    if in_order && pinned.len() != text.len() {
        out.changed.push(format!(
            "the table has {} lines, the pinned one {}",
            text.len(),
            pinned.len()
        ));
    }
    let mut previous = 0.0;
    for (i, line) in pinned.iter().enumerate() {
        let candidates: Vec<&String> = match in_order {
            true => text.get(i).into_iter().collect(),
            false => text.iter().collect(),
        };
        // The closest counterpart: the one whose numbers moved least.
        let best = candidates
            .iter()
            .filter_map(|t| compare_line(line, t, previous))
            .min_by(|a, b| {
                let worst = |m: &Vec<Moved>| m.iter().map(|x| x.by).fold(0.0, f64::max);
                worst(a).total_cmp(&worst(b))
            });
        previous = line_scale(line, previous);
        match best {
            None => out.changed.push(line.clone()),
            Some(moved) => {
                for m in moved {
                    match m.by <= m.allowed {
                        true => out.within.push(m),
                        false => out.beyond.push(m),
                    }
                }
            }
        }
    }
    out
}

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "tolerance::accepts_another_vendors_last_digits",
            another_vendor,
        ),
        Trial::test(
            "tolerance::rejects_a_verdict_or_a_number_beyond_it",
            regressions,
        ),
    ]
}

/// The five lines of the pinned table (commit 2196169, AMD EPYC) that an Intel Xeon printed
/// differently (issue 35), with the same verdicts: accepted, and named as moved.
const PINNED_AMD: &str = "\
EigenGradCAM         pass              0.076 ± 0.181        [-0.301, 0.453]    16     0
                     both signs: as computed pass 0.076, negated pass 0.032
EigenGradCAM         INCONCLUSIVE      0.436 ± 0.358         [0.142, 0.729]    32     0
AblationCAM          pass              0.000 ± 0.000        [-0.000, 0.000]    16     0
RandomCAM            pass              0.000 ± 0.000        [-0.000, 0.000]    16     0
";
const PRINTED_INTEL: &str = "\
EigenGradCAM         pass              0.075 ± 0.181        [-0.302, 0.453]    16     0
                     both signs: as computed pass 0.075, negated pass 0.031
EigenGradCAM         INCONCLUSIVE      0.436 ± 0.358         [0.143, 0.729]    32     0
AblationCAM          pass              0.000 ± 0.000         [0.000, 0.000]    16     0
RandomCAM            pass              0.000 ± 0.000         [0.000, 0.000]    16     0
";

fn another_vendor() -> TestResult {
    let c = compare(PINNED_AMD, PRINTED_INTEL, true);
    c.verdict("the Intel lines of issue 35 against the AMD ones")?;
    let moved: Vec<(&str, &str)> = c
        .within
        .iter()
        .map(|m| (m.expected.as_str(), m.actual.as_str()))
        .collect();
    ensure(
        moved
            == [
                ("0.076", "0.075"),
                ("-0.301", "-0.302"),
                ("0.076", "0.075"),
                ("0.032", "0.031"),
                ("0.142", "0.143"),
                ("-0.000", "0.000"),
                ("-0.000", "0.000"),
            ],
        || format!("moved: {moved:?}"),
    )?;
    // An excerpt's lines are found anywhere in the table, and percentages move in points.
    let table = "wall: mean mu\nGradCAM   FAIL   12.02% ± 8.87%   [7.26%, 16.79%]   64   0\n";
    let excerpt = "GradCAM   FAIL   12.03% ± 8.87%   [7.26%, 16.80%]   64   0\n";
    compare(excerpt, table, false).verdict("a percentage line")
}

fn regressions() -> TestResult {
    // Half-width 0.248: a number may move by 0.025 x 0.248 + 0.001 = 0.0072.
    let pinned = "GradCAM  pass  0.168 ± 0.137  [-0.080, 0.416]  16  38";
    let cases = [
        (
            "GradCAM  pass  0.174 ± 0.137  [-0.080, 0.416]  16  38",
            "accepted",
        ),
        (
            "GradCAM  pass  0.176 ± 0.137  [-0.080, 0.416]  16  38",
            "beyond",
        ),
        (
            "GradCAM  pass  0.168 ± 0.137  [-0.080, 0.424]  16  38",
            "beyond",
        ),
        // Another verdict, another undefined count, another number of decimals.
        (
            "GradCAM  FAIL  0.168 ± 0.137  [-0.080, 0.416]  16  38",
            "changed",
        ),
        (
            "GradCAM  pass  0.168 ± 0.137  [-0.080, 0.416]  16  39",
            "changed",
        ),
        (
            "GradCAM  pass  0.17 ± 0.137  [-0.080, 0.416]  16  38",
            "changed",
        ),
    ];
    for (printed, what) in cases {
        let c = compare(pinned, printed, true);
        let found = match (c.changed.is_empty(), c.beyond.is_empty()) {
            (false, _) => "changed",
            (true, false) => "beyond",
            (true, true) => "accepted",
        };
        ensure(found == what, || {
            format!("`{printed}`: {found}, expected {what}")
        })?;
        ensure(c.verdict("case").is_err() == (what != "accepted"), || {
            format!("`{printed}`: the verdict disagrees")
        })?;
    }
    let c = compare(
        pinned,
        "GradCAM pass 0.176 ± 0.137 [-0.080, 0.416] 16 38",
        true,
    );
    let named = c.beyond.first().map(|m| m.to_string()).unwrap_or_default();
    ensure(named.starts_with("0.168 -> 0.176"), || {
        format!("named: {named}")
    })?;
    // A zero-width interval leaves the rounding alone; the theorem's rows scale by their ±;
    // the both-signs line by the result line above it.
    let zero = "EigenCAM  FAIL  1.000 ± 0.000  [1.000, 1.000]  16  0";
    let zero_moved = "EigenCAM  FAIL  0.998 ± 0.000  [1.000, 1.000]  16  0";
    ensure(!compare(zero, zero_moved, true).beyond.is_empty(), || {
        "a zero-width interval allowed 0.002".into()
    })?;
    let theorem = "512  1.00  1.00   0.08015 ± 0.00438     512   0.08050 pass";
    let allowed = compare(
        theorem,
        "512 1.00 1.00 0.08025 ± 0.00438 512 0.08050 pass",
        true,
    );
    let refused = compare(
        theorem,
        "512 1.00 1.00 0.08040 ± 0.00438 512 0.08050 pass",
        true,
    );
    ensure(
        allowed.beyond.is_empty() && !refused.beyond.is_empty(),
        || format!("theorem row: {:?} / {:?}", allowed.beyond, refused.beyond),
    )?;
    let signs = "X  pass  0.076 ± 0.181  [-0.301, 0.453]  16  0\n  both signs: negated pass 0.032";
    let moved = "X  pass  0.076 ± 0.181  [-0.301, 0.453]  16  0\n  both signs: negated pass 0.040";
    let c = compare(signs, moved, true);
    ensure(c.beyond.is_empty() && c.within.len() == 1, || {
        format!("both-signs line: {c:?}")
    })?;
    // Words glued to digits stay words: a method named x2 or a rate 9.17e-5 is compared as text.
    ensure(
        compare_line("rate 9.17e-5 x2", "rate 9.18e-5 x2", 0.0).is_none(),
        || "scientific notation compared as a number".into(),
    )
}
