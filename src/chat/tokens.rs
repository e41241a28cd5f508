//! Resume tokens: 128 random bits from the operating system, shown to the
//! client once as URL-safe text, and stored only as their SHA-256.
//!
//! SHA-256 is enough here (no salt, no Argon2): a token is random and long,
//! so there is nothing to guess from its hash, and checking one costs
//! microseconds, which is the point of resuming instead of logging in.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::store::TokenHash;

/// Random bytes in a token.
const TOKEN_BYTES: usize = 16;

/// The longest text taken as a token; anything longer is not one.
pub const MAX_TOKEN_CHARS: usize = 64;

/// How long a token stays valid after its last use.
pub const TOKEN_LIFETIME_DAYS: i64 = 30;

/// A new token and its hash.
///
/// # Errors
///
/// When the operating system's random source fails.
pub(crate) fn new_token() -> Result<(String, TokenHash), getrandom::Error> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes)?;
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&token);
    Ok((token, hash))
}

/// The hash a token is stored and looked up by.
pub(crate) fn hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether `text` could be a token at all: URL-safe base64 characters, not
/// too long. Anything else is answered as a wrong token without a lookup.
pub(crate) fn is_well_formed(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_TOKEN_CHARS
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_url_safe_and_hashed() {
        let (one, one_hash) = new_token().unwrap();
        let (two, _) = new_token().unwrap();
        assert_ne!(one, two);
        assert_eq!(one.len(), 22);
        assert!(is_well_formed(&one));
        assert_eq!(hash(&one), one_hash);
        assert_ne!(hash(&two), one_hash);
        assert!(!is_well_formed(""));
        assert!(!is_well_formed("has space"));
        assert!(!is_well_formed(&"a".repeat(MAX_TOKEN_CHARS + 1)));
    }
}
