//! The IRC front door over raw TCP: registration (SASL, PASS, guests on and
//! off), channels, messages and notices, every IRCv3 capability offered,
//! CHATHISTORY, delivery across front doors both ways, and hostile input.

mod support;

use support::{
    Client, IrcClient, TestServer, assert_status, password_of, plain, race_for_a_name, wait_until,
};

fn params(line: &pipechat::irc::line::Line) -> Vec<&str> {
    line.params.iter().map(String::as_str).collect()
}

/// `--irc` prints `irc on ADDR` after `listening on`; SASL PLAIN with an
/// account made over the pipe logs in, the nick becomes the account's name
/// as registered, and the account is in the channels of its rooms at once.
#[test]
fn sasl_login_names_the_client_after_its_account_and_joins_its_rooms() {
    let server = TestServer::start_irc(&[]);
    let mut pipe = server.login_as("Alice");
    pipe.create_and_join("general");
    let mut irc = server.irc();
    irc.send("CAP LS 302");
    let ls = irc.expect("CAP");
    assert!(ls.params[2].contains("sasl=PLAIN"), "{ls:?}");
    irc.send("CAP REQ :sasl");
    irc.send("NICK whatever");
    irc.send("USER u 0 * :Real");
    assert_eq!(params(&irc.expect("CAP")), ["*", "ACK", "sasl"]);
    irc.send("AUTHENTICATE PLAIN");
    assert_eq!(params(&irc.expect("AUTHENTICATE")), ["+"]);
    irc.send(&format!(
        "AUTHENTICATE {}",
        plain("alice", &password_of("Alice"))
    ));
    let logged_in = irc.expect("900");
    assert_eq!(logged_in.params[2], "Alice");
    irc.expect("903");
    irc.send("CAP END");
    assert_eq!(irc.expect("001").params[0], "Alice");
    let joined = irc.until("366");
    assert!(
        joined
            .iter()
            .any(|l| l.command == "JOIN" && l.params == ["#general"])
    );
    let names = joined.iter().find(|l| l.command == "353").expect("names");
    assert_eq!(names.params[3], "@Alice");
}

/// Wrong SASL credentials: 904, counted by the login throttle (the
/// eleventh try is refused as throttled); AUTHENTICATE * aborts (906).
#[test]
fn wrong_sasl_credentials_get_904_and_are_throttled() {
    let server = TestServer::start_irc(&[]);
    let mut pipe = server.connect();
    assert_status(&pipe.call("/register", &["bob", &password_of("bob")]), 201);
    let mut irc = server.irc();
    irc.send("CAP REQ :sasl");
    irc.expect("CAP");
    let mut last = None;
    for _ in 0..11 {
        irc.send("AUTHENTICATE PLAIN");
        irc.expect("AUTHENTICATE");
        irc.send(&format!("AUTHENTICATE {}", plain("bob", "wrong password")));
        last = Some(irc.expect("904"));
    }
    let last = last.unwrap();
    assert!(
        last.params[1].contains("too many failed logins"),
        "{last:?}"
    );
    irc.send("AUTHENTICATE PLAIN");
    irc.expect("AUTHENTICATE");
    irc.send("AUTHENTICATE *");
    irc.expect("906");
    irc.send("AUTHENTICATE SCRAM-SHA-256");
    assert_eq!(irc.line().command, "908");
    assert_eq!(irc.line().command, "904");
    // CAP END in the middle of an exchange aborts it (906), and the
    // registration goes on without it.
    let mut unfinished = server.irc();
    unfinished.send("CAP REQ :sasl");
    unfinished.expect("CAP");
    unfinished.send("AUTHENTICATE PLAIN");
    unfinished.expect("AUTHENTICATE");
    unfinished.send(&format!("AUTHENTICATE {}", "A".repeat(400)));
    unfinished.send("NICK bob");
    unfinished.send("USER u 0 * :Real");
    unfinished.send("CAP END");
    unfinished.expect("906");
    // Registration went on without it: this server takes no guests.
    let rest = unfinished.until_closed();
    assert!(
        rest.iter().any(|line| line.contains("Login required")),
        "{rest:?}"
    );
}

/// PASS username:password logs in (what bouncers use); a wrong one gets
/// 464 and ERROR, and the connection closes; the ERROR names the form
/// only to a PASS without it.
#[test]
fn pass_logs_in_and_a_wrong_pass_closes() {
    let server = TestServer::start_irc(&[]);
    let mut pipe = server.connect();
    assert_status(
        &pipe.call("/register", &["carol", &password_of("carol")]),
        201,
    );
    let mut irc = server.irc();
    irc.register_with_pass(&format!("carol:{}", password_of("carol")), "x");
    assert_eq!(irc.expect("001").params[0], "carol");

    let mut wrong = server.irc();
    wrong.register_with_pass("carol:nope-nope", "carol");
    let rest = wrong.until_closed();
    assert!(rest.iter().any(|l| l.contains(" 464 ")), "{rest:?}");
    let goodbye = rest.last().unwrap();
    assert!(goodbye.starts_with("ERROR"), "{rest:?}");
    // The right form, a wrong password: the form is not explained.
    assert!(!goodbye.contains("username:password"), "{goodbye}");
    assert!(!rest.iter().any(|l| l.contains(" 001 ")));

    // A bare password (the form not used) is told the form.
    let mut bare = server.irc();
    bare.register_with_pass("nope-nope", "carol");
    let rest = bare.until_closed();
    assert!(
        rest.last()
            .unwrap()
            .contains("PASS takes username:password"),
        "{rest:?}"
    );
    // A bare password is the account's that NICK names.
    let mut bare = server.irc();
    bare.register_with_pass(&password_of("carol"), "carol");
    assert_eq!(bare.expect("001").params[0], "carol");

    // Throttled, even the right password is refused, but not called wrong.
    for _ in 2..pipechat::chat::accounts::MAX_FAILED_LOGINS {
        let mut wrong = server.irc();
        wrong.register_with_pass("carol:nope-nope", "carol");
        wrong.until_closed();
    }
    let mut right = server.irc();
    right.register_with_pass(&format!("carol:{}", password_of("carol")), "carol");
    let rest = right.until_closed();
    assert!(!rest.iter().any(|l| l.contains(" 464 ")), "{rest:?}");
    let goodbye = rest.last().unwrap();
    assert!(
        goodbye.starts_with("ERROR") && goodbye.contains("Too many failed logins"),
        "{rest:?}"
    );
}

/// A registration and a guest taking the same name at the same moment never
/// both get it. Each round races `/register` against `NICK`; before the
/// fix both won every time.
#[test]
fn a_guest_and_a_registration_racing_for_a_name_never_both_get_it() {
    let server = TestServer::start_irc(&["--irc-guests"]);
    for round in 0..10 {
        let name = format!("contested{round}");
        race_for_a_name(&mut server.connect(), &mut server.irc(), &name);
    }
}

/// A password change logs the user's other connections out; an IRC client
/// has no logged-out state, so its connection ends with ERROR. (It used to
/// stay open and go on acting as the user.)
#[test]
fn a_password_change_elsewhere_ends_the_irc_connection() {
    let server = TestServer::start_irc(&[]);
    let mut irc = server.irc_account("alice", &[]);
    let mut pipe = server.connect();
    pipe.login("alice");
    assert_status(
        &pipe.call(
            "/changePassword",
            &[&password_of("alice"), "new password 1"],
        ),
        200,
    );
    let last = irc.until_closed();
    assert!(
        last.iter()
            .any(|line| line.starts_with("ERROR") && line.contains("password was changed")),
        "{last:?}"
    );
}

/// `#@bob` is a channel name, and no room is called `@bob`: 403, not a
/// direct message to bob (which it used to be, echoed twice).
#[test]
fn a_channel_named_like_a_conversation_does_not_exist() {
    let server = TestServer::start_irc(&[]);
    let mut alice = server.irc_account("alice", &[]);
    let mut bob = server.login_as("bob");
    bob.subscribe("@");
    alice.send("PRIVMSG #@bob :via a channel name");
    assert_eq!(alice.expect("403").params[1], "#@bob");
    alice.send("JOIN #@bob");
    assert_eq!(alice.expect("403").params[1], "#@bob");
    bob.barrier();
    assert!(bob.drain_events().is_empty());
    // Nor does its history read their conversation (it used to).
    bob.send("@alice", "between us");
    assert_eq!(params(&alice.expect("PRIVMSG")), ["alice", "between us"]);
    alice.send("CHATHISTORY LATEST #@bob * 10");
    let fail = alice.expect("FAIL");
    assert_eq!(
        params(&fail)[..3],
        ["CHATHISTORY", "INVALID_TARGET", "LATEST"]
    );
    // The conversation's own name still reads it.
    alice.send("CHATHISTORY LATEST bob * 10");
    assert_eq!(params(&alice.expect("PRIVMSG")), ["alice", "between us"]);
}

/// Without --irc-guests a client that does not log in is told why and
/// disconnected after registration.
#[test]
fn without_guests_a_client_that_does_not_log_in_is_closed() {
    let server = TestServer::start_irc(&[]);
    let mut irc = server.irc();
    irc.send("NICK visitor");
    irc.send("USER u 0 * :Real");
    let rest = irc.until_closed();
    assert!(
        rest.iter()
            .any(|l| l.contains("NOTICE") && l.contains("SASL")),
        "{rest:?}"
    );
    assert!(rest.last().unwrap().starts_with("ERROR"), "{rest:?}");
    assert!(!rest.iter().any(|l| l.contains(" 001 ")));
}

