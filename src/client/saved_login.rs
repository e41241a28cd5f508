//! Resume tokens kept on disk, so that `--user NAME` logs in again without
//! the password.
//!
//! # Where
//!
//! One file per server and user:
//!
//! ```text
//! <config>/pipechat/tokens/<server>/<user>
//! ```
//!
//! `<config>` is the user's configuration directory (`dirs::config_dir()`:
//! `~/.config` on Linux, `~/Library/Application Support` on macOS);
//! `PIPECHAT_CONFIG_DIR`, when set and not empty, replaces
//! `<config>/pipechat`. `<server>` is the address as given to `--server`,
//! `<user>` the username in lower case (names are the same account whatever
//! their case); both are escaped into safe file names (see [`file_name`]).
//!
//! # How
//!
//! The directories are created with mode 0700 and the file with mode 0600
//! from the start: the token is written to a new file opened with that mode,
//! which then replaces the old one by a rename, so no other user can ever
//! read it, not even for a moment. The file holds the token and a line feed.
//!
//! The client saves the token after every password login and password
//! change, and deletes the file on logout (which revokes the token on the
//! server) and when the server refuses the token.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The environment variable that replaces `<config>/pipechat`.
pub const CONFIG_DIR_VARIABLE: &str = "PIPECHAT_CONFIG_DIR";

/// The longest token the client keeps; the server's are far shorter, and a
/// file holding more is not a token file.
const MAX_TOKEN_BYTES: usize = 1_024;

/// The saved logins for one server.
#[derive(Debug, Clone)]
pub struct SavedLogins {
    /// `<config>/pipechat/tokens/<server>`.
    dir: PathBuf,
}

impl SavedLogins {
    /// The saved logins for `server`, under `PIPECHAT_CONFIG_DIR` or the
    /// user's configuration directory; `None` when there is neither.
    pub fn for_server(server: &str) -> Option<SavedLogins> {
        let base = match std::env::var_os(CONFIG_DIR_VARIABLE) {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => dirs::config_dir()?.join("pipechat"),
        };
        Some(SavedLogins::under(&base, server))
    }

    /// The saved logins for `server` under `base` (what
    /// `PIPECHAT_CONFIG_DIR` names).
    pub fn under(base: &Path, server: &str) -> SavedLogins {
        SavedLogins {
            dir: base.join("tokens").join(file_name(server)),
        }
    }

    /// The file that holds `username`'s token.
    pub fn path(&self, username: &str) -> PathBuf {
        self.dir.join(file_name(&username.to_ascii_lowercase()))
    }

    /// The saved token of `username`, if there is one.
    ///
    /// # Errors
    ///
    /// A file that exists but cannot be read.
    pub fn load(&self, username: &str) -> io::Result<Option<String>> {
        let text = match fs::read_to_string(self.path(username)) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        let token = text.trim();
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES || token.contains(char::is_control) {
            return Ok(None);
        }
        Ok(Some(token.to_string()))
    }

    /// Saves `token` as `username`'s, replacing any earlier one.
    ///
    /// # Errors
    ///
    /// The directory or the file cannot be created or written.
    pub fn save(&self, username: &str, token: &str) -> io::Result<()> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let path = self.path(username);
        let mut temporary = path.clone().into_os_string();
        temporary.push(format!(".new-{}", std::process::id()));
        let temporary = PathBuf::from(temporary);
        // A leftover of a run that died between create and rename.
        remove_if_there(&temporary)?;
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)
            .and_then(|mut file| {
                file.write_all(format!("{token}\n").as_bytes())?;
                file.sync_all()
            })
            .and_then(|()| fs::rename(&temporary, &path));
        if written.is_err() {
            let _ = fs::remove_file(&temporary);
        }
        written
    }

    /// Deletes `username`'s saved token; nothing to delete is fine.
    ///
    /// # Errors
    ///
    /// The file exists and cannot be deleted.
    pub fn forget(&self, username: &str) -> io::Result<()> {
        remove_if_there(&self.path(username))
    }
}

fn remove_if_there(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// `text` as one safe file name: letters, digits and `_ - . :` stay as they
/// are (so `127.0.0.1:8080` reads as itself); any other byte, and a leading
/// `.` (so that no name is `.`, `..` or hidden), becomes `%XX`.
pub fn file_name(text: &str) -> String {
    let mut name = String::with_capacity(text.len());
    for (index, byte) in text.bytes().enumerate() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(byte, b'_' | b'-' | b':')
            || (byte == b'.' && index > 0);
        if keep {
            name.push(char::from(byte));
        } else {
            name.push_str(&format!("%{byte:02X}"));
        }
    }
    if name.is_empty() {
        name.push('%');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn names_are_escaped_into_one_safe_path_component() {
        assert_eq!(file_name("127.0.0.1:8080"), "127.0.0.1:8080");
        assert_eq!(file_name("chat.example:8080"), "chat.example:8080");
        assert_eq!(file_name(".."), "%2E.");
        assert_eq!(file_name("."), "%2E");
        assert_eq!(file_name("a/b\\c d"), "a%2Fb%5Cc%20d");
        assert_eq!(file_name("[::1]:80"), "%5B::1%5D:80");
        assert_eq!(file_name(""), "%");
        assert_eq!(file_name("é"), "%C3%A9");
    }

    #[test]
    fn a_token_is_saved_with_mode_0600_loaded_and_forgotten() {
        let base = tempfile::tempdir().expect("temp dir");
        let saved = SavedLogins::under(base.path(), "127.0.0.1:8080");
        assert_eq!(saved.load("alice").expect("load"), None);
        saved.save("Alice", "tok-1").expect("save");
        let path = base.path().join("tokens/127.0.0.1:8080/alice");
        assert_eq!(saved.path("ALICE"), path);
        let mode = fs::metadata(&path).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = fs::metadata(path.parent().expect("dir"))
            .expect("dir")
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        assert_eq!(saved.load("alice").expect("load").as_deref(), Some("tok-1"));

        saved.save("alice", "tok-2").expect("save again");
        assert_eq!(saved.load("alice").expect("load").as_deref(), Some("tok-2"));
        let files: Vec<_> = fs::read_dir(path.parent().expect("dir"))
            .expect("list")
            .collect();
        assert_eq!(files.len(), 1, "no temporary file left: {files:?}");

        saved.forget("alice").expect("forget");
        assert!(!path.exists());
        saved.forget("alice").expect("forgetting twice is fine");
        assert_eq!(saved.load("alice").expect("load"), None);
    }

    #[test]
    fn a_replaced_file_gets_mode_0600_whatever_the_old_one_had() {
        let base = tempfile::tempdir().expect("temp dir");
        let saved = SavedLogins::under(base.path(), "host:1");
        saved.save("bob", "old").expect("save");
        let path = saved.path("bob");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        saved.save("bob", "new").expect("save");
        let mode = fs::metadata(&path).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_file_that_is_not_a_token_counts_as_none() {
        let base = tempfile::tempdir().expect("temp dir");
        let saved = SavedLogins::under(base.path(), "host:1");
        saved.save("bob", "").expect("save");
        assert_eq!(saved.load("bob").expect("load"), None);
        saved.save("bob", "a\u{1b}b").expect("save");
        assert_eq!(saved.load("bob").expect("load"), None);
    }
}
