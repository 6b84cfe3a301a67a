//! Files in and out: `.npy` arrays, atomic writes (no half-written file is ever left behind) and
//! staged output folders (no file of an earlier run survives beside a new report).
pub mod escape;
pub mod note;
pub mod npy;
pub mod number;

pub(crate) use note::{note, note_inline};

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a reader
/// (or a crash) never sees a partial file. Creates missing parent folders.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    refuse_special(path)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("create the folder", parent, e))?;
    }
    let tmp = temp_sibling(path, "tmp");
    // Created exclusively (O_EXCL): a file or link planted under the unpredictable name is an
    // error, never followed.
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut file| std::io::Write::write_all(&mut file, bytes))
        .and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io("write", path, e));
    }
    Ok(())
}

/// The file an output folder holds when blindspot wrote it: only such a folder (or an empty
/// one) is ever replaced by a run.
pub const OUTPUT_MARKER: &str = ".blindspot-output";

/// The text of a regular file of at most `limit` bytes: a device, a FIFO or a folder (which
/// could hang the read or never end, `/dev/zero`) and a larger file are refused with one message
/// naming `what`.
pub fn read_text(path: &Path, what: &str, limit: u64) -> Result<String> {
    read_text_opened(path, what, limit, false)
}

/// [`read_text`] of a file that must not be a link itself (opened with `O_NOFOLLOW`): for files
/// a suite names, which must lie where the suite says, not where a link planted there points.
pub fn read_text_no_link(path: &Path, what: &str, limit: u64) -> Result<String> {
    read_text_opened(path, what, limit, true)
}

fn read_text_opened(path: &Path, what: &str, limit: u64, no_link: bool) -> Result<String> {
    let refuse = |why: String| {
        Error::input(
            format!("{what} {}: {why}", path.display()),
            path.display().to_string(),
            format!(
                "pass a regular text file of at most {} MB",
                limit / 1_000_000
            ),
        )
    };
    if no_link && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(refuse("is a link (read only as a file of its own)".into()));
    }
    let meta = std::fs::metadata(path).map_err(|e| Error::io("read", path, e))?;
    if !meta.is_file() {
        return Err(refuse("is not a regular file".into()));
    }
    if meta.len() > limit {
        return Err(refuse(format!("has {} bytes", meta.len())));
    }
    let mut text = String::new();
    use std::os::unix::fs::OpenOptionsExt;
    let flags = if no_link { libc::O_NOFOLLOW } else { 0 };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::io("read", path, e))?;
    // Opened, it must still be the regular file checked above (not a FIFO swapped in).
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(refuse("is not a regular file".into()));
    }
    std::io::Read::read_to_string(&mut std::io::Read::take(file, limit + 1), &mut text)
        .map_err(|e| Error::io("read", path, e))?;
    if text.len() as u64 > limit {
        return Err(refuse(format!("grew past {limit} bytes while read")));
    }
    Ok(text)
}

/// Largest suite or regressions file read (a suite is a few kilobytes).
pub const SUITE_LIMIT: u64 = 4_000_000;
/// Largest report.json read by merge (the 1,000-case property report is under 10 MB).
pub const REPORT_LIMIT: u64 = 256_000_000;

/// Outputs are regular files: a path that exists as anything else (a folder, a device, a FIFO,
/// a link to one) is refused rather than replaced.
pub fn refuse_special(path: &Path) -> Result<()> {
    refuse_dangling(path)?;
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => {
            return Err(Error::input(
                format!("{} exists and is not a regular file", path.display()),
                path.display().to_string(),
                "write to a new path or to an existing regular file",
            ))
        }
        Ok(_) => return Ok(()),
        Err(_) => {}
    }
    // A new file: checked before any work that its folder can exist (`afile/x.json` with
    // `afile` a file failed only when the results were ready).
    let mut ancestor = path.parent();
    while let Some(dir) = ancestor.filter(|d| !d.as_os_str().is_empty()) {
        match std::fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => return Ok(()),
            Ok(_) => {
                return Err(Error::input(
                    format!(
                        "{} cannot be written: {} is not a folder",
                        path.display(),
                        dir.display()
                    ),
                    path.display().to_string(),
                    "write into a folder (or a path whose missing folders can be created)",
                ))
            }
            Err(_) => ancestor = dir.parent(),
        }
    }
    Ok(())
}

/// What a link to nothing is, in [`not_a_file`]'s words.
const DANGLING: &str = "is a link to nothing readable";

