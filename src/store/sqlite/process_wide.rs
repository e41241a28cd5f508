//! SQLite's settings for the whole process, made once, before the store's
//! first connection opens.

use std::ffi::c_int;
use std::sync::Once;

use rusqlite::ffi;

use super::wal_writes;

/// Idempotent; connections opened before the first call keep SQLite's
/// defaults.
pub(super) fn configure() {
    static CONFIGURED: Once = Once::new();
    CONFIGURED.call_once(|| {
        // SQLite's memory statistics take a global mutex at every
        // allocation, and a message's commit makes hundreds; nothing here
        // reads them. Measured: 2 to 4 % more messages per second at send
        // C=1 and C=32 (BENCHMARKS.md).
        // SAFETY: sqlite3_config may be called before SQLite initializes,
        // and refuses (SQLITE_MISUSE, ignored) after; it is not thread-safe.
        // The server calls this on its main thread before anything else
        // uses SQLite. (In the library's unit tests, run on parallel
        // threads, another test may be starting SQLite at that moment; the
        // worst outcome there is memory statistics kept or not.)
        let _ = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int) };
        wal_writes::install();
    });
}