/// With --irc-guests: a guest chats under a free nick; an account's name
/// and a connected guest's nick are refused (433); the guest's messages
/// are stored under its nick and marked as a guest's; its memberships end
/// when it leaves, and its nick is free again.
#[test]
fn guests_chat_under_free_nicks_and_leave_nothing_behind() {
    let server = TestServer::start_irc(&["--irc-guests"]);
    let mut pipe = server.login_as("dave");
    pipe.create_and_join("general");
    pipe.subscribe("general");

    let mut taken = server.irc();
    taken.send("NICK dave");
    taken.send("USER u 0 * :Real");
    let refused = taken.expect("433");
    assert!(refused.params[2].contains("account"), "{refused:?}");

    let mut guest = server.irc_guest("visitor");
    let mut twin = server.irc();
    twin.send("NICK Visitor");
    twin.expect("433");
    // Nor the server's name, or a service's, which clients send passwords,
    // at registration or by a change of nick.
    for reserved in ["pipechat", "NickServ"] {
        let mut service = server.irc();
        service.send(&format!("NICK {reserved}"));
        service.send("USER u 0 * :Real");
        service.expect("433");
        guest.send(&format!("NICK {reserved}"));
        guest.expect("433");
    }

    guest.send("JOIN #general");
    guest.expect("366");
    guest.send("PRIVMSG #general :hello from a guest");
    guest.sync();
    let events = pipe.drain_events();
    assert_eq!(events[0]["event"], "join");
    assert_eq!(events[1]["data"]["username"], "visitor");
    assert_eq!(events[1]["data"]["guest"], true);
    let rows = server.sql_rows(
        "SELECT username, guest FROM history WHERE text = 'hello from a guest'",
        "SELECT username, CASE WHEN guest THEN 1 ELSE 0 END FROM history
         WHERE text = 'hello from a guest'",
    );
    assert_eq!(rows, [["visitor", "1"]]);
    // A guest cannot log in anywhere.
    assert_status(
        &server
            .connect()
            .call("/login", &["visitor", "anything at all"]),
        401,
    );

    guest.send("QUIT :gone");
    guest.until_closed();
    let exit = pipe.next_event();
    assert_eq!(exit["event"], "exit", "{exit}");
    assert_eq!(
        pipe.ok("/getChatroomMembers|general"),
        serde_json::json!(["dave"])
    );
    // The nick is freed just after the guest's memberships end, which is
    // what the exit event tells; it may take a moment more, so the twin
    // tries again after each 433, as IRC clients do.
    twin.send("USER u 0 * :Real");
    wait_until("the guest's nick is free again", || {
        twin.send("NICK visitor");
        let answer = twin.until_any(&["433", "001"]).pop();
        answer.is_some_and(|line| line.command == "001")
    });
    // A guest leaving a room leaves no read position to come back to: the
    // next guest with its nick is another user.
    twin.send("JOIN #general");
    twin.expect("366");
    twin.send("PART #general");
    twin.expect("PART");
    let departures = "SELECT count(*) FROM room_departures";
    assert_eq!(server.sql_rows(departures, departures), [["0"]]);
}

/// A direct conversation with a guest is listed by `/getUnread` while the
/// guest is connected, and no longer once it has left: `@visitor` would
/// name whoever takes the nick next, so the count could never be cleared.
#[test]
fn a_departed_guests_conversation_leaves_the_unread_list() {
    let server = TestServer::start_irc(&["--irc-guests"]);
    let mut pipe = server.login_as("dave");
    let mut guest = server.irc_guest("visitor");
    guest.send("PRIVMSG dave :psst");
    guest.sync();
    let listed = |pipe: &mut Client| -> Vec<String> {
        pipe.ok("/getUnread")
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| format!("{} {}", entry["room"], entry["unread"]))
            .collect()
    };
    assert_eq!(listed(&mut pipe), ["\"@visitor\" 1"]);

    guest.send("QUIT :gone");
    guest.until_closed();
    wait_until(
        "the departed guest's conversation is no longer listed",
        || listed(&mut pipe).is_empty(),
    );
}

/// JOIN creates a missing room and joins it; PRIVMSG to a channel is
/// stored and reaches IRC and pipe members; PART exits (with its reason);
/// a channel one is not in refuses messages (404); NOTICE is live only.
#[test]
fn join_privmsg_notice_part_between_irc_and_pipe() {
    let server = TestServer::start_irc(&["--irc-guests"]);
    let mut one = server.irc_guest("one");
    let mut two = server.irc_guest("two");
    one.send("JOIN #new-room");
    assert!(
        one.until("366")
            .iter()
            .any(|l| l.command == "353" && l.params[3] == "@one")
    );
    let mut pipe = server.login_as("erin");
    pipe.join("new-room");
    pipe.subscribe("new-room");
    let join = one.expect("JOIN");
    assert_eq!(join.source.as_deref(), Some("erin!erin@pipechat"));

    two.send("PRIVMSG #new-room :not in it");
    assert_eq!(two.expect("404").params[1], "#new-room");
    two.send("JOIN #new-room");
    two.expect("366");
    assert_eq!(
        one.expect("JOIN").source.as_deref(),
        Some("two!~guest@pipechat")
    );

    two.send("PRIVMSG #new-room :stored words");
    let got = one.expect("PRIVMSG");
    assert_eq!(params(&got), ["#new-room", "stored words"]);
    let event = pipe.next_event();
    assert_eq!(event["event"], "join");
    let event = pipe.next_event();
    assert_eq!(event["data"]["text"], "stored words");

    two.send("NOTICE #new-room :live words");
    assert_eq!(params(&one.expect("NOTICE")), ["#new-room", "live words"]);
    let stored: Vec<String> = pipe.texts("new-room");
    assert_eq!(stored, ["stored words"]);

    pipe.send("new-room", "from the pipe");
    assert_eq!(
        params(&two.expect("PRIVMSG")),
        ["#new-room", "from the pipe"]
    );

    two.send("PART #new-room :see you");
    let part = two.expect("PART");
    assert_eq!(params(&part), ["#new-room", "see you"]);
    assert_eq!(params(&one.expect("PART")), ["#new-room", "see you"]);
    two.send("PART #new-room");
    two.expect("442");
    two.send("PRIVMSG nobody-here :hi");
    two.expect("401");
}

/// Direct messages: PRIVMSG nick is stored as a direct message, and a
/// pipe client's direct message reaches the IRC user.
#[test]
fn privmsg_to_a_nick_is_a_direct_message_both_ways() {
    let server = TestServer::start_irc(&[]);
    let mut irc = server.irc_account("frank", &[]);
    let mut pipe = server.login_as("grace");
    pipe.ok("/subscribe|@");
    irc.send("PRIVMSG grace :psst");
    let event = pipe.next_event();
    assert_eq!(event["data"]["to"], "grace");
    assert_eq!(event["data"]["text"], "psst");
    pipe.send("@frank", "hello back");
    let got = irc.expect("PRIVMSG");
    assert_eq!(got.source.as_deref(), Some("grace!grace@pipechat"));
    assert_eq!(params(&got), ["frank", "hello back"]);

    // A note to self is delivered once; with echo-message, it is the echo,
    // carrying the label.
    irc.send("PRIVMSG frank :note to self");
    let got: Vec<_> = irc
        .sync()
        .into_iter()
        .filter(|l| l.command == "PRIVMSG")
        .collect();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(params(&got[0]), ["frank", "note to self"]);
    irc.send("CAP REQ :echo-message labeled-response batch");
    irc.expect("CAP");
    irc.send("@label=n2 PRIVMSG frank :second note");
    let got: Vec<_> = irc
        .sync()
        .into_iter()
        .filter(|l| l.command == "PRIVMSG")
        .collect();
    // Once, as its echo (it used to come twice with the same msgid).
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].tag("label"), Some("n2"));
}

/// server-time, message-tags (msgid is the pipechat id), account-tag,
/// echo-message and labeled-response, together.
#[test]
fn tags_echo_and_labels() {
    let server = TestServer::start_irc(&[]);
    let caps = [
        "server-time",
        "message-tags",
        "account-tag",
        "echo-message",
        "batch",
        "labeled-response",
    ];
    let mut irc = server.irc_account("hank", &caps);
    let mut pipe = server.login_existing("hank", "hank");
    pipe.create_and_join("tags");
    irc.send("JOIN #tags");
    irc.expect("366");
    irc.send("@label=l1 PRIVMSG #tags :echo me");
    let echo = irc.expect("PRIVMSG");
    assert_eq!(echo.tag("label"), Some("l1"));
    let id = echo.tag("msgid").expect("msgid").to_string();
    assert_eq!(echo.tag("account"), Some("hank"));
    assert!(echo.tag("time").unwrap().ends_with('Z'));
    let stored = pipe.fetch_all("tags");
    assert_eq!(stored[0]["id"].to_string(), id);
    assert_eq!(stored[0]["sent_at"], echo.tag("time").unwrap());
    irc.send("@label=l2 PONG x");
    let ack = irc.expect("ACK");
    assert_eq!(ack.tag("label"), Some("l2"));
    irc.send("@label=l3 NAMES #tags");
    let batch = irc.line();
    assert_eq!(batch.command, "BATCH");
    assert_eq!(batch.tag("label"), Some("l3"));
    assert_eq!(batch.params[1], "labeled-response");
    let lines = irc.until("BATCH");
    assert!(lines.iter().any(|l| l.command == "353"));
}

/// Without echo-message a client does not see its own message; a message
/// of its account from another front door it does see.
#[test]
fn without_echo_message_own_messages_are_not_repeated() {
    let server = TestServer::start_irc(&[]);
    let mut irc = server.irc_account("ivy", &[]);
    let mut pipe = server.login_existing("ivy", "ivy");
    pipe.create_and_join("quiet");
    irc.send("JOIN #quiet");
    irc.expect("366");
    irc.send("PRIVMSG #quiet :mine");
    assert!(irc.sync().iter().all(|l| l.command != "PRIVMSG"));
    pipe.send("quiet", "from my pipe client");
    assert_eq!(irc.expect("PRIVMSG").params[1], "from my pipe client");
}

