//! One system call per commit to the WAL, where SQLite makes two per page.
//!
//! SQLite writes each WAL frame as two `pwrite`s, its 24-byte header and
//! then the page. A lone message's commit is about ten frames, so twenty
//! system calls: a seventh of the server's time for a lone sender. This
//! wraps the operating system's VFS ("unix") and, for WAL files only, keeps
//! a commit's frames in memory until its last frame (the one whose header
//! carries the commit mark) and writes them with one call, before SQLite
//! goes on to publish the commit to readers in the shared-memory index.
//!
//! Why that is as safe as writing each frame at once:
//! - Only what SQLite writes in the exact shape of a frame (a header, then
//!   its page right after it) is held. Anything else (the WAL's own header,
//!   a page rewritten in place, checksums rewritten, a write split at a sync
//!   point) first writes what is held, then goes straight to the file, so
//!   the file sees every write in SQLite's order.
//! - What is held is written before any other use of the file through this
//!   handle: a read, a sync, a size, a truncation, a close.
//! - Frames before the commit frame are not a transaction yet: no reader
//!   looks at them, and recovery ignores them until the commit frame is
//!   there. Held ones lost in a crash are lost as they would be a moment
//!   earlier, before SQLite had written them.
//! - The commit frame is written before `xWrite` returns for its page,
//!   which is where it was written before.
//! - Frames are held only while this connection holds the WAL's write
//!   lock in the shared memory (as the database file's `xShmLock` saw it
//!   taken), and nothing held outlives it. A transaction that wrote frames
//!   before its end (its pages did not fit SQLite's cache) and then rolled
//!   back leaves them held; they are dropped when the lock is released,
//!   before another connection can commit at the same place (past the
//!   last commit, no reader or recovery looks at them). That is why the
//!   database file is wrapped too: its `xShmLock` is where the lock is
//!   taken and released. In `locking_mode=EXCLUSIVE` SQLite takes no
//!   shared-memory locks, so nothing is held: every write goes straight on.
//! - Held frames that fail to be written stay held: the commit, which
//!   writes them first, fails rather than being published without them.
//!
//! A WAL synced at every commit (`synchronous=FULL`) is also grown ahead of
//! its frames, with zeros, 256 KiB at a time. A commit that makes the
//! file longer makes its `fdatasync` write the file's new size and blocks
//! too (on ext4 a journal commit: about 200 µs here for a 17 KiB commit,
//! against 120 µs for one written over bytes already there), and under load
//! a WAL grows at nearly every commit, as checkpoints seldom find a moment
//! to reset it (16 MB in two seconds of `pipechat-bench send --sync full`).
//! PostgreSQL fills its WAL segments with zeros ahead for the same reason.
//! Zeros past the last commit are not frames (no valid salt or checksum),
//! just as the stale frames SQLite leaves there after a reset are not:
//! readers and recovery stop at the first invalid frame. Only bytes past
//! the file's end are written, under the write lock, after the commit's
//! frames; a failure to write them fails nothing. The cost: a WAL up to
//! 256 KiB longer, and the commit that grows it waits for those bytes too.
//!
//! Other files (journals, temporary files) are the wrapped VFS's own,
//! untouched; the database file's other methods pass straight on.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr;
use std::sync::Once;
use std::sync::atomic::{AtomicPtr, Ordering};

use rusqlite::ffi;

/// The VFS's name; also made the process's default.
const NAME: &CStr = c"pipechat-unix";

/// A WAL frame's header: page number, commit mark, salts, checksums.
const FRAME_HEADER: usize = 24;

/// Held bytes beyond this are written out at once (a very large group).
const MAX_HELD: usize = 1 << 20;

/// The most the "unix" VFS writes in one call: it cuts a larger write's
/// length to 17 bits (`seekAndWriteFd`).
const MAX_WRITE: usize = 1 << 16;

/// A WAL synced at every commit is grown to the next multiple of this past
/// a commit that made it longer. As fast as a mebibyte in a loop of 17 KiB
/// commits each synced, and a quarter of the wait for the commit growing it.
const GROW_BY: i64 = 1 << 18;

/// What the WAL is grown with, one write of it at a time.
static ZEROS: [u8; MAX_WRITE] = [0; MAX_WRITE];

/// The VFS wrapped.
static UNDERLYING: AtomicPtr<ffi::sqlite3_vfs> = AtomicPtr::new(ptr::null_mut());

