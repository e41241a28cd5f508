//! The console client, `pipechat-client`, driven as a user or a script would.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Instant;

use super::{DEADLINE, TestServer, wait_with_deadline};

pub fn client_binary() -> &'static str {
    env!("CARGO_BIN_EXE_pipechat-client")
}

/// The variable that moves the client's saved logins away from the real
/// home: every client a test starts gets it.
pub const CONFIG_DIR_VARIABLE: &str = "PIPECHAT_CONFIG_DIR";

/// What a terminal shows of `text` on one line: its control sequences
/// (`ESC [ ... letter`, as rustyline writes to redraw its line) taken out,
/// and only what follows the last carriage return, which it writes over.
pub fn shown_on_the_line(text: &str) -> String {
    let mut shown = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' if chars.peek() == Some(&'[') => {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            '\r' if chars.peek().is_some() => shown.clear(),
            '\r' => {}
            c => shown.push(c),
        }
    }
    shown
}

/// A `pipechat-client` process driven like a script: lines are written to its
/// stdin, and its stdout is read line by line on a thread so a test can wait,
/// with a deadline, for a line to appear.
///
/// Its saved logins go to a temporary directory of its own (`config`),
/// unless the test names one to share between clients.
pub struct ClientProcess {
    child: Child,
    /// What `PIPECHAT_CONFIG_DIR` is for this client.
    pub config: PathBuf,
    /// The client's own configuration directory, removed with it.
    _own_config: Option<tempfile::TempDir>,
    stdin: Option<std::process::ChildStdin>,
    /// Stdout as it comes, in the pieces the reader thread got.
    chunks: std::sync::mpsc::Receiver<Vec<u8>>,
    /// Stdout received but not yet a whole line (a prompt, say).
    partial: Vec<u8>,
    /// Every stdout line read so far, in order.
    pub seen: Vec<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

/// How a client process ended, with everything it wrote.
pub struct ClientOutcome {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl ClientOutcome {
    /// Itself, once its exit status is 0; otherwise the test fails showing
    /// both streams.
    pub fn succeeded(self) -> ClientOutcome {
        assert!(
            self.status.success(),
            "exit {:?}\nstderr: {}\nstdout: {}",
            self.status,
            self.stderr,
            self.stdout
        );
        self
    }

    /// How many times `text` appears on stdout.
    pub fn times_shown(&self, text: &str) -> usize {
        self.stdout.matches(text).count()
    }
}

impl ClientProcess {
    /// Starts the client against `server` with extra arguments.
    pub fn start(server: &TestServer, args: &[&str]) -> ClientProcess {
        ClientProcess::start_at(&server.addr.to_string(), args)
    }

    /// Starts the client against `server`, its saved logins in `config`.
    pub fn start_with_config(server: &TestServer, args: &[&str], config: &Path) -> ClientProcess {
        let mut command = Command::new(client_binary());
        command
            .args(["--server", &server.addr.to_string()])
            .args(args);
        ClientProcess::spawn(command, Some(config))
    }

    /// Starts the client against any address.
    pub fn start_at(addr: &str, args: &[&str]) -> ClientProcess {
        let mut command = Command::new(client_binary());
        command.args(["--server", addr]).args(args);
        ClientProcess::spawn(command, None)
    }

    /// Starts the client at a terminal, as a person runs it: `script` (from
    /// util-linux) gives it a pseudo-terminal for stdin and stdout, so it
    /// edits lines with rustyline and reads passwords without echo. What the
    /// test types goes through the terminal, and stdout carries everything the
    /// terminal shows, escape sequences and `\r` included, so look for text
    /// the client prints whole (its messages), not for prompts.
    pub fn start_in_terminal(server: &TestServer, args: &[&str]) -> ClientProcess {
        ClientProcess::terminal_with(server, args, None, "")
    }

