//! External methods: a CAM method that lives outside Rust (a Python library, a binary), run
//! through a file protocol (docs/external-methods.md). For each job blindspot writes, in a fresh
//! folder, the model as a TorchScript split model (`model.pt`), the inputs (`inputs.npy`,
//! float32 \[N, C, H, W\]), the targets (`targets.npy`, int64 \[N\]) and `job.json`; runs the
//! user's command with `{job}` replaced by the path of `job.json` (and `{dir}` by the folder);
//! and reads back the maps (`maps.npy`, float32 [N, H, W]). A command that fails, hangs past the
//! timeout, or writes no or malformed maps is an error naming the job — never a verdict.
use super::{CamContext, CamMethod, Origin};
use crate::error::{Error, Result};
use crate::io::npy;
use crate::model::export::save_split;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use crate::process::supervisor::{self, Command, Unfinished};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tch::{Kind, Tensor};

/// How a suite or the command line declares an external method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalSpec {
    pub name: String,
    /// Shell command; `{job}` becomes the path of job.json, `{dir}` the job folder.
    pub command: String,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: f64,
    /// The method's map is defined only up to its sign (an EigenCAM of another library): every
    /// check then judges both signs.
    #[serde(default)]
    pub sign_ambiguous: bool,
}

fn default_timeout() -> f64 {
    600.0
}

pub struct ExternalMethod {
    spec: ExternalSpec,
    title: String,
    root: PathBuf,
    jobs: AtomicUsize,
    /// Whether the private job root was created (or why it could not be).
    created: std::sync::OnceLock<std::result::Result<(), String>>,
    /// Exported models by fingerprint, so a model is written once per weight state.
    exported: Mutex<HashMap<String, PathBuf>>,
}