/// Makes this VFS SQLite's default for every connection the process opens
/// from now on. Idempotent. If it cannot (no "unix" VFS), SQLite's own stays.
pub(super) fn install() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        // SAFETY: sqlite3_vfs_find is thread-safe; the VFS it returns lives
        // as long as the process. The VFS registered here is leaked, so it
        // does too, as SQLite requires.
        unsafe {
            let underlying = ffi::sqlite3_vfs_find(c"unix".as_ptr());
            if underlying.is_null() {
                log::warn!("SQLite has no \"unix\" VFS; WAL writes are not combined");
                return;
            }
            UNDERLYING.store(underlying, Ordering::SeqCst);
            let mut vfs: ffi::sqlite3_vfs = *underlying;
            vfs.zName = NAME.as_ptr();
            vfs.pNext = ptr::null_mut();
            vfs.szOsFile = (REAL_OFFSET + (*underlying).szOsFile as usize) as c_int;
            vfs.xOpen = Some(open);
            let rc = ffi::sqlite3_vfs_register(Box::into_raw(Box::new(vfs)), 1);
            if rc != ffi::SQLITE_OK {
                log::warn!("registering the WAL-writing VFS failed ({rc})");
            }
        }
    });
}

/// What every wrapped file starts with: the wrapped VFS's file follows it
/// in the same allocation, at [`REAL_OFFSET`], and `real` points there.
#[repr(C)]
struct Wrapped {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
}

/// A WAL file, and the frames it holds.
#[repr(C)]
struct WalFile {
    wrapped: Wrapped,
    held: *mut Held,
    /// Its database's file, which points back here while both are open.
    db: *mut ffi::sqlite3_file,
}

/// A main database file: only its WAL's write lock is watched.
#[repr(C)]
struct DbFile {
    wrapped: Wrapped,
    /// Its WAL, while that is open.
    wal: *mut ffi::sqlite3_file,
    /// This connection holds the WAL's write lock (slot 0) in the shared
    /// memory: taken by this file's `xShmLock`, not yet released.
    write_locked: bool,
}

/// Where the wrapped file starts: after the larger of the two, rounded up
/// to 16 bytes (SQLite's allocations are 8-byte aligned).
const REAL_OFFSET: usize = {
    let (wal, db) = (size_of::<WalFile>(), size_of::<DbFile>());
    (if wal > db { wal } else { db }).div_ceil(16) * 16
};

/// Frames written by SQLite but not yet to the file: `bytes` go at `start`.
#[derive(Default)]
struct Held {
    start: i64,
    bytes: Vec<u8>,
    /// The last write held was a frame header; its page comes next.
    after_header: bool,
    /// That header carried the commit mark: its page ends the commit.
    commit: bool,
    /// A commit was the last thing written: a sync now is the commit's
    /// own (`synchronous=FULL`). (A checkpoint run on the same connection
    /// right after a commit would pass for one; pipechat's connections
    /// never checkpoint automatically, `wal_autocheckpoint=0`.)
    just_committed: bool,
    /// Commits are synced: grow the file ahead of them.
    grows_ahead: bool,
    /// The file is at least this long, as far as this handle knows: it
    /// grew it so, or saw it so. Another connection's truncation (the
    /// checkpointer's, after a deletion) makes it too high, so it is
    /// forgotten whenever the WAL starts again from its header; too high it
    /// only costs commits their growing ahead, as the file's size is
    /// checked before anything is written.
    grown_to: i64,
}

impl Held {
    fn end(&self) -> i64 {
        self.start + self.bytes.len() as i64
    }
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite gives `file` szOsFile bytes, which is room for a
    // WalFile or DbFile and the wrapped VFS's file after it; UNDERLYING was
    // set before this VFS was registered. A WAL's name is one SQLite passed
    // to xOpen, as sqlite3_database_file_object requires, and its database
    // file is open until after the WAL is closed (the pager closes the WAL
    // first).
    unsafe {
        let underlying = UNDERLYING.load(Ordering::SeqCst);
        let real_open = (*underlying).xOpen.expect("a VFS can open files");
        let is_wal = flags & ffi::SQLITE_OPEN_WAL != 0;
        if !is_wal && flags & ffi::SQLITE_OPEN_MAIN_DB == 0 {
            // A journal, a temporary file: the wrapped VFS's own, in place.
            return real_open(underlying, name, file, flags, out_flags);
        }
        let wrapped = file.cast::<Wrapped>();
        let real = file
            .cast::<u8>()
            .add(REAL_OFFSET)
            .cast::<ffi::sqlite3_file>();
        let rc = real_open(underlying, name, real, flags, out_flags);
        if rc != ffi::SQLITE_OK {
            // SQLite calls no method of a file that did not open.
            (*wrapped).base.pMethods = ptr::null();
            return rc;
        }
        (*wrapped).real = real;
        let version = (*(*real).pMethods).iVersion;
        if !is_wal {
            (*file.cast::<DbFile>()).wal = ptr::null_mut();
            (*file.cast::<DbFile>()).write_locked = false;
            (*wrapped).base.pMethods = db_methods(version);
            return rc;
        }
        let wal = file.cast::<WalFile>();
        (*wal).held = Box::into_raw(Box::default());
        (*wal).db = ptr::null_mut();
        let db = ffi::sqlite3_database_file_object(name);
        if !db.is_null() && is_db_file(db) {
            (*db.cast::<DbFile>()).wal = file;
            (*wal).db = db;
        }
        (*wrapped).base.pMethods = wal_methods(version);
        rc
    }
}

