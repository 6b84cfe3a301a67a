//! A supervisor process between blindspot and every command it runs, so that nothing the
//! command starts outlives blindspot, however blindspot ends.
//!
//! blindspot forks the supervisor (no exec: after the fork it calls only async-signal-safe
//! system calls, on memory prepared before the fork). The supervisor makes itself a child
//! subreaper (`PR_SET_CHILD_SUBREAPER`), so every process the command starts stays in its
//! subtree even after a `setsid` or a double fork, and forks the command into a process group of
//! its own. It then waits for one of three things:
//!
//! * the command ends: it kills the command's group and every remaining descendant (the
//!   children listed in `/proc/self/task/TID/children`, repeatedly, as orphans are reparented to
//!   it), reaps them, writes the command's wait status to blindspot and exits;
//! * blindspot asks it to stop (a timeout, a signal): the same, with "killed" for a status;
//! * blindspot is gone (its end of the control pipe closes: SIGKILL, SIGHUP, a crash, or any
//!   exit at all): the same, and nobody reads the status.
//!
//! The supervisor ignores the terminal's signals (SIGINT, SIGTERM, SIGHUP, SIGQUIT) so that it
//! outlives blindspot long enough to clean up; the command gets them back at their defaults, and
//! `PR_SET_PDEATHSIG` kills the command if the supervisor itself is killed. Written by hand
//! because no crate offers a subreaper that survives its parent's SIGKILL.
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

/// A command to run under a supervisor: the program, its arguments (the first is `argv[0]`) and
/// the variables added to blindspot's environment.
pub struct Command {
    program: CString,
    argv: Vec<CString>,
    env: Vec<(OsString, OsString)>,
}

impl Command {
    /// `program` run with `args` (after `argv[0]`, which is the program).
    pub fn new(program: impl AsRef<OsStr>, args: &[&OsStr]) -> io::Result<Command> {
        let c = |s: &OsStr| {
            CString::new(s.as_bytes()).map_err(|_| io::Error::other("a NUL byte in the command"))
        };
        let program = c(program.as_ref())?;
        let mut argv = vec![program.clone()];
        for a in args {
            argv.push(c(a)?);
        }
        Ok(Command {
            program,
            argv,
            env: Vec::new(),
        })
    }

