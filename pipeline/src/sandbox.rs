//! The native [`PythonRunner`]: `python3 -I` in a bubblewrap sandbox per program.
//!
//! The sandbox sees a read-only `/usr`, fresh `/dev`, `/proc` and `/tmp`, and one writable
//! scratch directory; it has no network (a new, empty network namespace), no environment and
//! its own PID namespace, so killing it kills every process it started. When run as root the
//! program runs as an unprivileged uid, one per concurrent run, so that the process-count limit
//! applies and one run's fork bomb cannot starve another.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::runner::{PotOutcome, PythonRunner, exception_line};

#[derive(Debug, Clone)]
pub struct SandboxLimits {
    pub timeout: Duration,
    /// Address-space limit per process.
    pub memory_bytes: u64,
    /// Bytes of stdout plus stderr before the program is stopped.
    pub output_bytes: usize,
    pub processes: u32,
    /// Largest file the program may write.
    pub file_bytes: u64,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(10), memory_bytes: 1 << 30, output_bytes: 1 << 20, processes: 32, file_bytes: 16 << 20 }
    }
}

#[derive(Debug, Clone)]
pub struct BubblewrapRunner {
    pub python: PathBuf,
    pub limits: SandboxLimits,
    /// Run programs as uids `base..base + parallel` when started as root.
    pub uid_base: u32,
    pub parallel: usize,
}

impl Default for BubblewrapRunner {
    fn default() -> Self {
        Self { python: "/usr/bin/python3".into(), limits: SandboxLimits::default(), uid_base: 60000, parallel: 8 }
    }
}

static SCRATCH_COUNTER: AtomicU64 = AtomicU64::new(0);

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

impl BubblewrapRunner {
    pub fn with_limits(limits: SandboxLimits) -> Self {
        Self { limits, ..Self::default() }
    }

