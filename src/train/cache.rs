//! The trained-model cache: `<cache>/models/<key>.safetensors` beside `<key>.json`, where the key
//! is a hash of the full training configuration (seed included) and the JSON records the
//! training report and the SHA-256 of the weights file. A second run loads instead of training; a
//! corrupt or mismatched file is detected, reported on stderr, and retrained — never used.
use super::{train, TrainConfig, TrainReport};
use crate::error::{Error, Result};
use crate::io::{hex, sha256_file};
use crate::model::network::Network;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tch::Device;

/// Bumped whenever training or the file layout changes meaning.
const FORMAT: &str = "blindspot-train-cache-v2";

/// blindspot's cache root: `$BLINDSPOT_CACHE`, else `$XDG_CACHE_HOME/blindspot`, else
/// `~/.cache/blindspot`. An empty variable counts as unset (`BLINDSPOT_CACHE=` would otherwise
/// put the cache into the working folder), and so does a relative `XDG_CACHE_HOME`, as the XDG
/// specification says.
pub fn cache_root() -> PathBuf {
    let set = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = set("BLINDSPOT_CACHE") {
        return dir;
    }
    if let Some(dir) = set("XDG_CACHE_HOME").filter(|d| d.is_absolute()) {
        return dir.join("blindspot");
    }
    let home = set("HOME").unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("blindspot")
}

#[derive(Serialize, Deserialize)]
struct Record {
    format: String,
    config: TrainConfig,
    report: TrainReport,
    weights_sha256: String,
}

/// A model ready for use, and where it came from.
pub struct Trained {
    pub model: Box<dyn Network>,
    pub report: TrainReport,
    pub from_cache: bool,
    pub weights: PathBuf,
}

/// The cache key of a configuration.
pub fn key(config: &TrainConfig) -> String {
    let text = serde_json::to_string(config).expect("configs serialise");
    hex(&Sha256::digest(format!("{FORMAT}\n{text}").as_bytes()))[..20].to_string()
}

fn try_load(
    config: &TrainConfig,
    label: &str,
    device: Device,
    weights: &Path,
    meta: &Path,
) -> std::result::Result<Trained, String> {
    let text = crate::io::read_text(meta, "the cached model's record", crate::io::SUITE_LIMIT)
        .map_err(|e| e.to_string())?;
    let record: Record = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a valid record: {e}", meta.display()))?;
    if record.format != FORMAT || &record.config != config {
        return Err(format!(
            "{} belongs to another configuration",
            meta.display()
        ));
    }
    let digest = sha256_file(weights).map_err(|e| e.to_string())?;
    if digest != record.weights_sha256 {
        return Err(format!(
            "{} does not match its recorded SHA-256",
            weights.display()
        ));
    }
    let mut model = config.model.for_loading(label, device);
    model.load_from(weights).map_err(|e| e.to_string())?;
    Ok(Trained {
        model,
        report: record.report,
        from_cache: true,
        weights: weights.to_path_buf(),
    })
}