    /// Adds `name=value` to the command's environment.
    pub fn env(&mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.env
            .push((name.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }
}

/// A command running under its supervisor.
pub struct Child {
    supervisor: libc::pid_t,
    /// blindspot's end of the control pipe: a byte asks the supervisor to kill; closing it (or
    /// blindspot's death) does too.
    control: Option<OwnedFd>,
    /// Where the supervisor writes the command's process group once it runs (4 bytes), then
    /// its end: 4 bytes of wait status and a flag.
    status: OwnedFd,
}

/// How a supervised command ended without an exit status.
#[derive(Debug)]
pub enum Unfinished {
    /// It ran past its timeout; it and everything it started were killed.
    TimedOut,
    /// It was killed on blindspot's request (blindspot is stopping).
    Killed,
    /// Waiting for it failed.
    Wait(io::Error),
}

/// Status flag: the command ended by itself.
const ENDED: u8 = 0;
/// Status flag: the command was killed on request.
const KILLED: u8 = 1;

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Starts `command` under a new supervisor, its standard input and output on `/dev/null`, its
/// standard error into `stderr` (a file, or a pipe the caller reads).
pub fn spawn(command: &Command, stderr: OwnedFd) -> io::Result<Child> {
    // Everything the child needs, prepared before the fork: it must not allocate.
    let mut envp_owned: Vec<CString> = Vec::new();
    let overridden = |name: &OsStr| command.env.iter().any(|(n, _)| n == name);
    for (name, value) in std::env::vars_os() {
        if !overridden(&name) {
            envp_owned.push(pair(&name, &value)?);
        }
    }
    for (name, value) in &command.env {
        envp_owned.push(pair(name, value)?);
    }
    let mut envp: Vec<*const libc::c_char> = envp_owned.iter().map(|c| c.as_ptr()).collect();
    envp.push(std::ptr::null());
    let mut argv: Vec<*const libc::c_char> = command.argv.iter().map(|c| c.as_ptr()).collect();
    argv.push(std::ptr::null());
    let devnull = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    let (control_read, control_write) = pipe()?;
    let (status_read, status_write) = pipe()?;
    // The children file of the supervisor's one thread, named before the fork (the child's pid
    // is not known yet: the supervisor reads `/proc/thread-self/children`).
    let children_path = c"/proc/thread-self/children";
    let fds = Fds {
        control: control_read.as_raw_fd(),
        status: status_write.as_raw_fd(),
        null: devnull.as_raw_fd(),
        stderr: stderr.as_raw_fd(),
    };
    // SAFETY: fork duplicates this thread only. The child runs `supervise_child`, which makes
    // async-signal-safe system calls on the memory prepared above and never returns.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: in the forked child; see `supervise_child`.
        unsafe {
            supervise_child(
                &fds,
                command.program.as_ptr(),
                argv.as_ptr(),
                envp.as_ptr(),
                children_path.as_ptr(),
            )
        }
    }
    drop((control_read, status_write, stderr));
    super::register_supervisor(pid, control_write.as_raw_fd());
    let child = Child {
        supervisor: pid,
        control: Some(control_write),
        status: status_read,
    };
    // The supervisor writes the command's group (its pid) first; nothing means it could not
    // start the command (and has exited: reaped by the drop).
    let mut group = [0u8; 4];
    read_exact(child.status.as_raw_fd(), &mut group)?;
    Ok(child)
}

fn pair(name: &OsStr, value: &OsStr) -> io::Result<CString> {
    let mut bytes = name.as_bytes().to_vec();
    bytes.push(b'=');
    bytes.extend_from_slice(value.as_bytes());
    CString::new(bytes).map_err(|_| io::Error::other("a NUL byte in the environment"))
}

struct Fds {
    control: RawFd,
    status: RawFd,
    null: RawFd,
    stderr: RawFd,
}

/// Reads exactly `buf.len()` bytes (EOF before: an error).
fn read_exact(fd: RawFd, buf: &mut [u8]) -> io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: reads into the unfilled tail of `buf`.
        let n = unsafe { libc::read(fd, buf[got..].as_mut_ptr().cast(), buf.len() - got) };
        match n {
            0 => return Err(io::Error::other("the supervisor ended without a word")),
            n if n < 0 => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            n => got += n as usize,
        }
    }
    Ok(())
}

impl Child {
    /// Asks the supervisor to kill the command and everything it started (idempotent).
    pub fn kill(&mut self) {
        self.release(true);
    }

    /// Takes the supervisor off the clean-up's list and closes the control pipe, after a kill
    /// request when `kill`.
    fn release(&mut self, kill: bool) {
        if let Some(control) = self.control.take() {
            super::unregister_supervisor(self.supervisor, || {
                if kill {
                    // SAFETY: a one-byte write to our end of the pipe; a closed pipe is fine.
                    unsafe { libc::write(control.as_raw_fd(), b"K".as_ptr().cast(), 1) };
                }
                drop(control);
            });
        }
    }

    /// Waits for the command to end, at most `timeout`; after it, kills it. Either way, nothing
    /// it started is left running when this returns.
    pub fn wait(&mut self, timeout: Duration) -> Result<ExitStatus, Unfinished> {
        let start = Instant::now();
        let mut timed_out = false;
        loop {
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() && !timed_out {
                timed_out = true;
                self.kill();
            }
            let wait_ms = if timed_out {
                -1
            } else {
                left.as_millis().clamp(1, 1000) as libc::c_int
            };
            let mut poll = libc::pollfd {
                fd: self.status.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let ready = unsafe { libc::poll(&mut poll, 1, wait_ms) };
            if ready < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Unfinished::Wait(e));
            }
            if ready == 0 {
                continue;
            }
            let mut end = [0u8; 5];
            let read = read_exact(self.status.as_raw_fd(), &mut end);
            self.reap();
            read.map_err(Unfinished::Wait)?;
            return match (end[4], timed_out) {
                (KILLED, true) => Err(Unfinished::TimedOut),
                (KILLED, false) => Err(Unfinished::Killed),
                _ => Ok(ExitStatus::from_raw(i32::from_ne_bytes([
                    end[0], end[1], end[2], end[3],
                ]))),
            };
        }
    }

    /// Waits for the supervisor itself (it exits right after writing the status).
    fn reap(&mut self) {
        self.release(false);
        let mut status = 0;
        // SAFETY: our own child; EINTR retried.
        while unsafe { libc::waitpid(self.supervisor, &mut status, 0) } < 0
            && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
        {}
        self.supervisor = 0;
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.supervisor != 0 {
            self.kill();
            // The status (or the end of the pipe, if the supervisor could not start the
            // command), then the supervisor's exit.
            let mut end = [0u8; 5];
            let _ = read_exact(self.status.as_raw_fd(), &mut end);
            self.reap();
        }
    }
}