/// The methods of a WAL file, of the wrapped file's version (1 to 3):
/// SQLite calls no method a file's version does not have.
fn wal_methods(version: c_int) -> *const ffi::sqlite3_io_methods {
    static METHODS: [ffi::sqlite3_io_methods; 3] =
        [wal_methods_of(1), wal_methods_of(2), wal_methods_of(3)];
    &METHODS[version.clamp(1, 3) as usize - 1]
}

/// The methods of a main database file, as [`wal_methods`].
fn db_methods(version: c_int) -> *const ffi::sqlite3_io_methods {
    static METHODS: [ffi::sqlite3_io_methods; 3] =
        [db_methods_of(1), db_methods_of(2), db_methods_of(3)];
    &METHODS[version.clamp(1, 3) as usize - 1]
}

/// Whether `file` is a main database file opened by [`open`].
///
/// # Safety
/// `file` is an open SQLite file.
unsafe fn is_db_file(file: *mut ffi::sqlite3_file) -> bool {
    // SAFETY: per this function's contract.
    let methods = unsafe { (*file).pMethods };
    (1..=3).any(|version| ptr::eq(methods, db_methods(version)))
}

const fn wal_methods_of(version: c_int) -> ffi::sqlite3_io_methods {
    ffi::sqlite3_io_methods {
        iVersion: version,
        xClose: Some(wal_close),
        xRead: Some(wal_read),
        xWrite: Some(wal_write),
        xTruncate: Some(wal_truncate),
        xSync: Some(wal_sync),
        xFileSize: Some(wal_file_size),
        xFileControl: Some(wal_file_control),
        ..passed_on_methods(version)
    }
}

const fn db_methods_of(version: c_int) -> ffi::sqlite3_io_methods {
    ffi::sqlite3_io_methods {
        xShmLock: Some(db_shm_lock),
        ..passed_on_methods(version)
    }
}

const fn passed_on_methods(version: c_int) -> ffi::sqlite3_io_methods {
    ffi::sqlite3_io_methods {
        iVersion: version,
        xClose: Some(close),
        xRead: Some(read),
        xWrite: Some(write),
        xTruncate: Some(truncate),
        xSync: Some(sync),
        xFileSize: Some(file_size),
        xLock: Some(lock),
        xUnlock: Some(unlock),
        xCheckReservedLock: Some(check_reserved_lock),
        xFileControl: Some(file_control),
        xSectorSize: Some(sector_size),
        xDeviceCharacteristics: Some(device_characteristics),
        xShmMap: Some(shm_map),
        xShmLock: Some(shm_lock),
        xShmBarrier: Some(shm_barrier),
        xShmUnmap: Some(shm_unmap),
        xFetch: Some(fetch),
        xUnfetch: Some(unfetch),
    }
}

/// The wrapped file and its methods.
///
/// # Safety
/// `file` is a WalFile or DbFile opened by [`open`] and not yet closed.
unsafe fn real(file: *mut ffi::sqlite3_file) -> (*mut ffi::sqlite3_file, ffi::sqlite3_io_methods) {
    // SAFETY: per this function's contract.
    unsafe {
        let real = (*file.cast::<Wrapped>()).real;
        (real, *(*real).pMethods)
    }
}

/// What a WAL file holds.
///
/// # Safety
/// `file` is a WalFile opened by [`open`] and not yet closed; SQLite uses
/// a file from one thread at a time.
unsafe fn held<'f>(file: *mut ffi::sqlite3_file) -> &'f mut Held {
    // SAFETY: per this function's contract.
    unsafe { &mut *(*file.cast::<WalFile>()).held }
}