/// multi-prefix, away-notify (and AWAY's numerics, WHO's G flag; away
/// ends with the connection that said it), and presence: NAMES and WHO list members connected now; a pipe member who
/// logs in appears with JOIN and leaves with QUIT.
#[test]
fn presence_names_who_and_away() {
    let server = TestServer::start_irc(&[]);
    let mut jo = server.irc_account("jo", &["multi-prefix", "away-notify"]);
    let mut pipe = server.login_existing("jo", "jo");
    pipe.create_and_join("presence");
    let mut kim = server.login_as("kim");
    kim.join("presence");
    drop(kim);
    support::wait_until("kim's connection has ended", || {
        !pipe.ok("/getActiveUsers").to_string().contains("kim")
    });
    jo.send("JOIN #presence");
    let names = jo.until("366");
    let listed = names.iter().find(|l| l.command == "353").unwrap();
    assert_eq!(listed.params[3], "@jo", "kim is a member but not connected");
    let mut kim = server.login_existing("kim", "kim");
    let join = jo.expect("JOIN");
    assert_eq!(join.source.as_deref(), Some("kim!kim@pipechat"));
    jo.send("WHO #presence");
    let who = jo.until("315");
    let nicks: Vec<&str> = who
        .iter()
        .filter(|l| l.command == "352")
        .map(|l| l.params[5].as_str())
        .collect();
    assert_eq!(nicks, ["jo", "kim"]);

    let mut lee = server.irc_account("lee", &["away-notify"]);
    kim.join("presence");
    lee.send("JOIN #presence");
    lee.expect("366");
    jo.expect("JOIN");
    lee.send("AWAY :lunch");
    lee.expect("306");
    let away = jo.expect("AWAY");
    assert_eq!(away.source.as_deref(), Some("lee!lee@pipechat"));
    assert_eq!(params(&away), ["lunch"]);
    jo.send("WHO lee");
    assert_eq!(jo.expect("352").params[6], "G");
    jo.send("PRIVMSG lee :are you there");
    assert_eq!(jo.expect("301").params[2], "lunch");
    lee.send("AWAY");
    lee.expect("305");
    assert!(jo.expect("AWAY").params.is_empty());

    // Away said on a connection that ends, its user staying connected on
    // another: back (it stayed away until the server stopped).
    let lee_pipe = server.login_existing("lee", "lee");
    lee.send("AWAY :gone for the day");
    lee.expect("306");
    assert_eq!(params(&jo.expect("AWAY")), ["gone for the day"]);
    lee.send("QUIT :bye");
    lee.until_closed();
    let back = jo.expect("AWAY");
    assert_eq!(back.source.as_deref(), Some("lee!lee@pipechat"));
    assert!(back.params.is_empty(), "{back:?}");
    jo.send("WHO lee");
    assert_eq!(jo.expect("352").params[6], "H");
    // The same when that connection is logged out by a password change
    // made on another (it stayed away: the logout had cleared who it was).
    let mut lee = server.irc();
    lee.login_sasl("lee", &password_of("lee"), &[]);
    lee.send("AWAY :changing my password");
    lee.expect("306");
    assert_eq!(params(&jo.expect("AWAY")), ["changing my password"]);
    let mut lee_pipe = lee_pipe;
    lee_pipe.ok_call(
        "/changePassword",
        &[&password_of("lee"), "a-new-password-1"],
    );
    lee.until_closed();
    let back = jo.expect("AWAY");
    assert!(back.params.is_empty(), "{back:?}");
    drop(lee_pipe);
    assert_eq!(
        jo.expect("QUIT").source.as_deref(),
        Some("lee!lee@pipechat")
    );

    // A QUIT without a message: the members see what the quitter is told.
    let mut max = server.irc_account("max", &[]);
    max.send("JOIN #presence");
    max.expect("366");
    jo.expect("JOIN");
    max.send("QUIT");
    assert!(max.until_closed().last().unwrap().contains("(Client quit)"));
    assert_eq!(params(&jo.expect("QUIT")), ["Client quit"]);

    drop(kim);
    let quit = jo.expect("QUIT");
    assert_eq!(quit.source.as_deref(), Some("kim!kim@pipechat"));
}

/// Multi-line texts from the pipe: several PRIVMSG lines, or one
/// draft/multiline batch; long texts are cut at 512 bytes without breaking
/// a character, and after a space where there is one. A client's multiline
/// batch is stored as one message.
#[test]
fn multiline_texts_both_ways_and_long_texts_split() {
    let server = TestServer::start_irc(&[]);
    let mut plain_client = server.irc_account("mia", &[]);
    let mut batched = server.irc_account("ned", &["batch", "draft/multiline", "echo-message"]);
    let mut pipe = server.login_as("oz");
    pipe.create_and_join("lines");
    for client in [&mut plain_client, &mut batched] {
        client.send("JOIN #lines");
        client.expect("366");
    }
    pipe.send("lines", "first\nsecond");
    let one = plain_client.expect("PRIVMSG");
    let two = plain_client.expect("PRIVMSG");
    assert_eq!(
        (one.params[1].as_str(), two.params[1].as_str()),
        ("first", "second")
    );
    let open = batched.expect("BATCH");
    assert_eq!(open.params[1], "draft/multiline");
    let lines = batched.until("BATCH");
    assert_eq!(lines.len(), 3);

    let long = "é".repeat(1000);
    pipe.send("lines", &long);
    let mut rebuilt = String::new();
    while rebuilt.len() < long.len() {
        let text = plain_client.try_line().unwrap();
        assert!(text.len() + 2 <= 512, "{} bytes", text.len() + 2);
        let line = pipechat::irc::line::Line::parse(&text).unwrap();
        if line.command == "PRIVMSG" {
            rebuilt.push_str(&line.params[1]);
        }
    }
    assert_eq!(rebuilt, long);
    // The long text reached the batching client as a batch too.
    assert_eq!(batched.expect("BATCH").params[1], "draft/multiline");
    batched.until("BATCH");

    // Words are not cut in two: a long text of words is cut after a space.
    let words: Vec<String> = (0..90).map(|n| format!("word{n:03}")).collect();
    let long = words.join(" ");
    pipe.send("lines", &long);
    let mut pieces: Vec<String> = Vec::new();
    while pieces.concat().len() < long.len() {
        pieces.push(plain_client.expect("PRIVMSG").params[1].clone());
    }
    assert!(pieces.len() > 1, "{pieces:?}");
    assert_eq!(pieces.concat(), long);
    for piece in &pieces[..pieces.len() - 1] {
        assert!(piece.ends_with(' '), "{piece:?}");
    }
    assert_eq!(batched.expect("BATCH").params[1], "draft/multiline");
    batched.until("BATCH");

    batched.send("BATCH +b1 draft/multiline #lines");
    batched.send("@batch=b1 PRIVMSG #lines :alpha");
    batched.send("@batch=b1 PRIVMSG #lines :beta");
    batched.send("BATCH -b1");
    // The echo is a batch of the same two lines.
    assert_eq!(batched.expect("BATCH").params[1], "draft/multiline");
    let echoed: Vec<String> = batched
        .until("BATCH")
        .iter()
        .filter(|l| l.command == "PRIVMSG")
        .map(|l| l.params[1].clone())
        .collect();
    assert_eq!(echoed, ["alpha", "beta"]);
    let stored = pipe.fetch_all("lines");
    assert_eq!(stored.last().unwrap()["text"], "alpha\nbeta");
}

/// Edits and deletes made over the pipe: REDACT with
/// draft/message-redaction, a short NOTICE otherwise; a topic set on
/// either side reaches the other.
#[test]
fn edits_deletes_and_topics_cross_front_doors() {
    let server = TestServer::start_irc(&[]);
    let mut redacting = server.irc_account("pat", &["draft/message-redaction"]);
    let mut plain_client = server.irc_account("quin", &[]);
    let mut pipe = server.login_as("rae");
    pipe.create_and_join("edits");
    pipe.subscribe("edits");
    for client in [&mut redacting, &mut plain_client] {
        client.send("JOIN #edits");
        client.expect("366");
    }
    let sent = pipe.send("edits", "typo");
    let id = sent["id"].as_i64().unwrap();
    redacting.expect("PRIVMSG");
    plain_client.expect("PRIVMSG");
    pipe.ok(&format!("/editMessage|{id}|fixed"));
    let notice = plain_client.expect("NOTICE");
    assert!(notice.params[1].contains("fixed"), "{notice:?}");
    pipe.ok(&format!("/deleteMessage|{id}"));
    assert_eq!(
        params(&redacting.expect("REDACT")),
        ["#edits", &id.to_string()]
    );
    assert!(plain_client.expect("NOTICE").params[1].contains("deleted"));

    // A direct message's REDACT comes from its author, as its PRIVMSG did,
    // so that the client finds the message in that conversation.
    let direct = pipe.send("@pat", "just for you")["id"].as_i64().unwrap();
    let privmsg = redacting.expect("PRIVMSG");
    pipe.ok(&format!("/deleteMessage|{direct}"));
    let redact = redacting.expect("REDACT");
    assert_eq!(redact.source, privmsg.source);
    assert_eq!(params(&redact), ["pat", &direct.to_string()]);

    plain_client.send("TOPIC #edits :set over irc");
    assert_eq!(plain_client.expect("TOPIC").params[1], "set over irc");
    let topic = redacting.expect("TOPIC");
    assert_eq!(topic.source.as_deref(), Some("quin!quin@pipechat"));
    assert_eq!(topic.params[1], "set over irc");
    let events = pipe.drain_events();
    assert!(events.iter().any(|e| e["event"] == "topic"
        && e["data"]["topic"] == "set over irc"
        && e["data"]["username"] == "quin"));
    let before = chrono::Utc::now().timestamp();
    pipe.ok("/setTopic|edits|set over the pipe");
    let after = chrono::Utc::now().timestamp();
    assert_eq!(redacting.expect("TOPIC").params[1], "set over the pipe");
    redacting.send("TOPIC #edits");
    assert_eq!(redacting.expect("332").params[2], "set over the pipe");
    // RPL_TOPICWHOTIME: who set it, and when in Unix seconds.
    let who_time = redacting.expect("333");
    assert_eq!(params(&who_time)[1..3], ["#edits", "rae!rae@pipechat"]);
    let at: i64 = who_time.params[3].parse().expect("a time");
    assert!(
        (before..=after).contains(&at),
        "{at} not in {before}..={after}"
    );

    // A topic cleared has neither: 331 alone.
    pipe.ok("/setTopic|edits|");
    assert_eq!(redacting.expect("TOPIC").params[1], "");
    redacting.send("TOPIC #edits");
    let reply = redacting.line();
    assert_eq!(reply.command, "331", "{reply:?}");
}

