//! A real IRC client, WeeChat (Debian's `weechat-headless`: no terminal),
//! against the IRC front door, set up with the WeeChat settings of docs/irc.md
//! as written there (read from that file): once with SASL PLAIN, once with
//! the server password (PASS) instead. Each time it logs in as the account,
//! is put in the channel of the account's room, shows a message sent over
//! the pipe, and its own message reaches a pipe client; it prints no error.
//!
//! WeeChat is driven through its FIFO (the `fifo` plugin, in Debian's
//! `weechat-plugins`) and read through its logger's files, everything in
//! the test's folder; its logs are printed to the test log. When
//! weechat-headless is missing the test says so and checks nothing (under
//! CI that is a failure); `.ci/run` installs it.

mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{DEADLINE, TestServer, skip_without, wait_with_deadline};

/// The account's password in docs/irc.md's settings.
const PASSWORD: &str = "your password";

/// docs/irc.md's WeeChat settings for a server at `irc`: the commands of its
/// block, and the PASS line it gives to use "instead of the three SASL
/// lines".
struct Settings {
    sasl: Vec<String>,
    pass: Vec<String>,
}

impl Settings {
    fn from_docs(irc: SocketAddr) -> Settings {
        let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/irc.md"))
            .expect("read docs/irc.md");
        let (_, weechat) = guide
            .split_once("\n**WeeChat**\n")
            .expect("docs/irc.md has WeeChat settings under **WeeChat**");
        let mut blocks = weechat.split("```");
        let (_, block, after) = (blocks.next(), blocks.next(), blocks.next());
        let block = block.expect("the WeeChat settings are in a ``` block");
        let port = format!("127.0.0.1/{}", irc.port());
        let sasl: Vec<String> = block
            .lines()
            .map(str::trim)
            .filter(|line| line.starts_with('/'))
            .map(|line| line.replace("127.0.0.1/6667", &port))
            .collect();
        assert!(
            sasl.first().is_some_and(|line| line.contains(&port)),
            "the settings start with /server add for 127.0.0.1/6667: {sasl:?}"
        );
        let password = after
            .and_then(|text| text.split('`').find(|piece| piece.contains(".password ")))
            .expect("after the block, docs/irc.md gives the PASS line in backquotes");
        let mut pass: Vec<String> = sasl
            .iter()
            .filter(|line| !line.contains(".sasl_"))
            .cloned()
            .collect();
        assert_eq!(sasl.len() - pass.len(), 3, "three SASL lines: {sasl:?}");
        let first_sasl = sasl.iter().position(|line| line.contains(".sasl_"));
        pass.insert(first_sasl.expect("SASL lines"), password.to_string());
        Settings { sasl, pass }
    }
}

/// A `weechat-headless` process whose files are all in `dir`; killed on
/// drop unless it quit.
struct WeeChat {
    child: Child,
    dir: PathBuf,
}

impl WeeChat {
    fn start(dir: &Path) -> WeeChat {
        std::fs::create_dir_all(dir).expect("WeeChat's folder");
        let child = Command::new("weechat-headless")
            .arg("--dir")
            .arg(dir)
            // The plugins the test needs (and nothing that starts Perl,
            // Python or Ruby): IRC, the log files it reads, the FIFO it
            // types into.
            .args(["--plugins", "irc,logger,fifo"])
            // Each log line written at once, not every two minutes.
            .args(["--run-command", "/set logger.file.flush_delay 0"])
            .env("HOME", dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start weechat-headless");
        WeeChat {
            child,
            dir: dir.to_path_buf(),
        }
    }

    /// Types `text` (a command or a message) into the buffer named
    /// `buffer` (`core.weechat`, `irc.pipechat.#general`), through the FIFO.
    fn type_in(&mut self, buffer: &str, text: &str) {
        let fifo = self.dir.join(format!("weechat_fifo_{}", self.child.id()));
        let deadline = Instant::now() + DEADLINE;
        while !fifo.exists() {
            assert!(
                Instant::now() < deadline,
                "WeeChat made no FIFO ({}): is its fifo plugin (weechat-plugins) installed?\n{}",
                fifo.display(),
                self.logs()
            );
            self.assert_running();
            std::thread::sleep(Duration::from_millis(20));
        }
        // Non-blocking: an error, not a hang, if WeeChat is no longer
        // reading it. The FIFO exists a moment before WeeChat opens it to
        // read, and until then opening it to write is ENXIO: tried again.
        let mut pipe = loop {
            let opened = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
                .open(&fifo);
            match opened {
                Err(err)
                    if err.raw_os_error() == Some(rustix::io::Errno::NXIO.raw_os_error())
                        && Instant::now() < deadline =>
                {
                    self.assert_running();
                    std::thread::sleep(Duration::from_millis(20));
                }
                opened => break opened.expect("open WeeChat's FIFO"),
            }
        };
        pipe.write_all(format!("{buffer} *{text}\n").as_bytes())
            .expect("write to WeeChat's FIFO");
    }

    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            panic!("WeeChat exited ({status}):\n{}", self.logs());
        }
    }

    /// The log of the buffer named `buffer` so far (empty before it has
    /// one).
    fn log(&self, buffer: &str) -> String {
        let file = self.dir.join("logs").join(format!("{buffer}.weechatlog"));
        std::fs::read_to_string(file).unwrap_or_default()
    }

    /// Waits until the log of `buffer` has `text`, failing with every log.
    fn wait_for(&mut self, buffer: &str, text: &str) {
        let deadline = Instant::now() + DEADLINE;
        while !self.log(buffer).contains(text) {
            assert!(
                Instant::now() < deadline,
                "WeeChat never showed {text:?} in {buffer}:\n{}",
                self.logs()
            );
            self.assert_running();
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every buffer's log, each under its name.
    fn logs(&self) -> String {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.join("logs"))
            .map(|dir| dir.flatten().map(|entry| entry.path()).collect())
            .unwrap_or_default();
        files.sort();
        let mut all = String::new();
        for file in files {
            let name = file.file_name().unwrap_or_default().to_string_lossy();
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            all.push_str(&format!("--- {name}\n{text}"));
        }
        all
    }

    /// `/quit`, and waits for WeeChat to exit.
    fn quit(mut self) {
        self.type_in("core.weechat", "/quit");
        wait_with_deadline(&mut self.child);
    }
}

