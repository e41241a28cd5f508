//! Protocol v2 search: whole words without regard to case or accents,
//! prefixes, phrases, hostile queries, limits, and only what you may read.

mod support;

use serde_json::{Value, json};
use support::{Client, TestServer, assert_status};

/// The texts of a search's results, newest first.
fn found(client: &mut Client, fields: &[&str]) -> Vec<String> {
    let data = client.ok_call("/search", fields);
    data.as_array()
        .expect("an array")
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect()
}

fn room_with(texts: &[&str]) -> (TestServer, Client) {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    alice.create_and_join("general");
    for text in texts {
        alice.send("general", text);
    }
    (server, alice)
}

#[test]
fn words_match_whole_without_case_or_accents() {
    let (_server, mut alice) = room_with(&[
        "Un café, s'il vous plaît",
        "The CAT sat",
        "a category of its own",
        "naïve résumé",
    ]);
    assert_eq!(found(&mut alice, &["cafe"]), ["Un café, s'il vous plaît"]);
    assert_eq!(found(&mut alice, &["CAFÉ"]), ["Un café, s'il vous plaît"]);
    assert_eq!(found(&mut alice, &["cat"]), ["The CAT sat"]);
    assert_eq!(found(&mut alice, &["naive resume"]), ["naïve résumé"]);
    // Every word must match.
    assert!(found(&mut alice, &["cat category"]).is_empty());
}

/// Accents are ignored in every script, not only on Latin letters, and
/// compatibility forms and the letters `unaccent` spells out match their
/// plain spelling, on both engines; edits and deletions keep the index in
/// step (SQLite's triggers fold the old text as the index holds it).
#[test]
fn accents_of_every_script_and_compatibility_forms_are_ignored() {
    let (_server, mut alice) = room_with(&[
        "Ωμέγα and άλφα",
        "ﬁnance in ＦＵＬＬ",
        "Straße to Łódź",
        "plain ascii",
        "हिन्दी भाषा",
    ]);
    assert_eq!(found(&mut alice, &["αλφα"]), ["Ωμέγα and άλφα"]);
    assert_eq!(found(&mut alice, &["ΩΜΕΓΑ"]), ["Ωμέγα and άλφα"]);
    assert_eq!(found(&mut alice, &["ωμέ*"]), ["Ωμέγα and άλφα"]);
    assert_eq!(
        found(&mut alice, &["\"ωμεγα and αλφα\""]),
        ["Ωμέγα and άλφα"]
    );
    assert_eq!(found(&mut alice, &["finance full"]), ["ﬁnance in ＦＵＬＬ"]);
    assert_eq!(found(&mut alice, &["strasse lodz"]), ["Straße to Łódź"]);
    assert_eq!(found(&mut alice, &["STRASSE"]), ["Straße to Łódź"]);
    // Marks of other scripts are not accents, and words keep them.
    assert_eq!(found(&mut alice, &["हिन्दी"]), ["हिन्दी भाषा"]);

    let id = alice.ok_call("/search", &["αλφα"])[0]["id"].to_string();
    alice.ok_call("/editMessage", &[&id, "now βήτα"]);
    assert!(found(&mut alice, &["αλφα"]).is_empty());
    assert_eq!(found(&mut alice, &["βητα"]), ["now βήτα"]);
    alice.ok_call("/deleteMessage", &[&id]);
    assert!(found(&mut alice, &["βητα"]).is_empty());
    assert_eq!(found(&mut alice, &["plain"]), ["plain ascii"]);
}

/// Words are runs of letters and digits in the stored text too: a host, an
/// address, a version or a number with a point is several words. (The
/// PostgreSQL store used to keep each as one token.)
#[test]
fn punctuation_inside_a_token_separates_words() {
    let (_server, mut alice) = room_with(&[
        "see example.com",
        "mail bob@host.org",
        "deployed v1.2.3 at 3.14",
        "Aloha from Hawaiʻi",
    ]);
    assert_eq!(found(&mut alice, &["example"]), ["see example.com"]);
    assert_eq!(found(&mut alice, &["bob"]), ["mail bob@host.org"]);
    assert_eq!(found(&mut alice, &["v1 3"]), ["deployed v1.2.3 at 3.14"]);
    assert_eq!(
        found(&mut alice, &["\"v1.2.3\""]),
        ["deployed v1.2.3 at 3.14"]
    );
    // A letter that unaccenting turns into punctuation (ʻ becomes ') is
    // never a syntax error, and still finds its word.
    assert_eq!(found(&mut alice, &["Hawaiʻi"]), ["Aloha from Hawaiʻi"]);
    assert_eq!(found(&mut alice, &["hawaiʻ*"]), ["Aloha from Hawaiʻi"]);
}

/// A word longer than PostgreSQL indexes whole (2,047 bytes; 3,000
/// letters here) is found by its start, by itself, as on SQLite.
#[test]
fn a_very_long_word_is_found_by_its_start() {
    let long = format!("hello q{}", "z".repeat(3_000));
    let (_server, mut alice) = room_with(&[&long, "short qzzzz"]);
    assert_eq!(found(&mut alice, &["qz*"]), ["short qzzzz", long.as_str()]);
    assert_eq!(found(&mut alice, &["hello"]), [long.as_str()]);
}

