//! Edit rules the desktop and the cloud both apply, so an edit made offline
//! is judged on the desktop exactly as the cloud will judge it.

/// Emails compare case-insensitively and without surrounding whitespace;
/// the cloud's unique index is on `lower(email)`.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_normalise_for_case_insensitive_lookup() {
        assert_eq!(
            normalize_email("  Dana@DesertSun.Example "),
            "dana@desertsun.example"
        );
    }
}
