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
/// dated file inside `out` when that is a folder (see [`DatedNames`]).
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
    // and an operator expects the same of a backup. The names after the
    // first free one are for another copy that takes it meanwhile.
    let (out, mut then) = match out.is_dir() {
        true => {
            let mut names = DatedNames::new(db, out, chrono::Utc::now());
            let first = names.first_free();
            (first, Some(names))
        }
        false => (out.to_path_buf(), None),
    };
    let out = out.as_path();
    let failed = |reason: String| StoreError::Backup {
        out: out.to_path_buf(),
        reason,
    };
    if let Some(file) = file_named_as_folder(out) {
        return Err(failed(format!(
            "{} is a file, not a folder (name a folder to have a dated copy made in it, \
             or a new file)",
            file.display()
        )));
    }
    if out.exists() {
        return Err(failed(EXISTS.into()));
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
    let path = persist(partial, out, then.as_mut()).map_err(|(out, err)| StoreError::Backup {
        out,
        reason: match err.kind() {
            std::io::ErrorKind::AlreadyExists => EXISTS.into(),
            _ => err.to_string(),
        },
    })?;
    Ok(BackupCopy {
        path,
        pages: copied,
    })
}

/// Why a name that a file has is refused. Never "remove it": it may well
/// be an earlier backup.
const EXISTS: &str = "a file of that name exists already, and a backup never overwrites one; \
                      choose another name, or name a folder to have a dated copy made in it";

/// Renames the complete copy `partial` to `out`, never over a file that is
/// there. In a folder (`then` holds the dated names after `out`), a name
/// another copy took meanwhile (a backup started in the same second) makes
/// it try the next free one; a name given by the user is refused instead.
/// Returns the name it took, or the one it failed at with why.
fn persist(
    mut partial: tempfile::NamedTempFile,
    out: &Path,
    mut then: Option<&mut DatedNames>,
) -> Result<PathBuf, (PathBuf, std::io::Error)> {
    let mut out = out.to_path_buf();
    loop {
        match partial.persist_noclobber(&out) {
            Ok(_) => return Ok(out),
            Err(err) if err.error.kind() == std::io::ErrorKind::AlreadyExists => {
                let Some(next) = then.as_deref_mut().and_then(DatedNames::next_free) else {
                    return Err((out, err.error));
                };
                partial = err.file;
                out = next;
            }
            Err(err) => return Err((out, err.error)),
        }
    }
}

/// The copy's names inside a folder: the database's name with the UTC
/// time, `chat-2026-11-24T031512Z.db` for `chat.db`, then, for copies
/// taken within the same second, `chat-2026-11-24T031512Z-1.db`, `-2`, ...
/// (at most [`DatedNames::MOST`] names). For `chat.db` these are the names
/// `deploy/pipechat-backup` gives its nightly copies (it calls them
/// `chat-…` whatever the database), so that a copy of the service's
/// database taken by hand into the backup folder sorts with them, and is
/// kept or removed with them; another database's copies keep its own name.
struct DatedNames {
    folder: PathBuf,
    stem: String,
    stamp: String,
    /// The suffix of the next name: none for 0.
    next: u32,
}

impl DatedNames {
    /// Names tried in one folder before giving up.
    const MOST: u32 = 1000;

    fn new(db: &Path, folder: &Path, at: chrono::DateTime<chrono::Utc>) -> DatedNames {
        DatedNames {
            folder: folder.to_path_buf(),
            stem: db
                .file_stem()
                .map_or_else(|| "chat".into(), |stem| stem.to_string_lossy().into_owned()),
            stamp: at.format("%Y-%m-%dT%H%M%SZ").to_string(),
            next: 0,
        }
    }

    /// The first name that no file has, or the first of all when every
    /// one is taken (the caller then refuses it as any file that exists).
    fn first_free(&mut self) -> PathBuf {
        let first = self.name(0);
        self.next_free().unwrap_or(first)
    }

    /// The next name after those tried that no file has, if any is left.
    fn next_free(&mut self) -> Option<PathBuf> {
        while self.next < Self::MOST {
            let name = self.name(self.next);
            self.next += 1;
            if !name.exists() {
                return Some(name);
            }
        }
        None
    }

    fn name(&self, n: u32) -> PathBuf {
        let DatedNames {
            folder,
            stem,
            stamp,
            ..
        } = self;
        match n {
            0 => folder.join(format!("{stem}-{stamp}.db")),
            n => folder.join(format!("{stem}-{stamp}-{n}.db")),
        }
    }
}

