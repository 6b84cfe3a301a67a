//! The reliability table (`blindspot reliability`, [`crate::check::reliability`]) as Markdown:
//! one row per check and method, its verdict under each seed, and the agreement.
use crate::check::reliability::Reliability;
use crate::io::escape::markdown as markdown_cell;

/// The table, with a line saying how many rows were unanimous.
pub fn markdown(r: &Reliability) -> String {
    let seeds: Vec<String> = r.seeds.iter().map(|s| format!("seed {s}")).collect();
    let mut out = format!(
        "| # | check | method | {} | agreement | expected |\n|---|---|---|{}---|---|\n",
        seeds.join(" | "),
        "---|".repeat(seeds.len())
    );
    for row in &r.rows {
        let check = match &row.configuration {
            Some(c) => format!("{} {c}", row.check),
            None => row.check.clone(),
        };
        let verdicts: Vec<String> = row.verdicts.iter().map(|v| v.to_string()).collect();
        let expected = match (row.expected, row.as_expected()) {
            (Some(e), Some(k)) => format!("{e} ({k}/{})", row.verdicts.len()),
            _ => "-".into(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {}/{} {} | {expected} |\n",
            row.index + 1,
            markdown_cell(&check),
            markdown_cell(&row.method),
            verdicts.join(" | "),
            row.agreeing,
            row.verdicts.len(),
            row.modal,
        ));
    }
    let unanimous = r.rows.iter().filter(|a| a.unanimous()).count();
    out.push_str(&format!(
        "\n{unanimous} of {} verdicts the same under all {} seeds ({}).\n",
        r.rows.len(),
        r.seeds.len(),
        markdown_cell(&r.suite)
    ));
    out
}