#[test]
fn prefixes_and_phrases() {
    let (_server, mut alice) = room_with(&[
        "deployment finished",
        "we deploy on fridays",
        "hello big world",
        "world is big",
    ]);
    assert_eq!(
        found(&mut alice, &["deplo*"]),
        ["we deploy on fridays", "deployment finished"]
    );
    assert_eq!(found(&mut alice, &["\"big world\""]), ["hello big world"]);
    assert_eq!(
        found(&mut alice, &["big world"]),
        ["world is big", "hello big world"]
    );
    // A word ending in `*` is a prefix in a phrase too, anywhere in it.
    assert_eq!(found(&mut alice, &["\"big wor*\""]), ["hello big world"]);
    assert_eq!(found(&mut alice, &["\"he* big\""]), ["hello big world"]);
    assert_eq!(
        found(&mut alice, &["\"deplo* on\""]),
        ["we deploy on fridays"]
    );
    assert_eq!(found(&mut alice, &["\"wor* i* bi*\""]), ["world is big"]);
    assert_eq!(found(&mut alice, &["\"deplo* fin\""]), Vec::<String>::new());
}

/// No input is a syntax error: operators and punctuation are only
/// separators, and a query without a word is a 400, never a 500.
#[test]
fn hostile_queries_are_never_an_error_of_the_server() {
    let (_server, mut alice) = room_with(&["NEAR the AND gate - with \"quotes\" and stars*"]);
    for query in [
        "\"",
        "*",
        "NEAR(",
        "-",
        "AND",
        "OR",
        "NOT",
        "\"unbalanced",
        "a\"b\"c",
        "near(and, or)",
        "^start",
        "col:umn",
        "{x y}",
        "(((",
        "'",
        "\\",
        "%",
        "_",
        "a*b*c",
        "1 + 1",
        "😀 smile",
        "🙂",
        "AND OR NOT",
        "\"\"",
        "NEAR(the gate, 5)",
    ] {
        let reply = alice.call("/search", &[query]);
        let status = reply["status"].as_u64().unwrap();
        assert!(status == 200 || status == 400, "{query:?}: {reply}");
        if status == 400 {
            assert!(reply["error"].as_str().unwrap().contains("word"), "{reply}");
        }
    }
    assert_eq!(found(&mut alice, &["NEAR(the"]).len(), 1);
    assert_eq!(found(&mut alice, &["AND"]).len(), 1);
    assert_eq!(found(&mut alice, &["\"quotes"]).len(), 1);
    assert_status(&alice.call("/search", &["  *** "]), 400);
    assert_status(&alice.call("/search", &[&"word ".repeat(300)]), 400);
    // A phrase's words count, and a sign the index holds as several words
    // (ﷺ, four) counts as those: a thousand of them in one word would be
    // thousands of words to the engine.
    assert_status(
        &alice.call("/search", &[&format!("\"{}\"", "word ".repeat(40))]),
        400,
    );
    let refused = alice.call("/search", &[&"ﷺ".repeat(1_000)]);
    assert_status(&refused, 400);
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("at most 32 words"),
        "{refused}"
    );
    assert_status(&alice.call("/search", &["ﷺ"]), 200);
    // A mark the index keeps ends a word there: ガ is a word of its own.
    assert_status(&alice.call("/search", &[&"ガ".repeat(1_024)]), 400);
    assert_status(&alice.call("/search", &["データベース"]), 200);
}

/// Newest first, at most 50 by default, `limit` from 1 to 1,000, and an
/// empty room field means everywhere.
#[test]
fn results_are_newest_first_and_limited() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    alice.create_and_join("general");
    let ids: Vec<i64> = (0..60)
        .map(|n| {
            alice.send("general", &format!("ping number {n}"))["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    let all = alice.ok("/search|ping");
    let got: Vec<i64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    let expected: Vec<i64> = ids.iter().rev().take(50).copied().collect();
    assert_eq!(got, expected);
    assert_eq!(alice.ok("/search|ping||3").as_array().unwrap().len(), 3);
    assert_eq!(
        alice
            .ok("/search|ping|general|1000")
            .as_array()
            .unwrap()
            .len(),
        60
    );
    for bad in ["0", "1001", "x", "-1"] {
        assert_status(&alice.request(&format!("/search|ping||{bad}")), 400);
    }
    let one: Value = alice.ok("/search|\"number 7\"");
    assert_eq!(one.as_array().unwrap().len(), 1);
    assert_eq!(one[0]["room"], "general");
}

/// A member of room A never finds room B's messages nor someone else's
/// direct messages; naming a room you are not in is 403, unknown 404.
#[test]
fn only_what_you_may_read_is_found() {
    let server = TestServer::start();
    let mut alice = server.login_as("alice");
    let mut bob = server.login_as("bob");
    let mut carol = server.login_as("carol");
    alice.create_and_join("room-a");
    bob.create_and_join("room-b");
    carol.join("room-a");
    alice.send("room-a", "launch code in a");
    bob.send("room-b", "launch code in b");
    bob.send("@alice", "launch code direct to alice");
    bob.send("@bob", "launch code note to self");

    assert_eq!(
        found(&mut alice, &["launch"]),
        ["launch code direct to alice", "launch code in a"]
    );
    assert_eq!(found(&mut carol, &["launch"]), ["launch code in a"]);
    assert_eq!(
        found(&mut bob, &["launch"]),
        [
            "launch code note to self",
            "launch code direct to alice",
            "launch code in b"
        ]
    );
    assert_eq!(
        found(&mut alice, &["launch", "@bob"]),
        ["launch code direct to alice"]
    );
    assert_eq!(
        found(&mut bob, &["launch", "@bob"]),
        ["launch code note to self"]
    );
    assert_eq!(found(&mut carol, &["launch", "@bob"]), Vec::<String>::new());
    assert_status(&alice.call("/search", &["launch", "room-b"]), 403);
    assert_status(&alice.call("/search", &["launch", "nowhere"]), 404);
    // Leaving a room takes its messages out of your results.
    assert_eq!(carol.ok("/exitChatroom|room-a"), json!({"room": "room-a"}));
    assert!(found(&mut carol, &["launch"]).is_empty());
}