/// Whether this WAL's connection holds the write lock, so that frames may
/// be held: never when the WAL is not linked to its database file.
///
/// # Safety
/// As [`held`].
unsafe fn may_hold(file: *mut ffi::sqlite3_file) -> bool {
    // SAFETY: per this function's contract; `db` is open while the WAL is.
    unsafe {
        let db = (*file.cast::<WalFile>()).db;
        !db.is_null() && (*db.cast::<DbFile>()).write_locked
    }
}

/// Drops what is held: frames past the last commit, which no reader and
/// no recovery looks at.
///
/// # Safety
/// As [`held`].
unsafe fn drop_held(file: *mut ffi::sqlite3_file) {
    // SAFETY: per this function's contract.
    let held = unsafe { held(file) };
    held.bytes.clear();
    held.after_header = false;
    held.commit = false;
}

/// Writes what is held, if anything. What fails to be written stays held,
/// to be written (or the transaction to fail) at the next attempt.
///
/// # Safety
/// As [`held`].
unsafe fn write_held(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: per this function's contract.
    unsafe {
        let held = held(file);
        held.after_header = false;
        held.commit = false;
        held.just_committed = false;
        if held.bytes.is_empty() {
            return ffi::SQLITE_OK;
        }
        #[cfg(test)]
        tests::COMBINED.with(|combined| combined.set(combined.get() + 1));
        let (real, methods) = real(file);
        let mut rc = ffi::SQLITE_OK;
        let mut offset = held.start;
        for chunk in held.bytes.chunks(MAX_WRITE) {
            rc = methods.xWrite.expect("files can be written")(
                real,
                chunk.as_ptr().cast(),
                chunk.len() as c_int,
                offset,
            );
            if rc != ffi::SQLITE_OK {
                break;
            }
            offset += chunk.len() as i64;
        }
        if rc == ffi::SQLITE_OK {
            held.bytes.clear();
        }
        rc
    }
}

/// Writes a commit's held frames, then grows the file ahead of them if
/// they made it longer and commits are synced (see the module's comment).
///
/// # Safety
/// As [`held`]; this connection holds the write lock.
unsafe fn write_commit(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: per this function's contract.
    unsafe {
        let held = held(file);
        let end = held.end();
        let (real, methods) = real(file);
        let mut grows_from = None;
        if held.grows_ahead && end > held.grown_to {
            let mut size = 0;
            if methods.xFileSize.expect("files have a size")(real, &mut size) == ffi::SQLITE_OK {
                held.grown_to = size;
                if size < end {
                    grows_from = Some(end);
                }
            }
        }
        let rc = write_held(file);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        held.just_committed = true;
        if let Some(mut offset) = grows_from {
            let target = (end / GROW_BY + 1) * GROW_BY;
            while offset < target {
                let amount = (target - offset).min(MAX_WRITE as i64);
                let written = methods.xWrite.expect("files can be written")(
                    real,
                    ZEROS.as_ptr().cast(),
                    amount as c_int,
                    offset,
                );
                if written != ffi::SQLITE_OK {
                    log::debug!("growing the WAL ahead failed ({written})");
                    break;
                }
                offset += amount;
            }
            held.grown_to = offset;
        }
        ffi::SQLITE_OK
    }
}

unsafe extern "C" fn wal_write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: SQLite passes a WAL file opened by `open` and `amount`
    // readable bytes at `data`.
    unsafe {
        if offset == 0 {
            // The WAL's header: it starts again, perhaps truncated.
            held(file).grown_to = 0;
        }
        if !may_hold(file) {
            // Nothing is held without the write lock; anything left from
            // before goes first.
            let rc = write_held(file);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            let (real, methods) = real(file);
            return methods.xWrite.expect("files can be written")(real, data, amount, offset);
        }
        let bytes = std::slice::from_raw_parts(data.cast::<u8>(), amount as usize);
        let held = held(file);
        let follows = held.bytes.is_empty() || offset == held.end();
        let (is_page, ends_commit) = (held.after_header && offset == held.end(), held.commit);
        if is_page {
            // The page of the header just held.
            held.bytes.extend_from_slice(bytes);
            held.after_header = false;
            held.commit = false;
            if ends_commit {
                return write_commit(file);
            }
            if held.bytes.len() >= MAX_HELD {
                return write_held(file);
            }
            return ffi::SQLITE_OK;
        }
        let is_header = bytes.len() == FRAME_HEADER && !held.after_header;
        let commit_mark = is_header && bytes[4..8] != [0; 4];
        // A commit frame's header is held only behind frames already held,
        // in the course of writing a commit; one written alone (checksums
        // rewritten) would have no page after it to send it on its way.
        if is_header && follows && !(commit_mark && held.bytes.is_empty()) {
            if held.bytes.is_empty() {
                held.start = offset;
            }
            held.bytes.extend_from_slice(bytes);
            held.after_header = true;
            held.commit = commit_mark;
            return ffi::SQLITE_OK;
        }
        let rc = write_held(file);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        let (real, methods) = real(file);
        methods.xWrite.expect("files can be written")(real, data, amount, offset)
    }
}

