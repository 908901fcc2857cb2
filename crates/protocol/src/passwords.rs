//! Password rules after NIST SP 800-63B-4 (§3.1.1.2), the same on the desktop
//! (shown as the person types) and on the cloud (enforced): a length range,
//! any characters (spaces and all of Unicode, compared after NFC
//! normalisation), no composition rules, and refusal of passwords that are
//! common, found in breach corpora (zxcvbn's frequency lists) or built from
//! the account's own email, name or company.

use unicode_normalization::UnicodeNormalization as _;

use crate::codes;
use crate::rules::Refusal;

/// Shorter passwords are refused. NIST allows 8 with a second factor, but
/// the cloud cannot know that 2FA stays on for the account, so 15 it is.
pub const MIN_PASSWORD_CHARS: usize = 15;
/// Longer ones are refused: NIST asks for at least 64 to be accepted; beyond
/// this the hash only burns CPU.
pub const MAX_PASSWORD_CHARS: usize = 256;
/// zxcvbn scores 0 to 4; below this a password counts as too guessable
/// (under 10^10 guesses).
pub const MIN_SCORE: u8 = 3;
/// A whole name or email local part shorter than this is not looked for
/// inside a password; nor is a single word of a name shorter than
/// [`MIN_WORD_CHARS`] ("Tom" would refuse "custom", "Al" half of all phrases).
const MIN_FRAGMENT_CHARS: usize = 3;
const MIN_WORD_CHARS: usize = 4;

/// Whose password it is: what it may not contain.
#[derive(Debug, Clone, Copy)]
pub struct PasswordContext<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
    pub company_name: &'a str,
}

/// The form a password is hashed and verified in: Unicode NFC, so the same
/// text typed on different keyboards (composed or decomposed accents) is
/// the same password.
pub fn normalize_password(password: &str) -> String {
    password.nfc().collect()
}

/// Lower case without whitespace: "Desert Sun" is found in "desertsun1".
fn fold(text: &str) -> String {
    text.nfc()
        .flat_map(char::to_lowercase)
        .filter(|c| !c.is_whitespace())
        .collect()
}

fn refused(message: impl Into<String>) -> Refusal {
    Refusal {
        code: codes::PASSWORD_REFUSED,
        message: message.into(),
    }
}

/// The password as it will be hashed (NFC), or the first rule it breaks,
/// with a sentence saying which.
pub fn check_password(password: &str, context: PasswordContext<'_>) -> Result<String, Refusal> {
    let password = normalize_password(password);
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(refused(format!(
            "Use at least {MIN_PASSWORD_CHARS} characters ({chars} so far). A few unrelated \
             words with spaces are easy to remember."
        )));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(refused(format!(
            "Use at most {MAX_PASSWORD_CHARS} characters."
        )));
    }
    let folded = fold(&password);
    let email = fold(context.email);
    let local = email.split('@').next().unwrap_or_default();
    if local.chars().count() >= MIN_FRAGMENT_CHARS && folded.contains(local) {
        return Err(refused(
            "The password cannot contain your email address or its part before the @.",
        ));
    }
    if contains_name(&folded, context.display_name) {
        return Err(refused("The password cannot contain your name."));
    }
    if contains_name(&folded, context.company_name) {
        return Err(refused("The password cannot contain your company's name."));
    }
    let entropy = zxcvbn::zxcvbn(&password, &user_inputs(context));
    if u8::from(entropy.score()) < MIN_SCORE {
        let why = entropy
            .feedback()
            .and_then(|feedback| feedback.warning())
            .map(|warning| format!(" ({warning})"))
            .unwrap_or_default();
        return Err(refused(format!(
            "This password is too common or too easy to guess{why}. Try a longer phrase of \
             unrelated words."
        )));
    }
    Ok(password)
}

