//! Ctrl-C as a flag: a foreground command (an attached `up`, `logs -f`) polls it between steps and
//! stops gracefully; a second Ctrl-C, after the flag is set, ends the process at once, unless the
//! caller takes it over ([`handle_second`]).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

static INTERRUPTS: AtomicU32 = AtomicU32::new(0);
/// Whether the second press ends the process (else it is counted, and the third ends it).
static EXIT_ON_SECOND: AtomicBool = AtomicBool::new(true);

extern "C" fn on_interrupt(_signal: libc::c_int) {
    // Only async-signal-safe work here: atomics, and `_exit`.
    let previous = INTERRUPTS.fetch_add(1, Ordering::SeqCst);
    if previous >= 2 || (previous == 1 && EXIT_ON_SECOND.load(Ordering::SeqCst)) {
        // SAFETY: _exit is async-signal-safe and takes no pointers.
        unsafe { libc::_exit(130) };
    }
}

/// Installs the SIGINT and SIGTERM handler (idempotent).
pub fn catch() {
    let handler = on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only touches an atomic and calls `_exit`, both async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// Whether Ctrl-C (or SIGTERM) was received since [`catch`].
pub fn interrupted() -> bool {
    INTERRUPTS.load(Ordering::SeqCst) > 0
}

/// How many times Ctrl-C (or SIGTERM) was received since [`catch`].
pub fn count() -> u32 {
    INTERRUPTS.load(Ordering::SeqCst)
}

/// From now on the second Ctrl-C is left to the caller (who polls [`count`], e.g. to kill what a
/// graceful stop still waits for); a third one ends the process.
pub fn handle_second() {
    EXIT_ON_SECOND.store(false, Ordering::SeqCst);
}
