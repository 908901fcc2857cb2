//! Secrets the cloud must read back (authenticator-app secrets) are stored
//! sealed: XChaCha20-Poly1305 under a key from the configuration, never from
//! the database, with the owner's id as associated data so a sealed value
//! moved to another row does not open.

use base64::Engine as _;
use chacha20poly1305::aead::{Aead as _, KeyInit as _, OsRng, Payload};
use chacha20poly1305::{AeadCore as _, XChaCha20Poly1305, XNonce};
use sha2::{Digest as _, Sha256};

use crate::error::CloudError;

/// Prefix of the stored form, so another scheme can be added beside it.
const VERSION: &str = "v1.";
const NONCE_LEN: usize = 24;

/// A 256-bit sealing key. Never printed.
#[derive(Clone)]
pub struct SealingKey([u8; 32]);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

impl SealingKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// 32 bytes in standard base64 (what `openssl rand -base64 32` prints).
    /// The error never quotes the value.
    pub fn parse(text: &str) -> Result<Self, CloudError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| CloudError::Config("the TOTP key is not base64".into()))?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| {
            CloudError::Config("the TOTP key must be 32 bytes (44 base64 characters)".into())
        })?;
        Ok(Self(bytes))
    }

    /// The fixed key of dev mode and tests: anyone can derive it, so
    /// `start` accepts it only in dev mode.
    pub fn dev() -> Self {
        Self(Sha256::digest(b"secureclose-dev-only-totp-key-v1").into())
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }

    /// `v1.` + base64(nonce || ciphertext), a fresh random nonce each time.
    pub fn seal(&self, associated: &str, plaintext: &[u8]) -> Result<String, CloudError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: plaintext,
            aad: associated.as_bytes(),
        };
        let sealed = self
            .cipher()
            .encrypt(&nonce, payload)
            .map_err(|_| CloudError::Internal("sealing failed".into()))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!(
            "{VERSION}{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ))
    }

    /// The plaintext, or an internal error (wrong key, other owner, damage).
    pub fn open(&self, associated: &str, stored: &str) -> Result<Vec<u8>, CloudError> {
        let unreadable = || CloudError::Internal("a sealed secret does not open".into());
        let encoded = stored.strip_prefix(VERSION).ok_or_else(unreadable)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| unreadable())?;
        if bytes.len() <= NONCE_LEN {
            return Err(unreadable());
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let payload = Payload {
            msg: sealed,
            aad: associated.as_bytes(),
        };
        self.cipher()
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| unreadable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_owner() {
        let key = SealingKey::from_bytes([7; 32]);
        let sealed = key.seal("user-a", b"top secret bytes").unwrap();
        assert!(sealed.starts_with("v1."));
        assert_eq!(key.open("user-a", &sealed).unwrap(), b"top secret bytes");
        assert!(key.open("user-b", &sealed).is_err(), "another owner");
        assert!(
            SealingKey::dev().open("user-a", &sealed).is_err(),
            "another key"
        );
        assert_ne!(sealed, key.seal("user-a", b"top secret bytes").unwrap());
        assert!(key.open("user-a", "v1.AAAA").is_err());
    }

    #[test]
    fn keys_parse_from_base64_and_never_print() {
        let text = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        let key = SealingKey::parse(&text).unwrap();
        assert_eq!(format!("{key:?}"), "SealingKey(<redacted>)");
        assert!(SealingKey::parse("not base64!").is_err());
        let short = base64::engine::general_purpose::STANDARD.encode([9u8; 16]);
        assert!(SealingKey::parse(&short).is_err());
    }
}
