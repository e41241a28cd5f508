//! A real IRC client, irssi (Debian's package), driven in tmux against the
//! IRC front door: it logs in with `PASS username:password`, is put in the
//! channel of its account's room, sees a message sent over the pipe, and
//! its own message reaches a pipe client; irssi calls the channel synced
//! (every query it made on joining was answered). Its screen is printed to the test
//! log. When irssi or tmux is missing the test says so and checks nothing
//! (under CI that is a failure); `.ci/run` installs both.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{DEADLINE, TestServer, password_of, skip_without};

/// A tmux server of this test's own (its own socket, in the test's
/// folder, so that none is left behind), killed on drop.
struct Tmux {
    socket: std::path::PathBuf,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "irc"])
    }

    /// Waits until the screen shows `text`, failing with the screen.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "irssi never showed {text:?}; its screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

#[test]
fn irssi_chats_with_a_pipe_client() {
    if skip_without("irssi_chats_with_a_pipe_client", &["irssi", "tmux"]) {
        return;
    }
    let server = TestServer::start_irc(&[]);
    let mut alice = server.login_as("alice");
    alice.create_and_join("general");
    alice.subscribe("general");
    let mut bob = server.login_as("bob");
    bob.join("general");
    drop(bob);

    let home = server.dir.path().join("irssi");
    std::fs::create_dir_all(&home).unwrap();
    // irssi sends the queries that sync a channel (MODE, WHO, MODE b) one at
    // a time, each at least `cmd_queue_speed` (2.2 s by default) after its
    // last command, whatever the server: about 8 s a channel, on ngircd as
    // here. Without that pacing the channel is synced as soon as the server
    // has answered all three.
    std::fs::write(
        home.join("config"),
        "settings = { \"irc/core\" = { cmd_queue_speed = \"0\"; }; };\n",
    )
    .unwrap();
    let irc = server.irc.unwrap();
    let tmux = Tmux {
        socket: server.dir.path().join("tmux.sock"),
    };
    let command = format!(
        "irssi --home={} -c {} -p {} -n bob -w bob:{}",
        home.display(),
        irc.ip(),
        irc.port(),
        password_of("bob")
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "irc",
        "-x",
        "120",
        "-y",
        "30",
        &command,
    ]);
    // Logged in as the account, and put in its room's channel.
    tmux.wait_for("Welcome to pipechat over IRC");
    // irssi opens the channel the server put it in as window 2.
    tmux.wait_for("Act: 2");
    tmux.run(&["send-keys", "-t", "irc", "/window 2", "Enter"]);
    tmux.wait_for("[#general]");
    // Every query irssi syncs the channel with was answered as it expects:
    // one it never gets an answer to leaves the channel unsynced for good.
    tmux.wait_for("Join to #general was synced");

    alice.send("general", "hello irssi, from the pipe");
    tmux.wait_for("hello irssi, from the pipe");

    tmux.run(&["send-keys", "-t", "irc", "hello pipe, from irssi", "Enter"]);
    let deadline = Instant::now() + DEADLINE;
    loop {
        let event = alice.next_event();
        if event["event"] == "message" && event["data"]["username"] == "bob" {
            assert_eq!(event["data"]["text"], "hello pipe, from irssi");
            break;
        }
        assert!(Instant::now() < deadline, "no message from irssi");
    }
    let screen = tmux.wait_for("hello pipe, from irssi");
    println!("irssi's screen at the end of the session:\n{screen}");
    tmux.run(&["send-keys", "-t", "irc", "/quit bye", "Enter"]);
}