    /// As [`start_in_terminal`](Self::start_in_terminal), in a terminal
    /// `columns` wide (the one `script` makes has no size otherwise).
    pub fn start_in_terminal_of_width(
        server: &TestServer,
        args: &[&str],
        columns: u16,
    ) -> ClientProcess {
        ClientProcess::start_in_terminal_of_width_at(&server.addr.to_string(), args, columns)
    }

    /// As [`start_in_terminal_of_width`](Self::start_in_terminal_of_width),
    /// against any address (a port that is not pipechat's chat port, say).
    pub fn start_in_terminal_of_width_at(addr: &str, args: &[&str], columns: u16) -> ClientProcess {
        let sized = format!("stty cols {columns} rows 30 && ");
        ClientProcess::terminal_sized(addr, args, None, "", &sized)
    }

    /// The client run as a script whose output goes to a terminal
    /// `columns` wide: its input is the file `input`, its stdout the
    /// terminal `script` makes.
    pub fn start_script_in_terminal_of_width(
        server: &TestServer,
        input: &Path,
        columns: u16,
    ) -> ClientProcess {
        let sized = format!("stty cols {columns} rows 30 && ");
        let from = format!(
            " < '{}'",
            input.display().to_string().replace('\'', r"'\''")
        );
        ClientProcess::terminal_sized(&server.addr.to_string(), &[], None, &from, &sized)
    }

    /// As [`start_in_terminal`](Self::start_in_terminal), with the client's
    /// output piped through `cat` to the terminal, as with
    /// `pipechat-client | tee chat.log`: the keyboard is a terminal, the
    /// output is not.
    pub fn start_in_terminal_with_output_piped(
        server: &TestServer,
        args: &[&str],
    ) -> ClientProcess {
        ClientProcess::terminal_with(server, args, None, " | cat")
    }

    /// [`start_in_terminal`](Self::start_in_terminal) with `config` as the
    /// configuration directory (saved logins).
    pub fn start_in_terminal_with_config(
        server: &TestServer,
        args: &[&str],
        config: &Path,
    ) -> ClientProcess {
        ClientProcess::terminal_with(server, args, Some(config), "")
    }

    /// The client in a terminal `script` makes, its command line followed
    /// by `pipe` (a shell pipeline's rest, or nothing).
    fn terminal_with(
        server: &TestServer,
        args: &[&str],
        config: Option<&Path>,
        pipe: &str,
    ) -> ClientProcess {
        ClientProcess::terminal_sized(&server.addr.to_string(), args, config, pipe, "")
    }

    /// [`terminal_with`](Self::terminal_with), against `addr`, the
    /// client's command line after `before` (a shell command and `&&`, or
    /// nothing).
    fn terminal_sized(
        addr: &str,
        args: &[&str],
        config: Option<&Path>,
        pipe: &str,
        before: &str,
    ) -> ClientProcess {
        let quote = |word: &str| format!("'{}'", word.replace('\'', r"'\''"));
        let client = [client_binary(), "--server", addr]
            .into_iter()
            .chain(args.iter().copied())
            .map(quote)
            .collect::<Vec<_>>()
            .join(" ")
            + pipe;
        let client = format!("{before}{client}");
        let mut command = Command::new("script");
        // -q: no start and end notes; -f: flush at once; -e: the client's
        // exit status; -c: the command; no typescript file.
        command
            .args(["-qfec", &client, "/dev/null"])
            .env("TERM", "xterm");
        ClientProcess::spawn(command, config)
    }