    /// Runs one program to completion, blocking. `slot` picks the uid when running as root.
    pub fn run_blocking(&self, program: &str, slot: usize) -> PotOutcome {
        let scratch = match Scratch::create(program) {
            Ok(s) => s,
            Err(e) => return PotOutcome::Unavailable { reason: format!("scratch directory: {e}") },
        };
        let mut command = self.command(&scratch.path, slot);
        let child = match command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).env_clear().spawn() {
            Ok(c) => c,
            Err(e) => return PotOutcome::Unavailable { reason: format!("cannot start the sandbox ({}): {e}", command_name(&command)) },
        };
        self.supervise(child)
    }

    fn command(&self, scratch: &Path, slot: usize) -> Command {
        let l = &self.limits;
        let mut args: Vec<String> = Vec::new();
        if running_as_root() {
            let uid = self.uid_base + (slot % self.parallel.max(1)) as u32;
            args.extend(["setpriv".into(), format!("--reuid={uid}"), format!("--regid={uid}"), "--clear-groups".into(), "--".into()]);
        }
        args.extend([
            "prlimit".into(),
            format!("--as={}", l.memory_bytes),
            format!("--nproc={}", l.processes),
            format!("--fsize={}", l.file_bytes),
            format!("--cpu={}", l.timeout.as_secs() + 1),
            "--nofile=64".into(),
            "--core=0".into(),
            "--".into(),
        ]);
        args.extend(["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr"].map(String::from));
        for dir in ["bin", "sbin", "lib", "lib32", "lib64"] {
            let host = Path::new("/").join(dir);
            match std::fs::read_link(&host) {
                Ok(target) => args.extend(["--symlink".into(), target.display().to_string(), host.display().to_string()]),
                Err(_) if host.is_dir() => args.extend(["--ro-bind".into(), host.display().to_string(), host.display().to_string()]),
                Err(_) => {}
            }
        }
        args.extend(["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"].map(String::from));
        args.extend(["--bind".into(), scratch.display().to_string(), "/scratch".into(), "--chdir".into(), "/scratch".into()]);
        args.extend(["--clearenv", "--setenv", "HOME", "/scratch", "--setenv", "PATH", "/usr/bin:/bin"].map(String::from));
        args.extend([self.python.display().to_string(), "-I".into(), "-B".into(), "/scratch/main.py".into()]);
        let mut command = Command::new(&args[0]);
        command.args(&args[1..]);
        command
    }

    fn supervise(&self, mut child: Child) -> PotOutcome {
        let cap = self.limits.output_bytes;
        let flooded = Arc::new(AtomicBool::new(false));
        let total = Arc::new(AtomicU64::new(0));
        let reader = |pipe: Option<Box<dyn Read + Send>>| {
            let (flooded, total) = (flooded.clone(), total.clone());
            thread::spawn(move || {
                let mut kept = Vec::new();
                let Some(mut pipe) = pipe else { return kept };
                let mut buf = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let seen = total.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
                    if seen > cap as u64 {
                        flooded.store(true, Ordering::SeqCst);
                        break;
                    }
                    kept.extend_from_slice(&buf[..n]);
                }
                kept
            })
        };
        let stdout = reader(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
        let stderr = reader(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));

        let deadline = Instant::now() + self.limits.timeout;
        let (status, timed_out) = loop {
            match child.try_wait() {
                Ok(Some(status)) => break (Some(status), false),
                Ok(None) if flooded.load(Ordering::SeqCst) => break (None, false),
                Ok(None) if Instant::now() >= deadline => break (None, true),
                Ok(None) => thread::sleep(Duration::from_millis(5)),
                Err(e) => return PotOutcome::Unavailable { reason: format!("waiting for the sandbox: {e}") },
            }
        };
        if status.is_none() {
            // Killing bubblewrap tears down its PID namespace and every process in it.
            let _ = child.kill();
            let _ = child.wait();
        }
        let text = |h: thread::JoinHandle<Vec<u8>>| String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned();
        let (stdout, stderr) = (text(stdout), text(stderr));
        if flooded.load(Ordering::SeqCst) {
            return PotOutcome::OutputTooLarge { limit_bytes: cap };
        }
        if timed_out {
            return PotOutcome::Timeout { stdout };
        }
        let status = status.expect("a finished run has a status");
        if status.success() {
            return PotOutcome::Finished { stdout };
        }
        if stderr.starts_with("bwrap:") || stderr.starts_with("setpriv:") || stderr.starts_with("prlimit:") {
            return PotOutcome::Unavailable { reason: exception_line(&stderr) };
        }
        let error = match status.code() {
            Some(_) => exception_line(&stderr),
            None => format!("killed by a signal ({status}); it may have hit the CPU or memory limit"),
        };
        PotOutcome::Error { stdout, error }
    }
}

fn command_name(c: &Command) -> String {
    c.get_program().to_string_lossy().into_owned()
}

impl PythonRunner for BubblewrapRunner {
    async fn run(&self, program: &str) -> PotOutcome {
        self.run_blocking(program, 0)
    }

    async fn run_all(&self, programs: &[String]) -> Vec<PotOutcome> {
        let mut outcomes = vec![None; programs.len()];
        for (chunk_index, chunk) in programs.chunks(self.parallel.max(1)).enumerate() {
            let results: Vec<PotOutcome> = thread::scope(|s| {
                let handles: Vec<_> = chunk.iter().enumerate().map(|(slot, p)| s.spawn(move || self.run_blocking(p, slot))).collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| PotOutcome::Unavailable { reason: "the runner thread panicked".into() }))
                    .collect()
            });
            for (i, r) in results.into_iter().enumerate() {
                outcomes[chunk_index * self.parallel.max(1) + i] = Some(r);
            }
        }
        outcomes.into_iter().map(|o| o.expect("every program ran")).collect()
    }
}

/// A fresh directory holding `main.py`, removed when dropped.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn create(program: &str) -> std::io::Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        let unique = format!(
            "cotnpot-run-{}-{}-{}",
            std::process::id(),
            SCRATCH_COUNTER.fetch_add(1, Ordering::SeqCst),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
        );
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir(&path)?;
        // The sandboxed uid must be able to write its own scratch space.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))?;
        let main = path.join("main.py");
        std::fs::write(&main, program)?;
        std::fs::set_permissions(&main, std::fs::Permissions::from_mode(0o644))?;
        Ok(Self { path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
