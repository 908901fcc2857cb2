//! Mobile phone numbers: the shared rules of `secureclose_protocol::phone`,
//! with the cloud's error.

pub use secureclose_protocol::phone::{country, hint, known_country};

use crate::error::CloudError;

/// E.164, or `invalid_phone` with a message a person can act on.
pub fn normalize(input: &str) -> Result<String, CloudError> {
    secureclose_protocol::phone::normalize(input)
        .map_err(|invalid| CloudError::InvalidPhone(invalid.to_string()))
}