unsafe extern "C" fn wal_close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite closes a file once, and uses it no more; its database
    // file is still open (see `open`).
    unsafe {
        // Nothing is held here (nothing is held without the write lock,
        // and SQLite closes its WAL with the lock released).
        let written = write_held(file);
        let wal = file.cast::<WalFile>();
        if !(*wal).db.is_null() {
            (*(*wal).db.cast::<DbFile>()).wal = ptr::null_mut();
        }
        drop(Box::from_raw((*wal).held));
        let closed = close(file);
        if written != ffi::SQLITE_OK {
            written
        } else {
            closed
        }
    }
}

/// The database's `xShmLock`: notes when the WAL's write lock (slot 0) is
/// taken and released. When it is released, whatever the WAL still holds
/// belongs to a transaction that ended without committing (a commit writes
/// its frames at its last page, or fails): frames a rollback left behind,
/// past the last commit. They are dropped now, while no other connection
/// may write the WAL yet; later, another connection's commit could sit at
/// those offsets.
unsafe extern "C" fn db_shm_lock(
    file: *mut ffi::sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    // SAFETY: SQLite passes a database file opened by `open`; its `wal`,
    // when set, is open (`wal_close` unsets it).
    unsafe {
        let db = file.cast::<DbFile>();
        let wal = (*db).wal;
        // Slot 0 is the first: any range from offset 0 covers it.
        if offset == 0 && flags == ffi::SQLITE_SHM_UNLOCK | ffi::SQLITE_SHM_EXCLUSIVE {
            (*db).write_locked = false;
            if !wal.is_null() {
                #[cfg(test)]
                if !held(wal).bytes.is_empty() {
                    tests::DROPPED_AT_UNLOCK.with(|dropped| dropped.set(dropped.get() + 1));
                }
                drop_held(wal);
            }
        }
        let rc = shm_lock(file, offset, n, flags);
        if offset == 0 && flags == ffi::SQLITE_SHM_LOCK | ffi::SQLITE_SHM_EXCLUSIVE {
            (*db).write_locked = rc == ffi::SQLITE_OK;
        }
        rc
    }
}

/// WAL methods that first write what is held, then pass on.
macro_rules! after_held {
    ($name:ident, $passed_on:ident ( $($arg:ident : $ty:ty),* )) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file, $($arg: $ty),*) -> c_int {
            // SAFETY: SQLite passes a WAL file opened by `open`.
            unsafe {
                let rc = write_held(file);
                if rc != ffi::SQLITE_OK {
                    return rc;
                }
                $passed_on(file, $($arg),*)
            }
        }
    };
}

/// Methods that pass on untouched.
macro_rules! passed_on {
    ($name:ident, $method:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file, $($arg: $ty),*) -> $ret {
            // SAFETY: SQLite passes a file opened by `open`, and calls the
            // methods of a version only where the wrapped file has them.
            unsafe {
                let (real, methods) = real(file);
                methods.$method.expect(stringify!($method))(real, $($arg),*)
            }
        }
    };
}

after_held!(wal_read, read(data: *mut c_void, amount: c_int, offset: i64));

unsafe extern "C" fn wal_truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    // SAFETY: SQLite passes a WAL file opened by `open`.
    unsafe {
        let rc = write_held(file);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        let held = held(file);
        held.grown_to = held.grown_to.min(size);
        truncate(file, size)
    }
}

