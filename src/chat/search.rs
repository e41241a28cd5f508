//! The search language: what a user types, as typed terms.
//!
//! Words are runs of letters and digits; any other character separates them.
//! A word ending in `*` matches as a prefix, and words in double quotes must
//! appear together as a phrase (an unclosed quote runs to the end), where
//! a word ending in `*` is a prefix too. Nothing a
//! user types is a syntax error, and nothing of it reaches the search engine
//! unquoted: the store turns these terms into its engine's syntax.

use std::iter::Peekable;
use std::str::Chars;

use super::ChatError;
use crate::store::{SearchQuery, SearchTerm};

/// The longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 1_024;

/// The most terms a query may have.
pub const MAX_TERMS: usize = 32;

/// Parses a query.
///
/// # Errors
///
/// [`ChatError::Invalid`] for a query without a word, too long, or with too
/// many terms.
pub(crate) fn parse(text: &str) -> Result<SearchQuery, ChatError> {
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(ChatError::Invalid(format!(
            "a search has at most {MAX_QUERY_CHARS} characters"
        )));
    }
    let mut terms = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c == '"' {
            chars.next();
            let mut phrase = Vec::new();
            while let Some(&c) = chars.peek().filter(|&&c| c != '"') {
                if c.is_alphanumeric() {
                    phrase.push(word_or_prefix(&mut chars));
                } else {
                    chars.next();
                }
            }
            chars.next(); // the closing quote, if any
            match phrase.len() {
                0 => {}
                1 => terms.extend(phrase.pop()),
                _ => terms.push(SearchTerm::Phrase(phrase)),
            }
        } else if c.is_alphanumeric() {
            terms.push(word_or_prefix(&mut chars));
        } else {
            chars.next();
        }
    }
    if terms.is_empty() {
        return Err(ChatError::Invalid(
            "a search needs at least one word of letters or digits".to_string(),
        ));
    }
    if weight(&terms) > MAX_TERMS {
        return Err(ChatError::Invalid(format!(
            "a search has at most {MAX_TERMS} words, counted as the search index counts \
             them: a phrase's words included, a prefix in a phrase twice, and some signs \
             as several (ﷺ is four words)"
        )));
    }
    Ok(SearchQuery { terms })
}

/// What a query costs the engine, in words: each word as many as the index
/// sees in it, in a phrase too, and a prefix in a phrase once more, as it
/// looks at every word it starts (or `"a* b* c* …"` would be hundreds in
/// one term).
fn weight(terms: &[SearchTerm]) -> usize {
    terms
        .iter()
        .map(|term| match term {
            SearchTerm::Phrase(words) => words
                .iter()
                .map(|word| match word {
                    SearchTerm::Prefix(text) => 1 + indexed_words(text),
                    SearchTerm::Word(text) => indexed_words(text),
                    SearchTerm::Phrase(_) => 1,
                })
                .sum(),
            SearchTerm::Word(text) | SearchTerm::Prefix(text) => indexed_words(text),
        })
        .sum()
}

/// How many words the index sees in `word`, at least one: the stores fold
/// text, and a word of the query may be several to the index (`ﷺ` is the
/// four words of a blessing, each `ガ` one more). Counted as typed, one
/// such sign repeated made a query of thousands of words within the
/// limits, and a search of it took a tenth of a second or more of the
/// engine's time. SQLite's index is the measure for both stores.
fn indexed_words(word: &str) -> usize {
    crate::store::indexed_words(word).max(1)
}

/// The word starting at `chars`, a prefix when a `*` ends it (in a phrase
/// too: `"quick bro*"`).
fn word_or_prefix(chars: &mut Peekable<Chars<'_>>) -> SearchTerm {
    let mut word = String::new();
    while let Some(c) = chars.next_if(|c| c.is_alphanumeric()) {
        word.push(c);
    }
    match chars.next_if_eq(&'*') {
        Some(_) => SearchTerm::Prefix(word),
        None => SearchTerm::Word(word),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SearchTerm::{Phrase, Prefix, Word};

    fn terms(text: &str) -> Vec<SearchTerm> {
        parse(text).unwrap().terms
    }

    fn word(w: &str) -> SearchTerm {
        Word(w.to_string())
    }

    #[test]
    fn words_prefixes_and_phrases() {
        assert_eq!(terms("deploy failed"), [word("deploy"), word("failed")]);
        assert_eq!(terms("deplo*"), [Prefix("deplo".into())]);
        assert_eq!(
            terms(r#"say "hello big world" now"#),
            [
                word("say"),
                Phrase(vec![word("hello"), word("big"), word("world")]),
                word("now")
            ]
        );
        assert_eq!(
            terms(r#""quick bro*" "deplo*""#),
            [
                Phrase(vec![word("quick"), Prefix("bro".into())]),
                Prefix("deplo".into())
            ]
        );
        assert_eq!(terms("Café crème"), [word("Café"), word("crème")]);
        assert_eq!(terms("e-mail"), [word("e"), word("mail")]);
    }

    #[test]
    fn hostile_input_is_only_words() {
        assert_eq!(terms("NEAR(a b)"), [word("NEAR"), word("a"), word("b")]);
        assert_eq!(
            terms("-x AND y OR"),
            [word("x"), word("AND"), word("y"), word("OR")]
        );
        assert_eq!(
            terms(r#""unbalanced quote"#),
            [Phrase(vec![word("unbalanced"), word("quote")])]
        );
        assert_eq!(terms(r#"a"b"#), [word("a"), word("b")]);
        assert_eq!(
            terms("*x* ^y {z}"),
            [Prefix("x".into()), word("y"), word("z")]
        );
        for nothing in ["", "   ", "\"", "*", "-", "\"\"", "()", "😀"] {
            assert!(parse(nothing).is_err(), "{nothing:?}");
        }
        assert!(parse(&"a ".repeat(MAX_TERMS + 1)).is_err());
        // A phrase's words count, a prefix in it twice: 16 of them are 32.
        assert!(parse(&format!("\"{}\"", "a ".repeat(MAX_TERMS))).is_ok());
        assert!(parse(&format!("\"{}\"", "a ".repeat(MAX_TERMS + 1))).is_err());
        assert!(parse(&format!("\"{}\"", "a* ".repeat(MAX_TERMS / 2))).is_ok());
        assert!(parse(&format!("\"{}\"", "a* ".repeat(MAX_TERMS / 2 + 1))).is_err());
        // A sign the index holds as several words counts as those: ﷺ is
        // four, and each one after it three more (its last word runs into
        // the next one's first): ten are 31, eleven 34, as a word or in a
        // phrase.
        assert!(parse(&"ﷺ".repeat(10)).is_ok());
        assert!(parse(&"ﷺ".repeat(11)).is_err());
        assert!(parse(&format!("\"x {}\"", "ﷺ".repeat(10))).is_ok());
        assert!(parse(&format!("\"x y {}\"", "ﷺ".repeat(10))).is_err());
        // Accents the index drops are no words of their own; the marks it
        // keeps split words (a dakuten, a Devanagari vowel sign).
        assert!(parse(&"naïve ".repeat(MAX_TERMS)).is_ok());
        assert!(parse(&"ガ".repeat(MAX_TERMS)).is_ok());
        assert!(parse(&"ガ".repeat(MAX_TERMS + 1)).is_err());
        assert!(parse(&"कि".repeat(MAX_TERMS + 1)).is_err());
        assert!(parse("データベース 日本語 한국어").is_ok());
        assert!(parse(&"a".repeat(MAX_QUERY_CHARS + 1)).is_err());
    }
}
