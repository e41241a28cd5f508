//! Consistent copies of a live database, with SQLite's online backup API.
//!
//! The copy is taken in one step, inside one read transaction: in WAL mode
//! that is a snapshot of the last commit before it began, and writers (a
//! server running on the same file) are not held up meanwhile. A copy in many
//! small steps would start over every time a writer commits.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::open::{check_existing_file, folder_of, unwritable_folder};
use crate::store::{BackupCopy, StoreError};

/// Copies the pipechat database at `db` to `out`: a new file, or a new
/// dated file inside `out` when that is a folder (see [`name_in_folder`]).
/// The copy is written to a new hidden file beside its name first and
/// renamed into place once it is complete and passes `PRAGMA
/// integrity_check`.
///
/// # Errors
///
/// [`StoreError::NotPipechat`] or [`StoreError::Open`] for a source that is
/// not a readable pipechat database; [`StoreError::Backup`] when `out` is a
/// file that exists, a folder that does not, or the copy fails.
pub(crate) fn backup(db: &Path, out: &Path) -> Result<BackupCopy, StoreError> {
    // A PostgreSQL URL in either place would be taken for a file name, and
    // echoed with its password in the error.
    let is_url = |path: &Path| path.to_string_lossy().contains("://");
    if is_url(db) || is_url(out) {
        return Err(StoreError::Backup {
            out: match is_url(out) {
                true => PathBuf::from("a database URL"),
                false => out.to_path_buf(),
            },
            reason: "`backup` copies SQLite files, and a URL was given; back PostgreSQL \
                     up with pg_dump"
                .into(),
        });
    }
    // `cp chat.db /var/backups/pipechat/` puts the copy inside the folder,
    // and an operator expects the same of a backup.
    let out = match out.is_dir() {
        true => name_in_folder(db, out),
        false => out.to_path_buf(),
    };
    let out = out.as_path();
    let failed = |reason: String| StoreError::Backup {
        out: out.to_path_buf(),
        reason,
    };
    if out.exists() {
        // Never "remove it": it may well be an earlier backup.
        return Err(failed(
            "a file of that name exists already, and a backup never overwrites one; \
             choose another name, or name a folder to have a dated copy made in it"
                .into(),
        ));
    }
    if names_a_folder(out) {
        return Err(failed(
            "there is no such folder (create it first, or leave out the final / to name a \
             file)"
                .into(),
        ));
    }
    if !db.exists() {
        // rusqlite's words would be "Invalid path".
        return Err(StoreError::Unusable {
            path: db.to_path_buf(),
            reason: "there is no such file to back up (see --db)".into(),
        });
    }
    // SQLite's words for a file this user may not read are "unable to open
    // database file".
    if let Err(err) = std::fs::File::open(db) {
        return Err(StoreError::Unusable {
            path: db.to_path_buf(),
            reason: format!("cannot read it: {err}"),
        });
    }
    check_existing_file(db)?;
    let source =
        Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|source| {
            StoreError::Open {
                path: db.to_path_buf(),
                source,
            }
        })?;
    source
        .busy_timeout(crate::store::BUSY_TIMEOUT)
        .map_err(|err| failed(err.to_string()))?;
    // A new file of our own beside `out` (never one that was there), removed
    // unless the copy is complete, then renamed into place unless `out`
    // appeared meanwhile.
    let folder = folder_of(out);
    let name = out
        .file_name()
        .map(|name| name.to_string_lossy().into_owned());
    if let Some(reason) = unwritable_folder(out) {
        return Err(failed(reason));
    }
    // Said of the folder: tempfile's message names the hidden file it
    // tried to make, which the user never asked for.
    let partial = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.as_deref().unwrap_or("backup")))
        .suffix(".partial")
        .tempfile_in(folder)
        .map_err(|err| {
            failed(format!(
                "cannot create a file in the folder {}: {}",
                folder.display(),
                std::io::Error::from(err.kind())
            ))
        })?;
    let copied = copy(&source, partial.path()).map_err(|err| failed(err.to_string()))?;
    partial
        .persist_noclobber(out)
        .map_err(|err| failed(err.error.to_string()))?;
    Ok(BackupCopy {
        path: out.to_path_buf(),
        pages: copied,
    })
}

/// The copy's name inside `folder`: the database's name with the UTC time,
/// `chat-2026-11-24T031512Z.db` for `chat.db`, as `deploy/pipechat-backup`
/// names its nightly copies, so that one taken by hand into the same folder
/// sorts with them (and is kept, or removed, with them). A name already
/// taken in the same second gets `-1`, `-2`, ... as the script's do.
fn name_in_folder(db: &Path, folder: &Path) -> PathBuf {
    let stem = db
        .file_stem()
        .map_or_else(|| "chat".into(), |stem| stem.to_string_lossy());
    let stamp = chrono::Utc::now().format("%Y-%m-%dT%H%M%SZ");
    let mut name = folder.join(format!("{stem}-{stamp}.db"));
    let mut n = 1;
    while name.exists() && n < 1000 {
        name = folder.join(format!("{stem}-{stamp}-{n}.db"));
        n += 1;
    }
    name
}

/// Whether `path` ends with a `/`: a folder's name (`/var/backups/new/`),
/// which must not become a file called `new`.
fn names_a_folder(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().ends_with(b"/")
}

fn copy(source: &Connection, partial: &Path) -> rusqlite::Result<u64> {
    let mut copy = Connection::open(partial)?;
    {
        let backup = Backup::new(source, &mut copy)?;
        // -1: every page in one step, so the copy is one snapshot. A step
        // that finds the source locked is tried again, for as long as the
        // server's own busy timeout.
        let deadline = std::time::Instant::now() + crate::store::BUSY_TIMEOUT;
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                StepResult::More | StepResult::Busy | StepResult::Locked
                    if std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => {
                    return Err(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                        Some("the database stayed locked".to_string()),
                    ));
                }
            }
        }
    }
    // A self-contained file with no -wal beside it; a server switches it
    // back to WAL when it opens it.
    copy.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
    let integrity: String = copy.query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
    if integrity != "ok" {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            Some(format!("the copy fails its integrity check: {integrity}")),
        ));
    }
    let pages: i64 = copy.query_row("PRAGMA page_count", [], |row| row.get(0))?;
    Ok(pages.unsigned_abs())
}
