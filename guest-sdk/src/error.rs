//! The error type of operator callbacks.
//!
//! [`Error`] is a message and nothing else, in the spirit of `anyhow::Error`:
//! whatever an operator returns ends up as the `err(string)` of a WIT call,
//! so the host only ever sees text. Any `std::error::Error` converts into it
//! with `?`, keeping its chain of sources in the message.

use std::fmt;

/// An error returned by an operator (or by the SDK on its behalf).
///
/// ```
/// use weir_guest::{Error, Result};
///
/// fn parse(text: &str) -> Result<u32> {
///     let n: u32 = text.parse()?; // any std::error::Error converts
///     if n == 0 {
///         return Err(Error::msg("zero is not allowed"));
///     }
///     Ok(n)
/// }
/// assert_eq!(parse("x").unwrap_err().to_string(), "invalid digit found in string");
/// assert_eq!(parse("0").unwrap_err().to_string(), "zero is not allowed");
/// ```
pub struct Error {
    message: String,
}

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with this message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Error { message: message.to_string() }
    }

    /// Prefixes the message with what was being done: `"{context}: {message}"`.
    ///
    /// ```
    /// # use weir_guest::Error;
    /// let err = Error::msg("not a number").context("config `window`");
    /// assert_eq!(err.to_string(), "config `window`: not a number");
    /// ```
    pub fn context(self, context: impl fmt::Display) -> Self {
        Error { message: format!("{context}: {}", self.message) }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Converts any standard error, appending its sources: `"outer: inner"`.
///
/// `Error` itself does not implement `std::error::Error`, or this impl would
/// overlap with `From<T> for T` (the same trade-off `anyhow` makes).
impl<E: std::error::Error> From<E> for Error {
    fn from(error: E) -> Self {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Error { message }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Shows the bare message, so that `fn main() -> weir_guest::Result<()>`
/// and `unwrap()` print something readable.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::num::ParseIntError);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("reading the window size")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn conversion_keeps_the_source_chain() {
        let inner = "x".parse::<u32>().unwrap_err();
        let err = Error::from(Outer(inner));
        assert_eq!(err.to_string(), "reading the window size: invalid digit found in string");
        assert_eq!(format!("{err:?}"), err.to_string());
    }
}
