//! Who may use the server: [`Access`] (no token, or a bearer token and
//! whether `/metrics` needs it too), the rule that an address other than
//! loopback needs a token, and the middleware that answers `401` to a
//! request without the token before any handler runs.
//!
//! The token travels as `Authorization: Bearer TOKEN`. A browser cannot set
//! that header when it opens a page, so `GET /` (the dashboard, and only it)
//! also takes the token as `/?token=TOKEN`; the page's script then reads it
//! from its own address and sends it as a Bearer header with every call.
//! Nothing is stored in the browser (no cookie, no storage): a cookie would
//! be sent with requests other sites make, which is exactly what a token in
//! a header is immune to.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::{Error, Result};

/// Who may use a server. The default has no token, which [`super::serve`]
/// accepts on loopback addresses only.
///
/// ```
/// use weir_host::http::Access;
///
/// let access = Access::with_token("s3cret")?.metrics_need_token(true);
/// assert!(access.has_token());
/// // The token never shows in logs.
/// assert!(!format!("{access:?}").contains("s3cret"));
/// # Ok::<(), weir_host::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Access {
    token: Option<Arc<str>>,
    metrics_need_token: bool,
}

impl Access {
    /// Every endpoint but `/metrics` needs `token` (refused when empty).
    pub fn with_token(token: impl Into<String>) -> Result<Access> {
        let token = token.into();
        if token.is_empty() {
            return Err(Error::Usage("the HTTP token is empty".into()));
        }
        Ok(Access { token: Some(token.into()), metrics_need_token: false })
    }

    /// [`Access::with_token`] with the contents of `path`, read once,
    /// without the whitespace around it (so a trailing newline is no part
    /// of the token). An empty file is refused.
    pub fn from_token_file(path: impl AsRef<Path>) -> Result<Access> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(Error::host(format!("read the HTTP token file {}", path.display())))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(Error::Usage(format!("the HTTP token file {} is empty", path.display())));
        }
        Access::with_token(token)
    }

    /// With a token: whether `/metrics` needs it too (by default it does
    /// not, since scrapers are often configured without one and the metrics
    /// change nothing). Without a token this has no effect.
    pub fn metrics_need_token(mut self, yes: bool) -> Access {
        self.metrics_need_token = yes;
        self
    }

    /// Whether requests need a token.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Refuses to listen on an address other than loopback without a
    /// token: anyone who can reach it could cancel the job.
    pub(crate) fn check_address(&self, addrs: &[SocketAddr]) -> Result<()> {
        if self.has_token() {
            return Ok(());
        }
        // `to_canonical`: `::ffff:127.0.0.1` is loopback too.
        let open: Vec<String> =
            addrs.iter().filter(|a| !a.ip().to_canonical().is_loopback()).map(ToString::to_string).collect();
        if open.is_empty() {
            return Ok(());
        }
        Err(Error::Usage(format!(
            "refusing to serve HTTP on {} without a token: only loopback addresses may go without one \
             (give a token with --http-token-file, or http::Access::with_token, or listen on 127.0.0.1)",
            open.join(", ")
        )))
    }

    /// Whether `request` may pass.
    fn admits(&self, request: &Request) -> Verdict {
        let Some(token) = &self.token else { return Verdict::Admitted };
        let path = request.uri().path();
        if path == "/metrics" && !self.metrics_need_token {
            return Verdict::Admitted;
        }
        let given = match bearer(request) {
            Some(given) => Some(Cow::Borrowed(given)),
            None if path == "/" && matches!(*request.method(), Method::GET | Method::HEAD) => {
                request.uri().query().and_then(query_token).map(Cow::Owned)
            }
            None => None,
        };
        match given {
            None => Verdict::Missing,
            Some(given) if constant_time_eq(given.as_bytes(), token.as_bytes()) => Verdict::Admitted,
            Some(_) => Verdict::Wrong,
        }
    }
}

/// Never shows the token.
impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("metrics_need_token", &self.metrics_need_token)
            .finish()
    }
}

enum Verdict {
    Admitted,
    Missing,
    Wrong,
}

