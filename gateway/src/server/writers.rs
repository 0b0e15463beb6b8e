//! The threads that write streams. Streams run on a runtime of their own,
//! whose threads the OS schedules a few steps below the rest of the gateway:
//! when the machine is saturated, a publisher's request is read, committed
//! and acknowledged first, and the streams catch up a moment later with
//! several events per write. On one shared runtime that request waited
//! behind every stream the events before it had woken, so publishers that
//! wait for their 202 were held to what one write per delivery allows
//! (docs/benchmarks.md, "Streams on threads of their own").

use std::io;
use tokio::runtime::{Builder, Handle, Runtime};

/// The stream writers' runtime; its threads end when it is dropped.
pub struct StreamWriters {
    runtime: Option<Runtime>,
}

impl StreamWriters {
    /// One writer thread per core, `nice` steps below the priority of the
    /// thread that starts them (Linux; elsewhere at the same priority).
    pub fn start(nice: u8) -> io::Result<StreamWriters> {
        let runtime = Builder::new_multi_thread()
            .thread_name("stream-writer")
            .enable_all()
            .on_thread_start(move || lower_priority(nice))
            .build()?;
        Ok(StreamWriters {
            runtime: Some(runtime),
        })
    }

    /// Where stream connections are spawned.
    pub fn handle(&self) -> Handle {
        self.runtime
            .as_ref()
            .expect("the runtime lives until drop")
            .handle()
            .clone()
    }
}

impl Drop for StreamWriters {
    fn drop(&mut self) {
        // Dropping a runtime waits for its threads, which an async caller may not do.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// This thread's id, which Linux's priority calls take for one thread.
#[cfg(target_os = "linux")]
fn this_thread() -> libc::id_t {
    // SAFETY: `gettid` takes nothing and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as libc::id_t }
}

/// This thread's nice value (Linux gives each thread its own).
#[cfg(target_os = "linux")]
fn thread_nice() -> io::Result<i32> {
    // SAFETY: `getpriority` only reads this thread's own state; errno is
    // cleared first because -1 is also a valid priority.
    unsafe {
        *libc::__errno_location() = 0;
        let nice = libc::getpriority(libc::PRIO_PROCESS, this_thread());
        match io::Error::last_os_error() {
            e if nice == -1 && e.raw_os_error() != Some(0) => Err(e),
            _ => Ok(nice),
        }
    }
}

#[cfg(target_os = "linux")]
fn lower_priority(nice: u8) {
    if nice == 0 {
        return;
    }
    let lowered = thread_nice().map(|current| (current + i32::from(nice)).min(19));
    // SAFETY: `setpriority` on this thread's own id; lowering needs no privilege.
    let set = lowered.and_then(|lowered| unsafe {
        match libc::setpriority(libc::PRIO_PROCESS, this_thread(), lowered) {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        }
    });
    if let Err(e) = set {
        tracing::warn!(error = %e, "stream writer thread keeps its priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(_nice: u8) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn writer_threads_run_the_asked_steps_below_their_starter() {
        let own = thread_nice().unwrap();
        for (asked, expected) in [(0, own), (2, (own + 2).min(19)), (40, 19)] {
            let writers = StreamWriters::start(asked).unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            writers.handle().spawn(async move {
                let name = std::thread::current().name().map(str::to_owned);
                tx.send((name, thread_nice().unwrap())).unwrap();
            });
            let (name, nice) = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
            assert_eq!(name.as_deref(), Some("stream-writer"));
            assert_eq!(nice, expected, "asked {asked} steps below {own}");
        }
    }
}