/// CHATHISTORY pages through a room and a conversation by msgid and by
/// timestamp: LATEST, BEFORE, AFTER, AROUND, BETWEEN, and TARGETS.
#[test]
fn chathistory_pages_rooms_and_conversations() {
    let server = TestServer::start_irc(&[]);
    let mut irc = server.irc_account(
        "sam",
        &["draft/chathistory", "batch", "server-time", "message-tags"],
    );
    let mut pipe = server.login_as("tess");
    pipe.create_and_join("history");
    let ids: Vec<i64> = (0..30)
        .map(|n| {
            pipe.send("history", &format!("m{n}"))["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    irc.send("JOIN #history");
    irc.expect("366");

    let page = |irc: &mut IrcClient, request: &str| -> Vec<String> {
        irc.send(request);
        let open = irc.expect("BATCH");
        assert_eq!(open.params[1], "chathistory", "{open:?}");
        irc.until("BATCH")
            .iter()
            .filter(|l| l.command == "PRIVMSG")
            .map(|l| l.params[1].clone())
            .collect()
    };
    let texts =
        |range: std::ops::Range<usize>| -> Vec<String> { range.map(|n| format!("m{n}")).collect() };
    assert_eq!(
        page(&mut irc, "CHATHISTORY LATEST #history * 10"),
        texts(20..30)
    );
    let before = format!("CHATHISTORY BEFORE #history msgid={} 10", ids[20]);
    assert_eq!(page(&mut irc, &before), texts(10..20));
    let after = format!("CHATHISTORY AFTER #history msgid={} 5", ids[4]);
    assert_eq!(page(&mut irc, &after), texts(5..10));
    let around = format!("CHATHISTORY AROUND #history msgid={} 4", ids[15]);
    assert_eq!(page(&mut irc, &around), texts(14..18));
    let around = format!("CHATHISTORY AROUND #history msgid={} 1", ids[15]);
    assert_eq!(page(&mut irc, &around), texts(15..16));
    let between = format!(
        "CHATHISTORY BETWEEN #history msgid={} msgid={} 100",
        ids[2], ids[6]
    );
    assert_eq!(page(&mut irc, &between), texts(3..6));
    let latest_after = format!("CHATHISTORY LATEST #history msgid={} 100", ids[27]);
    assert_eq!(page(&mut irc, &latest_after), texts(28..30));

    // By time: everything after the epoch, nothing after the far future.
    let all = page(
        &mut irc,
        "CHATHISTORY AFTER #history timestamp=2000-01-01T00:00:00.000Z 100",
    );
    assert_eq!(all, texts(0..30));
    let none = page(
        &mut irc,
        "CHATHISTORY AFTER #history timestamp=2999-01-01T00:00:00.000Z 100",
    );
    assert!(none.is_empty());
    let last = page(
        &mut irc,
        "CHATHISTORY BEFORE #history timestamp=2999-01-01T00:00:00.000Z 3",
    );
    assert_eq!(last, texts(27..30));

    pipe.send("@sam", "a direct one");
    irc.expect("PRIVMSG");
    assert_eq!(
        page(&mut irc, "CHATHISTORY LATEST tess * 10"),
        ["a direct one"]
    );
    irc.send("CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2999-01-01T00:00:00.000Z 10");
    irc.expect("BATCH");
    let targets: Vec<String> = irc
        .until("BATCH")
        .iter()
        .filter(|l| l.command == "CHATHISTORY")
        .map(|l| l.params[1].clone())
        .collect();
    assert_eq!(targets, ["#history", "tess"]);

    irc.send("CHATHISTORY LATEST #nowhere * 10");
    assert_eq!(irc.expect("FAIL").params[1], "INVALID_TARGET");
    irc.send("CHATHISTORY BEFORE #history bogus 10");
    assert_eq!(irc.expect("FAIL").params[1], "INVALID_PARAMS");
}

/// Hostile input: a line over 512 bytes gets 417 and the connection goes
/// on; NUL, CR in the middle, invalid UTF-8 and unknown commands are
/// answered; a flood is answered in order; nobody else is affected.
#[test]
fn hostile_input_is_answered_and_survived() {
    let server = TestServer::start_irc(&["--irc-guests"]);
    let mut bad = server.irc_guest("rogue");
    let mut good = server.irc_guest("calm");
    bad.send(&format!("PRIVMSG calm :{}", "x".repeat(600)));
    bad.expect("417");
    bad.send_raw(&vec![b'y'; 20_000]);
    bad.send_raw(b"\r\n");
    bad.expect("417");
    // Client tags over 4094 bytes: 417, and the message goes nowhere.
    bad.send(&format!("@+x={} PRIVMSG calm :tagged", "a".repeat(4096)));
    bad.expect("417");
    bad.send_raw(b"PRIVMSG calm :a\0b\r\n");
    assert_eq!(bad.expect("400").params[1], "*");
    bad.send_raw(b"PING one\rPING two\r\n");
    assert_eq!(bad.expect("PONG").params[1], "one");
    assert_eq!(bad.expect("PONG").params[1], "two");
    bad.send_raw(b"PRIVMSG calm :\xff\xfe\r\n");
    assert_eq!(
        params(&bad.expect("FAIL"))[..2],
        ["PRIVMSG", "INVALID_UTF8"]
    );
    bad.send("FROBNICATE now");
    assert_eq!(bad.expect("421").params[1], "FROBNICATE");
    // Garbage is not sent back: the command is `*` in the answer.
    bad.send_raw(b"\x15\"+*\xff6D tail\r\n");
    assert_eq!(params(&bad.expect("FAIL"))[..2], ["*", "INVALID_UTF8"]);
    bad.send_raw(b"\x15\"+*6D tail\r\n");
    assert_eq!(bad.expect("421").params[1], "*");
    bad.send("JOIN");
    bad.expect("461");
    let mut flood = Vec::new();
    for n in 0..2000 {
        flood.extend_from_slice(format!("PING f{n}\r\n").as_bytes());
    }
    bad.send_raw(&flood);
    for n in 0..2000 {
        assert_eq!(bad.expect("PONG").params[1], format!("f{n}"));
    }
    good.send("PRIVMSG rogue :still fine?");
    assert!(good.sync().is_empty());
    assert_eq!(bad.expect("PRIVMSG").params[1], "still fine?");
}

/// LIST leaves out rooms whose names cannot be channels; JOIN of a name the
/// core refuses says why (479); MODE answers queries and refuses changes.
#[test]
fn list_mode_and_names_that_cannot_be_channels() {
    let server = TestServer::start_irc(&["--irc-guests"]);
    let mut pipe = server.login_as("uma");
    pipe.create_and_join("with space");
    pipe.create_and_join("plain");
    let mut irc = server.irc_guest("viewer");
    irc.send("LIST");
    let listed: Vec<String> = irc
        .until("323")
        .iter()
        .filter(|l| l.command == "322")
        .map(|l| l.params[1].clone())
        .collect();
    assert_eq!(listed, ["#plain"]);
    irc.send(&format!("JOIN #{}", "x".repeat(70)));
    irc.expect("479");
    irc.send("MODE #plain");
    assert_eq!(params(&irc.expect("324"))[1..], ["#plain", "+n"]);
    irc.send("MODE #plain b");
    irc.expect("368");
    irc.send("MODE #plain +k secret");
    irc.expect("482");
    irc.send("MODE viewer");
    assert_eq!(irc.expect("221").params[1], "+i");
}

/// The server stops cleanly with IRC clients connected: each is told with
/// ERROR, then closed, and the process exits 0.
#[test]
fn shutdown_closes_irc_clients() {
    let mut server = TestServer::start_irc(&["--irc-guests"]);
    let mut irc = server.irc_guest("leaving");
    let status = server.terminate();
    assert!(status.success());
    let rest = irc.until_closed();
    assert!(
        rest.len() == 1 && rest[0].starts_with("ERROR"),
        "{rest:?}\n{}",
        server.stderr()
    );
}

/// An account's IRC client follows its user's joins made elsewhere: a room
/// joined over the pipe puts the IRC client in its channel, with the
/// messages that follow; its own JOIN is announced once.
#[test]
fn joins_made_elsewhere_put_the_irc_client_in_the_channel() {
    let server = TestServer::start_irc(&[]);
    let mut irc = server.irc_account("wren", &[]);
    let mut pipe = server.login_existing("wren", "wren");
    let mut other = server.login_as("xena");
    other.create_and_join("elsewhere");
    pipe.join("elsewhere");
    let join = irc.expect("JOIN");
    assert_eq!(join.source.as_deref(), Some("wren!wren@pipechat"));
    assert_eq!(params(&join), ["#elsewhere"]);
    other.send("elsewhere", "seen over irc");
    assert_eq!(
        params(&irc.expect("PRIVMSG")),
        ["#elsewhere", "seen over irc"]
    );
    pipe.ok("/exitChatroom|elsewhere");
    assert_eq!(params(&irc.expect("PART")), ["#elsewhere"]);

    irc.send("JOIN #own-join");
    let burst = irc.until("366");
    assert_eq!(burst.iter().filter(|l| l.command == "JOIN").count(), 1);
    assert!(irc.sync().iter().all(|l| l.command != "JOIN"));

    // Left elsewhere, the channel can be joined again from IRC (JOIN used to
    // answer nothing, the client believing it was still in).
    irc.send("JOIN #elsewhere");
    let again = irc.until("366");
    assert!(again.iter().any(|l| l.command == "JOIN"), "{again:?}");
    // And JOIN 0 leaves what was joined elsewhere too.
    other.create_and_join("third");
    pipe.join("third");
    irc.expect("JOIN");
    irc.send("JOIN 0");
    let mut parted: Vec<String> = (0..3)
        .map(|_| params(&irc.expect("PART"))[0].to_string())
        .collect();
    parted.sort();
    assert_eq!(parted, ["#elsewhere", "#own-join", "#third"]);
}

/// A guest that created a room is its owner (`@`) while it is connected;
/// the next guest taking its nick is not.
#[test]
fn a_guests_ownership_does_not_pass_to_the_next_guest_with_its_nick() {
    let server = TestServer::start_irc(&["--irc-guests"]);
    let mut first = server.irc_guest("maker");
    first.send("JOIN #made");
    let names = first.until("366");
    let listed = names.iter().find(|l| l.command == "353").unwrap();
    assert_eq!(listed.params[3], "@maker");
    first.send("QUIT");
    first.until_closed();
    let mut watcher = server.irc_guest("watcher");
    let deadline = std::time::Instant::now() + support::DEADLINE;
    let mut second = loop {
        // The first guest's nick is free once its connection is gone.
        assert!(
            std::time::Instant::now() < deadline,
            "the nick stayed taken"
        );
        let mut candidate = server.irc();
        candidate.send("NICK maker");
        candidate.send("USER u 0 * :Real");
        let reply = candidate.line();
        if reply.command != "433" {
            candidate.expect("376");
            break candidate;
        }
    };
    second.send("JOIN #made");
    let names = second.until("366");
    let listed = names.iter().find(|l| l.command == "353").unwrap();
    assert_eq!(listed.params[3], "maker");
    second.send("MODE #made +m");
    second.expect("482");
    watcher.send("WHO #made");
    assert_eq!(watcher.expect("352").params[6], "H");
}

/// The `direct_messages` view tells a guest from the account that takes its
/// nick after it left: what the guest wrote is not shown as the account's.
#[test]
fn the_direct_messages_view_tells_a_guest_from_a_later_account() {
    let server = TestServer::start_irc(&["--irc-guests"]);
    let mut student = server.login_as("student");
    let mut guest = server.irc_guest("principal");
    guest.send("PRIVMSG student :send me your password");
    guest.sync();
    guest.send("QUIT");
    guest.until_closed();
    let mut registering = server.connect();
    wait_until("the guest's nick is free for an account", || {
        registering.call("/register", &["principal", &password_of("principal")])["status"] == 201
    });
    let mut principal = server.login_existing("principal", "principal");
    principal.send("@student", "welcome to the school");
    student.send("@principal", "thank you");
    let query = "SELECT sender, sender_guest, recipient, recipient_guest, text \
                 FROM direct_messages ORDER BY id";
    let postgres = "SELECT sender, sender_guest::int::text, recipient, \
                    recipient_guest::int::text, text FROM direct_messages ORDER BY id";
    assert_eq!(
        server.sql_rows(query, postgres),
        [
            ["principal", "1", "student", "0", "send me your password"],
            ["principal", "0", "student", "0", "welcome to the school"],
            ["student", "0", "principal", "0", "thank you"],
        ]
    );
}

/// An account made beside a server on SQLite (`add-user`, which cannot see
/// its guests) with a connected guest's nick is someone else to that guest: its join is
/// another user's JOIN, not the guest's own join made elsewhere (which
/// would bring the topic and names again and a channel it never joined).
#[test]
fn an_account_made_with_a_connected_guests_nick_is_not_that_guest() {
    let server = TestServer::start_irc(&["--irc-guests"]);
    let mut guest = server.irc_guest("maker");
    guest.send("JOIN #made");
    guest.until("366");
    let added = server.operator("add-user", "maker", &format!("{}\n", password_of("maker")));
    if server.db_url.is_some() {
        // PostgreSQL holds guests' nicks in the database: none can be taken.
        assert!(!added.status.success(), "{added:?}");
        assert!(String::from_utf8_lossy(&added.stderr).contains("already taken"));
        return;
    }
    assert!(added.status.success(), "{added:?}");
    let mut account = server.login_existing("maker", "maker");
    account.join("made");
    let join = guest.expect("JOIN");
    assert_eq!(join.source.as_deref(), Some("maker!maker@pipechat"));
    assert_eq!(params(&join), ["#made"]);
    account.create_and_join("accounts-own");
    account.send("made", "from the account");
    let after = guest.until("PRIVMSG");
    assert!(
        after
            .iter()
            .all(|l| !matches!(l.command.as_str(), "JOIN" | "353" | "366")),
        "the account's moves taken for the guest's: {after:?}"
    );
    assert_eq!(
        after.last().unwrap().source.as_deref(),
        Some("maker!maker@pipechat")
    );
    account.ok_call("/setTopic", &["made", "set by the account"]);
    let topic = guest.expect("TOPIC");
    assert_eq!(topic.source.as_deref(), Some("maker!maker@pipechat"));
    assert_eq!(params(&topic), ["#made", "set by the account"]);
}

/// IRC connections are counted in the metrics, under their own front door.
#[test]
fn irc_connections_are_counted_in_the_metrics() {
    use std::io::{Read, Write};
    let server = TestServer::start_irc(&["--irc-guests"]);
    let mut irc = server.irc_guest("counted");
    irc.sync();
    let mut http = std::net::TcpStream::connect(server.web.expect("--http is on")).unwrap();
    http.set_read_timeout(Some(support::DEADLINE)).unwrap();
    http.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut page = String::new();
    http.read_to_string(&mut page).unwrap();
    assert!(
        page.contains("pipechat_connections_open{front_door=\"irc\"} 1"),
        "{page}"
    );
}

/// An IRC client that never reads while the room is flooded is
/// disconnected by the same rule as any other (its bounded queue
/// overflows); the flood's sends all succeed and others are served.
#[test]
fn an_irc_client_that_never_reads_is_disconnected_under_a_flood() {
    const MOST_MESSAGES: usize = 3_000;
    const CHECK_EVERY: usize = 50;
    let server = TestServer::start_irc(&["--irc-guests"]);
    let mut flooder = server.login_as("flooder");
    flooder.create_and_join("flood");
    let mut slow = server.irc_guest("slow");
    slow.send("JOIN #flood");
    slow.expect("366");
    // From here on `slow` reads nothing.
    let mut observer = server.login_as("observer");
    let big = "🌊".repeat(4096);
    let line = pipechat::pipe::request::request_line("/sendMessage", &["flood", &big]);
    let started = std::time::Instant::now();
    let mut sent = 0;
    let mut slow_gone = false;
    while sent < MOST_MESSAGES && started.elapsed() < support::DEADLINE {
        assert_status(&flooder.request(&line), 201);
        sent += 1;
        if sent % CHECK_EVERY == 0
            && !observer
                .ok("/getActiveUsers")
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("slow"))
        {
            slow_gone = true;
            break;
        }
    }
    assert!(
        slow_gone,
        "the IRC client still connected after {sent} sends"
    );
    assert_eq!(
        flooder.send("flood", "after the flood")["text"],
        "after the flood"
    );
}

/// An IRC address that is taken is a one-line error before the database is
/// touched: the folder is left as it was.
#[test]
fn a_taken_irc_port_leaves_no_database_behind() {
    use std::ffi::OsStr;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let output = support::run_to_exit(&[
        OsStr::new("--db"),
        db.as_os_str(),
        OsStr::new("--listen"),
        OsStr::new("127.0.0.1:0"),
        OsStr::new("--irc"),
        OsStr::new(&addr),
    ]);
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(stderr.contains(&addr), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "the folder gained {left:?}");
}

/// An account's nick is its name: a NICK to another account's name is
/// refused with 433, any other change with 432; a guest may change its nick
/// to a free one, and the others see the NICK.
#[test]
fn nick_changes_follow_accounts_and_guests() {
    let server = TestServer::start_irc(&["--irc-guests"]);
    let mut pipe = server.connect();
    assert_status(&pipe.call("/register", &["zoe", &password_of("zoe")]), 201);
    let mut account = server.irc_account("yan", &[]);
    account.send("NICK zoe");
    assert_eq!(account.expect("433").params[1], "zoe");
    account.send("NICK somebody");
    assert_eq!(account.expect("432").params[1], "somebody");
    account.send("JOIN #nicks");
    account.expect("366");
    let mut guest = server.irc_guest("before");
    guest.send("JOIN #nicks");
    guest.expect("366");
    account.expect("JOIN");
    guest.send("NICK zoe");
    guest.expect("433");
    guest.send("NICK after");
    let own = guest.expect("NICK");
    assert_eq!(own.source.as_deref(), Some("before!~guest@pipechat"));
    assert_eq!(params(&own), ["after"]);
    let seen = account.expect("NICK");
    assert_eq!(seen.source.as_deref(), Some("before!~guest@pipechat"));
    assert_eq!(params(&seen), ["after"]);
    // A nick that could never be a username says why, in the core's words.
    guest.send("NICK b@d");
    let refused = guest.expect("432");
    assert_eq!(
        params(&refused)[1..],
        [
            "b@d",
            "Erroneous nickname: a username may only contain letters (A-Z, a-z), digits, '_', '.' and '-'"
        ]
    );
    account.send("WHO #nicks %tcnfa,7");
    let mut rows: Vec<Vec<String>> = account
        .until("315")
        .into_iter()
        .filter(|l| l.command == "354")
        .map(|l| l.params[1..].to_vec())
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            ["7", "#nicks", "after", "H", "0"],
            ["7", "#nicks", "yan", "H@", "yan"],
        ]
    );
}