/// The file `out` names when it is a file's name with a final `/`
/// (`notes.db/`), which the system takes for a folder that is not there.
fn file_named_as_folder(out: &Path) -> Option<PathBuf> {
    if !names_a_folder(out) {
        return None;
    }
    use std::os::unix::ffi::OsStrExt;
    let bytes = out.as_os_str().as_bytes();
    let end = bytes.iter().rposition(|&byte| byte != b'/')? + 1;
    let file = Path::new(std::ffi::OsStr::from_bytes(&bytes[..end]));
    let is_file = std::fs::metadata(file).is_ok_and(|meta| !meta.is_dir());
    is_file.then(|| file.to_path_buf())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&chrono::Utc)
    }

    /// The copy in a folder is named after the database and the UTC time;
    /// names already taken in that second get `-1`, `-2`, ... and files of
    /// other seconds or names are no bar.
    #[test]
    fn dated_names_skip_those_taken_in_the_same_second() {
        let folder = tempfile::tempdir().unwrap();
        let when = at("2026-11-24T03:15:12.345+00:00");
        let db = Path::new("/var/lib/pipechat/chat.db");
        let first = DatedNames::new(db, folder.path(), when).first_free();
        assert_eq!(first, folder.path().join("chat-2026-11-24T031512Z.db"));

        for taken in [
            "chat-2026-11-24T031512Z.db",
            "chat-2026-11-24T031512Z-1.db",
            "chat-2026-11-24T031511Z-2.db",
            "other-2026-11-24T031512Z-2.db",
        ] {
            std::fs::write(folder.path().join(taken), b"taken").unwrap();
        }
        let mut names = DatedNames::new(db, folder.path(), when);
        assert_eq!(
            names.first_free(),
            folder.path().join("chat-2026-11-24T031512Z-2.db")
        );
        assert_eq!(
            names.next_free(),
            Some(folder.path().join("chat-2026-11-24T031512Z-3.db"))
        );
        let other = DatedNames::new(Path::new("other.db"), folder.path(), when).first_free();
        assert_eq!(other, folder.path().join("other-2026-11-24T031512Z.db"));
    }

    /// Another copy that takes the name between the look and the rename (a
    /// backup started in the same second) sends this one on to the next
    /// free name, and that copy is left as it was; a name the user gave is
    /// refused instead, and nothing is renamed to it.
    #[test]
    fn a_name_taken_meanwhile_moves_the_copy_on() {
        let folder = tempfile::tempdir().unwrap();
        let when = at("2026-11-24T03:15:12Z");
        let mut names = DatedNames::new(Path::new("chat.db"), folder.path(), when);
        let first = names.first_free();
        std::fs::write(&first, b"the other copy").unwrap();
        let mut partial = tempfile::NamedTempFile::new_in(folder.path()).unwrap();
        std::io::Write::write_all(&mut partial, b"this copy").unwrap();
        let took = persist(partial, &first, Some(&mut names)).unwrap();
        assert_eq!(took, folder.path().join("chat-2026-11-24T031512Z-1.db"));
        assert_eq!(std::fs::read(&took).unwrap(), b"this copy");
        assert_eq!(std::fs::read(&first).unwrap(), b"the other copy");

        let partial = tempfile::NamedTempFile::new_in(folder.path()).unwrap();
        let (refused, err) = persist(partial, &first, None).unwrap_err();
        assert_eq!(refused, first);
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&first).unwrap(), b"the other copy");
        assert_eq!(std::fs::read_dir(folder.path()).unwrap().count(), 2);
    }

    /// A file's name with a final `/` is told apart from a folder that is
    /// not there, and from a folder.
    #[test]
    fn a_file_named_with_a_final_slash_is_told_apart() {
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("notes.db");
        std::fs::write(&file, b"").unwrap();
        let with_slash = |path: &Path| PathBuf::from(format!("{}/", path.display()));
        assert_eq!(file_named_as_folder(&with_slash(&file)), Some(file.clone()));
        assert_eq!(file_named_as_folder(&file), None);
        assert_eq!(file_named_as_folder(&with_slash(folder.path())), None);
        assert_eq!(
            file_named_as_folder(&with_slash(&folder.path().join("missing"))),
            None
        );
        assert_eq!(file_named_as_folder(Path::new("/")), None);
    }
}
