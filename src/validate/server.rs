//! One real `valkey-server` (or `redis-server`) process, on 127.0.0.1 or in a network namespace ([`Place`]): started
//! in its own temporary directory with its log in a file, stopped when dropped (and by the
//! Ctrl-C handler, and by the kernel if replsim itself dies: the child asks for SIGKILL when its
//! parent goes).

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::locate::ServerBinary;
use super::netns::{NETNS_PORT, Place, in_netns, open_netns};

/// Process ids of the servers alive now, for the Ctrl-C handler.
static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Folders the Ctrl-C handler removes (the servers' temporary folder, a staged output).
static DOOMED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Asks the Ctrl-C handler to remove `path` if the run is interrupted (Drop handlers do not run
/// then).
pub fn remove_on_interrupt(path: &Path) {
    if let Ok(mut d) = DOOMED.lock() {
        d.push(path.to_path_buf());
    }
}

/// Installs (once) a Ctrl-C / SIGTERM handler that kills every live server and exits 130.
pub fn install_interrupt_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            kill_all_live();
            super::netns::remove_all_live();
            for dir in DOOMED.lock().map(|d| d.clone()).unwrap_or_default() {
                let _ = std::fs::remove_dir_all(dir);
            }
            eprintln!("replsim: interrupted; stopped every valkey-server it started");
            std::process::exit(130);
        });
    });
}

fn kill_all_live() {
    let pids = LIVE.lock().map(|v| v.clone()).unwrap_or_default();
    for pid in pids {
        signal(pid, libc::SIGCONT);
        signal(pid, libc::SIGKILL);
    }
}

fn signal(pid: u32, sig: libc::c_int) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) has no memory effects; the pid is one of our own children.
    unsafe { libc::kill(pid, sig) == 0 }
}

/// A free TCP port on 127.0.0.1 (asked of the kernel; another process could take it before the
/// server binds it, which `RealServer::start` reports as a failed start).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A running server.
#[derive(Debug)]
pub struct RealServer {
    /// The node's name in the model.
    pub name: String,
    /// Its port on 127.0.0.1 (of its namespace, if it has one).
    pub port: u16,
    /// Where it runs.
    pub place: Place,
    /// Its working directory.
    pub dir: PathBuf,
    child: Child,
    log_path: PathBuf,
    log_offset: u64,
    log_partial: String,
    program: String,
}