/// REDACT from a client with draft/message-redaction deletes its message:
/// other clients with the capability get REDACT, pipe subscribers a delete
/// event; another's message cannot be redacted, nor one named with a
/// target it is not in.
#[test]
fn a_client_redacts_its_own_message() {
    let server = TestServer::start_irc(&[]);
    let caps = ["draft/message-redaction", "message-tags", "echo-message"];
    let mut author = server.irc_account("ada", &caps);
    let mut reader = server.irc_account("bea", &caps);
    let mut pipe = server.login_as("cy");
    pipe.create_and_join("redact");
    pipe.subscribe("redact");
    for client in [&mut author, &mut reader] {
        client.send("JOIN #redact");
        client.expect("366");
    }
    author.send("PRIVMSG #redact :oops");
    let id = author.expect("PRIVMSG").tag("msgid").unwrap().to_string();
    reader.expect("PRIVMSG");
    reader.send(&format!("REDACT #redact {id}"));
    assert_eq!(reader.expect("FAIL").params[1], "REDACT_FORBIDDEN");
    // Named with another target, the message is not there: nothing is
    // deleted (it was, in #redact, and the echo named #redact).
    pipe.create_and_join("elsewhere");
    for target in ["#elsewhere", "#nosuchroom", "bea", "#"] {
        author.send(&format!("REDACT {target} {id}"));
        let fail = author.expect("FAIL");
        assert_eq!(params(&fail)[..3], ["REDACT", "UNKNOWN_MSGID", target]);
    }
    assert_eq!(pipe.fetch_all("redact").len(), 1);
    author.send(&format!("REDACT #REDACT {id}"));
    assert_eq!(params(&reader.expect("REDACT")), ["#redact", id.as_str()]);
    let deleted = loop {
        let event = pipe.next_event();
        if event["event"] == "delete" {
            break event;
        }
    };
    assert_eq!(deleted["data"]["id"].to_string(), id);
    assert!(pipe.fetch_all("redact").is_empty());
}

