//! Credentials generated from a cryptographically secure source.

use rand::distr::{Alphanumeric, SampleString};
use secrecy::SecretString;

/// The length, in characters, of the passwords the engines generate.
pub const DEFAULT_PASSWORD_LENGTH: usize = 32;

/// An alphanumeric password: safe in connection strings, config files and shells without escaping.
/// 32 characters carry about 190 bits.
pub fn generate_password(length: usize) -> SecretString {
    // ThreadRng is a CSPRNG seeded and periodically reseeded from the OS.
    SecretString::from(Alphanumeric.sample_string(&mut rand::rng(), length))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn passwords_are_alphanumeric_of_the_asked_length_and_distinct() {
        let a = generate_password(DEFAULT_PASSWORD_LENGTH);
        let b = generate_password(DEFAULT_PASSWORD_LENGTH);
        assert_eq!(a.expose_secret().len(), 32);
        assert!(a.expose_secret().chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a.expose_secret(), b.expose_secret());
    }
}
