//! A server a test starts (nginx, redis-server, the gateway binary), in a
//! process group of its own so that stopping it stops everything it forked
//! (nginx's workers, Redis's rewrite child): asked to stop with the signal
//! the server expects, waited for, and only then killed, group and all. A
//! single-process server also dies with the test process itself.

use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// How long a server gets to stop by itself before its group is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

pub struct ServerChild {
    child: Child,
    /// The signal the server stops cleanly on (nginx: SIGQUIT; Redis and the gateway: SIGTERM).
    stop_signal: i32,
    /// Reaped: its pid may belong to someone else now, so it gets no signal.
    exited: Option<ExitStatus>,
}

/// Which processes a server runs as.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One process: it may die with the test process that started it.
    Single,
    /// A master and workers (nginx): the group is stopped through the master.
    Forking,
}

impl ServerChild {
    /// Spawns `command` in a new process group.
    pub fn spawn(
        command: &mut Command,
        shape: Shape,
        stop_signal: i32,
    ) -> std::io::Result<ServerChild> {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
        if shape == Shape::Single {
            // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
            unsafe {
                command.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        Ok(ServerChild {
            child: command.spawn()?,
            stop_signal,
            exited: None,
        })
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status once it has exited (reaping it).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().ok().flatten();
            if self.exited.is_some() {
                // Nothing of its group may outlive it (a worker whose master is gone).
                self.kill_group();
            }
        }
        self.exited
    }

    /// Sends `signal` to the server's process (not its group), while it runs.
    pub fn signal(&mut self, signal: i32) {
        if self.try_wait().is_none() {
            // SAFETY: kill(2) on our own child, not yet reaped.
            unsafe {
                libc::kill(self.child.id() as i32, signal);
            }
        }
    }

    /// Stops the server as it expects, then waits; past the grace period
    /// the whole group is killed.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        if self.exited.is_some() {
            return self.exited;
        }
        self.signal(self.stop_signal);
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill()
    }

    /// SIGKILL to the group: no flush, no goodbye.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.kill_group();
            self.exited = self.child.wait().ok();
        }
        self.exited
    }

    fn kill_group(&self) {
        // SAFETY: kill(2) on the process group our child leads.
        unsafe {
            libc::kill(-(self.child.id() as i32), libc::SIGKILL);
        }
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        self.stop();
    }
}