    /// Spawns `command` with `PIPECHAT_CONFIG_DIR` set to `config`, or to a
    /// new temporary directory.
    fn spawn(mut command: Command, config: Option<&Path>) -> ClientProcess {
        let own_config = match config {
            Some(_) => None,
            None => Some(tempfile::tempdir().expect("config dir")),
        };
        let config = match (&own_config, config) {
            (Some(own), _) => own.path().to_path_buf(),
            (None, Some(given)) => given.to_path_buf(),
            (None, None) => unreachable!("one of the two is set"),
        };
        command.env(CONFIG_DIR_VARIABLE, &config);
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pipechat-client");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let (sender, chunks) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = stdout;
            let mut buffer = [0u8; 4096];
            loop {
                match stdout.read(&mut buffer) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if sender.send(buffer[..n].to_vec()).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut all = Vec::new();
            let _ = stderr.read_to_end(&mut all);
            String::from_utf8_lossy(&all).into_owned()
        });
        ClientProcess {
            child,
            config,
            _own_config: own_config,
            stdin,
            chunks,
            partial: Vec::new(),
            seen: Vec::new(),
            stderr: Some(stderr),
        }
    }

    /// Types lines, each followed by Enter, in one write: at a terminal
    /// they arrive at once, as a paste without bracketed paste does.
    pub fn paste_lines(&mut self, lines: &[&str]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        let all: String = lines.iter().map(|line| format!("{line}\n")).collect();
        stdin
            .write_all(all.as_bytes())
            .expect("write to the client");
        stdin.flush().expect("flush");
    }

    /// Waits, after a password prompt has shown, until the client's
    /// terminal stops echoing: rpassword prints the prompt before it turns
    /// echo and line editing off, and a control key typed in between is
    /// taken by the terminal's line discipline (Ctrl-D as end of file)
    /// rather than reaching the client as a key.
    #[track_caller]
    pub fn wait_until_input_is_hidden(&self) {
        let terminal = self.terminal().expect("a client started in a terminal");
        let terminal = std::fs::File::open(&terminal).expect("open the client's terminal");
        super::wait_until("the client's terminal stops echoing", || {
            let modes = rustix::termios::tcgetattr(&terminal).expect("terminal modes");
            !modes
                .local_modes
                .contains(rustix::termios::LocalModes::ECHO)
        });
    }

    /// The pseudo-terminal of a client started by `script`: the `/dev/pts`
    /// device that a descendant of `script` reads as its stdin.
    fn terminal(&self) -> Option<PathBuf> {
        let mut parents = vec![self.child.id()];
        let deadline = Instant::now() + DEADLINE;
        while Instant::now() < deadline {
            let children = child_processes(&parents);
            for pid in &children {
                let stdin = std::fs::read_link(format!("/proc/{pid}/fd/0"));
                if let Some(path) = stdin.ok().filter(|path| path.starts_with("/dev/pts/")) {
                    return Some(path);
                }
            }
            parents.extend(children);
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        None
    }

    /// Types these bytes as they are (a control key, say).
    pub fn type_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(bytes).expect("write to the client");
        stdin.flush().expect("flush");
    }

    /// Types lines, each followed by Enter, in one write: a client that
    /// quits at one of them may be gone before a second write (a broken
    /// pipe), never before the write holding the line it quits at.
    pub fn type_lines(&mut self, lines: &[&str]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        let typed: String = lines.iter().map(|line| format!("{line}\n")).collect();
        stdin
            .write_all(typed.as_bytes())
            .expect("write to the client");
        stdin.flush().expect("flush");
    }

    /// Waits up to the deadline for a stdout line containing `needle`, and
    /// returns it; lines before it are kept in `seen`.
    #[track_caller]
    pub fn wait_for(&mut self, needle: &str) -> String {
        self.wait_for_text(needle, false)
    }

    /// As [`ClientProcess::wait_for`], but `needle` may also be on a line
    /// not finished yet, as a prompt is while it waits for the answer; the
    /// output up to the end of `needle` counts as seen, so waiting again
    /// for the same prompt waits for its next showing.
    #[track_caller]
    pub fn wait_for_prompt(&mut self, needle: &str) -> String {
        self.wait_for_text(needle, true)
    }