/// `draft/read-marker`: MARKREAD reads and moves the same read position as
/// the pipe's `/markRead` (an id there, the newest read message's time
/// here). A join tells it before 366; a move reaches the user's other IRC
/// connections, from IRC or another door; it never goes back; bad targets
/// and times are refused with FAIL.
#[test]
fn read_markers_are_the_read_position_as_times() {
    let server = TestServer::start_irc(&["--irc-guests"]);
    let caps = ["draft/read-marker", "server-time", "message-tags"];
    let mut here = server.irc_account("ada", &caps);
    let mut there = server.irc();
    there.login_sasl("ada", &password_of("ada"), &caps);
    let mut bob = server.login_as("bob");
    bob.create_and_join("marked");

    here.send("JOIN #marked");
    let burst = here.until("366");
    let marker = burst
        .iter()
        .find(|line| line.command == "MARKREAD")
        .unwrap();
    assert_eq!(params(marker), ["#marked", "*"]);
    let before_end = &burst[burst.len() - 2];
    assert_eq!(before_end.command, "MARKREAD", "{burst:?}");
    let elsewhere = there.until("366");
    assert!(elsewhere.iter().any(|line| line.command == "MARKREAD"));

    // Each sent in a later millisecond than the one before: a marker is a
    // time, and names every message of its millisecond.
    let (mut ids, mut times) = (Vec::new(), Vec::<String>::new());
    for text in ["one", "two", "three"] {
        if let Some(last) = times.last() {
            wait_until("the clock passes the last message's time", || {
                chrono::Utc::now()
                    .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                    .to_string()
                    > *last
            });
        }
        ids.push(bob.send("marked", text)["id"].as_i64().unwrap());
        times.push(here.expect("PRIVMSG").tag("time").unwrap().to_string());
        there.expect("PRIVMSG");
    }

    here.send(&format!("MARKREAD #marked timestamp={}", times[1]));
    let at_two = format!("timestamp={}", times[1]);
    assert_eq!(
        params(&here.expect("MARKREAD")),
        ["#marked", at_two.as_str()]
    );
    assert_eq!(
        params(&there.expect("MARKREAD")),
        ["#marked", at_two.as_str()]
    );
    // The mover hears of its move once: the answer.
    assert!(here.sync().is_empty());
    let mut pipe = server.login_existing("ada", "ada");
    let unread = pipe.ok_call("/getUnread", &[]);
    let marked = &unread.as_array().unwrap()[0];
    assert_eq!(marked["room"], "marked");
    assert_eq!(marked["last_read_id"], ids[1]);
    assert_eq!(marked["unread"], 1);

    // Never backwards; asking answers the marker as it is.
    here.send(&format!("MARKREAD #marked timestamp={}", times[0]));
    assert_eq!(
        params(&here.expect("MARKREAD")),
        ["#marked", at_two.as_str()]
    );
    here.send("MARKREAD #marked");
    assert_eq!(
        params(&here.expect("MARKREAD")),
        ["#marked", at_two.as_str()]
    );
    // What did not move is news to nobody.
    assert!(there.sync().is_empty());

    // Moved by another door: both IRC connections hear of it.
    pipe.ok_call("/markRead", &["marked", &ids[2].to_string()]);
    let at_three = format!("timestamp={}", times[2]);
    assert_eq!(
        params(&here.expect("MARKREAD")),
        ["#marked", at_three.as_str()]
    );
    assert_eq!(
        params(&there.expect("MARKREAD")),
        ["#marked", at_three.as_str()]
    );

    // A conversation is its nick.
    bob.send("@ada", "psst");
    let psst = here.expect("PRIVMSG").tag("time").unwrap().to_string();
    here.send("MARKREAD bob");
    assert_eq!(params(&here.expect("MARKREAD")), ["bob", "*"]);
    here.send(&format!("MARKREAD bob timestamp={psst}"));
    let at_psst = format!("timestamp={psst}");
    assert_eq!(params(&here.expect("MARKREAD")), ["bob", at_psst.as_str()]);
    // A guest's conversation too.
    let mut guest = server.irc_guest("gus");
    guest.send("PRIVMSG ada :hello");
    let hello = here.expect("PRIVMSG").tag("time").unwrap().to_string();
    here.send(&format!("MARKREAD gus timestamp={hello}"));
    let at_hello = format!("timestamp={hello}");
    assert_eq!(params(&here.expect("MARKREAD")), ["gus", at_hello.as_str()]);

    for (line, code) in [
        ("MARKREAD", "NEED_MORE_PARAMS"),
        ("MARKREAD #marked timestamp=yesterday", "INVALID_PARAMS"),
        ("MARKREAD #marked 2026-01-01T00:00:00Z", "INVALID_PARAMS"),
        ("MARKREAD #@bob", "INVALID_PARAMS"),
        (
            "MARKREAD #nowhere timestamp=2026-01-01T00:00:00.000Z",
            "INVALID_PARAMS",
        ),
    ] {
        here.send(line);
        let fail = here.expect("FAIL");
        assert_eq!(params(&fail)[..2], ["MARKREAD", code], "{line}");
    }

    // Without the capability a join has no MARKREAD.
    let mut plain_client = server.irc_account("cy", &[]);
    plain_client.send("JOIN #marked");
    let burst = plain_client.until("366");
    assert!(
        !burst.iter().any(|line| line.command == "MARKREAD"),
        "{burst:?}"
    );
}

/// When the database, not the client, fails (another process holds the
/// write lock past the busy timeout), IRC says so: REDACT does not answer
/// "No such message", nor PASS "Password incorrect" (which clients take for
/// a wrong password).
#[test]
fn a_busy_database_is_not_blamed_on_the_client() {
    if support::postgres::skip_on_postgres("another process holding SQLite's write lock") {
        return;
    }
    let server = TestServer::start_irc(&[]);
    let caps = ["draft/message-redaction", "message-tags", "echo-message"];
    let mut author = server.irc_account("ada", &caps);
    author.send("JOIN #busy");
    author.expect("366");
    author.send("PRIVMSG #busy :to delete");
    let id = author.expect("PRIVMSG").tag("msgid").unwrap().to_string();
    let locker = server.open_db_for_writing();
    locker.execute_batch("BEGIN IMMEDIATE").unwrap();

    author.send(&format!("REDACT #busy {id}"));
    let fail = author.expect("FAIL");
    assert_eq!(fail.params[0], "REDACT", "{fail:?}");
    assert!(fail.params.last().unwrap().contains("busy"), "{fail:?}");

    let mut again = server.irc();
    again.register_with_pass(&format!("ada:{}", password_of("ada")), "ada");
    let last = again.until_closed();
    assert!(!last.iter().any(|line| line.contains(" 464 ")), "{last:?}");
    assert!(
        last.iter()
            .any(|line| line.starts_with("ERROR") && line.contains("busy")),
        "{last:?}"
    );
    locker.execute_batch("ROLLBACK").unwrap();
}

/// A room that cannot be a channel (a space or a comma in its name) joined
/// elsewhere never reaches IRC: the client is told once with a NOTICE, and
/// none of the room's messages, edits, deletes or topics follow (they used
/// to arrive as `#my_room` and `#a,b`, and a reply to `#dev,ops` went to
/// the user `ops`). Rooms that are channels still do.
#[test]
fn rooms_that_cannot_be_channels_never_reach_irc() {
    let server = TestServer::start_irc(&[]);
    let mut alice = server.login_as("alice");
    for room in ["my room", "dev,ops", "plain"] {
        alice.create_and_join(room);
    }
    let mut irc = server.irc_account("bob", &["draft/message-redaction"]);
    let mut pipe = server.login_existing("bob", "bob");
    pipe.join("my room");
    pipe.join("dev,ops");
    pipe.join("plain");
    let mut notices = Vec::new();
    loop {
        let line = irc.line();
        match line.command.as_str() {
            "NOTICE" => notices.push(line.params[1].clone()),
            "JOIN" => {
                assert_eq!(params(&line), ["#plain"]);
                break;
            }
            other => panic!("unexpected {other}: {line:?}"),
        }
    }
    irc.expect("366");
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert!(notices[0].contains("'my room' cannot be an IRC channel"));
    assert!(notices[1].contains("'dev,ops' cannot be an IRC channel"));
    for room in ["my room", "dev,ops"] {
        let id = alice.send(room, "not for irc")["id"].to_string();
        alice.ok_call("/editMessage", &[&id, "edited"]);
        alice.ok_call("/deleteMessage", &[&id]);
        alice.ok_call("/setTopic", &[room, "a topic"]);
    }
    alice.send("plain", "for irc");
    let seen = irc.until("PRIVMSG");
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(params(&seen[0]), ["#plain", "for irc"]);
    assert!(irc.sync().is_empty());
}

/// A room joined from another client puts the IRC client in its channel
/// with the burst of its own JOIN (topic, names); a JOIN of that channel
/// from IRC then does nothing (it used to be a bare JOIN, "0 nicks" and "no
/// topic" in irssi, then a second JOIN of the same channel).
#[test]
fn a_join_made_elsewhere_comes_with_topic_and_names_and_is_not_repeated() {
    let server = TestServer::start_irc(&[]);
    let mut alice = server.login_as("alice");
    alice.create_and_join("newroom");
    alice.ok_call("/setTopic", &["newroom", "the topic"]);
    let mut irc = server.irc_account("bob", &[]);
    let mut pipe = server.login_existing("bob", "bob");
    pipe.join("newroom");
    let burst = irc.until("366");
    let commands: Vec<&str> = burst.iter().map(|l| l.command.as_str()).collect();
    assert_eq!(commands, ["JOIN", "332", "333", "353", "366"], "{burst:?}");
    assert_eq!(params(&burst[1])[1..], ["#newroom", "the topic"]);
    assert_eq!(
        params(&burst[2])[1..3],
        ["#newroom", "alice!alice@pipechat"]
    );
    assert_eq!(params(&burst[3])[1..], ["=", "#newroom", "@alice bob"]);
    alice.send("newroom", "after the join");
    assert_eq!(
        params(&irc.expect("PRIVMSG")),
        ["#newroom", "after the join"]
    );
    irc.send("JOIN #newroom");
    assert!(irc.sync().is_empty());
    irc.send("JOIN #NewRoom");
    assert!(irc.sync().is_empty());
}

