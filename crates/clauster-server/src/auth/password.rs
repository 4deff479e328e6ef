//! Password hashing and verification (security.md §3): argon2id PHC strings with the
//! parameters the Python tool used, so hashes move between the two unchanged.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Memory cost in KiB, iterations, lanes, output length: the Python tool's parameters.
const MEMORY_KIB: u32 = 65_536;
const ITERATIONS: u32 = 3;
const LANES: u32 = 4;
const HASH_BYTES: usize = 32;
const SALT_BYTES: usize = 16;
/// Longer passwords are refused as wrong without hashing.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Verified when no hash is configured, so a wrong answer takes as long as a real check. It
/// is the hash of a random password nobody kept.
const DUMMY_HASH: &str = "$argon2id$v=19$m=65536,t=3,p=4$Sd8c6jQ0q6vY7uLh0w3ZlA$\
     2GmdOjVl7x4nK9rQe8s1Zc6p0aTt3bJvWm5yXu2oHfE";

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("the password is empty; type a password")]
    Empty,
    #[error("the password is longer than {MAX_PASSWORD_BYTES} bytes; choose a shorter one")]
    TooLong,
    #[error("cannot hash the password: {0}")]
    Argon2(String),
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, Some(HASH_BYTES))
        .expect("the fixed parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The argon2id PHC string of `password` with a fresh 16-byte salt.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    if password.is_empty() {
        return Err(HashError::Empty);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(HashError::TooLong);
    }
    let mut salt = [0u8; SALT_BYTES];
    getrandom::fill(&mut salt).map_err(|err| HashError::Argon2(err.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|err| HashError::Argon2(err.to_string()))?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| HashError::Argon2(err.to_string()))
}

/// Whether `password` matches `phc` (argon2id or argon2i, any parameters). With no hash the
/// dummy hash is checked and the answer is always false; an over-long password is false at
/// once. Blocking and slow by design: call it off the async workers.
pub fn verify_password(password: &str, phc: Option<&str>) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    if let Some(phc) = phc {
        verify_phc(password, phc)
    } else {
        let _ = verify_phc(password, DUMMY_HASH);
        false
    }
}

fn verify_phc(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if !matches!(parsed.algorithm.as_str(), "argon2id" | "argon2i") {
        return false;
    }
    // The verifier takes algorithm, version and parameters from the PHC string itself.
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::{DUMMY_HASH, HashError, hash_password, verify_password};

    #[test]
    fn a_hash_has_the_documented_shape_and_verifies_only_its_password() {
        let phc = hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=65536,t=3,p=4$"), "{phc}");
        let parts: Vec<&str> = phc.split('$').collect();
        assert_eq!(parts.len(), 6);
        // 16-byte salt and 32-byte hash in unpadded base64.
        assert_eq!(parts[4].len(), 22);
        assert_eq!(parts[5].len(), 43);
        assert!(verify_password("correct horse", Some(&phc)));
        assert!(!verify_password("correct horsE", Some(&phc)));
        assert_ne!(hash_password("correct horse").unwrap(), phc, "fresh salt");
    }

    #[test]
    fn argon2i_hashes_of_other_tools_verify_and_argon2d_does_not() {
        use argon2::password_hash::{PasswordHasher as _, SaltString};
        use argon2::{Algorithm, Argon2, Params, Version};
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let params = Params::new(1024, 2, 1, Some(32)).unwrap();
        let make = |algorithm| {
            Argon2::new(algorithm, Version::V0x13, params.clone())
                .hash_password(b"pw", &salt)
                .unwrap()
                .to_string()
        };
        assert!(verify_password("pw", Some(&make(Algorithm::Argon2i))));
        assert!(verify_password("pw", Some(&make(Algorithm::Argon2id))));
        assert!(!verify_password("pw", Some(&make(Algorithm::Argon2d))));
    }

    #[test]
    fn no_hash_long_passwords_and_junk_are_wrong() {
        assert!(!verify_password("anything", None));
        let phc = hash_password("x").unwrap();
        let long = "x".repeat(1025);
        assert!(!verify_password(&long, Some(&phc)));
        assert!(matches!(hash_password(&long), Err(HashError::TooLong)));
        assert!(matches!(hash_password(""), Err(HashError::Empty)));
        assert!(!verify_password("x", Some("$argon2id$garbage")));
        assert!(argon2::password_hash::PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
