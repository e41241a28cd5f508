//! Folding text for the search index, so that search ignores the accents of
//! every script, as the protocol promises (`cafe` finds `Café`).
//!
//! FTS5's `unicode61` tokenizer strips the diacritics of Latin letters only:
//! `αλφα` did not find `άλφα`, where PostgreSQL's `unaccent` finds it. So
//! the index holds each message's text folded here (and the query is folded
//! the same way): compatibility-decomposed (NFKD: `ﬁ` is `fi`, full-width
//! letters are ASCII), the combining marks of Latin, Greek and Cyrillic
//! letters dropped, and the few letters whose stroke or ligature is not a
//! combining mark spelled as `unaccent` spells them (`ß` as `ss`, `ł` as
//! `l`). The tokenizer then lowercases. Marks of other scripts stay: in
//! Devanagari or Thai they are vowels and tones, not accents, and the
//! tokenizer and the query's parser both split words at them, so dropping
//! them would join in the index what the query keeps apart.
//!
//! Whatever this returns is what the index holds, and FTS5 removes a
//! message's words by folding its text again: a change to it (or to the
//! Unicode tables of `unicode-normalization`, pinned in `Cargo.toml` for
//! that reason) needs a migration that indexes the changed texts again, as
//! 0006 did.
//!
//! The index's triggers fold the old text of an edited or deleted message
//! with [`FOLD_FUNCTION`], so every connection that may change `messages`
//! registers it ([`register`]); a `sqlite3` shell can read the database but
//! not change messages (it lacks the function, and says so).

use std::borrow::Cow;

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// The SQL name of [`fold`], used by migration 0006's triggers.
const FOLD_FUNCTION: &str = "pipechat_fold";

/// `text` as the search index holds it.
pub(super) fn fold(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        return Cow::Borrowed(text);
    }
    let mut folded = String::with_capacity(text.len());
    // Whether the marks that follow are accents of the letter before them.
    let mut accented = false;
    for c in text.nfkd() {
        if is_combining_mark(c) {
            if !accented {
                folded.push(c);
            }
            continue;
        }
        accented = takes_accents(c);
        match spelled_out(c) {
            Some(letters) => folded.push_str(letters),
            None => folded.push(c),
        }
    }
    Cow::Owned(folded)
}

/// Whether `c` is a letter of the Latin, Greek or Cyrillic script, whose
/// combining marks are accents.
fn takes_accents(c: char) -> bool {
    matches!(
        u32::from(c),
        0x0041..=0x005A
            | 0x0061..=0x007A
            | 0x00C0..=0x024F
            | 0x0370..=0x052F
            | 0x1C80..=0x1C8F
            | 0x1E00..=0x1FFF
            | 0x2C60..=0x2C7F
            | 0x2DE0..=0x2DFF
            | 0xA640..=0xA69F
            | 0xA720..=0xA7FF
            | 0xAB30..=0xAB6F
    )
}

/// Letters with a stroke or ligature that NFKD leaves whole, as PostgreSQL's
/// `unaccent` rules spell them.
fn spelled_out(c: char) -> Option<&'static str> {
    Some(match c {
        'ß' => "ss",
        'ẞ' => "SS",
        'ł' => "l",
        'Ł' => "L",
        'đ' => "d",
        'Đ' => "D",
        'ø' => "o",
        'Ø' => "O",
        'æ' => "ae",
        'Æ' => "AE",
        'œ' => "oe",
        'Œ' => "OE",
        'ħ' => "h",
        'Ħ' => "H",
        'ı' => "i",
        'þ' => "th",
        'Þ' => "TH",
        _ => return None,
    })
}

/// How many words the search index holds for `text`: its folded form,
/// split as FTS5's `unicode61` tokenizer splits it, at every character
/// that is not a letter or a digit. The combining marks [`fold`] keeps
/// (after letters of other scripts: a Japanese dakuten, a Devanagari vowel
/// sign) are separators to it, so `ガ` is one word and `ガガ` two, and a
/// sign NFKD spells as several words (`ﷺ`) is those words.
pub(crate) fn indexed_words(text: &str) -> usize {
    let mut count = 0;
    let mut in_word = false;
    for c in fold(text).chars() {
        let part = c.is_alphanumeric() && !is_combining_mark(c);
        if part && !in_word {
            count += 1;
        }
        in_word = part;
    }
    count
}

/// Makes [`FOLD_FUNCTION`] callable on `conn`.
pub(super) fn register(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        FOLD_FUNCTION,
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |context| {
            let text: Option<String> = context.get(0)?;
            Ok(text.map(|text| fold(&text).into_owned()))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents_of_every_script_go_and_ascii_stays_as_it_is() {
        assert!(matches!(fold("plain text | 42"), Cow::Borrowed(_)));
        for (text, folded) in [
            ("Café crème", "Cafe creme"),
            ("άλφα Ωμέγα", "αλφα Ωμεγα"),
            ("ﬁnance ＦＵＬＬ", "finance FULL"),
            ("straße Łódź Đorđe", "strasse Lodz Dorde"),
            ("naïve résumé ệ", "naive resume e"),
            ("日本語 😀", "日本語 😀"),
            ("Йогурт ёлка", "Иогурт елка"),
            // Vowel signs and a virama, not accents.
            ("हिन्दी", "हिन्दी"),
            ("ภาษาไทย", "ภาษาไทย"),
        ] {
            assert_eq!(fold(text), folded, "{text}");
        }
    }

    #[test]
    fn words_are_counted_as_the_index_splits_them() {
        for (text, words) in [
            ("naïve résumé", 2),
            ("ﷺ", 4),
            ("ガ", 1),
            ("ガガガ", 3),
            ("データベース", 3),
            ("कि", 1),
            ("किकि", 2),
            ("한국어", 1),
            ("日本語", 1),
            ("½", 2),
            ("", 0),
        ] {
            assert_eq!(indexed_words(text), words, "{text}");
        }
    }

    #[test]
    fn the_sql_function_folds_and_passes_null() {
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        let (folded, null): (String, Option<String>) = conn
            .query_row(
                "SELECT pipechat_fold('Άλφα'), pipechat_fold(NULL)",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!((folded.as_str(), null), ("Αλφα", None));
    }
}