/// The signals the supervisor ignores (a terminal's, and a closed pipe's) and the command gets
/// back at their defaults.
const SIGNALS: [libc::c_int; 5] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGPIPE,
];

/// The supervisor's life, in the forked child: never returns.
///
/// # Safety
/// Only in the child of a fork, with pointers into memory prepared before it.
unsafe fn supervise_child(
    fds: &Fds,
    program: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    children_path: *const libc::c_char,
) -> ! {
    libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    // SIGPIPE too: blindspot may be gone before the status is written.
    for signal in SIGNALS {
        libc::signal(signal, libc::SIG_IGN);
    }
    // Every descriptor inherited from blindspot but these four: its end of this control pipe
    // (which would keep the pipe open after blindspot's death), other supervisors' pipes, its
    // outputs.
    close_others(&[fds.control, fds.status, fds.null, fds.stderr]);
    let me = libc::getpid();
    let leader = libc::fork();
    if leader < 0 {
        libc::_exit(127);
    }
    if leader == 0 {
        exec_command(fds, me, program, argv, envp);
    }
    // Both sides set the group, so it exists before anyone signals it.
    libc::setpgid(leader, leader);
    write_all(fds.status, &leader.to_ne_bytes());
    let mut leader_status: libc::c_int = 0;
    let mut flag = KILLED;
    loop {
        let mut status = 0;
        let reaped = libc::waitpid(-1, &mut status, libc::WNOHANG);
        if reaped == leader {
            leader_status = status;
            flag = ENDED;
            break;
        }
        if reaped > 0 {
            continue;
        }
        let mut poll = libc::pollfd {
            fd: fds.control,
            events: libc::POLLIN,
            revents: 0,
        };
        let ready = libc::poll(&mut poll, 1, 10);
        if ready > 0 {
            // A byte (kill) or the end of the pipe (blindspot is gone): stop either way.
            break;
        }
    }
    libc::kill(-leader, libc::SIGKILL);
    kill_descendants(children_path);
    let mut end = [0u8; 5];
    end[..4].copy_from_slice(&leader_status.to_ne_bytes());
    end[4] = flag;
    write_all(fds.status, &end);
    libc::_exit(0)
}

/// The command's side of the fork: its own group, standard streams, default signals, and a
/// parent-death signal for the case that the supervisor itself is killed.
///
/// # Safety
/// Only in the child of the supervisor's fork.
unsafe fn exec_command(
    fds: &Fds,
    supervisor: libc::pid_t,
    program: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
) -> ! {
    libc::setpgid(0, 0);
    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
    if libc::getppid() != supervisor {
        libc::_exit(127);
    }
    libc::dup2(fds.null, 0);
    libc::dup2(fds.null, 1);
    libc::dup2(fds.stderr, 2);
    // Only the three streams: no descriptor of blindspot's (its other pipes) reaches the command.
    close_range(3, libc::c_int::MAX);
    for signal in SIGNALS {
        libc::signal(signal, libc::SIG_DFL);
    }
    let mut none: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut none);
    libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    libc::execve(program, argv, envp);
    libc::_exit(127)
}

/// Closes every descriptor from 3 up but those in `keep`.
///
/// # Safety
/// Async-signal-safe; only in a fresh child.
unsafe fn close_others(keep: &[RawFd; 4]) {
    let mut sorted = *keep;
    sorted.sort_unstable();
    let mut next: libc::c_int = 3;
    for &fd in &sorted {
        if fd >= next {
            close_range(next, fd - 1);
            next = fd + 1;
        }
    }
    close_range(next, libc::c_int::MAX);
}