impl Drop for WeeChat {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// WeeChat, set up with `settings`, logs in as alice (its server buffer
/// saying `logged_in`) and chats in `#general` with bob on the pipe.
fn chats_with_a_pipe_client(test: &str, settings: fn(&Settings) -> &[String], logged_in: &str) {
    if skip_without(test, &["weechat-headless"]) {
        return;
    }
    let server = TestServer::start_irc(&[]);
    let mut alice = server.connect();
    let reply = alice.call("/register", &["alice", PASSWORD]);
    assert_eq!(reply["status"], 201, "{reply}");
    let reply = alice.call("/login", &["alice", PASSWORD]);
    assert_eq!(reply["status"], 200, "{reply}");
    alice.create_and_join("general");
    drop(alice);
    let mut bob = server.login_as("bob");
    bob.join("general");
    bob.subscribe("general");

    let guide = Settings::from_docs(server.irc.expect("an IRC address"));
    let mut weechat = WeeChat::start(&server.dir.path().join("weechat"));
    for command in settings(&guide) {
        weechat.type_in("core.weechat", command);
    }
    // Logged in as the account, and put in its room's channel.
    weechat.wait_for("irc.server.pipechat", logged_in);
    weechat.wait_for(
        "irc.pipechat.#general",
        "alice (alice@pipechat) has joined #general",
    );

    bob.send("general", "hello weechat, from the pipe");
    weechat.wait_for(
        "irc.pipechat.#general",
        "\tbob\thello weechat, from the pipe",
    );

    weechat.type_in("irc.pipechat.#general", "hello pipe, from weechat");
    let deadline = Instant::now() + DEADLINE;
    loop {
        let event = bob.next_event();
        if event["event"] == "message" && event["data"]["username"] == "alice" {
            assert_eq!(event["data"]["text"], "hello pipe, from weechat");
            break;
        }
        assert!(Instant::now() < deadline, "no message from WeeChat");
    }

    let logs = weechat.logs();
    println!("WeeChat's logs at the end of the session:\n{logs}");
    // `=!=` starts WeeChat's errors (an unknown option, a refused
    // command, a lost connection).
    assert!(!logs.contains("=!="), "WeeChat printed an error:\n{logs}");
    weechat.quit();
}

/// docs/irc.md's settings as written: SASL PLAIN.
#[test]
fn weechat_with_sasl_chats_with_a_pipe_client() {
    chats_with_a_pipe_client(
        "weechat_with_sasl_chats_with_a_pipe_client",
        |s| &s.sasl,
        "SASL authentication successful",
    );
}

/// docs/irc.md's settings with its PASS line instead of the SASL lines
/// (WeeChat sends `PASS :alice:your password`).
#[test]
fn weechat_with_a_server_password_chats_with_a_pipe_client() {
    chats_with_a_pipe_client(
        "weechat_with_a_server_password_chats_with_a_pipe_client",
        |s| &s.pass,
        "Welcome to pipechat over IRC",
    );
}