/// The middleware in front of every route (and of the 404 and 405
/// answers, so that nothing about the server is learnt without the token).
pub(super) async fn require_token(State(access): State<Access>, request: Request, next: Next) -> Response {
    let (message, challenge) = match access.admits(&request) {
        Verdict::Admitted => return next.run(request).await,
        Verdict::Missing => (
            "this server needs a token: send `Authorization: Bearer TOKEN` (or open the dashboard as /?token=TOKEN)",
            r#"Bearer realm="weir""#,
        ),
        Verdict::Wrong => ("the token is wrong", r#"Bearer realm="weir", error="invalid_token""#),
    };
    let mut response = super::error(StatusCode::UNAUTHORIZED, message);
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    response
}

/// The token of an `Authorization: Bearer TOKEN` header (the scheme is
/// case-insensitive, RFC 9110).
fn bearer(request: &Request) -> Option<&str> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The `token` parameter of a query string, decoded as a browser's
/// `URLSearchParams` decodes it (`+` is a space, `%XX` a byte), so that the
/// server and the dashboard's script read the same token.
fn query_token(query: &str) -> Option<String> {
    let raw = query.split('&').find_map(|pair| pair.strip_prefix("token="))?;
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (bytes.get(i + 1).and_then(|&b| hex(b)), bytes.get(i + 2).and_then(|&b| hex(b))) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                // Not an escape: kept as it is, as URLSearchParams does.
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|d| d as u8)
}

/// Whether two byte strings are equal, in a time that depends on their
/// length only, never on where they first differ: a `==` that stops at the
/// first difference would let a client find the token byte by byte by
/// timing its answers. (The length is not secret enough to hide: it is
/// known from the tool that made the token.)
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keeps the optimizer from turning the fold into an early exit.
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_only_when_every_byte_is() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"s3cret-token", b"s3cret-token"));
        assert!(!constant_time_eq(b"s3cret-token", b"s3cret-tokeN"));
        assert!(!constant_time_eq(b"s3cret-token", b"x3cret-token"));
        assert!(!constant_time_eq(b"s3cret", b"s3cret-token"));
        assert!(!constant_time_eq(b"s3cret-token", b""));
        // Every single-bit difference is seen, wherever it is.
        let token = b"abcdefgh";
        for i in 0..token.len() {
            for bit in 0..8 {
                let mut other = *token;
                other[i] ^= 1 << bit;
                assert!(!constant_time_eq(token, &other), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn the_query_token_is_decoded_like_url_search_params() {
        assert_eq!(query_token("token=abc").as_deref(), Some("abc"));
        assert_eq!(query_token("x=1&token=a%2Bb%3D%3D+c&y=2").as_deref(), Some("a+b== c"));
        assert_eq!(query_token("token=100%").as_deref(), Some("100%"));
        assert_eq!(query_token("token=%zz").as_deref(), Some("%zz"));
        assert_eq!(query_token("tokens=abc"), None);
        assert_eq!(query_token("xtoken=abc"), None);
        assert_eq!(query_token("token=%FF"), None, "not UTF-8");
    }

    #[test]
    fn only_loopback_goes_without_a_token() {
        let open = Access::default();
        let addr = |s: &str| s.parse::<SocketAddr>().expect("an address");
        assert!(open.check_address(&[addr("127.0.0.1:80"), addr("[::1]:80")]).is_ok());
        assert!(open.check_address(&[addr("[::ffff:127.0.0.1]:80")]).is_ok());
        for wide in ["0.0.0.0:0", "[::]:8081", "192.168.1.2:8081"] {
            let message = open.check_address(&[addr("127.0.0.1:80"), addr(wide)]).expect_err(wide).to_string();
            assert!(message.contains(wide) && message.contains("without a token"), "{message}");
            assert!(!message.contains("127.0.0.1:80"), "names only the open address: {message}");
        }
        let guarded = Access::with_token("t").expect("a token");
        assert!(guarded.check_address(&[addr("0.0.0.0:0")]).is_ok());
    }

    #[test]
    fn token_files_are_trimmed_and_must_not_be_empty() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = dir.path().join("token");
        std::fs::write(&file, "  s3cret\n").expect("write");
        let access = Access::from_token_file(&file).expect("a token");
        assert_eq!(access.token.as_deref(), Some("s3cret"));
        assert!(!format!("{access:?}").contains("s3cret"));

        std::fs::write(&file, " \n\t\n").expect("write");
        let message = Access::from_token_file(&file).expect_err("empty").to_string();
        assert!(message.contains(&file.display().to_string()) && message.contains("empty"), "{message}");
        let missing = dir.path().join("missing");
        let message = Access::from_token_file(&missing).expect_err("missing").to_string();
        assert!(message.contains(&missing.display().to_string()), "{message}");
        assert!(Access::with_token("").is_err());
    }
}
