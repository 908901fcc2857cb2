//! A wrapper for secrets (keys, tokens, passwords) that cannot leak through
//! `Debug`/`Display` into logs or panics, and is wiped from memory on drop.

use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

pub struct Sensitive<T: Zeroize>(T);

impl<T: Zeroize> Sensitive<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// Read the secret. Call sites that use this are the ones to review.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize> Drop for Sensitive<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> ZeroizeOnDrop for Sensitive<T> {}

impl<T: Zeroize + Clone> Clone for Sensitive<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: Zeroize> From<T> for Sensitive<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T: Zeroize> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<T: Zeroize> fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let secret = Sensitive::new(String::from("hunter2-token"));
        assert_eq!(format!("{secret:?}"), "<redacted>", "Debug reaches logs");
        assert_eq!(format!("{secret}"), "<redacted>", "Display reaches UIs");
        let nested = format!("{:?}", Some(&secret));
        assert!(!nested.contains("hunter2"), "nested Debug leaked: {nested}");
        assert_eq!(secret.expose(), "hunter2-token", "the value stays usable");
    }
}