/// 0 (very weak) to 4 (strong), for a strength meter as the person types.
/// A password [`check_password`] accepts scores at least [`MIN_SCORE`].
pub fn password_score(password: &str, context: PasswordContext<'_>) -> u8 {
    if password.is_empty() {
        return 0;
    }
    let password = normalize_password(password);
    u8::from(zxcvbn::zxcvbn(&password, &user_inputs(context)).score())
}

/// The whole name (spaces ignored) and each of its words long enough to matter.
fn contains_name(folded_password: &str, name: &str) -> bool {
    let whole = fold(name);
    if whole.chars().count() >= MIN_FRAGMENT_CHARS && folded_password.contains(&whole) {
        return true;
    }
    name.split_whitespace()
        .map(fold)
        .filter(|word| word.chars().count() >= MIN_WORD_CHARS)
        .any(|word| folded_password.contains(&word))
}

/// What zxcvbn should treat as known to an attacker.
fn user_inputs(context: PasswordContext<'_>) -> Vec<&str> {
    let mut inputs = vec![context.email, context.display_name, context.company_name];
    if let Some((local, _)) = context.email.split_once('@') {
        inputs.push(local);
    }
    inputs.extend(context.display_name.split_whitespace());
    inputs.extend(context.company_name.split_whitespace());
    inputs.retain(|input| !input.is_empty());
    inputs
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOM: PasswordContext<'static> = PasswordContext {
        email: "tom.becker@desertsun.example",
        display_name: "Tom Becker",
        company_name: "Desert Sun Motors",
    };

    fn refusal(password: &str) -> String {
        check_password(password, TOM).unwrap_err().message
    }

    #[test]
    fn length_is_15_to_256_characters_counted_as_characters() {
        assert!(refusal("short one here").contains("at least 15"));
        assert!(refusal(&"ü".repeat(14)).contains("(14 so far)"));
        assert!(refusal(&"correct horse ".repeat(19)).contains("at most 256"));
        let sixty_four = "a fine and long passphrase of many words, typed on a quiet night";
        assert_eq!(sixty_four.chars().count(), 64);
        assert!(check_password(sixty_four, TOM).is_ok());
    }

    #[test]
    fn spaces_and_unicode_are_allowed_and_normalised() {
        let decomposed = "cafe\u{301} olé lumière voilà parapluie";
        let stored = check_password(decomposed, TOM).unwrap();
        assert!(stored.contains("caf\u{e9}"), "NFC-composed: {stored:?}");
        assert_eq!(
            stored,
            normalize_password("caf\u{e9} olé lumière voilà parapluie")
        );
        assert!(check_password("Ünïcödé ağaç ξύλο 森林 гора", TOM).is_ok());
    }

    #[test]
    fn no_composition_rules_lowercase_words_pass() {
        assert!(check_password("violet tractor umbrella seventeen", TOM).is_ok());
    }

    #[test]
    fn common_and_breached_passwords_are_refused() {
        for common in [
            "passwordpassword",
            "qwertyuiopasdfgh",
            "aaaaaaaaaaaaaaaa",
            "123456789012345",
        ] {
            let message = refusal(common);
            assert!(message.contains("too common"), "{common}: {message}");
        }
    }

    #[test]
    fn the_email_name_and_company_are_refused_case_insensitively() {
        assert!(refusal("my TOM.BECKER violet tractor").contains("email"));
        assert!(refusal("violet tractor Becker umbrella").contains("your name"));
        assert!(refusal("violet tractor tombecker").contains("your name"));
        assert!(refusal("violet DesertSun tractor 99").contains("company"));
        assert!(refusal("violet tractor motors umbrella").contains("company"));
    }

    #[test]
    fn the_meter_scores_weak_low_and_strong_high() {
        assert_eq!(password_score("", TOM), 0);
        assert!(password_score("password", TOM) < MIN_SCORE);
        assert!(password_score("violet tractor umbrella seventeen", TOM) >= MIN_SCORE);
    }
}
