//! Argon2id hashes of passwords, computed in working memory that each
//! hashing thread keeps for its next hash.
//!
//! The argon2 crate allocates its 19 MiB anew for every hash. Once one such
//! block has been freed, glibc's allocator serves the next from the thread's
//! heap rather than from a fresh mapping, and logins that came at once left
//! most of one heap each behind, resident for good: 30 right passwords at
//! once took a server from 161 MB to 694 MB, where it stayed (a security
//! audit reached 3 GB with 150). Kept by the thread, the memory is allocated
//! once, 19 MiB per hashing thread (one per spare core), and a server's size
//! no longer grows with how many log in at once.

use std::cell::RefCell;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

thread_local! {
    /// This thread's Argon2 working memory (19 MiB once it has hashed).
    static WORKING_MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Bytes of random salt, as the argon2 crate's own hashing takes.
const SALT_BYTES: usize = 16;

/// Why a hash could not be made or checked: a broken random source, or a
/// stored hash that is not a valid Argon2 PHC string.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct PasswordError(String);

impl From<argon2::password_hash::Error> for PasswordError {
    fn from(err: argon2::password_hash::Error) -> PasswordError {
        PasswordError(err.to_string())
    }
}

impl From<argon2::password_hash::phc::Error> for PasswordError {
    fn from(err: argon2::password_hash::phc::Error) -> PasswordError {
        PasswordError(err.to_string())
    }
}

impl From<argon2::Error> for PasswordError {
    fn from(err: argon2::Error) -> PasswordError {
        PasswordError(err.to_string())
    }
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) of `password`
/// with a new random salt and the crate's default parameters.
pub(crate) fn hash(password: &[u8]) -> Result<String, PasswordError> {
    let mut salt = [0u8; SALT_BYTES];
    getrandom::fill(&mut salt).map_err(|err| PasswordError(format!("no random bytes: {err}")))?;
    let params = Params::default();
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    compute(
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone()),
        password,
        &salt,
        &mut output,
    )?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)?,
        salt: Some(Salt::new(&salt)?),
        hash: Some(Output::new(&output)?),
    };
    Ok(hash.to_string())
}

/// Whether `password` is the one the PHC string `stored` was made from,
/// with the algorithm, version and parameters it names; compared in
/// constant time.
pub(crate) fn verify(password: &[u8], stored: &str) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(stored)?;
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Err(PasswordError(
            "the stored hash has no salt or no hash".into(),
        ));
    };
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str())?;
    let version = match parsed.version {
        Some(version) => Version::try_from(version)?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed)?;
    let mut output = vec![0u8; expected.len()];
    compute(
        Argon2::new(algorithm, version, params),
        password,
        salt.as_ref(),
        &mut output,
    )?;
    Ok(Output::new(&output)? == *expected)
}

/// Runs `argon2` in this thread's working memory, which is kept for the
/// default parameters' size at most: a stored hash made with more memory
/// (imported from elsewhere) gets memory of its own, given back after.
fn compute(
    argon2: Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    output: &mut [u8],
) -> Result<(), PasswordError> {
    let blocks = argon2.params().block_count();
    if blocks > Params::default().block_count() {
        let mut memory = vec![Block::default(); blocks];
        argon2.hash_password_into_with_memory(password, salt, output, &mut memory[..])?;
        return Ok(());
    }
    WORKING_MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        argon2.hash_password_into_with_memory(password, salt, output, &mut memory[..blocks])
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use argon2::PasswordVerifier;

    #[test]
    fn hashes_verify_here_and_with_the_argon2_crate() {
        let made = hash(b"correct horse").unwrap();
        assert!(
            made.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{made}"
        );
        assert!(verify(b"correct horse", &made).unwrap());
        assert!(!verify(b"correct hors", &made).unwrap());
        let parsed = PasswordHash::new(&made).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
    }

    #[test]
    fn hashes_of_other_parameters_and_algorithms_verify() {
        use argon2::password_hash::CustomizedPasswordHasher;
        let salt = [7u8; 16];
        for (algorithm, params) in [
            ("argon2id", Params::new(8_192, 3, 1, None).unwrap()),
            ("argon2i", Params::new(4_096, 2, 2, Some(16)).unwrap()),
            ("argon2d", Params::default()),
        ] {
            let made = Argon2::default()
                .hash_password_customized(b"pw-123456", &salt, Some(algorithm), None, params)
                .unwrap()
                .to_string();
            assert!(verify(b"pw-123456", &made).unwrap(), "{made}");
            assert!(!verify(b"pw-123457", &made).unwrap(), "{made}");
        }
    }

    #[test]
    fn a_stored_hash_that_is_not_one_is_an_error() {
        assert!(verify(b"x", "not a hash").is_err());
        assert!(verify(b"x", "$argon2id$v=19$m=19456,t=2,p=1").is_err());
    }
}
