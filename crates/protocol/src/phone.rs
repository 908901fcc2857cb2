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

/// The country a stored (E.164) number belongs to, as ISO 3166 alpha-2
/// (`"+14165550134"` -> `"CA"`): libphonenumber's region for it, which tells
/// the +1 countries apart (US, Canada, the Caribbean's own). `None` when the
/// number names no single region.
pub fn country(e164: &str) -> Option<String> {
    let number = phonenumber::parse(None, e164).ok()?;
    number.country().id().map(|id| id.as_ref().to_string())
}

/// A country code the phone metadata knows (`"US"`, `"CA"`, `"GB"`), in
/// its canonical form: upper case, or `None`.
pub fn known_country(code: &str) -> Option<String> {
    let upper = code.trim().to_ascii_uppercase();
    let id: Id = upper.parse().ok()?;
    Some(id.as_ref().to_string())
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
    fn a_number_knows_its_country_even_within_plus_one() {
        assert_eq!(country("+14805550134").as_deref(), Some("US"));
        assert_eq!(country("+14165550134").as_deref(), Some("CA"));
        assert_eq!(
            country("+18765550134").as_deref(),
            Some("JM"),
            "Jamaica shares +1"
        );
        assert_eq!(country("+442079460958").as_deref(), Some("GB"));
        assert_eq!(country("not a number"), None);
        assert_eq!(known_country(" ca ").as_deref(), Some("CA"));
        assert_eq!(known_country("XX"), None);
        assert_eq!(known_country("USA"), None);
    }

    #[test]
    fn the_hint_shows_only_the_last_four_digits() {
        assert_eq!(hint("+14805550134"), "••• ••• 0134");
        assert!(!hint("+14805550134").contains("480"));
    }
}
