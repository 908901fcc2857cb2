//! Opaque secrets handed out once (session tokens, attempt ids, device
//! tokens) and the hashes the database keeps instead. Pure, no I/O.

use rand::distributions::Alphanumeric;
use rand::{Rng as _, RngCore as _};
use sha2::{Digest as _, Sha256};

/// A 256-bit random opaque session token, hex encoded. Given to the client once.
pub fn new_session_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What the database keeps instead of the token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A random alphanumeric password (demo seed, dummy hash).
pub fn random_password(len: usize) -> String {
    rand::rngs::OsRng
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_tokens_are_256_bit_and_stored_only_as_sha256() {
        let token = new_session_token();
        assert_eq!(token.len(), 64, "32 random bytes, hex");
        assert_ne!(token, new_session_token());
        let hash = token_hash(&token);
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, token);
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