/// Closes the descriptors `first..=last` (close_range, else one by one up to 4096).
///
/// # Safety
/// Async-signal-safe.
unsafe fn close_range(first: libc::c_int, last: libc::c_int) {
    if first > last {
        return;
    }
    let r = libc::syscall(
        libc::SYS_close_range,
        first as libc::c_uint,
        last as libc::c_uint,
        0 as libc::c_uint,
    );
    if r == 0 {
        return;
    }
    for fd in first..=last.min(4095) {
        libc::close(fd);
    }
}

/// Writes all of `bytes` (best effort: blindspot may be gone).
///
/// # Safety
/// Async-signal-safe.
unsafe fn write_all(fd: RawFd, bytes: &[u8]) {
    let mut done = 0;
    while done < bytes.len() {
        let n = libc::write(fd, bytes[done..].as_ptr().cast(), bytes.len() - done);
        if n <= 0 {
            if n < 0 && *libc::__errno_location() == libc::EINTR {
                continue;
            }
            return;
        }
        done += n as usize;
    }
}

/// Kills every process left in the supervisor's subtree: its children (the command's orphans,
/// reparented to this subreaper) and their groups, over and over until none is left and all are
/// reaped (at most about ten seconds, for a process the kernel cannot kill at once).
///
/// # Safety
/// Async-signal-safe: a stack buffer, raw system calls.
unsafe fn kill_descendants(children_path: *const libc::c_char) {
    for _ in 0..2000 {
        let mut any = false;
        let fd = libc::open(children_path, libc::O_RDONLY | libc::O_CLOEXEC);
        if fd >= 0 {
            let mut buf = [0u8; 8192];
            let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
            libc::close(fd);
            let mut pid: libc::pid_t = 0;
            let mut digits = false;
            for &b in buf.iter().take(n.max(0) as usize) {
                if b.is_ascii_digit() {
                    pid = pid.saturating_mul(10).saturating_add((b - b'0') as libc::pid_t);
                    digits = true;
                } else if digits {
                    libc::kill(-pid, libc::SIGKILL);
                    libc::kill(pid, libc::SIGKILL);
                    any = true;
                    pid = 0;
                    digits = false;
                }
            }
            if digits {
                libc::kill(-pid, libc::SIGKILL);
                libc::kill(pid, libc::SIGKILL);
                any = true;
            }
        }
        let mut status = 0;
        loop {
            let reaped = libc::waitpid(-1, &mut status, libc::WNOHANG);
            if reaped > 0 {
                any = true;
                continue;
            }
            if reaped < 0 && *libc::__errno_location() == libc::ECHILD && !any {
                return;
            }
            break;
        }
        let pause = libc::timespec {
            tv_sec: 0,
            tv_nsec: 5_000_000,
        };
        libc::nanosleep(&pause, std::ptr::null_mut());
    }
}

/// Runs `command` under a supervisor to completion or `timeout`, its stderr
/// read on a thread (so that a chatty child never blocks on a full pipe). Returns its exit
/// status and what it wrote to stderr; `Err` says why it could not run or finish, in words. For
/// blindspot's own helpers (the Python that exports a built-in model).
pub fn run_group(
    command: &Command,
    timeout: Duration,
) -> Result<(std::process::ExitStatus, String), String> {
    let (read, write) = std::io::pipe().map_err(|e| e.to_string())?;
    let mut child = spawn(command, write.into())
        .map_err(|e| e.to_string())?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let mut read = read;
        let _ = std::io::Read::read_to_string(&mut read, &mut text);
        text
    });
    let status = child.wait(timeout).map_err(|why| match why {
        Unfinished::TimedOut => format!("did not finish within {} s; killed", timeout.as_secs()),
        Unfinished::Killed => "killed: blindspot is stopping".to_string(),
        Unfinished::Wait(e) => e.to_string(),
    });
    let text = reader.join().unwrap_or_default();
    status.map(|s| (s, text))
}