impl RealServer {
    /// Starts `binary` with `directives` (`(name, value)` pairs of valkey.conf, which its
    /// release must have) in `dir`, at `place`, and waits until it answers PING.
    pub fn start(
        binary: &ServerBinary,
        name: &str,
        dir: &Path,
        directives: &[(String, String)],
        place: &Place,
    ) -> Result<Self, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let port = match place {
            Place::Loopback => {
                free_port().map_err(|e| format!("no free port on 127.0.0.1: {e}"))?
            }
            Place::Netns { .. } => NETNS_PORT,
        };
        let log_path = dir.join("valkey.log");
        let mut cmd = Command::new(&binary.path);
        cmd.current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let fixed = binary.release.fixed_directives(
            port,
            &place.bind(),
            &dir.display().to_string(),
            &log_path.display().to_string(),
        );
        for (k, v) in fixed.iter().chain(directives) {
            cmd.arg(format!("--{k}"));
            if binary.release.quotes_command_line_values() || !v.contains(' ') {
                cmd.arg(v);
            } else {
                cmd.args(v.split(' '));
            }
        }
        // Log times are read back as UTC.
        cmd.env("TZ", "UTC");
        die_with_parent(&mut cmd);
        if let Some(ns) = place.netns() {
            enter_netns_on_exec(&mut cmd, open_netns(ns)?);
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.path.display()))?;
        if let Ok(mut live) = LIVE.lock() {
            live.push(child.id());
        }
        let mut server = RealServer {
            name: name.to_string(),
            port,
            place: place.clone(),
            dir: dir.to_path_buf(),
            child,
            log_path,
            log_offset: 0,
            log_partial: String::new(),
            program: binary.path.display().to_string(),
        };
        server.wait_ready(Duration::from_secs(10))?;
        Ok(server)
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut err = String::new();
                if let Some(mut s) = self.child.stderr.take() {
                    let _ = s.read_to_string(&mut err);
                }
                let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                return Err(format!(
                    "{} for node {} exited at start ({status}): {}{}",
                    self.program,
                    self.name,
                    err.trim(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                ));
            }
            if let Ok(mut c) = self.connect(Duration::from_millis(200))
                && redis::cmd("PING").query::<String>(&mut c).is_ok()
            {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(format!(
                    "{} for node {} did not answer PING on port {} within {limit:?}",
                    self.program, self.name, self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A new connection with `timeout` on connect, reads and writes.
    pub fn connect(&self, timeout: Duration) -> redis::RedisResult<redis::Connection> {
        let conn = connect_to(&self.place, self.port, timeout)?;
        conn.set_read_timeout(Some(timeout))?;
        conn.set_write_timeout(Some(timeout))?;
        Ok(conn)
    }

    /// One command on a new connection that waits up to `timeout` (set-up, scripted actions,
    /// calibration steps); errors name the node.
    pub fn command<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
        timeout: Duration,
    ) -> Result<T, String> {
        let mut conn = self
            .connect(timeout)
            .map_err(|e| format!("node {}: cannot connect: {e}", self.name))?;
        cmd.query(&mut conn)
            .map_err(|e| format!("node {}: {e}", self.name))
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGSTOP (`true`) or SIGCONT (`false`), like the Valkey tests' `pause_process`.
    pub fn set_paused(&self, paused: bool) {
        signal(
            self.pid(),
            if paused { libc::SIGSTOP } else { libc::SIGCONT },
        );
    }

    /// Whether the process is stopped (state `T` in `/proc/<pid>/stat`): by our SIGSTOP or by
    /// itself (`DEBUG pause-after-fork`).
    pub fn is_stopped(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .ok()
            .and_then(|s| {
                s.rsplit_once(") ")
                    .and_then(|(_, rest)| rest.chars().next())
            })
            .is_some_and(|c| c == 'T' || c == 't')
    }

    /// Log lines written since the last call (complete lines only).
    pub fn new_log_lines(&mut self) -> Vec<String> {
        let Ok(mut file) = std::fs::File::open(&self.log_path) else {
            return Vec::new();
        };
        if file.seek(SeekFrom::Start(self.log_offset)).is_err() {
            return Vec::new();
        }
        let mut reader = BufReader::new(file);
        let mut lines = Vec::new();
        let mut buf = String::new();
        loop {
            buf.clear();
            match reader.read_line(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    self.log_offset += n as u64;
                    if buf.ends_with('\n') {
                        let mut line = std::mem::take(&mut self.log_partial);
                        line.push_str(buf.trim_end_matches(['\n', '\r']));
                        lines.push(line);
                    } else {
                        self.log_partial.push_str(&buf);
                    }
                }
            }
        }
        lines
    }

    /// The whole log file.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Stops the server (SIGCONT in case it is paused, then SIGKILL) and reaps it.
    pub fn stop(&mut self) {
        let pid = self.pid();
        signal(pid, libc::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|&p| p != pid);
        }
    }
}

impl Drop for RealServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A connection to the server on `port` of `place`'s 127.0.0.1, opened inside its namespace.
pub fn connect_to(
    place: &Place,
    port: u16,
    timeout: Duration,
) -> redis::RedisResult<redis::Connection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    in_netns(place.netns(), || {
        client.get_connection_with_timeout(timeout)
    })
    .map_err(|e| redis::RedisError::from(std::io::Error::other(e)))?
}

/// The child enters the namespace `ns` (an open `/run/netns/<name>`) before it runs the server,
/// so the server's pid is the child's (signals, `PR_SET_PDEATHSIG`, `/proc` all work as on
/// loopback).
fn enter_netns_on_exec(cmd: &mut Command, ns: std::fs::File) {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    // SAFETY: setns(2) is async-signal-safe; the descriptor stays open (moved into the closure,
    // which lives as long as `cmd`).
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Asks the kernel to SIGKILL the child when replsim dies (Linux), so a `kill -9` of replsim
/// leaves no server behind.
#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}