/// Why `path` is no regular file, in words: "does not exist", "is a link to nothing readable",
/// "is a folder, not a file", "is not a regular file (a device, FIFO or socket)".
pub fn not_a_file(path: &Path) -> &'static str {
    match std::fs::metadata(path) {
        Err(_) if is_dangling(path) => DANGLING,
        Err(_) => "does not exist",
        Ok(m) if m.is_dir() => "is a folder, not a file",
        Ok(_) => "is not a regular file (a device, FIFO or socket)",
    }
}

/// A link whose target cannot be reached.
fn is_dangling(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
        && std::fs::metadata(path).is_err()
}

/// Refuses a path that is a link to nothing: writing through it would fail, or create a file
/// where the link points, only after the work.
pub fn refuse_dangling(path: &Path) -> Result<()> {
    if is_dangling(path) {
        return Err(Error::input(
            format!("{} {DANGLING}", path.display()),
            path.display().to_string(),
            "remove the link or point it at a folder or file that exists",
        ));
    }
    Ok(())
}

/// An output folder written all at once: files go into a staging folder beside it, which
/// replaces the folder at [`StagedDir::commit`]. No file of an earlier run survives beside the
/// new ones, and a run that fails leaves the earlier folder untouched and no staging behind
/// (also when interrupted: the staging folder is registered with [`crate::process`]). Creating
/// the staging folder first also proves, before any work, that the place is writable.
pub struct StagedDir {
    target: PathBuf,
    staging: PathBuf,
    committed: bool,
}

impl StagedDir {
    pub fn begin(target: &Path) -> Result<StagedDir> {
        refuse_unreplaceable(target)?;
        refuse_dangling(target)?;
        if target.exists() && !target.is_dir() {
            return Err(Error::input(
                format!("{} exists and is not a folder", target.display()),
                target.display().to_string(),
                "pass --out a folder (it is replaced) or a new path",
            ));
        }
        if target.is_dir() && !written_by_blindspot(target) {
            return Err(Error::input(
                format!(
                    "{} exists and blindspot did not write it (it has files and no \
                     {OUTPUT_MARKER}); blindspot replaces an output folder whole, so it will not \
                     replace this one",
                    target.display()
                ),
                target.display().to_string(),
                "pass --out a new or empty folder, or one an earlier blindspot run wrote",
            ));
        }
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_else(|| "out".into());
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| Error::io("create the folder", parent, e))?;
        // What a run killed by SIGKILL left beside this folder (staging, or the previous
        // folder mid-replacement): only folders blindspot wrote, of processes that are gone.
        for kind in ["partial", "old"] {
            let prefix = format!(".{name}.{kind}-");
            for stale in
                crate::process::stale_folders(parent, &prefix, |p| p.join(OUTPUT_MARKER).is_file())
            {
                let _ = std::fs::remove_dir_all(stale);
            }
        }
        let staging = parent.join(format!(".{name}.partial-{}", unique()));
        std::fs::create_dir(&staging)
            .map_err(|e| Error::io("create the output folder", &staging, e))?;
        crate::process::register_folder(&staging, false);
        let marker = staging.join(OUTPUT_MARKER);
        let text =
            "Written by blindspot: the next run with this --out replaces this folder whole.\n";
        if let Err(e) = std::fs::write(&marker, text) {
            let _ = std::fs::remove_dir_all(&staging);
            crate::process::unregister_folder(&staging);
            return Err(Error::io("write", &marker, e));
        }
        Ok(StagedDir {
            target: target.to_path_buf(),
            staging,
            committed: false,
        })
    }

    /// Where to write the files.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// Replaces the target folder with the staged one.
    pub fn commit(mut self) -> Result<()> {
        let old = self.staging.with_file_name(format!(
            ".{}.old-{}",
            self.target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            unique()
        ));
        if self.target.exists() {
            std::fs::rename(&self.target, &old)
                .map_err(|e| Error::io("replace", &self.target, e))?;
        }
        std::fs::rename(&self.staging, &self.target)
            .map_err(|e| Error::io("write", &self.target, e))?;
        let _ = std::fs::remove_dir_all(&old);
        crate::process::unregister_folder(&self.staging);
        self.committed = true;
        Ok(())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
            crate::process::unregister_folder(&self.staging);
        }
    }
}

/// Refuses a path that a suite in `base` names (`relative`, already free of `..`) if any part
/// of it below `base` is a link: a link could lead the write (or read) outside the suite's folder.
/// `what` names the path in the message.
pub fn refuse_links_below(base: &Path, relative: &Path, what: &str) -> Result<()> {
    let mut path = base.to_path_buf();
    for component in relative.components() {
        path.push(component);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(Error::input(
                    format!(
                        "{what} goes through the link {}, which could lead outside the suite's \
                         folder",
                        escape::printable(&path.display().to_string())
                    ),
                    path.display().to_string(),
                    "name a real file in a real folder beside the suite (no links on the way)",
                ))
            }
            Ok(_) => {}
            Err(_) => return Ok(()), // Not there yet: created as a file and folders of its own.
        }
    }
    Ok(())
}

