//! Real-time scheduling for the media threads: on a busy machine, a 20 ms clock that waits
//! behind the SIP thread, the web API or other processes sends its frames late.

use std::os::unix::thread::JoinHandleExt;

/// Gives `thread` the first-in, first-out real-time policy at `priority` (1–99), so it runs
/// as soon as its timer fires. The kernel's real-time throttling
/// (`/proc/sys/kernel/sched_rt_runtime_us`, 95 % of each second by default) still leaves the
/// rest of the machine its share should the thread ever spin.
pub fn make_realtime<T>(thread: &std::thread::JoinHandle<T>, priority: u8) -> std::io::Result<()> {
    set_fifo(thread.as_pthread_t(), priority)
}

/// Whether this process may give a thread `priority`, asked of a short-lived thread of its
/// own, so that a bridge without the right refuses before it opens or creates anything.
pub fn check(priority: u8) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("realtime-check".into())
        // SAFETY: pthread_self() names the calling thread, alive for the whole call.
        .spawn(move || set_fifo(unsafe { libc::pthread_self() }, priority))?
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("the check's thread panicked")))
}

fn set_fifo(thread: libc::pthread_t, priority: u8) -> std::io::Result<()> {
    let param = libc::sched_param {
        sched_priority: i32::from(priority),
    };
    // SAFETY: callers pass a live thread (a held JoinHandle's, or the calling thread's own),
    // and `param` outlives the call, which only reads it.
    let rc = unsafe { libc::pthread_setschedparam(thread, libc::SCHED_FIFO, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(rc))
    }
}
