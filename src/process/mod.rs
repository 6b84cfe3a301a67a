//! Child processes, their folders, and signals.
//!
//! Every command blindspot runs (external methods, the Python that exports a built-in model)
//! runs under a supervisor process ([`supervisor`]) that kills it and everything it started when
//! it ends, times out, or when blindspot stops — by a signal blindspot handles, or by SIGKILL,
//! which only the supervisor sees (as the end of a pipe). Folders that must not outlive the run
//! (external job folders, the staging folder of an output) are registered here: when a SIGINT,
//! SIGTERM, SIGHUP or SIGQUIT arrives, a watcher thread stops every live command, removes every
//! registered folder (job folders are kept with `--keep-jobs`) and exits with 128 + the signal's
//! number. The signal handler itself only records the signal (the one thing that is safe inside
//! a handler).
pub mod supervisor;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Mutex, Once};
use std::time::Duration;

/// The control descriptors of the live supervisors (closed only after they leave this list,
/// under its lock, so the clean-up never writes to a reused descriptor).
/// The environment variable every external method's command runs with, naming its job folder
/// (`{dir}`): how [`reap_leftovers`] finds the processes of a run that was killed.
pub const JOB_DIR_VARIABLE: &str = "BLINDSPOT_JOB_DIR";

static SUPERVISORS: Mutex<Vec<(i32, std::os::fd::RawFd)>> = Mutex::new(Vec::new());
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

/// A live supervisor (its pid and blindspot's end of its control pipe).
pub(crate) fn register_supervisor(pid: i32, control: std::os::fd::RawFd) {
    lock(&SUPERVISORS).push((pid, control));
}

/// Runs `close` (which closes a supervisor's control descriptor) after taking the supervisor off
/// the list, under its lock.
pub(crate) fn unregister_supervisor(pid: i32, close: impl FnOnce()) {
    let mut list = lock(&SUPERVISORS);
    list.retain(|&(p, _)| p != pid);
    close();
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

/// Stops the live commands (each supervisor kills its command's whole tree, then exits; waited
/// for up to five seconds) and removes the registered folders.
fn clean_up() {
    let supervisors: Vec<i32> = {
        let list = lock(&SUPERVISORS);
        for &(_, control) in list.iter() {
            // SAFETY: a one-byte write to a descriptor the list guarantees is still open.
            unsafe { libc::write(control, b"K".as_ptr().cast(), 1) };
        }
        list.iter().map(|&(pid, _)| pid).collect()
    };
    let start = std::time::Instant::now();
    for pid in supervisors {
        // The supervisor is our child: reaped here, or by its waiter on another thread.
        while start.elapsed() < Duration::from_secs(5) {
            let mut status = 0;
            // SAFETY: waitpid on our own child, without blocking.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r != 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    for (folder, job) in lock(&FOLDERS).drain(..) {
        if !(job && keep_jobs()) {
            // A thread that was writing into the folder when the signal came stops at its next
            // `stop_if_interrupted`; until then its new files would keep the folder alive.
            for _ in 0..20 {
                let _ = std::fs::remove_dir_all(&folder);
                if !folder.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        }
    }
}

/// The signals that stop blindspot with a clean-up: Ctrl-C, a kill, a closed terminal, Ctrl-\\.
const STOPPING_SIGNALS: [libc::c_int; 4] =
    [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// Installs the handling of [`STOPPING_SIGNALS`] (once per process).
pub fn install_signal_handlers() {
    INSTALL.call_once(|| {
        // SAFETY: the handler only stores into an atomic, which is async-signal-safe.
        unsafe {
            let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            for signal in STOPPING_SIGNALS {
                libc::signal(signal, handler);
            }
        }
        std::thread::spawn(|| loop {
            std::thread::sleep(Duration::from_millis(25));
            stop_if_interrupted();
        });
    });
}

/// If one of [`STOPPING_SIGNALS`] has arrived: stops the live commands, removes the registered
/// folders and exits with 128 + the signal's number. Called by the watcher thread, and by the
/// main thread before it reports an error, so that a command killed by the clean-up never turns an
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
    let name = match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGHUP => "SIGHUP",
        libc::SIGQUIT => "SIGQUIT",
        _ => "SIGTERM",
    };
    crate::io::note!("blindspot: stopped by {name}; external commands killed, folders removed");
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

pub use supervisor::run_group;

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

/// Kills the processes a killed run left behind in `job_root` (a stale external job folder):
/// those of this user whose environment names a job folder inside it (`BLINDSPOT_JOB_DIR`,
/// which every command and everything it starts inherits). Only a run whose supervisor was
/// killed too (a SIGKILL to blindspot's whole process group) leaves such processes.
pub fn reap_leftovers(job_root: &Path) {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    let mut prefix = format!("{}=", JOB_DIR_VARIABLE).into_bytes();
    prefix.extend_from_slice(job_root.as_os_str().as_bytes());
    prefix.push(b'/');
    // SAFETY: getuid cannot fail.
    let me = unsafe { libc::getuid() };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if !entry.metadata().is_ok_and(|m| m.uid() == me) {
            continue;
        }
        let Ok(file) = std::fs::File::open(entry.path().join("environ")) else {
            continue;
        };
        let mut environ = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::Read::take(file, 1 << 20), &mut environ);
        if environ.split(|&b| b == 0).any(|v| v.starts_with(&prefix)) {
            // SAFETY: kill(2) touches no memory of ours.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}