/// Refuses, before any work, an output folder that [`StagedDir::commit`] could not replace by a
/// rename: a path without a last component of its own (`.`, `..`, `/`) and a mount point (a
/// container volume, a bind mount: renaming one fails with "Device or resource busy").
fn refuse_unreplaceable(target: &Path) -> Result<()> {
    use std::path::Component;
    let refuse = |why: &str| {
        Error::input(
            format!("--out {} {why}", target.display()),
            target.display().to_string(),
            "name a folder inside it (e.g. --out ./report): blindspot replaces its output \
             folder whole, by a rename",
        )
    };
    if !matches!(target.components().next_back(), Some(Component::Normal(_))) {
        return Err(refuse("names no folder of its own (., .. or /)"));
    }
    let Ok(canonical) = std::fs::canonicalize(target) else {
        return Ok(()); // Not there yet: created by the rename.
    };
    if canonical.parent().is_none() || is_mount_point(&canonical) {
        return Err(refuse("is a mount point, which cannot be replaced"));
    }
    Ok(())
}

/// Whether `path` (canonical) is where a file system is mounted: another device than its parent
/// folder, or listed as a mount point in `/proc/self/mountinfo` (a bind mount of a folder of the
/// same file system).
fn is_mount_point(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let device = |p: &Path| std::fs::metadata(p).map(|m| m.dev()).ok();
    if let Some(parent) = path.parent() {
        if device(path) != device(parent) {
            return true;
        }
    }
    let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    // The fifth field, with spaces, tabs, newlines and backslashes as octal escapes.
    let unescape = |field: &str| {
        let mut out = Vec::new();
        let bytes = field.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let octal = bytes.get(i + 1..i + 4).and_then(|d| {
                std::str::from_utf8(d)
                    .ok()
                    .and_then(|d| u8::from_str_radix(d, 8).ok())
            });
            match (bytes[i], octal) {
                (b'\\', Some(byte)) => {
                    out.push(byte);
                    i += 4;
                }
                (b, _) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        out
    };
    use std::os::unix::ffi::OsStrExt;
    let want = path.as_os_str().as_bytes();
    table
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .any(|mount| unescape(mount) == want)
}

fn temp_sibling(path: &Path, kind: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{kind}-{}", unique()))
}

/// `PID-RANDOM`: a name part no other process can predict (temporary files and folders).
pub fn unique() -> String {
    format!("{}-{:016x}", std::process::id(), rand::random::<u64>())
}

/// Whether blindspot may replace `folder`: it is empty, or holds the marker of a blindspot run.
fn written_by_blindspot(folder: &Path) -> bool {
    if folder.join(OUTPUT_MARKER).is_file() {
        return true;
    }
    std::fs::read_dir(folder).is_ok_and(|mut entries| entries.next().is_none())
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of bytes, in hex.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

/// SHA-256 of a regular file, in hex, read in pieces up to the length it had when opened: a
/// device, a FIFO or a folder in its place (`/dev/zero`, which never ends, or a FIFO, which
/// blocks) is an error, checked on the opened file itself.
pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let file = open_regular(path)?;
    let length = file.metadata().map_err(|e| Error::io("read", path, e))?.len();
    let mut hasher = sha2::Sha256::new();
    let mut reader = file.take(length);
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = reader
            .read(&mut buffer)
            .map_err(|e| Error::io("read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Removes `path` if it is there as anything but a regular file (a link, whatever it points at:
/// only the link goes; a FIFO, a device node, an empty folder), for files blindspot owns (its
/// cache) before it writes them.
pub fn remove_unless_regular(path: &Path) {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.is_dir() {
            let _ = std::fs::remove_dir(path);
        } else if !meta.is_file() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Opens `path` for reading, refusing anything but a regular file (checked on the open file, so
/// nothing can be swapped in between; opened without blocking, so a FIFO cannot hang it).
pub fn open_regular(path: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::io("read", path, e))?;
    match file.metadata() {
        Ok(meta) if meta.is_file() => Ok(file),
        _ => Err(Error::input(
            format!("{} {}", path.display(), not_a_file(path)),
            path.display().to_string(),
            "replace it with the regular file it should be",
        )),
    }
}