/// A sync right after a commit was written is the commit's own: from then
/// on the file is grown ahead of commits.
unsafe extern "C" fn wal_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    // SAFETY: SQLite passes a WAL file opened by `open`.
    unsafe {
        let held = held(file);
        held.grows_ahead |= held.just_committed;
        let rc = write_held(file);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        sync(file, flags)
    }
}
after_held!(wal_file_size, file_size(size: *mut i64));
after_held!(wal_file_control, file_control(op: c_int, arg: *mut c_void));
passed_on!(close, xClose() -> c_int);
passed_on!(read, xRead(data: *mut c_void, amount: c_int, offset: i64) -> c_int);
passed_on!(write, xWrite(data: *const c_void, amount: c_int, offset: i64) -> c_int);
passed_on!(truncate, xTruncate(size: i64) -> c_int);
passed_on!(sync, xSync(flags: c_int) -> c_int);
passed_on!(file_size, xFileSize(size: *mut i64) -> c_int);
passed_on!(lock, xLock(level: c_int) -> c_int);
passed_on!(unlock, xUnlock(level: c_int) -> c_int);
passed_on!(check_reserved_lock, xCheckReservedLock(out: *mut c_int) -> c_int);
passed_on!(file_control, xFileControl(op: c_int, arg: *mut c_void) -> c_int);
passed_on!(sector_size, xSectorSize() -> c_int);
passed_on!(device_characteristics, xDeviceCharacteristics() -> c_int);
passed_on!(shm_map, xShmMap(page: c_int, size: c_int, extend: c_int, out: *mut *mut c_void) -> c_int);
passed_on!(shm_lock, xShmLock(offset: c_int, n: c_int, flags: c_int) -> c_int);
passed_on!(shm_unmap, xShmUnmap(delete: c_int) -> c_int);
passed_on!(fetch, xFetch(offset: i64, amount: c_int, out: *mut *mut c_void) -> c_int);
passed_on!(unfetch, xUnfetch(offset: i64, page: *mut c_void) -> c_int);

unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    // SAFETY: SQLite passes a file opened by `open`.
    unsafe {
        let (real, methods) = real(file);
        methods.xShmBarrier.expect("xShmBarrier")(real)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::ffi::CStr;
    use std::path::{Path, PathBuf};

    use rusqlite::{Connection, OpenFlags};

    thread_local! {
        /// Writes of held frames made on this thread (SQLite calls a VFS
        /// on the thread using the connection).
        pub(super) static COMBINED: Cell<u64> = const { Cell::new(0) };
        /// Times frames were still held when the write lock was released.
        pub(super) static DROPPED_AT_UNLOCK: Cell<u64> = const { Cell::new(0) };
    }

    fn dropped_at_unlock() -> u64 {
        DROPPED_AT_UNLOCK.with(Cell::get)
    }

    fn combined() -> u64 {
        COMBINED.with(Cell::get)
    }

    fn open(path: &Path, synchronous: &str, page_size: u32) -> Connection {
        open_on(super::NAME, path, synchronous, page_size)
    }

    fn open_on(vfs: &CStr, path: &Path, synchronous: &str, page_size: u32) -> Connection {
        super::install();
        let conn = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), vfs).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA page_size = {page_size};
             PRAGMA journal_mode = WAL;
             PRAGMA wal_autocheckpoint = 0;
             PRAGMA synchronous = {synchronous};
             CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body BLOB);
             CREATE INDEX IF NOT EXISTS t_by_body ON t (body);"
        ))
        .unwrap();
        conn
    }

    /// What a process killed now would leave: the database and its WAL as
    /// the operating system has them, opened afresh (without the shared
    /// memory, so SQLite recovers the transactions from the WAL's frames)
    /// through SQLite's own VFS.
    fn after_a_crash(db: &Path, copies: &mut u32) -> Connection {
        *copies += 1;
        let copy = db.with_file_name(format!("crash-{copies}.db"));
        std::fs::copy(db, &copy).unwrap();
        std::fs::copy(wal_of(db), wal_of(&copy)).unwrap();
        let conn =
            Connection::open_with_flags_and_vfs(&copy, OpenFlags::default(), c"unix").unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        conn
    }

    fn wal_of(db: &Path) -> PathBuf {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        PathBuf::from(wal)
    }

    /// Rows, and the sum of their bodies' lengths and first bytes.
    fn contents(conn: &Connection) -> (i64, i64) {
        conn.query_row(
            "SELECT count(*), coalesce(sum(length(body) + unicode(body)), 0) FROM t",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap()
    }

    fn insert(conn: &Connection, rows: usize, size: usize, fill: char) {
        let tx = conn.unchecked_transaction().unwrap();
        for _ in 0..rows {
            tx.execute(
                "INSERT INTO t (body) VALUES (?1)",
                [fill.to_string().repeat(size)],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }

    #[test]
    fn every_commit_is_in_the_file_when_it_returns() {
        for synchronous in ["NORMAL", "FULL"] {
            for page_size in [1024, 4096] {
                let dir = tempfile::tempdir().unwrap();
                let db = dir.path().join("chat.db");
                let writer = open(&db, synchronous, page_size);
                let reader = open(&db, synchronous, page_size);
                let mut copies = 0;
                let before = combined();
                // One small row, one over several pages, a group, and a
                // group whose frames are more than one write can carry.
                for (rows, size, fill) in
                    [(1, 10, 'a'), (1, 5000, 'b'), (50, 40, 'c'), (400, 900, 'd')]
                {
                    let unlocked_with_frames = dropped_at_unlock();
                    insert(&writer, rows, size, fill);
                    // The commit's frames went at its last page, before
                    // SQLite told readers of it, not at the lock's release.
                    assert_eq!(dropped_at_unlock(), unlocked_with_frames);
                    // Copied first: a read through `writer` would write
                    // what it holds.
                    let crashed = after_a_crash(&db, &mut copies);
                    let expected = contents(&writer);
                    assert_eq!(contents(&crashed), expected, "{synchronous} {page_size}");
                    assert_eq!(contents(&reader), expected, "{synchronous} {page_size}");
                }
                assert!(
                    combined() > before,
                    "no frames were combined ({synchronous}, {page_size})"
                );
            }
        }
    }

    /// A transaction of 500 rows, begun on a cache so small that its pages
    /// go to the WAL (unmarked frames) before it ends.
    fn spilling_transaction(writer: &Connection, fill: char) -> rusqlite::Transaction<'_> {
        writer.execute_batch("PRAGMA cache_size = 10").unwrap();
        let tx = writer.unchecked_transaction().unwrap();
        for _ in 0..500 {
            tx.execute(
                "INSERT INTO t (body) VALUES (?1)",
                [fill.to_string().repeat(300)],
            )
            .unwrap();
        }
        tx
    }

    /// Checks that what a crash would leave now, and what `writer` reads,
    /// both hold `expected`. The copy is taken first: a read through
    /// `writer` would write what it holds.
    fn both_hold(db: &Path, writer: &Connection, expected: (i64, i64)) {
        let crashed = after_a_crash(db, &mut 0);
        assert_eq!(contents(&crashed), expected);
        assert_eq!(contents(writer), expected);
    }

    #[test]
    fn a_transaction_rewriting_pages_it_spilled_commits_whole() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("chat.db");
        let writer = open(&db, "NORMAL", 1024);
        // Updating the spilled pages writes them again in place, and the
        // commit then rewrites the checksums of the frames after them.
        let tx = spilling_transaction(&writer, 'e');
        tx.execute("UPDATE t SET body = 'f' || substr(body, 2)", [])
            .unwrap();
        let unlocked_with_frames = dropped_at_unlock();
        tx.commit().unwrap();
        assert_eq!(
            dropped_at_unlock(),
            unlocked_with_frames,
            "a commit's frame was held"
        );
        both_hold(&db, &writer, (500, 500 * (300 + 'f' as i64)));
    }

    #[test]
    fn a_rolled_back_transaction_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("chat.db");
        let writer = open(&db, "NORMAL", 1024);
        spilling_transaction(&writer, 'g').rollback().unwrap();
        insert(&writer, 2, 10, 'h');
        both_hold(&db, &writer, (2, 2 * (10 + 'h' as i64)));
    }

    /// A transaction rolled back after spilling leaves its frames held by
    /// its connection; another connection then commits at the same place in
    /// the WAL. The first connection's next use of its WAL handle (here its
    /// close; a read or a checkpoint does the same) must not write the
    /// rolled-back frames over that commit.
    #[test]
    fn a_rolled_back_transaction_is_never_written_over_a_later_commit() {
        rolled_back_then_committed_elsewhere(super::NAME);
    }

    /// The same with SQLite's own VFS: what the test expects is SQLite's.
    #[test]
    fn a_rolled_back_transaction_is_never_written_over_a_later_commit_by_sqlite() {
        rolled_back_then_committed_elsewhere(c"unix");
    }

    /// In locking_mode=EXCLUSIVE SQLite takes no shared-memory locks, so
    /// the write lock's release is never seen; a rollback there, then a
    /// return to locking_mode=NORMAL, must not leave frames held for the
    /// connection's close to write over another connection's commit.
    #[test]
    fn a_rollback_in_exclusive_mode_is_never_written_over_a_later_commit() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("chat.db");
        let first = open(&db, "NORMAL", 1024);
        insert(&first, 1, 10, 'a');
        first
            .execute_batch(
                "CREATE TABLE big (x BLOB);
                 PRAGMA wal_checkpoint(TRUNCATE);
                 PRAGMA locking_mode = EXCLUSIVE;
                 PRAGMA cache_size = 10;
                 BEGIN;
                 INSERT INTO big VALUES (randomblob(200000));
                 ROLLBACK;
                 PRAGMA locking_mode = NORMAL;",
            )
            .unwrap();
        // A read (from the database file: the WAL is empty) leaves
        // exclusive mode and lets other connections in.
        assert_eq!(contents(&first).0, 1);
        let second = open(&db, "NORMAL", 1024);
        insert(&second, 800, 300, 'h');
        let expected = (801, 10 + 'a' as i64 + 800 * (300 + 'h' as i64));
        assert_eq!(contents(&second), expected);
        closing_leaves_the_wal_as_it_is(first, &db);
        assert_eq!(contents(&after_a_crash(&db, &mut 0)), expected);
    }

    /// Closes `conn`, which committed nothing since the WAL was last
    /// written, and checks that the WAL's bytes did not change.
    fn closing_leaves_the_wal_as_it_is(conn: Connection, db: &Path) {
        let before = std::fs::read(wal_of(db)).unwrap();
        drop(conn);
        let after = std::fs::read(wal_of(db)).unwrap();
        let changed = (before.iter().zip(&after))
            .filter(|(before, after)| before != after)
            .count();
        assert_eq!(
            changed, 0,
            "closing a connection rewrote {changed} bytes of the WAL"
        );
    }

    fn rolled_back_then_committed_elsewhere(vfs: &CStr) {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("chat.db");
        let first = open_on(vfs, &db, "NORMAL", 1024);
        let second = open_on(vfs, &db, "NORMAL", 1024);
        insert(&second, 1, 10, 'a');
        second.execute_batch("CREATE TABLE big (x BLOB)").unwrap();
        // An empty WAL: the rollback finds page 1 in the database file and
        // reads nothing from the WAL (a read would write what is held).
        second
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
        // A row of 200 new overflow pages on a cache of 10: pages spilled
        // one by one, none read back, so the last of them are still held.
        let unlocked_with_frames = dropped_at_unlock();
        first
            .execute_batch(
                "PRAGMA cache_size = 10;
                 BEGIN;
                 INSERT INTO big VALUES (randomblob(200000));
                 ROLLBACK;",
            )
            .unwrap();
        if vfs == super::NAME {
            // The case this is about did arise: frames were held at the end.
            assert!(dropped_at_unlock() > unlocked_with_frames);
        }
        // More frames than the rolled-back transaction wrote, from its start.
        insert(&second, 800, 300, 'h');
        let expected = (801, 10 + 'a' as i64 + 800 * (300 + 'h' as i64));
        assert_eq!(contents(&second), expected);
        // Not the last connection: SQLite itself writes nothing to the WAL.
        closing_leaves_the_wal_as_it_is(first, &db);
        assert_eq!(contents(&after_a_crash(&db, &mut 0)), expected);
    }

    fn wal_length(db: &Path) -> u64 {
        std::fs::metadata(wal_of(db)).unwrap().len()
    }

    #[test]
    fn a_wal_synced_at_every_commit_grows_ahead_with_zeros() {
        let grow_by = super::GROW_BY as u64;
        for page_size in [1024, 4096] {
            let dir = tempfile::tempdir().unwrap();
            let db = dir.path().join("chat.db");
            let full = open(&db, "FULL", page_size);
            let other = open(&db, "FULL", page_size);
            let mut copies = 0;
            // (`open` committed the table, synced: the file knows.) Small
            // commits, then one of 1.6 MB; then the same after this
            // connection truncated the WAL, and after another did.
            for truncating in [&full, &other, &full] {
                for (rows, size, fill) in [(1, 10, 'a'), (1, 10, 'b'), (400, 4000, 'c')] {
                    insert(&full, rows, size, fill);
                    let length = wal_length(&db);
                    assert_eq!(length % grow_by, 0, "{length} ({page_size})");
                    let least = if fill == 'c' { 2 * grow_by } else { grow_by };
                    assert!(length >= least, "{length} ({page_size})");
                    let crashed = after_a_crash(&db, &mut copies);
                    assert_eq!(contents(&crashed), contents(&full), "{page_size}");
                }
                truncating
                    .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
                    .unwrap();
                assert_eq!(wal_length(&db), 0);
            }
            // Synced only at checkpoints: never grown ahead.
            let dir = tempfile::tempdir().unwrap();
            let db = dir.path().join("chat.db");
            let normal = open(&db, "NORMAL", page_size);
            for fill in ['a', 'b', 'c'] {
                insert(&normal, 1, 10, fill);
                let length = wal_length(&db);
                assert!(length < grow_by, "{length} ({page_size})");
            }
        }
    }
}
