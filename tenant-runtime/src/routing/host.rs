//! Which host a request is for. `Forwarded` and `X-Forwarded-Host` are believed only
//! from configured proxies; from anyone else they are ignored.

use std::net::IpAddr;

use axum::http::{HeaderMap, Uri, header};
use ipnet::IpNet;
use tenancy::Hostname;

use crate::error::ApiError;

pub fn request_host(
    headers: &HeaderMap,
    uri: &Uri,
    peer: Option<IpAddr>,
    trusted_proxies: &[IpNet],
) -> Result<Hostname, ApiError> {
    let trusted = peer.is_some_and(|ip| trusted_proxies.iter().any(|net| net.contains(&ip)));
    let raw = if trusted {
        forwarded_host(headers)
    } else {
        None
    }
    .or_else(|| {
        headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    })
    .or_else(|| uri.authority().map(|a| a.as_str().to_owned()))
    .ok_or(ApiError::InvalidHost)?;
    Hostname::from_host_header(raw.trim()).map_err(|_| ApiError::InvalidHost)
}

/// The host the nearest trusted proxy saw: RFC 7239 `Forwarded: host=…` first, then
/// `X-Forwarded-Host`. With several hops, the first element is the client-facing one.
fn forwarded_host(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers.get(header::FORWARDED).and_then(|v| v.to_str().ok()) {
        let first = value.split(',').next().unwrap_or_default();
        for pair in first.split(';') {
            if let Some((key, val)) = pair.trim().split_once('=')
                && key.trim().eq_ignore_ascii_case("host")
            {
                return Some(val.trim().trim_matches('"').to_owned());
            }
        }
    }
    headers
        .get("x-forwarded-host")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn forwarded_headers_only_from_trusted_peers() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let h = headers(&[
            ("host", "proxy.internal"),
            ("x-forwarded-host", "acme.instudio.app"),
        ]);
        let uri = Uri::from_static("/");
        let from_proxy =
            request_host(&h, &uri, Some("10.1.2.3".parse().unwrap()), &proxies).unwrap();
        assert_eq!(from_proxy.as_str(), "acme.instudio.app");
        let spoofed =
            request_host(&h, &uri, Some("203.0.113.9".parse().unwrap()), &proxies).unwrap();
        assert_eq!(spoofed.as_str(), "proxy.internal");
    }

    #[test]
    fn rfc7239_forwarded_wins_over_x_forwarded() {
        let proxies: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
        let h = headers(&[
            ("host", "lb"),
            (
                "forwarded",
                "for=1.2.3.4;host=\"Book.Acme.com:443\";proto=https, for=5.6.7.8",
            ),
            ("x-forwarded-host", "other.example"),
        ]);
        let got = request_host(
            &h,
            &Uri::from_static("/"),
            Some("127.0.0.1".parse().unwrap()),
            &proxies,
        );
        assert_eq!(got.unwrap().as_str(), "book.acme.com");
    }

    #[test]
    fn missing_or_bad_host_is_an_error() {
        let none = request_host(&HeaderMap::new(), &Uri::from_static("/"), None, &[]);
        assert!(matches!(none, Err(ApiError::InvalidHost)));
        let bad = request_host(
            &headers(&[("host", "a b")]),
            &Uri::from_static("/"),
            None,
            &[],
        );
        assert!(matches!(bad, Err(ApiError::InvalidHost)));
    }
}