impl ExternalMethod {
    pub fn new(spec: ExternalSpec) -> Self {
        // Job roots of runs killed by SIGKILL (no handler saw them): ours by name and owner.
        let tmp = std::env::temp_dir();
        let owned = |p: &Path| {
            use std::os::unix::fs::MetadataExt;
            // SAFETY: getuid cannot fail and touches no memory.
            let me = unsafe { libc::getuid() };
            std::fs::symlink_metadata(p).is_ok_and(|m| m.uid() == me && m.is_dir())
        };
        for stale in crate::process::stale_folders(&tmp, "blindspot-external-", owned) {
            crate::process::reap_leftovers(&stale);
            let _ = std::fs::remove_dir_all(stale);
        }
        // An unpredictable name, created exclusively and private on the first job (`jobs_root`):
        // nothing planted in TMPDIR can be followed.
        // Absolute, so that `{job}` and job.json name the same folder wherever the adapter runs.
        let tmp = std::path::absolute(&tmp).unwrap_or(tmp);
        let root = tmp.join(format!(
            "blindspot-external-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        crate::process::register_folder(&root, true);
        ExternalMethod {
            title: spec.name.clone(),
            spec,
            root,
            jobs: AtomicUsize::new(0),
            created: std::sync::OnceLock::new(),
            exported: Mutex::new(HashMap::new()),
        }
    }

    /// Parses `NAME=COMMAND` from the command line.
    pub fn parse(text: &str, timeout_seconds: f64) -> Result<ExternalMethod> {
        let (name, command) = text.split_once('=').ok_or_else(|| {
            Error::input(
                format!("`{text}` is not NAME=COMMAND"),
                "--external",
                "e.g. --external \
                 'pgc-gradcam=python adapters/pytorch_grad_cam.py --method GradCAM {job}'",
            )
        })?;
        let spec = ExternalSpec {
            name: name.trim().into(),
            command: command.trim().into(),
            timeout_seconds,
            sign_ambiguous: false,
        };
        ExternalMethod::validate(&spec)?;
        Ok(ExternalMethod::new(spec))
    }

    /// The job's `model.pt`: exported once per weight state, and linked (or copied) into every
    /// later job folder of that state, as the protocol promises every job folder has it.
    fn model_file(&self, ctx: &CamContext, job_dir: &Path) -> Result<PathBuf> {
        let key = crate::model::export::fingerprint(ctx.model)?;
        let mut exported = self.exported.lock().unwrap_or_else(|p| p.into_inner());
        let path = job_dir.join("model.pt");
        if let Some(first) = exported.get(&key) {
            if std::fs::hard_link(first, &path).is_err() {
                std::fs::copy(first, &path).map_err(|e| Error::io("copy the model to", &path, e))?;
            }
            return Ok(path);
        }
        save_split(ctx.model, &ctx.input.narrow(0, 0, 1), &path)?;
        exported.insert(key, path.clone());
        Ok(path)
    }

    /// Creates the job root once: exclusively (an existing path, a planted link included, is an
    /// error) and readable by its owner only.
    fn jobs_root(&self) -> Result<()> {
        if self.root.to_str().is_none() {
            // `{job}` and job.json carry text: a path that is no UTF-8 would name another folder.
            return Err(Error::input(
                format!(
                    "the job folder {} is not valid UTF-8",
                    crate::io::escape::printable(&self.root.display().to_string())
                ),
                "TMPDIR",
                "point TMPDIR at a folder whose path is valid UTF-8",
            ));
        }
        let created = self.created.get_or_init(|| {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&self.root)
                .map_err(|e| e.to_string())
        });
        created.clone().map_err(|e| {
            Error::input(
                format!(
                    "cannot create the private job folder {}: {e}",
                    self.root.display()
                ),
                "TMPDIR",
                "point TMPDIR at a writable folder of your own",
            )
        })
    }

    fn fail(&self, job: &Path, what: String, fix: &str) -> Error {
        // The job folder is removed with the method unless --keep-jobs: never point at a path
        // that will not exist.
        let place = match crate::process::keep_jobs() {
            true => format!("job {}", job.display()),
            false => format!(
                "job {} (removed after the run; rerun with --keep-jobs to keep it)",
                job.parent()
                    .and_then(|d| d.file_name())
                    .map_or(String::new(), |n| { n.to_string_lossy().into_owned() })
            ),
        };
        Error::Input {
            what: format!("external method `{}`: {what}", self.spec.name),
            place,
            fix: fix.into(),
        }
    }

    /// Refuses an empty name or a timeout that is not a positive number of seconds.
    pub fn validate(spec: &ExternalSpec) -> Result<()> {
        let bad = |what: String| {
            Error::input(
                what,
                format!("external method `{}`", spec.name),
                "see docs/external-methods.md",
            )
        };
        if spec.name.trim().is_empty() {
            return Err(bad("an external method has an empty name".into()));
        }
        crate::cam::ensure_printable_name(&spec.name, "external method name")?;
        // Reports, badges and replays tell methods apart by name, selected or not.
        let key = spec.name.trim().to_ascii_lowercase();
        if crate::cam::builtin_methods(&crate::seed::Seeds::new(0))
            .iter()
            .any(|m| m.name().to_ascii_lowercase() == key)
        {
            return Err(bad(format!(
                "an external method may not take the built-in method name `{}`",
                spec.name
            )));
        }
        crate::limits::real("timeout_seconds", spec.timeout_seconds, 0.0, 86_400.0, true)
            .map_err(bad)?;
        if spec.command.trim().is_empty() {
            return Err(bad("the command is empty".into()));
        }
        Ok(())
    }
}

/// The environment variables that carry `{job}` and `{dir}` to the command.
pub const JOB_VARIABLE: &str = "BLINDSPOT_JOB";
pub const DIR_VARIABLE: &str = crate::process::JOB_DIR_VARIABLE;

/// The user's command with `{job}` and `{dir}` replaced by references to the environment
/// variables [`JOB_VARIABLE`] and [`DIR_VARIABLE`], which the command runs with. The paths never
/// enter the shell's text, and the shell never re-parses what a parameter expands to, so a path
/// holding spaces, quotes, `;`, `$(…)` or backticks (from TMPDIR, say) is one path in every
/// context. The reference fits the quoting the placeholder stands in (POSIX sh rules: a
/// backslash outside single quotes takes the next character literally): unquoted,
/// `"${BLINDSPOT_JOB}"`; inside the user's double quotes (`"{dir}/x"`), `${BLINDSPOT_JOB_DIR}`;
/// inside single quotes (`'{dir}/x'`), `'"${BLINDSPOT_JOB_DIR}"'`, which closes and reopens
/// them. A placeholder inside a nested command substitution may come out as the variable's name
/// rather than its value, never as shell.
pub fn substitute(command: &str) -> String {
    #[derive(Clone, Copy, PartialEq)]
    enum Quote {
        None,
        Single,
        Double,
    }
    let names = [("{job}", JOB_VARIABLE), ("{dir}", DIR_VARIABLE)];
    let mut out = String::with_capacity(command.len());
    let mut state = Quote::None;
    let mut rest = command;
    while let Some(c) = rest.chars().next() {
        if let Some((placeholder, name)) = names.iter().find(|(p, _)| rest.starts_with(p)) {
            out.push_str(&match state {
                Quote::None => format!("\"${{{name}}}\""),
                Quote::Double => format!("${{{name}}}"),
                Quote::Single => format!("'\"${{{name}}}\"'"),
            });
            rest = &rest[placeholder.len()..];
            continue;
        }
        rest = &rest[c.len_utf8()..];
        out.push(c);
        match (state, c) {
            (Quote::None | Quote::Double, '\\') => {
                if let Some(next) = rest.chars().next() {
                    out.push(next);
                    rest = &rest[next.len_utf8()..];
                }
            }
            (Quote::None, '\'') => state = Quote::Single,
            (Quote::Single, '\'') => state = Quote::None,
            (Quote::None, '"') => state = Quote::Double,
            (Quote::Double, '"') => state = Quote::None,
            _ => {}
        }
    }
    out
}

/// The last `most` bytes of a file.
fn last_bytes(path: &Path, most: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let length = file.metadata()?.len();
    file.seek(SeekFrom::Start(length.saturating_sub(most)))?;
    let mut bytes = Vec::new();
    file.take(most).read_to_end(&mut bytes)?;
    Ok(bytes)
}

impl Drop for ExternalMethod {
    fn drop(&mut self) {
        crate::process::unregister_folder(&self.root);
        if crate::process::keep_jobs() {
            if self.root.exists() {
                crate::io::note!("external job folders kept in {}", self.root.display());
            }
        } else {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

impl CamMethod for ExternalMethod {
    fn origin(&self) -> Origin {
        Origin::External(format!("{}={}", self.spec.name, self.spec.command))
    }
    fn name(&self) -> &str {
        &self.spec.name
    }
    fn title(&self) -> &str {
        &self.title
    }
    fn summary(&self) -> &str {
        "external method run through the file protocol"
    }
    fn sign_ambiguous(&self) -> bool {
        self.spec.sign_ambiguous
    }
    fn uses_gradients(&self) -> bool {
        false
    }
    /// Long: one job in order (folder, model, inputs, job file, command, wait, maps back), each
    /// step with its own error.
    fn raw_map(&self, ctx: &CamContext) -> Result<Tensor> {
        // Once a stopping signal has come, nothing new is created: the clean-up is removing the
        // folders (a job folder made meanwhile kept the root alive, seen once in 20 CI runs).
        crate::process::stop_if_interrupted();
        self.jobs_root()?;
        let n = self.jobs.fetch_add(1, Ordering::SeqCst);
        let dir = self.root.join(format!("job-{n:04}"));
        std::fs::create_dir(&dir).map_err(|e| Error::io("create the job folder", &dir, e))?;
        let model = self.model_file(ctx, &dir)?;
        let (inputs, targets, maps, job) = (
            dir.join("inputs.npy"),
            dir.join("targets.npy"),
            dir.join("maps.npy"),
            dir.join("job.json"),
        );
        npy::write(&inputs, ctx.input)?;
        npy::write(&targets, ctx.targets)?;
        let size = ctx.input.size();
        let description = serde_json::json!({
            "protocol": "blindspot-external/1",
            "method": self.spec.name,
            "model": model, "inputs": inputs, "targets": targets, "maps": maps,
            "input_shape": size,
            "maps_shape": [size[0], size[2], size[3]],
        });
        crate::io::write_atomic(
            &job,
            serde_json::to_string_pretty(&description)
                .expect("json")
                .as_bytes(),
        )?;
        let command = substitute(&self.spec.command);
        let log = dir.join("stderr.txt");
        let stderr = std::fs::File::create(&log).map_err(|e| Error::io("create", &log, e))?;
        // Under a supervisor: a timeout, a signal or blindspot's death kills the command and
        // everything it started, `setsid` or not (crate::process::supervisor).
        let cannot_start = |e: std::io::Error| {
            self.fail(
                &job,
                format!("cannot start `{command}`: {e}"),
                "check the command",
            )
        };
        let mut spec = Command::new("/bin/sh", &["-c".as_ref(), command.as_ref()])
            .map_err(cannot_start)?;
        spec.env(JOB_VARIABLE, &job).env(DIR_VARIABLE, &dir);
        let mut child = supervisor::spawn(&spec, stderr.into()).map_err(cannot_start)?;
        // Validated in (0, 86,400]; a value that is not (a spec built in code) times out at once.
        let timeout =
            Duration::try_from_secs_f64(self.spec.timeout_seconds).unwrap_or(Duration::ZERO);
        let status = match child.wait(timeout) {
            Ok(status) => status,
            Err(Unfinished::Wait(e)) => return Err(Error::io("wait for", &job, e)),
            Err(Unfinished::Killed) => {
                // Killed by the clean-up of a stopping signal: wait here for the exit.
                crate::process::stop_if_interrupted();
                return Err(self.fail(
                    &job,
                    format!("`{command}` was stopped: blindspot is stopping"),
                    "rerun",
                ))
            }
            Err(Unfinished::TimedOut) => {
                return Err(self.fail(
                    &job,
                    format!(
                        "`{command}` did not finish within {} s; it and every process it started \
                         were killed",
                        self.spec.timeout_seconds
                    ),
                    "make it faster or raise timeout_seconds",
                ))
            }
        };
        if !status.success() {
            // The last 64 KiB, read lossily: one byte that is not UTF-8 must not hide the tail.
            let text = last_bytes(&log, 64 << 10)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let tail: Vec<&str> = text
                .lines()
                .rev()
                .take(3)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            return Err(self.fail(
                &job,
                format!("`{command}` failed ({status}): {}", tail.join(" | ")),
                "run the command by hand on the job to see why",
            ));
        }
        let array = npy::read(&maps).map_err(|e| {
            // One what/where/fix: the reader's own what, without the job folder's path (removed
            // after the run unless --keep-jobs).
            let what = match e {
                Error::Input { what, .. } | Error::Model { what, .. } => what,
                other => other.to_string(),
            };
            let what = what.replace(&maps.display().to_string(), "maps.npy");
            self.fail(
                &job,
                format!("no readable maps.npy: {what}"),
                "write float32 maps [N, H, W] to the path job.json names as `maps`",
            )
        })?;
        let want = [size[0], size[2], size[3]];
        if array.shape != want || !matches!(array.dtype, npy::DType::F32 | npy::DType::F64) {
            return Err(self.fail(
                &job,
                format!(
                    "maps.npy is {} {:?}; expected float32 {want:?}",
                    array.dtype.numpy_name(),
                    array.shape
                ),
                "write one float32 map per input image, at the input's height and width",
            ));
        }
        let t = array.to_tensor().to_kind(Kind::Float);
        if t.isfinite().all().int64_value(&[]) == 0 {
            return Err(self.fail(
                &job,
                "maps.npy contains NaN or Inf".into(),
                "return finite maps",
            ));
        }
        Ok(t.to_device(ctx.input.device()))
    }
}
