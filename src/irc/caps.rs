//! IRCv3 capabilities: which the server offers, and which a connection
//! enabled with `CAP REQ`.
//!
//! A set is a bit mask, so the connection's thread and the threads that
//! deliver events to it share it through one atomic.

/// A set of capabilities, one bit each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Caps(pub u32);

/// One capability the server offers: its bit, its name, and the value `CAP
/// LS 302` shows.
pub struct Cap {
    pub bit: u32,
    pub name: &'static str,
    pub value: Option<&'static str>,
}

pub const SASL: u32 = 1 << 0;
pub const SERVER_TIME: u32 = 1 << 1;
pub const MESSAGE_TAGS: u32 = 1 << 2;
pub const ECHO_MESSAGE: u32 = 1 << 3;
pub const BATCH: u32 = 1 << 4;
pub const LABELED_RESPONSE: u32 = 1 << 5;
pub const ACCOUNT_TAG: u32 = 1 << 6;
pub const MULTI_PREFIX: u32 = 1 << 7;
pub const AWAY_NOTIFY: u32 = 1 << 8;
pub const CHATHISTORY: u32 = 1 << 9;
pub const MULTILINE: u32 = 1 << 10;
pub const REDACTION: u32 = 1 << 11;
pub const CAP_NOTIFY: u32 = 1 << 12;
pub const READ_MARKER: u32 = 1 << 13;

/// The most bytes and lines of a `draft/multiline` batch, in both
/// directions: a pipechat message's limit, and lines enough for it.
pub const MULTILINE_MAX_BYTES: usize = 4096;
pub const MULTILINE_MAX_LINES: usize = 100;

/// Every capability offered, in the order `CAP LS` lists them.
pub const OFFERED: &[Cap] = &[
    Cap {
        bit: SASL,
        name: "sasl",
        value: Some("PLAIN"),
    },
    Cap {
        bit: SERVER_TIME,
        name: "server-time",
        value: None,
    },
    Cap {
        bit: MESSAGE_TAGS,
        name: "message-tags",
        value: None,
    },
    Cap {
        bit: ECHO_MESSAGE,
        name: "echo-message",
        value: None,
    },
    Cap {
        bit: BATCH,
        name: "batch",
        value: None,
    },
    Cap {
        bit: LABELED_RESPONSE,
        name: "labeled-response",
        value: None,
    },
    Cap {
        bit: ACCOUNT_TAG,
        name: "account-tag",
        value: None,
    },
    Cap {
        bit: MULTI_PREFIX,
        name: "multi-prefix",
        value: None,
    },
    Cap {
        bit: AWAY_NOTIFY,
        name: "away-notify",
        value: None,
    },
    Cap {
        bit: CHATHISTORY,
        name: "draft/chathistory",
        value: None,
    },
    Cap {
        bit: MULTILINE,
        name: "draft/multiline",
        value: Some("max-bytes=4096,max-lines=100"),
    },
    Cap {
        bit: REDACTION,
        name: "draft/message-redaction",
        value: None,
    },
    Cap {
        bit: CAP_NOTIFY,
        name: "cap-notify",
        value: None,
    },
    Cap {
        bit: READ_MARKER,
        name: "draft/read-marker",
        value: None,
    },
];

impl Caps {
    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }

    /// The enabled capabilities' names, space-separated.
    pub fn names(self) -> String {
        OFFERED
            .iter()
            .filter(|cap| self.has(cap.bit))
            .map(|cap| cap.name)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The offered capability called `name` (compared exactly, as the
/// specification asks).
pub fn find(name: &str) -> Option<&'static Cap> {
    OFFERED.iter().find(|cap| cap.name == name)
}

/// `CAP LS`'s list: with values for version 302 and later, in pieces short
/// enough for one line each.
pub fn ls_pieces(version_302: bool) -> Vec<String> {
    let mut pieces = vec![String::new()];
    for cap in OFFERED {
        let item = match (version_302, cap.value) {
            (true, Some(value)) => format!("{}={value}", cap.name),
            _ => cap.name.to_string(),
        };
        let last = pieces.last_mut().expect("one piece at least");
        if !last.is_empty() && last.len() + item.len() + 1 > 380 {
            pieces.push(item);
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(&item);
        }
    }
    pieces
}

/// Applies a `CAP REQ` list to `current`: all of it or nothing. `None`
/// when one item names a capability not offered.
pub fn request(current: Caps, list: &str) -> Option<Caps> {
    let mut caps = current;
    for item in list.split(' ').filter(|item| !item.is_empty()) {
        let (remove, name) = match item.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, item),
        };
        let cap = find(name)?;
        if remove {
            caps.0 &= !cap.bit;
        } else {
            caps.0 |= cap.bit;
        }
    }
    Some(caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `draft/multiline`'s value is a literal (a `const`); it must announce
    /// the limits enforced.
    #[test]
    fn multiline_announces_the_limits_it_keeps() {
        let multiline = OFFERED.iter().find(|cap| cap.bit == MULTILINE).unwrap();
        assert_eq!(
            multiline.value,
            Some(
                format!("max-bytes={MULTILINE_MAX_BYTES},max-lines={MULTILINE_MAX_LINES}").as_str()
            )
        );
    }

    #[test]
    fn requests_are_all_or_nothing() {
        let caps = request(Caps::default(), "sasl server-time").unwrap();
        assert!(caps.has(SASL) && caps.has(SERVER_TIME));
        assert_eq!(request(caps, "batch foo"), None);
        let caps = request(caps, "-sasl").unwrap();
        assert!(!caps.has(SASL) && caps.has(SERVER_TIME));
        assert_eq!(caps.names(), "server-time");
    }

    #[test]
    fn ls_has_values_only_for_302() {
        let old = ls_pieces(false).join(" ");
        assert!(!old.contains('='));
        assert!(ls_pieces(true).join(" ").contains("sasl=PLAIN"));
    }
}
