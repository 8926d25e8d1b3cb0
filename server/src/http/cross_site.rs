//! Cross-site request refusal. A browser sends the session cookie with a request
//! that another site makes (a form post, a `fetch` without credentials mode checks),
//! and `SameSite=Lax` does not stop sibling subdomains, where Dokploy's apps usually
//! live. So a mutation that a cookie session authenticates must declare a JSON body
//! (which a page on another origin cannot send without a CORS preflight) and, when
//! the browser says where it comes from, come from an allowed origin. A call with a
//! Bearer token and no cookie is not a browser's ambient credential and is
//! unaffected (Dokploy's CLI posts with no body); one that carries the cookie is
//! checked whatever else it carries (a Bearer header must not switch the check off).

use crate::core::Credentials;
use hyper::header::{HOST, ORIGIN};
use hyper::HeaderMap;
use specs::messages as msg;
use specs::{ApiError, ErrorCode};

/// The origins (`scheme://host[:port]`) whose pages may make cookie mutations,
/// besides the server's own (the `Host` the request was sent to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// Any origin (the mock with CORS open to any origin).
    Any,
    /// These exact origins, e.g. the public URL's and `--allowed-origin`'s.
    List(Vec<String>),
}

impl AllowedOrigins {
    fn allows(&self, origin: &str) -> bool {
        match self {
            AllowedOrigins::Any => true,
            AllowedOrigins::List(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
        }
    }
}

/// The origin of a URL: `https://example.com/dokploy` → `https://example.com`.
pub fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    format!("{scheme}://{authority}").to_ascii_lowercase()
}

/// Why a mutation must be refused, if it must: it carries the session cookie and
/// its content type is not JSON, or it comes from a page of another site. `scheme`
/// is the server's own (its public URL's): `Origin` must match it, host and port.
pub(crate) fn refusal(
    headers: &HeaderMap,
    credentials: &Credentials,
    allowed: &AllowedOrigins,
    scheme: &str,
) -> Option<ApiError> {
    // Only a browser sends the cookie on its own.
    credentials.cookie.as_ref()?;
    if let Err(not_json) = super::rest::require_json(headers) {
        return Some(not_json);
    }
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let origin = text(ORIGIN.as_str());
    let listed = origin.is_some_and(|o| allowed.allows(o));
    let same_host = match (origin, text(HOST.as_str())) {
        (Some(origin), Some(host)) => origin.split_once("://").is_some_and(|(s, authority)| {
            s.eq_ignore_ascii_case(scheme) && authority.eq_ignore_ascii_case(host)
        }),
        _ => false,
    };
    // The browser compared the page's origin with the URL it requested itself, which
    // holds behind a proxy that rewrites `Host`; a page cannot forge the header.
    let fetch_site = text("sec-fetch-site");
    let same_origin = fetch_site == Some("same-origin");
    let from_elsewhere = match origin {
        // `null` (a sandboxed page, a redirect) and any other origin.
        Some(_) => !listed && !same_host && !same_origin,
        None => false,
    };
    // `same-site` includes sibling subdomains: allowed only when listed.
    let other_site = matches!(fetch_site, Some("cross-site" | "same-site")) && !listed;
    (from_elsewhere || other_site).then(|| ApiError::new(ErrorCode::Forbidden, msg::CROSS_SITE))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    fn cookie() -> Credentials {
        Credentials {
            bearer: None,
            cookie: Some("s".into()),
        }
    }

    const JSON: (&str, &str) = ("content-type", "application/json");

    #[test]
    fn only_cookie_sessions_are_checked() {
        let list = AllowedOrigins::List(vec![]);
        let bearer = Credentials {
            bearer: Some("t".into()),
            cookie: Some("s".into()),
        };
        let form = headers(&[
            ("content-type", "text/plain"),
            ("origin", "https://evil.example"),
        ]);
        // The cookie is checked whatever else comes with it.
        assert_eq!(
            refusal(&form, &bearer, &list, "https").map(|e| e.code),
            Some(ErrorCode::UnsupportedMediaType)
        );
        let bearer_only = Credentials {
            cookie: None,
            ..bearer
        };
        assert_eq!(refusal(&form, &bearer_only, &list, "https"), None);
        assert_eq!(
            refusal(&form, &Credentials::default(), &list, "https"),
            None
        );
        let refused = refusal(&form, &cookie(), &list, "https").unwrap();
        assert_eq!(refused.code, ErrorCode::UnsupportedMediaType);
        let none = refusal(&headers(&[]), &cookie(), &list, "https").unwrap();
        assert_eq!(none.message, msg::MISSING_CONTENT_TYPE);
    }

    #[test]
    fn origins_must_be_the_host_or_listed() {
        let list = AllowedOrigins::List(vec!["https://app.example.com".into()]);
        let from = |origin: &str, site: Option<&str>| {
            let mut pairs = vec![JSON, ("host", "auth.example.com"), ("origin", origin)];
            pairs.extend(site.map(|s| ("sec-fetch-site", s)));
            refusal(&headers(&pairs), &cookie(), &list, "https").map(|e| e.code)
        };
        assert_eq!(from("https://auth.example.com", Some("same-origin")), None);
        assert_eq!(from("https://app.example.com", Some("same-site")), None);
        let forbidden = Some(ErrorCode::Forbidden);
        assert_eq!(
            from("https://evil.example.com", Some("same-site")),
            forbidden
        );
        assert_eq!(from("https://evil.example", None), forbidden);
        // The host and port alone are not the origin: the scheme must be the server's.
        assert_eq!(from("http://auth.example.com", None), forbidden);
        assert_eq!(from("https://auth.example.com", None), None);
        assert_eq!(from("null", None), forbidden);
        // No Origin, but the browser says another site sent it.
        let site_only = headers(&[JSON, ("sec-fetch-site", "cross-site")]);
        assert_eq!(
            refusal(&site_only, &cookie(), &list, "https").map(|e| e.code),
            forbidden
        );
        // Behind a proxy that sends the upstream's address as `Host`: the browser's
        // `same-origin` is believed, an `Origin` alone is not.
        let proxied = |site: Option<&str>| {
            let mut pairs = vec![
                JSON,
                ("host", "10.0.0.5:3101"),
                ("origin", "https://lb.example"),
            ];
            pairs.extend(site.map(|s| ("sec-fetch-site", s)));
            refusal(&headers(&pairs), &cookie(), &list, "https").map(|e| e.code)
        };
        assert_eq!(proxied(Some("same-origin")), None);
        assert_eq!(proxied(None), forbidden);
        assert_eq!(proxied(Some("cross-site")), forbidden);
        // No browser headers at all (curl, scripts): JSON is enough.
        assert_eq!(refusal(&headers(&[JSON]), &cookie(), &list, "https"), None);
        let any = AllowedOrigins::Any;
        let elsewhere = headers(&[
            JSON,
            ("origin", "http://localhost:5173"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert_eq!(refusal(&elsewhere, &cookie(), &any, "https"), None);
    }

    #[test]
    fn the_origin_of_a_url() {
        assert_eq!(
            origin_of("https://Dokploy.example.com/base?x"),
            "https://dokploy.example.com"
        );
        assert_eq!(origin_of("http://localhost:3000"), "http://localhost:3000");
    }
}