/// CTCP: an ACTION (`/me waves`) is stored as `/me waves`, and a message
/// stored so reaches IRC as an ACTION; other CTCP requests are never
/// stored: to a user the server answers VERSION, PING, TIME and
/// CLIENTINFO with a CTCP reply, in a channel they are dropped. A `\x01`
/// in a text from the pipe is no CTCP on IRC.
#[test]
fn ctcp_actions_are_stored_as_me_and_other_requests_never() {
    let server = TestServer::start_irc(&[]);
    let mut alice = server.login_as("alice");
    alice.create_and_join("general");
    alice.subscribe("general");
    let mut irc = server.irc_account("bob", &[]);
    let mut other = server.irc_account("carol", &[]);
    for client in [&mut irc, &mut other] {
        client.send("JOIN #general");
        client.expect("366");
    }
    irc.send("PRIVMSG #general :\u{1}ACTION waves\u{1}");
    assert_eq!(
        params(&other.expect("PRIVMSG")),
        ["#general", "\u{1}ACTION waves\u{1}"]
    );
    irc.send("PRIVMSG #general :\u{1}VERSION\u{1}");
    irc.send("PRIVMSG carol :\u{1}VERSION\u{1}");
    let reply = irc.expect("NOTICE");
    assert_eq!(reply.source.as_deref(), Some("carol!carol@pipechat"));
    assert!(
        reply.params[1].starts_with("\u{1}VERSION pipechat-") && reply.params[1].ends_with('\u{1}'),
        "{reply:?}"
    );
    irc.send("PRIVMSG carol :\u{1}PING 12345\u{1}");
    assert_eq!(
        params(&irc.expect("NOTICE")),
        ["bob", "\u{1}PING 12345\u{1}"]
    );
    irc.send("PRIVMSG carol :\u{1}FINGER\u{1}");
    assert!(irc.sync().is_empty());
    assert!(other.sync().is_empty());
    alice.send("general", "/me waves back");
    assert_eq!(
        params(&irc.expect("PRIVMSG")),
        ["#general", "\u{1}ACTION waves back\u{1}"]
    );
    let stored: Vec<String> = alice.texts("general");
    assert_eq!(stored, ["/me waves", "/me waves back"]);
    let direct = "SELECT count(*) FROM messages WHERE text LIKE '%VERSION%' OR text LIKE '%PING%' OR text LIKE '%FINGER%'";
    assert_eq!(server.sql_rows(direct, direct), [["0"]]);

    // A \x01 sent as text from the pipe is no CTCP on IRC (irssi answered
    // the VERSION, and offered the DCC file), in a line of its own, in an
    // action, and in an edit's notice.
    let offer = "\u{1}DCC SEND evil.txt 2130706433 1234 100\u{1}";
    alice.send("general", &format!("\u{1}VERSION\u{1}\n{offer}"));
    let shown = [irc.expect("PRIVMSG"), irc.expect("PRIVMSG")];
    assert_eq!(params(&shown[0]), ["#general", "\u{FFFD}VERSION\u{FFFD}"]);
    assert_eq!(
        params(&shown[1]),
        [
            "#general",
            "\u{FFFD}DCC SEND evil.txt 2130706433 1234 100\u{FFFD}"
        ]
    );
    let action = alice.send("general", "/me waves \u{1}\u{1}PING 1\u{1}");
    assert_eq!(
        params(&irc.expect("PRIVMSG")),
        [
            "#general",
            "\u{1}ACTION waves \u{FFFD}\u{FFFD}PING 1\u{FFFD}\u{1}"
        ]
    );
    let id = action["id"].to_string();
    alice.ok_call("/editMessage", &[&id, "\u{1}VERSION\u{1}"]);
    let notice = irc.expect("NOTICE");
    assert!(!notice.params[1].contains('\u{1}'), "{notice:?}");
}

/// A room's owner coming online later is shown as an op: its JOIN is
/// followed by `MODE #chan +o owner` (irssi counted 0 ops), as NAMES shows.
#[test]
fn an_owner_coming_online_is_given_op_mode() {
    let server = TestServer::start_irc(&[]);
    let mut alice = server.login_as("alice");
    alice.create_and_join("owned");
    drop(alice);
    let mut irc = server.irc_account("bob", &["multi-prefix"]);
    irc.send("JOIN #owned");
    let names = irc.until("366");
    let listed = names.iter().find(|l| l.command == "353").unwrap();
    assert_eq!(listed.params[3], "bob");
    let _alice = server.login_existing("alice", "alice");
    let join = irc.expect("JOIN");
    assert_eq!(join.source.as_deref(), Some("alice!alice@pipechat"));
    let mode = irc.line();
    assert_eq!(mode.command, "MODE", "{mode:?}");
    assert_eq!(params(&mode), ["#owned", "+o", "alice"]);
    irc.send("NAMES #owned");
    let listed = irc.expect("353");
    assert_eq!(listed.params[3], "@alice bob");
}

/// Targets past TARGMAX are answered with 407 each, not dropped silently.
#[test]
fn targets_past_targmax_get_407() {
    let server = TestServer::start_irc(&["--irc-guests"]);
    let mut irc = server.irc_guest("many");
    irc.send("JOIN #general");
    irc.expect("366");
    irc.send("PRIVMSG #a,#b,#c,#d,#general :hi");
    let answer = irc.sync();
    let too_many: Vec<&str> = answer
        .iter()
        .filter(|l| l.command == "407")
        .map(|l| l.params[1].as_str())
        .collect();
    assert_eq!(too_many, ["#general"], "{answer:?}");
    irc.send("NAMES #general,#other");
    let answer = irc.sync();
    assert!(
        answer
            .iter()
            .any(|l| l.command == "407" && l.params[1] == "#other"),
        "{answer:?}"
    );
}

/// One JOIN (and one PART) takes any number of channels, as `TARGMAX`
/// says: WeeChat sends its whole autojoin list in one JOIN, and after a
/// reconnect every channel it was in, whatever `TARGMAX` allows.
#[test]
fn one_join_takes_any_number_of_channels() {
    let server = TestServer::start_irc(&[]);
    let mut irc = server.irc_account("alice", &[]);
    let channels: Vec<String> = (1..=6).map(|n| format!("#room{n}")).collect();
    let list = channels.join(",");
    irc.send(&format!("JOIN {list}"));
    let answer = irc.sync();
    let joined: Vec<&str> = answer
        .iter()
        .filter(|l| l.command == "JOIN")
        .map(|l| l.params[0].as_str())
        .collect();
    assert_eq!(joined, channels, "{answer:?}");
    // As after a reconnect: the channels it is in already, nothing to do.
    irc.send(&format!("JOIN {list}"));
    let again = irc.sync();
    assert!(again.is_empty(), "{again:?}");
    irc.send(&format!("PART {list}"));
    let answer = irc.sync();
    let parted: Vec<&str> = answer
        .iter()
        .filter(|l| l.command == "PART")
        .map(|l| l.params[0].as_str())
        .collect();
    assert_eq!(parted, channels, "{answer:?}");
    assert!(
        irc.seen
            .iter()
            .any(|line| line.contains(" TARGMAX=JOIN:,PART:,PRIVMSG:4,")),
        "{:#?}",
        irc.seen
    );
}

/// MODE answers as RFC 2812 says: the owner's `+n` (already so) shows the
/// modes, `+o` is refused with 482 and a sentence, other letters 472; user
/// modes other than `+i` get 501.
#[test]
fn mode_changes_are_answered() {
    let server = TestServer::start_irc(&[]);
    let mut owner = server.irc_account("alice", &[]);
    owner.send("JOIN #modes");
    owner.expect("366");
    owner.send("MODE #modes +n");
    assert_eq!(params(&owner.expect("324"))[1..], ["#modes", "+n"]);
    owner.send("MODE #modes +o bob");
    let refused = owner.expect("482");
    assert!(refused.params[2].contains("owner"), "{refused:?}");
    owner.send("MODE #modes +t");
    assert_eq!(owner.expect("472").params[1], "t");
    owner.send("MODE alice -i");
    owner.expect("501");
    owner.send("MODE alice +x");
    owner.expect("501");
    owner.send("MODE alice +i");
    assert_eq!(owner.expect("221").params[1], "+i");
}

/// Under labeled-response, the echo of a labelled REDACT carries the label
/// (it used to be an unlabelled REDACT and a labelled ACK).
#[test]
fn a_labelled_redact_is_answered_by_its_echo() {
    let server = TestServer::start_irc(&[]);
    let caps = [
        "draft/message-redaction",
        "message-tags",
        "echo-message",
        "labeled-response",
        "batch",
    ];
    let mut author = server.irc_account("ada", &caps);
    author.send("JOIN #redact");
    author.expect("366");
    author.send("PRIVMSG #redact :oops");
    let id = author.expect("PRIVMSG").tag("msgid").unwrap().to_string();
    author.send(&format!("@label=r1 REDACT #redact {id}"));
    let answer = author.sync();
    assert_eq!(answer.len(), 1, "{answer:?}");
    assert_eq!(answer[0].command, "REDACT");
    assert_eq!(answer[0].tag("label"), Some("r1"));
    assert_eq!(params(&answer[0]), ["#redact", id.as_str()]);
}