/// Proves that the model cache can be written, before anything trains: creates its `models`
/// folder and a probe file there.
pub fn ensure_usable() -> Result<()> {
    let dir = cache_root().join("models");
    let fix = "point BLINDSPOT_CACHE at a writable folder (the cache holds the trained models)";
    let bad = |e: std::io::Error| {
        Error::input(
            format!("the model cache {} is not usable: {e}", dir.display()),
            dir.display().to_string(),
            fix,
        )
    };
    std::fs::create_dir_all(&dir).map_err(bad)?;
    // An unpredictable name, created exclusively: a file or link planted there is an error,
    // never followed (a link under a predictable name truncated its target before).
    let probe = dir.join(format!(".probe-{}", crate::io::unique()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(bad)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Loads the model trained with `config` from blindspot's cache, or trains and caches it.
pub fn load_or_train(config: &TrainConfig, label: &str, device: Device) -> Result<Trained> {
    load_or_train_in(&cache_root().join("models"), config, label, device)
}

/// [`load_or_train`] with an explicit cache folder.
pub fn load_or_train_in(
    dir: &Path,
    config: &TrainConfig,
    label: &str,
    device: Device,
) -> Result<Trained> {
    // One training at a time in this process: a second thread asking for the same model waits
    // and then loads what the first one cached.
    static TRAINING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = TRAINING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let key = key(config);
    let weights = dir.join(format!("{key}.safetensors"));
    let meta = dir.join(format!("{key}.json"));
    // Across processes: a second blindspot asking for a model in training waits for it and then
    // loads it, instead of training it again.
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create the cache folder", dir, e))?;
    let _lock = FileLock::exclusive(&dir.join(format!("{key}.lock")))?;
    if weights.exists() || meta.exists() {
        match try_load(config, label, device, &weights, &meta) {
            Ok(trained) => return Ok(trained),
            Err(reason) => {
                crate::io::note!(
                    "warning: cached {label} is unusable ({reason}); training it again"
                )
            }
        }
    }
    let (model, report) = train(config, label, device)?;
    store(dir, config, model, report)
}

/// Trains `config` whatever the cache holds, and caches the result (`blindspot train --retrain`).
pub fn train_into_cache(config: &TrainConfig, label: &str, device: Device) -> Result<Trained> {
    let (model, report) = train(config, label, device)?;
    store(&cache_root().join("models"), config, model, report)
}

/// Writes a trained model and its record into the cache folder `dir`.
fn store(
    dir: &Path,
    config: &TrainConfig,
    model: Box<dyn Network>,
    report: TrainReport,
) -> Result<Trained> {
    let key = key(config);
    let (weights, meta) = (
        dir.join(format!("{key}.safetensors")),
        dir.join(format!("{key}.json")),
    );
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create the cache folder", dir, e))?;
    // blindspot's own cache: a link, FIFO or device planted where a file goes is removed.
    crate::io::remove_unless_regular(&weights);
    crate::io::remove_unless_regular(&meta);
    // Weights first, through a temporary file and a rename; the record last, so a crash between
    // the two leaves a record-less file that the next run retrains over.
    // An unpredictable name, claimed exclusively before libtorch writes it.
    let tmp = dir.join(format!(".{key}.tmp-{}.safetensors", crate::io::unique()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| Error::io("create", &tmp, e))?;
    if let Err(e) = model.save_to(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &weights).map_err(|e| Error::io("write", &weights, e))?;
    let record = Record {
        format: FORMAT.into(),
        config: config.clone(),
        report: report.clone(),
        weights_sha256: sha256_file(&weights)?,
    };
    let text = serde_json::to_string_pretty(&record).expect("records serialise");
    crate::io::write_atomic(&meta, text.as_bytes())?;
    Ok(Trained {
        model,
        report,
        from_cache: false,
        weights,
    })
}

/// An exclusive advisory lock on a file (flock), released when dropped.
struct FileLock(std::fs::File);

impl FileLock {
    fn exclusive(path: &Path) -> Result<FileLock> {
        use std::os::unix::fs::OpenOptionsExt;
        // Never through a link: a planted one would create (or lock) a file elsewhere.
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| Error::io("open the lock", path, e))?;
        if !file.metadata().is_ok_and(|m| m.is_file()) {
            return Err(Error::io(
                "lock",
                path,
                std::io::Error::other("the lock is not a regular file"),
            ));
        }
        use std::os::unix::io::AsRawFd;
        // SAFETY: flock(2) on a descriptor we own; it blocks until the lock is ours.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(Error::io("lock", path, std::io::Error::last_os_error()));
        }
        Ok(FileLock(file))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        use std::os::unix::io::AsRawFd;
        // SAFETY: unlocking the descriptor we locked.
        unsafe {
            libc::flock(self.0.as_raw_fd(), libc::LOCK_UN);
        }
    }
}
