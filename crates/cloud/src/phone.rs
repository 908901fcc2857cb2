//! Mobile phone numbers: parsed with libphonenumber's metadata (US default
//! region, international accepted) and stored as E.164.

use phonenumber::country::Id;
use phonenumber::Mode;

use crate::error::CloudError;

const INVALID: &str = "Enter a valid mobile phone number, e.g. (480) 555-0134 or +44 20 7946 0958";

/// `"(480) 555-0134"` -> `"+14805550134"`; anything that is not a valid
/// number is `invalid_phone` with a message a person can act on.
pub fn normalize(input: &str) -> Result<String, CloudError> {
    let trimmed = input.trim();
    if trimmed.is_empty() || trimmed.len() > 40 {
        return Err(CloudError::InvalidPhone(INVALID.into()));
    }
    // Letters are never part of a number we store (vanity numbers included:
    // an SMS code must go to exactly what the user will read back).
    if trimmed.chars().any(|c| c.is_alphabetic()) {
        return Err(CloudError::InvalidPhone(INVALID.into()));
    }
    let number = phonenumber::parse(Some(Id::US), trimmed)
        .map_err(|_| CloudError::InvalidPhone(INVALID.into()))?;
    if !phonenumber::is_valid(&number) {
        return Err(CloudError::InvalidPhone(INVALID.into()));
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
    fn garbage_is_invalid_phone() {
        for bad in [
            "12ab",
            "",
            "   ",
            "123",
            "+1 480 555 01345678",
            "555-CALL-NOW",
        ] {
            let err = normalize(bad).unwrap_err();
            assert!(
                matches!(err, CloudError::InvalidPhone(_)),
                "{bad:?} must be refused as invalid_phone"
            );
        }
    }

    #[test]
    fn the_hint_shows_only_the_last_four_digits() {
        assert_eq!(hint("+14805550134"), "••• ••• 0134");
        assert!(!hint("+14805550134").contains("480"));
    }
}
