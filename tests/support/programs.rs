//! Programs from outside the project that a test drives (irssi in tmux,
//! WeeChat): whether they are installed, and what a test does without them.

use std::io::Write;

/// Whether `program` is an executable file in a folder of the `PATH`.
pub fn installed(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
    })
}

/// For the test `test`, which drives `programs`: `true` where one is
/// missing, so that the test returns at once, after saying so past the
/// harness's capture (every `cargo test` run shows it). Under CI (`CI`
/// set) a missing program is a failure instead: `.ci/run` installs them,
/// and a CI run must never pass without having run the test.
#[track_caller]
pub fn skip_without(test: &str, programs: &[&str]) -> bool {
    let Some(missing) = programs.iter().find(|program| !installed(program)) else {
        return false;
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "{test} cannot run under CI: {missing} is not installed"
    );
    let _ = std::io::stderr()
        .write_all(format!("\n{test} SKIPPED: {missing} is not installed\n").as_bytes());
    true
}
