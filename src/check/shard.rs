//! Which shard of a suite this run is: `--shard K/N`, a Slurm job array's task or a Kubernetes
//! Indexed Job's pod, read at the command line's edge (the environment is passed in as a
//! lookup, so the rules are tested without touching the process's environment).
use crate::error::{Error, Result};

/// The most shards a run may be split into.
pub const MAX_SHARDS: usize = 10_000;

/// Parses `K/N` with 1 <= K <= N <= [`MAX_SHARDS`].
pub fn parse_shard(text: &str) -> Result<(usize, usize)> {
    let bad = || {
        let fix = "write K/N with 1 <= K <= N <= 10000, e.g. --shard 2/3";
        let shown: String = text.chars().take(40).collect();
        Error::input(format!("`{shown}` is not a shard"), "--shard", fix)
    };
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let number = |t: &str| t.trim().parse::<usize>().map_err(|_| bad());
    let (k, n) = (number(k)?, number(n)?);
    // More shards than any array runs only makes merge wait for reports that never come.
    if k == 0 || n == 0 || k > n || n > MAX_SHARDS {
        return Err(bad());
    }
    Ok((k, n))
}

/// Where a run's shard came from, for the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardSource {
    Flag,
    Slurm,
    Kubernetes,
}

/// The shard of this run: `--shard` when given; else a Slurm job array's task
/// (`SLURM_ARRAY_TASK_ID` − `SLURM_ARRAY_TASK_MIN` + 1 of `MAX` − `MIN` + 1; a step other than 1
/// or a sparse array is refused, since its tasks would not cover 1..N); else a Kubernetes
/// Indexed Job's pod (`JOB_COMPLETION_INDEX` + 1 of `shards` or `BLINDSPOT_SHARDS`); else none.
/// `var` reads the environment (a map in tests).
pub fn shard_of(
    flag: Option<&str>,
    shards: Option<usize>,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<((usize, usize), ShardSource)>> {
    if let Some(text) = flag {
        return Ok(Some((parse_shard(text)?, ShardSource::Flag)));
    }
    let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let number = |name: &str| -> Result<Option<i64>> {
        match var(name) {
            None => Ok(None),
            Some(text) => text.trim().parse::<i64>().map(Some).map_err(|_| {
                let shown: String = text.chars().take(40).collect();
                Error::input(
                    format!("{name} = `{shown}` is not a whole number"),
                    "environment",
                    "run blindspot as the scheduler starts it, or pass --shard K/N",
                )
            }),
        }
    };
    if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
        let refuse = |what: String| {
            Error::input(
                what,
                "the Slurm job array (SLURM_ARRAY_TASK_*)",
                "submit the array as --array=1-N (or 0-N−1), step 1, or pass --shard K/N",
            )
        };
        let (Some(min), Some(max)) = (
            number("SLURM_ARRAY_TASK_MIN")?,
            number("SLURM_ARRAY_TASK_MAX")?,
        ) else {
            return Err(refuse(
                "SLURM_ARRAY_TASK_ID is set without SLURM_ARRAY_TASK_MIN and _MAX".into(),
            ));
        };
        // Checked arithmetic: the variables are text from the environment, and a wrapped
        // difference would name another shard.
        let tasks = max.checked_sub(min).and_then(|d| d.checked_add(1));
        let step = number("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1);
        let count = number("SLURM_ARRAY_TASK_COUNT")?.or(tasks);
        if step != 1 || tasks.is_none() || count != tasks {
            return Err(refuse(format!(
                "the array {min}-{max} has step {step} and {} tasks: its task ids do not \
                 number the shards 1..N",
                count.map_or("uncountable".to_string(), |c| c.to_string())
            )));
        }
        if !(min..=max).contains(&id) {
            return Err(refuse(format!(
                "task {id} lies outside the array {min}-{max}"
            )));
        }
        let shard = within(id - min + 1, tasks.unwrap_or(0)).map_err(refuse)?;
        return Ok(Some((shard, ShardSource::Slurm)));
    }
    if let Some(index) = number("JOB_COMPLETION_INDEX")? {
        let count = match shards {
            Some(n) => Some(n as i64),
            None => number("BLINDSPOT_SHARDS")?,
        };
        let Some(count) = count else {
            return Err(Error::input(
                "JOB_COMPLETION_INDEX is set, but not how many shards there are",
                "the Kubernetes Indexed Job",
                "pass --shards N (the Job's completions) or set BLINDSPOT_SHARDS=N",
            ));
        };
        let shard = index
            .checked_add(1)
            .ok_or_else(|| format!("JOB_COMPLETION_INDEX = {index} is out of range"))
            .and_then(|k| within(k, count))
            .map_err(|what| {
                Error::input(
                    what,
                    "the Kubernetes Indexed Job (JOB_COMPLETION_INDEX, --shards or \
                     BLINDSPOT_SHARDS)",
                    "run the Job with completionMode Indexed and --shards (or BLINDSPOT_SHARDS) \
                     its completions, at most 10000",
                )
            })?;
        return Ok(Some((shard, ShardSource::Kubernetes)));
    }
    Ok(None)
}

/// Shard `k` of `n` as the scheduler numbered it: 1 <= k <= n <= [`MAX_SHARDS`], else what is
/// wrong, in words naming the numbers as they came.
fn within(k: i64, n: i64) -> std::result::Result<(usize, usize), String> {
    if n < 1 || n > MAX_SHARDS as i64 {
        return Err(format!("{n} shards: use 1 to {MAX_SHARDS}"));
    }
    if k < 1 || k > n {
        return Err(format!("shard {k} of {n} does not exist"));
    }
    Ok((k as usize, n as usize))
}
