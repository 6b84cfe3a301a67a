//! Child processes, their folders, and signals.
//!
//! External methods run in a process group of their own, so that a timeout, a SIGINT or a
//! SIGTERM kills the command and everything it started (a shell's children included), never
//! leaving an orphan behind. Folders that must not outlive the run (external job folders, the
//! staging folder of an output) are registered here: when blindspot is interrupted, a watcher
//! thread kills every live group, removes every registered folder (job folders are kept with
//! `--keep-jobs`) and exits with 128 + the signal's number. The signal handler itself only
//! records the signal (the one thing that is safe inside a handler).
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Mutex, Once};
use std::time::Duration;

static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
static FOLDERS: Mutex<Vec<(PathBuf, bool)>> = Mutex::new(Vec::new());
static KEEP_JOBS: AtomicBool = AtomicBool::new(false);
static SIGNAL: AtomicI32 = AtomicI32::new(0);
static INSTALL: Once = Once::new();

/// Keep external job folders after the run (`--keep-jobs`), for debugging an adapter.
pub fn set_keep_jobs(keep: bool) {
    KEEP_JOBS.store(keep, Ordering::SeqCst);
}

/// Whether job folders are kept.
pub fn keep_jobs() -> bool {
    KEEP_JOBS.load(Ordering::SeqCst)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A live process group (the group id is the leader's pid).
pub fn register_group(group: u32) {
    lock(&GROUPS).push(group as i32);
}

/// A group that has ended.
pub fn unregister_group(group: u32) {
    lock(&GROUPS).retain(|&g| g != group as i32);
}

/// Kills every process of a group.
pub fn kill_group(group: u32) {
    // SAFETY: kill(2) with a negative pid signals the group; it touches no memory of ours.
    unsafe {
        libc::kill(-(group as i32), libc::SIGKILL);
    }
}

/// A folder to remove if the run is interrupted; `job` folders survive with `--keep-jobs`.
pub fn register_folder(path: &Path, job: bool) {
    lock(&FOLDERS).push((path.to_path_buf(), job));
}

/// A folder that no longer needs removing on interruption (done, or removed already).
pub fn unregister_folder(path: &Path) {
    lock(&FOLDERS).retain(|(p, _)| p != path);
}

extern "C" fn on_signal(signal: libc::c_int) {
    SIGNAL.store(signal, Ordering::SeqCst);
}

/// Kills the live groups and removes the registered folders.
fn clean_up() {
    for group in lock(&GROUPS).drain(..) {
        kill_group(group as u32);
    }
    for (folder, job) in lock(&FOLDERS).drain(..) {
        if !(job && keep_jobs()) {
            let _ = std::fs::remove_dir_all(&folder);
        }
    }
}

/// Installs the SIGINT/SIGTERM handling (once per process).
pub fn install_signal_handlers() {
    INSTALL.call_once(|| {
        // SAFETY: the handler only stores into an atomic, which is async-signal-safe.
        unsafe {
            let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::signal(libc::SIGINT, handler);
            libc::signal(libc::SIGTERM, handler);
        }
        std::thread::spawn(|| loop {
            std::thread::sleep(Duration::from_millis(25));
            stop_if_interrupted();
        });
    });
}

/// If a SIGINT or SIGTERM has arrived: kills the live groups, removes the registered folders and
/// exits with 128 + the signal's number. Called by the watcher thread, and by the main thread
/// before it reports an error, so that a command killed by the clean-up never turns an
/// interruption into an ordinary failure (exit 2). Only one thread ever gets past the lock: the
/// other waits there until the process exits.
pub fn stop_if_interrupted() {
    static STOPPING: Mutex<()> = Mutex::new(());
    let signal = SIGNAL.load(Ordering::SeqCst);
    if signal == 0 {
        return;
    }
    let _only_one = lock(&STOPPING);
    clean_up();
    let name = if signal == libc::SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    };
    crate::note!("blindspot: stopped by {name}; external commands killed, folders removed");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // _exit, not exit: the other threads may be inside libtorch, whose static destructors
    // `exit` would run under them (a segfault, exit 139, in some runs).
    // SAFETY: _exit ends the process at once; nothing after it runs.
    unsafe { libc::_exit(128 + signal) }
}

/// `text` as one POSIX shell word: single-quoted, each `'` written as `'\''`.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// How a supervised command ended without an exit status.
#[derive(Debug)]
pub enum Unfinished {
    /// It ran past its timeout; it and everything it started were killed.
    TimedOut,
    /// Waiting for it failed.
    Wait(std::io::Error),
}

/// Waits for `child`, spawned in a process group of its own (`process_group(0)`): the group is
/// registered so that SIGINT and SIGTERM kill it with blindspot, killed after `timeout`, and
/// killed when the command ends, so that children it left running die with it. Shared by the
/// external methods and blindspot's own helpers.
pub fn supervise(
    child: &mut std::process::Child,
    timeout: Duration,
) -> Result<std::process::ExitStatus, Unfinished> {
    let group = child.id();
    register_group(group);
    let start = std::time::Instant::now();
    let outcome = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if start.elapsed() > timeout => {
                kill_group(group);
                let _ = child.wait();
                break Err(Unfinished::TimedOut);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => break Err(Unfinished::Wait(e)),
        }
    };
    kill_group(group);
    unregister_group(group);
    outcome
}

/// Runs `command` to completion under [`supervise`], its stderr read on a thread (so that a
/// chatty child never blocks on a full pipe). Returns its exit status and what it wrote to
/// stderr; `Err` says why it could not run or finish, in words. For blindspot's own helpers
/// (the Python that exports a built-in model).
pub fn run_group(
    command: &mut std::process::Command,
    timeout: Duration,
) -> Result<(std::process::ExitStatus, String), String> {
    use std::os::unix::process::CommandExt;
    let mut child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(pipe) = stderr.as_mut() {
            let _ = std::io::Read::read_to_string(pipe, &mut text);
        }
        text
    });
    let status = supervise(&mut child, timeout).map_err(|why| match why {
        Unfinished::TimedOut => format!("did not finish within {} s; killed", timeout.as_secs()),
        Unfinished::Wait(e) => e.to_string(),
    });
    let text = reader.join().unwrap_or_default();
    status.map(|s| (s, text))
}

/// Whether process `pid` still exists (signal 0 probes without sending anything).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The folders in `parent` named `PREFIX` + `PID-…` whose process no longer exists (a run
/// killed with SIGKILL, which no handler sees) and that `ours` recognises as blindspot's.
pub fn stale_folders(parent: &Path, prefix: &str, ours: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid: u32 = name.strip_prefix(prefix)?.split('-').next()?.parse().ok()?;
            let path = entry.path();
            let folder = entry.file_type().ok()?.is_dir();
            (folder && !pid_alive(pid) && ours(&path)).then_some(path)
        })
        .collect()
}