/// Channel names are matched without regard to case, and answered with the
/// channel's name as created (`NAMES #ÉTÉ` used to answer `#ÉTÉ`);
/// CHANNELLEN counts bytes. A JOIN spelled otherwise than ASCII's case
/// allows is forwarded (`470`) first, so that irssi keeps one window for
/// the channel (it kept an empty `#ÉTÉ` beside `#été`); one differing in
/// ASCII case only needs none.
#[test]
fn channels_are_answered_by_their_name_as_created() {
    let server = TestServer::start_irc(&["--irc-guests"]);
    let mut alice = server.login_as("alice");
    alice.create_and_join("été");
    let mut irc = server.irc_guest("gus");
    let isupport: Vec<String> = irc
        .seen
        .iter()
        .filter_map(|l| pipechat::irc::line::Line::parse(l).ok())
        .filter(|l| l.command == "005")
        .flat_map(|l| l.params)
        .collect();
    assert!(
        isupport.iter().any(|t| t == "CHANNELLEN=257"),
        "{isupport:?}"
    );
    alice.create_and_join("General");
    irc.send("JOIN #ÉTÉ");
    let burst = irc.until("366");
    assert_eq!(burst[0].command, "470", "{burst:?}");
    assert_eq!(
        params(&burst[0]),
        ["gus", "#ÉTÉ", "#été", "Forwarding to another channel"]
    );
    assert!(
        burst[1..]
            .iter()
            .all(|l| !l.params.iter().any(|p| p == "#ÉTÉ")),
        "{burst:?}"
    );
    assert_eq!(
        (burst[1].command.as_str(), params(&burst[1])),
        ("JOIN", vec!["#été"])
    );
    irc.send("JOIN #GENERAL");
    let burst = irc.until("366");
    assert_eq!(burst[0].command, "JOIN", "{burst:?}");
    assert_eq!(params(&burst[0]), ["#General"]);
    for query in ["NAMES #ÉTÉ", "TOPIC #ÉTÉ", "MODE #ÉTÉ"] {
        irc.send(query);
        let answer = irc.sync();
        assert!(!answer.is_empty());
        assert!(
            answer.iter().all(|l| l.params.iter().all(|p| p != "#ÉTÉ")),
            "{query}: {answer:?}"
        );
        assert!(
            answer.iter().any(|l| l.params.iter().any(|p| p == "#été")),
            "{query}: {answer:?}"
        );
    }
}

/// A channel is found as the pipe finds its room, in full Unicode case
/// folding: `JOIN #STRASSE` is the room `Straße` (forwarded, `470`, as
/// ASCII's case would not make them one). The connection knows the channel
/// by the same key, so a second JOIN spelled `#strasse` does nothing, and a
/// PRIVMSG to `#STRASSE` is taken for its own send, not echoed back as news;
/// a PART spelled `#STRAẞE` leaves `#Straße`.
#[test]
fn channels_are_found_in_full_case_folding() {
    let server = TestServer::start_irc(&[]);
    let mut alice = server.login_as("alice");
    alice.create_and_join("Straße");
    let mut irc = server.irc_account("bob", &[]);
    irc.send("JOIN #STRASSE");
    let burst = irc.until("366");
    assert_eq!(burst[0].command, "470", "{burst:?}");
    assert_eq!(
        params(&burst[0]),
        [
            "bob",
            "#STRASSE",
            "#Straße",
            "Forwarding to another channel"
        ]
    );
    assert_eq!(
        (burst[1].command.as_str(), params(&burst[1])),
        ("JOIN", vec!["#Straße"])
    );
    irc.send("JOIN #strasse");
    assert_eq!(irc.sync(), []);
    irc.send("PRIVMSG #STRASSE :hallo");
    assert_eq!(irc.sync(), []);
    let stored = alice.fetch_all("STRASSE");
    let last = stored.last().expect("a message");
    assert_eq!(last["room"], "Straße");
    assert_eq!(last["username"], "bob");
    assert_eq!(last["text"], "hallo");
    irc.send("PART #STRAẞE");
    let answer = irc.sync();
    assert_eq!(answer.len(), 1, "{answer:?}");
    assert_eq!(
        (answer[0].command.as_str(), params(&answer[0])),
        ("PART", vec!["#Straße"])
    );
    assert_eq!(
        alice.ok("/getChatroomMembers|Straße"),
        serde_json::json!(["alice"])
    );
}

/// USERHOST answers 302 with `nick=+user@host` for connected users (`-`
/// when away); it used to be an unknown command.
#[test]
fn userhost_answers_302() {
    let server = TestServer::start_irc(&["--irc-guests"]);
    let mut account = server.irc_account("alice", &[]);
    let mut guest = server.irc_guest("gus");
    guest.send("AWAY :out");
    guest.expect("306");
    account.send("USERHOST alice gus nobody");
    let reply = account.expect("302");
    assert_eq!(
        params(&reply),
        ["alice", "alice=+alice@pipechat gus=-~guest@pipechat"]
    );
}

/// WHOIS names the user's channels (`319`, owned ones as `@#room`) and
/// takes one nick (`TARGMAX=WHOIS:1`): another gets `407`, not a `401` for
/// the list; LUSERS counts everyone invisible, as every user is `+i`; a
/// PRIVMSG naming a target twice sends it once (it was stored twice).
#[test]
fn whois_lists_channels_and_targets_are_counted_once() {
    let server = TestServer::start_irc(&[]);
    let mut alice = server.login_as("alice");
    alice.create_and_join("mine");
    let mut bob = server.login_as("bob");
    bob.create_and_join("theirs");
    bob.join("mine");
    bob.create_and_join("has space");
    let mut irc = server.irc_account("carol", &[]);
    irc.send("WHOIS bob,alice");
    let answer = irc.until("318");
    let channels: Vec<&pipechat::irc::line::Line> =
        answer.iter().filter(|l| l.command == "319").collect();
    assert_eq!(channels.len(), 1, "{answer:?}");
    assert_eq!(params(channels[0]), ["carol", "bob", "#mine @#theirs"]);
    let too_many = answer.iter().find(|l| l.command == "407").expect("a 407");
    assert_eq!(too_many.params[1], "alice");
    assert!(answer.iter().all(|l| l.command != "401"), "{answer:?}");

    irc.send("LUSERS");
    let users = irc.expect("251");
    assert_eq!(
        users.params[1],
        "There are 0 users and 3 invisible on 1 servers"
    );

    irc.send("JOIN #mine");
    irc.expect("366");
    irc.send("PRIVMSG #mine,#MINE,#mine :once");
    irc.sync();
    let texts: Vec<String> = alice.texts("mine");
    assert_eq!(texts, ["once"]);
}

/// With `--irc-ping 1`, a registered client that answers each PING with
/// PONG stays connected across several ping intervals, and is answered.
#[test]
fn a_client_answering_pings_stays_connected() {
    let server = TestServer::start_irc(&["--irc-guests", "--irc-ping", "1"]);
    let mut irc = server.irc_guest("steady");
    for _ in 0..3 {
        let ping = irc.expect("PING");
        assert_eq!(ping.source.as_deref(), Some("pipechat"), "{ping:?}");
        assert_eq!(params(&ping), ["pipechat"]);
        irc.send("PONG :pipechat");
    }
    irc.send("VERSION");
    irc.until_answering_pings("351");
    assert!(
        !irc.seen.iter().any(|line| line.starts_with("ERROR")),
        "{:#?}",
        irc.seen
    );
}

/// With `--irc-ping 1`, a registered client that stops answering is sent a
/// PING, then `ERROR` with "Ping timeout", and is closed; the members of
/// its channels see it QUIT with that reason, and the drop is logged.
#[test]
fn a_client_that_stops_answering_is_dropped_with_ping_timeout() {
    let server = TestServer::start_irc(&["--irc-guests", "--irc-ping", "1"]);
    let mut watcher = server.irc_guest("watcher");
    watcher.send("JOIN #lobby");
    watcher.until_answering_pings("366");
    let mut silent = server.irc_guest("silent");
    silent.send("JOIN #lobby");
    silent.expect("366");
    watcher.until_answering_pings("JOIN");
    // The watcher answers its own PINGs meanwhile, on a thread of its own.
    let watching = std::thread::spawn(move || {
        let quit = watcher.until_answering_pings("QUIT").pop().unwrap();
        (watcher, quit)
    });

    assert_eq!(silent.expect("PING").command, "PING");
    let rest = silent.until_closed();
    assert_eq!(
        rest.last().map(String::as_str),
        Some("ERROR :Closing link: Ping timeout: 1 seconds"),
        "{rest:?}"
    );
    let (mut watcher, quit) = watching.join().unwrap();
    assert_eq!(quit.source.as_deref(), Some("silent!~guest@pipechat"));
    assert_eq!(params(&quit), ["Ping timeout: 1 seconds"]);
    watcher.send("NAMES #lobby");
    let names = watcher.until_answering_pings("366");
    let listed = names.iter().find(|l| l.command == "353").expect("names");
    assert_eq!(listed.params[3], "@watcher", "the owner alone");
    assert!(
        server
            .stderr()
            .contains("dropped, it answered no PING within 1s"),
        "{}",
        server.stderr()
    );
}

/// With `--irc-ping 1`, a connection that does not complete registration
/// within a second is told "Registration timed out" and closed, whether it
/// sent nothing or only part of a registration.
#[test]
fn a_connection_that_never_registers_is_closed() {
    let server = TestServer::start_irc(&["--irc-ping", "1"]);
    let mut mute = server.irc();
    let mut halfway = server.irc();
    halfway.send("CAP LS 302");
    halfway.send("NICK halfway");
    for irc in [&mut mute, &mut halfway] {
        let rest = irc.until_closed();
        assert_eq!(
            rest.last().map(String::as_str),
            Some("ERROR :Closing link: Registration timed out"),
            "{rest:?}"
        );
        assert!(!rest.iter().any(|l| l.contains(" 001 ")), "{rest:?}");
    }
    assert!(
        server
            .stderr()
            .contains("dropped, it did not register within 1s"),
        "{}",
        server.stderr()
    );
}

/// `irc_ping` in the config file is `--irc-ping`; the flag's default is two
/// minutes.
#[test]
fn irc_ping_is_a_config_file_setting_and_defaults_to_120() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pipechat.toml");
    std::fs::write(&config, "irc_ping = 1\n").unwrap();
    let server = TestServer::start_irc(&["--config", config.to_str().unwrap()]);
    let rest = server.irc().until_closed();
    assert_eq!(
        rest.last().map(String::as_str),
        Some("ERROR :Closing link: Registration timed out"),
        "{rest:?}"
    );

    let help = support::run_to_exit(&[std::ffi::OsStr::new("--help")]);
    let help = String::from_utf8_lossy(&help.stdout);
    let at = help
        .find("--irc-ping <SECS>")
        .unwrap_or_else(|| panic!("no --irc-ping in {help}"));
    // The flag's lines, up to the next option's.
    let flag: Vec<&str> = help[at..]
        .lines()
        .enumerate()
        .take_while(|(index, line)| *index == 0 || !line.trim_start().starts_with('-'))
        .map(|(_, line)| line)
        .collect();
    assert!(flag.join("\n").contains("[default: 120]"), "{flag:#?}");
}
