//! Opaque secrets handed out once (session tokens, attempt ids, device
//! tokens) and the hashes the database keeps instead. Pure, no I/O.

use rand::distributions::Alphanumeric;
use rand::{Rng as _, RngCore as _};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

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

/// The alphabet of setup codes: digits and capitals without the look-alikes
/// 0/O, 1/I/L, so a code read aloud or copied by hand arrives intact.
pub const SETUP_CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// 12 characters of 31: about 59 bits, far beyond what the failure counters
/// let anyone try within the code's 72 hours.
pub const SETUP_CODE_LEN: usize = 12;

/// A one-time setup code from the OS CSPRNG, shown as `XXXX-XXXX-XXXX`.
pub fn new_setup_code() -> String {
    display_setup_code(&random_code(SETUP_CODE_LEN))
}

/// A normalised setup code in its shown form, in groups of four.
pub fn display_setup_code(normalized: &str) -> String {
    grouped(normalized, 4)
}

/// Recovery codes: 10 characters of the same alphabet, about 49 bits. Only
/// guessable online, within the sign-in attempt's tries and the failure
/// counters, since the database keeps a keyed hash.
pub const RECOVERY_CODE_LEN: usize = 10;

/// A recovery code from the OS CSPRNG, shown as `XXXXX-XXXXX`.
pub fn new_recovery_code() -> String {
    grouped(&random_code(RECOVERY_CODE_LEN), 5)
}

/// `len` characters of [`SETUP_CODE_ALPHABET`] from the OS CSPRNG.
fn random_code(len: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    (0..len)
        .map(|_| char::from(SETUP_CODE_ALPHABET[rng.gen_range(0..SETUP_CODE_ALPHABET.len())]))
        .collect()
}

/// `code` with a dash after every `every` characters.
fn grouped(code: &str, every: usize) -> String {
    let mut shown = String::with_capacity(code.len() + code.len() / every);
    for (i, c) in code.chars().enumerate() {
        if i > 0 && i % every == 0 {
            shown.push('-');
        }
        shown.push(c);
    }
    shown
}

/// Whether a normalised code (see [`normalize_code`]) is made of
/// [`SETUP_CODE_ALPHABET`] and `len` long.
pub fn code_has_form(normalized: &str, len: usize) -> bool {
    normalized.len() == len && normalized.bytes().all(|b| SETUP_CODE_ALPHABET.contains(&b))
}

/// Whether `code_hash` (of a typed code, see [`normalize_code`]) is
/// the stored, still unexpired setup code: compared in constant time, and
/// never true when no code is outstanding.
pub fn setup_code_fits(
    stored_hash: Option<&str>,
    expires_at: Option<i64>,
    code_hash: &str,
    now: i64,
) -> bool {
    let stored = stored_hash.unwrap_or_default();
    let same: bool = stored.as_bytes().ct_eq(code_hash.as_bytes()).into();
    same && !stored.is_empty() && expires_at.is_some_and(|expires_at| expires_at > now)
}

/// A setup or recovery code as typed (any case, with or without dashes and
/// spaces) in the form its hash is taken of.
pub fn normalize_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
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
    fn setup_codes_are_12_unambiguous_characters_in_groups_of_four() {
        let code = new_setup_code();
        assert_eq!(code.len(), 14, "{code}");
        assert_eq!(code.matches('-').count(), 2, "{code}");
        let bare = normalize_code(&code);
        assert_eq!(bare.len(), SETUP_CODE_LEN);
        assert!(code_has_form(&bare, SETUP_CODE_LEN), "{code}");
        for ambiguous in ['0', 'O', '1', 'I', 'L'] {
            assert!(!SETUP_CODE_ALPHABET.contains(&(ambiguous as u8)));
        }
        assert_ne!(new_setup_code(), code);
        assert_eq!(normalize_code(" abcd-efgh jkmn "), "ABCDEFGHJKMN");
        assert_eq!(display_setup_code(&bare), code);
    }

    #[test]
    fn recovery_codes_are_10_unambiguous_characters_in_groups_of_five() {
        let code = new_recovery_code();
        assert_eq!(code.len(), 11, "{code}");
        assert_eq!(code.find('-'), Some(5), "{code}");
        assert!(code_has_form(&normalize_code(&code), RECOVERY_CODE_LEN));
        assert_ne!(new_recovery_code(), code);
        assert!(
            !code_has_form("ABCDE2345O", RECOVERY_CODE_LEN),
            "O is not in the alphabet"
        );
        assert!(!code_has_form("ABCDE2345", RECOVERY_CODE_LEN), "too short");
    }

    #[test]
    fn a_setup_code_fits_only_while_it_is_the_stored_unexpired_one() {
        let hash = token_hash("ABCDEFGHJKMN");
        assert!(setup_code_fits(Some(&hash), Some(11), &hash, 10));
        assert!(
            !setup_code_fits(Some(&hash), Some(10), &hash, 10),
            "expired"
        );
        assert!(!setup_code_fits(None, None, &hash, 10), "used");
        assert!(
            !setup_code_fits(Some(""), Some(11), "", 10),
            "none outstanding"
        );
        let other = token_hash("ABCDEFGHJKMP");
        assert!(
            !setup_code_fits(Some(&hash), Some(11), &other, 10),
            "another code"
        );
    }

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
