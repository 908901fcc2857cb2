//! Mobile phone numbers, shared by the cloud (which decides) and the desktop
//! (which shows an offline edit the way the cloud will store it): parsed with
//! libphonenumber's metadata (US default region, international accepted) and
//! stored as E.164.

use phonenumber::country::Id;
use phonenumber::Mode;

/// What a person reads when a number is refused.
pub const INVALID_PHONE_MESSAGE: &str =
    "Enter a valid mobile phone number, e.g. (480) 555-0134 or +44 20 7946 0958";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPhone;

impl std::fmt::Display for InvalidPhone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(INVALID_PHONE_MESSAGE)
    }
}

impl std::error::Error for InvalidPhone {}

/// `"(480) 555-0134"` -> `"+14805550134"`.
pub fn normalize(input: &str) -> Result<String, InvalidPhone> {
    let trimmed = input.trim();
    if trimmed.is_empty() || trimmed.len() > 40 {
        return Err(InvalidPhone);
    }
    // Letters are never part of a number we store (vanity numbers included:
    // an SMS code must go to exactly what the user will read back).
    if trimmed.chars().any(|c| c.is_alphabetic()) {
        return Err(InvalidPhone);
    }
    let number = phonenumber::parse(Some(Id::US), trimmed).map_err(|_| InvalidPhone)?;
    if !phonenumber::is_valid(&number) {
        return Err(InvalidPhone);
    }
    Ok(number.format().mode(Mode::E164).to_string())
}

/// `"+14805550134"` -> `"••• ••• 0134"`, for "Enter the code sent to ...".
pub fn hint(e164: &str) -> String {
    let digits: Vec<char> = e164.chars().filter(char::is_ascii_digit).collect();
    let last4: String = digits[digits.len().saturating_sub(4)..].iter().collect();
    format!("••• ••• {last4}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn us_numbers_normalise_to_e164() {
        assert_eq!(normalize("(480) 555-0134").unwrap(), "+14805550134");
        assert_eq!(normalize("480.555.0134").unwrap(), "+14805550134");
        assert_eq!(normalize("+1 480 555 0134").unwrap(), "+14805550134");
    }

    #[test]
    fn international_numbers_are_accepted() {
        assert_eq!(normalize("+44 20 7946 0958").unwrap(), "+442079460958");
    }

    #[test]
    fn garbage_is_refused() {
        for bad in [
            "12ab",
            "",
            "   ",
            "123",
            "+1 480 555 01345678",
            "555-CALL-NOW",
        ] {
            assert_eq!(normalize(bad), Err(InvalidPhone), "{bad:?} must be refused");
        }
    }

    #[test]
    fn the_hint_shows_only_the_last_four_digits() {
        assert_eq!(hint("+14805550134"), "••• ••• 0134");
        assert!(!hint("+14805550134").contains("480"));
    }
}