    /// Waits up to the deadline until each of `needles` has been on a
    /// stdout line, in any order.
    #[track_caller]
    pub fn wait_for_all(&mut self, needles: &[&str]) {
        let deadline = Instant::now() + DEADLINE;
        let mut missing: Vec<&str> = needles.to_vec();
        while !missing.is_empty() {
            while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.partial.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line[..end]).into_owned();
                missing.retain(|needle| !line.contains(needle));
                self.seen.push(line);
            }
            if missing.is_empty() {
                return;
            }
            self.receive_before(deadline, &format!("{missing:?}"));
        }
    }

    /// Adds the next piece of stdout to `partial`; the test fails if none
    /// comes before `deadline`, naming what it waited for.
    #[track_caller]
    fn receive_before(&mut self, deadline: Instant, waited_for: &str) {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.chunks.recv_timeout(left) {
            Ok(chunk) => self.partial.extend_from_slice(&chunk),
            Err(_) => panic!(
                "no output containing {waited_for} in time; the client wrote:\n{}\n{}",
                self.seen.join("\n"),
                String::from_utf8_lossy(&self.partial)
            ),
        }
    }

    #[track_caller]
    fn wait_for_text(&mut self, needle: &str, in_partial_line: bool) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.partial.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line[..end]).into_owned();
                self.seen.push(line.clone());
                if line.contains(needle) {
                    return line;
                }
            }
            let found = self
                .partial
                .windows(needle.len())
                .position(|window| window == needle.as_bytes());
            if let (true, Some(start)) = (in_partial_line, found) {
                let upto: Vec<u8> = self.partial.drain(..start + needle.len()).collect();
                let upto = String::from_utf8_lossy(&upto).into_owned();
                self.seen.push(upto.clone());
                return upto;
            }
            self.receive_before(deadline, &format!("{needle:?}"));
        }
    }

    /// Closes stdin (end of input) and waits for the process to exit.
    pub fn finish(mut self) -> ClientOutcome {
        drop(self.stdin.take());
        self.wait_for_exit()
    }

    /// [`finish`](Self::finish), for a client that must exit with status 0.
    pub fn finish_ok(self) -> ClientOutcome {
        self.finish().succeeded()
    }

    /// [`finish`](Self::finish), for a script the client must stop with
    /// status 2 (a step failed).
    pub fn finish_stopped(self) -> ClientOutcome {
        let done = self.finish();
        assert_eq!(
            done.status.code(),
            Some(2),
            "stderr: {}\nstdout: {}",
            done.stderr,
            done.stdout
        );
        done
    }

    /// [`wait_for_exit`](Self::wait_for_exit), for a client that must exit
    /// with status 0.
    pub fn wait_for_exit_ok(self) -> ClientOutcome {
        self.wait_for_exit().succeeded()
    }

    /// Waits for the process to exit on its own, stdin left open.
    pub fn wait_for_exit(mut self) -> ClientOutcome {
        let status = wait_with_deadline(&mut self.child);
        // The process is gone, so its pipes end: these loops are bounded.
        while let Ok(chunk) = self.chunks.recv_timeout(DEADLINE) {
            self.partial.extend_from_slice(&chunk);
        }
        let rest = String::from_utf8_lossy(&self.partial).into_owned();
        self.seen.extend(rest.lines().map(str::to_string));
        let stderr = self
            .stderr
            .take()
            .map(|thread| thread.join().expect("stderr reader"))
            .unwrap_or_default();
        ClientOutcome {
            status,
            stdout: self.seen.join("\n"),
            stderr,
        }
    }
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The processes whose parent is one of `parents`, from `/proc/*/stat`.
fn child_processes(parents: &[u32]) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| !parents.contains(pid))
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // The command name, in parentheses, may hold spaces; the fields
            // after it are state, then the parent's pid.
            let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            let parent = after_name.split_whitespace().nth(1);
            parent
                .and_then(|parent| parent.parse::<u32>().ok())
                .is_some_and(|parent| parents.contains(&parent))
        })
        .collect()
}
