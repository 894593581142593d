//! Token PINs: kept in zeroized memory, never printed, optionally held to a policy.

use zeroize::Zeroizing;

use crate::error::{Result, SignerError};

/// A token PIN. Its memory is wiped on drop; `Debug` does not show it.
#[derive(Clone)]
pub struct Pin(Zeroizing<String>);

impl Pin {
    /// A PIN from its text.
    pub fn new(pin: impl Into<String>) -> Self {
        Pin(Zeroizing::new(pin.into()))
    }

    /// The PIN text: hand it only to the token.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the PIN is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(***)")
    }
}

impl PartialEq for Pin {
    fn eq(&self, other: &Self) -> bool {
        // Constant time: PINs are compared only for "new equals repeated".
        self.0.len() == other.0.len() && openssl::memcmp::eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

/// The PIN policy Java enforces with `signer.enforce-token-pin-policy` (FI/EE): at least
/// ten printable ASCII characters from at least three of the classes upper-case,
/// lower-case, digit and other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PinPolicy {
    /// Any non-empty PIN.
    #[default]
    None,
    /// Java's `TokenPinPolicy`.
    Enforced,
}

/// The minimum length of an enforced PIN.
pub const MIN_PIN_LENGTH: usize = 10;

impl PinPolicy {
    /// Checks a new PIN. The error names the rule, never the PIN.
    pub fn check(self, pin: &Pin) -> Result<()> {
        let p = pin.expose();
        if p.is_empty() {
            return Err(SignerError::PinPolicy("the PIN is empty".into()));
        }
        if self == PinPolicy::None {
            return Ok(());
        }
        if !p.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(SignerError::PinPolicy(
                "only printable ASCII characters are allowed".into(),
            ));
        }
        if p.len() < MIN_PIN_LENGTH {
            return Err(SignerError::PinPolicy(format!(
                "at least {MIN_PIN_LENGTH} characters are required"
            )));
        }
        let classes = [
            p.bytes().any(|b| b.is_ascii_uppercase()),
            p.bytes().any(|b| b.is_ascii_lowercase()),
            p.bytes().any(|b| b.is_ascii_digit()),
            p.bytes().any(|b| !b.is_ascii_alphanumeric()),
        ];
        if classes.iter().filter(|c| **c).count() < 3 {
            return Err(SignerError::PinPolicy(
                "characters from at least three of upper-case, lower-case, digits and others are required"
                    .into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_pin() {
        let pin = Pin::new("secret-1234");
        assert_eq!(format!("{pin:?}"), "Pin(***)");
    }

    #[test]
    fn policy() {
        let none = PinPolicy::None;
        assert!(none.check(&Pin::new("1")).is_ok());
        assert!(none.check(&Pin::new("")).is_err());
        let enforced = PinPolicy::Enforced;
        assert!(enforced.check(&Pin::new("Abcdefgh12")).is_ok());
        assert!(enforced.check(&Pin::new("abcdefgh12")).is_err());
        assert!(enforced.check(&Pin::new("Abcdef12")).is_err());
        assert!(enforced.check(&Pin::new("Abcdefgh1é")).is_err());
        let err = enforced.check(&Pin::new("short")).unwrap_err().to_string();
        assert!(!err.contains("short"), "{err}");
    }
}
