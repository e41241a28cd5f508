//! Property tests of the wire format: the parser never panics, escaping round
//! trips, and every reply or event is exactly one line of valid JSON.

use pipechat::chat::Rendering;
use pipechat::pipe::framing::{Frame, LineReader};
use pipechat::pipe::reply::{EventLine, error_line, success_line};
use pipechat::pipe::request::{COMMANDS, Request, UserRequest, request_line};
use pipechat::wire::{Event, Message, Status};
use proptest::prelude::*;

/// Any text, weighted towards the characters the protocol treats specially.
fn tricky_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => any::<char>(),
            2 => prop::sample::select(vec!['|', '\\', '\n', '\r', 'n', '/', '"', '😀', 'é', '\u{0}']),
        ],
        0..64,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    /// Parsing arbitrary bytes (as the server would after UTF-8 checking)
    /// returns a request or an error, never a panic.
    #[test]
    fn parser_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(line) = std::str::from_utf8(&bytes) {
            let _ = Request::parse(line);
        }
        let _ = Request::parse(&String::from_utf8_lossy(&bytes));
    }

    /// Lines that look like commands, with random fields, never panic either.
    #[test]
    fn parser_never_panics_on_command_like_lines(
        command in prop::sample::select(COMMANDS.iter().map(|c| c.usage).collect::<Vec<_>>()),
        fields in prop::collection::vec(tricky_text(), 0..7),
    ) {
        let name = command.split('|').next().unwrap_or("/ping");
        let mut line = name.to_string();
        for field in &fields {
            line.push('|');
            line.push_str(field);
        }
        let _ = Request::parse(&line);
    }

    /// Escaping fields and parsing the line gives back the original fields.
    #[test]
    fn escaping_then_parsing_returns_the_fields(room in tricky_text(), text in tricky_text()) {
        let line = request_line("/sendMessage", &[&room, &text]);
        prop_assert!(!line.contains('\n'));
        let parsed = Request::parse(&line);
        prop_assert_eq!(parsed, Ok(Request::AsUser(UserRequest::SendMessage { name: room, text, username: None })));
    }

    /// A reply or event is one line of JSON, whatever the message holds.
    #[test]
    fn replies_and_events_are_one_json_line(text in tricky_text(), room in tricky_text()) {
        let message = Message {
            id: 1,
            room: Some(room),
            to: None,
            username: "alice".into(),
            text,
            sent_at: "2026-11-24T17:37:42.123Z".into(),
            edited_at: None,
            guest: false,
        };
        let event_line = |message: &Message| {
            String::from_utf8(EventLine::render(&Event::Message(message.clone()))).unwrap()
        };
        for line in [
            event_line(&message),
            success_line(Status::Created, &message),
            error_line(Status::NotFound, &message.text),
        ] {
            prop_assert!(line.ends_with('\n'));
            prop_assert_eq!(line.matches('\n').count(), 1);
            let value: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
            prop_assert!(value.is_object());
        }
        let decoded: serde_json::Value =
            serde_json::from_str(&event_line(&message)).unwrap();
        prop_assert_eq!(decoded["data"]["text"].as_str(), Some(message.text.as_str()));
    }

    /// However input is split into reads, the same lines come out.
    #[test]
    fn framing_is_independent_of_read_boundaries(
        lines in prop::collection::vec("[a-z|/ ]{0,40}", 0..20),
        cuts in prop::collection::vec(1usize..50, 1..20),
    ) {
        let input: Vec<u8> = lines.iter().flat_map(|l| format!("{l}\n").into_bytes()).collect();
        let mut reader = LineReader::new();
        let mut got = Vec::new();
        let mut rest = &input[..];
        let mut cut = cuts.iter().cycle();
        while !rest.is_empty() {
            let take = (*cut.next().unwrap()).min(rest.len());
            reader.feed(&rest[..take], |frame| match frame {
                Frame::Line(line) => got.push(String::from_utf8(line.to_vec()).unwrap()),
                Frame::TooLong => got.push("<too long>".into()),
            });
            rest = &rest[take..];
        }
        prop_assert_eq!(got, lines);
    }
}
