//! Staff passwords: the rules a new one must meet, and argon2id hashing (RFC 9106's recommended
//! variant, the `argon2` crate's default parameters: 19 MiB, 2 passes, 1 lane, as OWASP's
//! password storage cheat sheet lists them).
//!
//! Owns what a good password is here and how it is stored; never logs or returns one.

use std::collections::HashSet;
use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// 12 characters: staff sign in with a password alone, and NIST SP 800-63B asks more length of a
/// single-factor password than of one backed by a second factor; long phrases beat rules.
pub const MIN_CHARS: usize = 12;
/// 128 characters: room for any passphrase, and a bound on the work a sign-in can ask of argon2.
pub const MAX_CHARS: usize = 128;

/// The most common passwords' base words (`rules/common_passwords.txt`, with its source).
static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../rules/common_passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
});

/// Why a new password is refused, in words the person can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Weak {
    #[error("the password must be at least {MIN_CHARS} characters; a phrase of a few words is easiest")]
    TooShort,
    #[error("the password must be at most {MAX_CHARS} characters")]
    TooLong,
    #[error("the password is one of the most common passwords (with digits or symbols around it); choose another")]
    Common,
    #[error("the password needs some letters, not only digits and symbols")]
    NoLetters,
    #[error("the password repeats too few characters; choose a phrase")]
    Repetitive,
    #[error("the password must not contain your email address's name")]
    HasEmail,
}

/// Checks a new password for the account `email`.
///
/// # Errors
/// The first rule it breaks.
pub fn check(password: &str, email: &str) -> Result<(), Weak> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(Weak::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(Weak::TooLong);
    }
    let lower = password.to_lowercase();
    if !lower.chars().any(char::is_alphabetic) {
        return Err(Weak::NoLetters);
    }
    let base = lower.trim_matches(|c: char| !c.is_alphabetic());
    if COMMON.contains(base) || COMMON.contains(lower.as_str()) {
        return Err(Weak::Common);
    }
    if lower.chars().collect::<HashSet<_>>().len() < 5 {
        return Err(Weak::Repetitive);
    }
    let name = email.split('@').next().unwrap_or("").to_lowercase();
    if name.chars().count() >= 4 && lower.contains(&name) {
        return Err(Weak::HasEmail);
    }
    Ok(())
}

/// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) of a password, with a fresh salt.
pub fn hash(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the operating system's random source works");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    let phc = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2's default parameters hash")
        .to_string();
    give_back_memory();
    phc
}

/// Whether `password` matches a stored PHC string (whatever parameters it was hashed with).
pub fn verify(password: &str, phc: &str) -> bool {
    let ok = PasswordHash::new(phc)
        .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok());
    give_back_memory();
    ok
}

/// argon2 borrows 19 MiB for each hash; glibc keeps what it freed in the hashing thread's arena
/// for good (a server that hashed a few passwords sat on 100 MB it did not use). Hand it back to
/// the system. Other allocators and platforms return memory on their own.
fn give_back_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory held by the allocator; it takes no pointers
    // and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A hash to verify against when the account does not exist, so that a wrong email takes as
/// long as a wrong password.
pub fn decoy() -> &'static str {
    static DECOY: LazyLock<String> = LazyLock::new(|| hash("not anyone's password, only a decoy"));
    &DECOY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passwords_are_refused_with_a_reason() {
        let email = "sam.rivera@demo.test";
        for (password, why) in [
            ("short pass", Weak::TooShort),
            (&"x".repeat(129), Weak::TooLong),
            ("123456789012345", Weak::NoLetters),
            ("Password2024!!", Weak::Common),
            ("!!qwertyuiop123", Weak::Common),
            ("abababababababab", Weak::Repetitive),
            ("i am sam.rivera ok", Weak::HasEmail),
        ] {
            assert_eq!(check(password, email), Err(why), "{password:?}");
        }
        assert_eq!(check("correct horse battery staple", email), Ok(()));
    }

    #[test]
    fn a_hash_verifies_its_password_and_no_other() {
        let phc = hash("correct horse battery staple");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse battery staple", &phc));
        assert!(!verify("correct horse battery stapler", &phc));
        assert!(!verify("anything", "not a hash"));
        assert_ne!(phc, hash("correct horse battery staple"), "each hash has its own salt");
    }
}
