//! Credentials in, cookies out: what the core takes and decides as data, read from
//! and written to HTTP headers here.

use crate::core::{CookieChange, Credentials};
use hyper::HeaderMap;

/// The `Authorization` and `Cookie` headers as credentials.
pub fn credentials(headers: &HeaderMap) -> Credentials {
    let authorization = headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let cookies = headers
        .get_all(hyper::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok());
    parse_credentials(authorization, cookies)
}

/// The `User-Agent` header, kept with a session a call makes (as text; a value that
/// is not text is left out). Only mutations make sessions: a query is not given it,
/// which spares a copy on every `auth.get`.
pub fn user_agent(procedure: &specs::Procedure, headers: &HeaderMap) -> Option<String> {
    if procedure.kind != specs::Kind::Mutation {
        return None;
    }
    headers
        .get(hyper::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Reads the `Authorization` and `Cookie` header values as Dokploy's Lucia does:
/// the text after `Bearer ` (scheme word case-sensitive), and the `auth_session`
/// cookie (pairs split on `"; "` exactly).
pub fn parse_credentials<'a>(
    authorization: Option<&str>,
    cookies: impl IntoIterator<Item = &'a str>,
) -> Credentials {
    // The scheme is what comes before the first space.
    let bearer = authorization
        .and_then(|h| h.strip_prefix("Bearer "))
        .filter(|token| !token.is_empty())
        .map(str::to_string);
    let cookie = cookies
        .into_iter()
        .flat_map(|header| header.split("; "))
        .find_map(|pair| pair.strip_prefix(specs::cookie::NAME)?.strip_prefix('='))
        .filter(|value| !value.is_empty())
        .map(str::to_string);
    Credentials { bearer, cookie }
}

/// The `Set-Cookie` value for what a call did to the session.
pub fn set_cookie(change: &CookieChange, secure: bool) -> String {
    match change {
        CookieChange::Set(id) => {
            specs::cookie::session(id, specs::lifetimes::SESSION_MS / 1000, secure)
        }
        CookieChange::Blank => specs::cookie::blank(secure),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_credentials as read;

    #[test]
    fn reads_bearer_and_cookie_like_lucia() {
        let c = read(Some("Bearer abc"), ["a=1; auth_session=xyz; b=2"]);
        assert_eq!(c.bearer.as_deref(), Some("abc"));
        assert_eq!(c.cookie.as_deref(), Some("xyz"));
        assert_eq!(read(Some("bearer abc"), []).bearer, None);
        assert_eq!(read(Some("Bearer "), []).bearer, None);
        assert_eq!(read(Some("Basic abc"), []).bearer, None);
        // Split on "; " exactly: a cookie after ";" without the space is not found.
        assert_eq!(read(None, ["a=1;auth_session=xyz"]).cookie, None);
        assert_eq!(read(None, ["auth_session="]).cookie, None);
        assert_eq!(
            read(None, ["x=1", "auth_session=q"]).cookie.as_deref(),
            Some("q")
        );
    }

    #[test]
    fn renders_the_session_cookie_byte_for_byte() {
        use crate::core::CookieChange;
        assert_eq!(
            super::set_cookie(&CookieChange::Set("abc".into()), true),
            "auth_session=abc; HttpOnly; Max-Age=86400; Path=/; SameSite=Lax; Secure"
        );
        assert_eq!(
            super::set_cookie(&CookieChange::Blank, false),
            "auth_session=; HttpOnly; Max-Age=0; Path=/; SameSite=Lax"
        );
    }
}
