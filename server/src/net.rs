//! Client addresses as the limits see them: IPv4-mapped IPv6 addresses are IPv4,
//! an IPv6 client counts by its prefix (a /64 by default: what one host or
//! household is given), and behind trusted proxies the client is read from
//! `X-Forwarded-For`, entry by entry from the right.

use std::net::{IpAddr, Ipv6Addr};

/// The prefix an IPv6 client is counted by, unless configured otherwise.
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

/// `::ffff:127.0.0.1` → `127.0.0.1`; any other address as it is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// What a per-address limit counts: an IPv4 address, or the first `v6_prefix` bits
/// of an IPv6 one (so that the 2^64 addresses of one /64 are one client).
pub fn bucket(ip: IpAddr, v6_prefix: u8) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let bits = u32::from(v6_prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
        v4 => v4,
    }
}

/// Whether `ip` is one of `trusted`, either written as IPv4 or IPv4-mapped.
pub fn is_trusted(ip: IpAddr, trusted: &[IpAddr]) -> bool {
    let ip = canonical(ip);
    trusted.iter().any(|t| canonical(*t) == ip)
}

/// The client of a request that came from `peer`: the peer itself, or, when the
/// peer is a trusted proxy, the nearest address in `X-Forwarded-For` (all its
/// values, as bytes: one unreadable entry does not hide the others) that is not a
/// trusted proxy, read from the right. An entry that is not an address, where an
/// address should be, makes the client unknown (`::`, shared by every such
/// request): never the proxy, whose budgets would then be the attacker's.
pub fn client_of<'a>(
    peer: IpAddr,
    forwarded: impl Iterator<Item = &'a [u8]>,
    trusted: &[IpAddr],
) -> IpAddr {
    let peer = canonical(peer);
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let entries: Vec<&[u8]> = forwarded
        .flat_map(|value| value.split(|b| *b == b','))
        .collect();
    let mut nearest = peer;
    for entry in entries.iter().rev() {
        let text = String::from_utf8_lossy(entry);
        let Some(ip) = parse_entry(text.trim()) else {
            return IpAddr::V6(Ipv6Addr::UNSPECIFIED);
        };
        nearest = canonical(ip);
        if !is_trusted(nearest, trusted) {
            return nearest;
        }
    }
    // Every hop is a trusted proxy: the first one is the client.
    nearest
}

/// `192.0.2.1`, `2001:db8::1`, and the forms with a port some proxies write
/// (`192.0.2.1:5000`, `[2001:db8::1]:5000`).
fn parse_entry(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse() {
        return Some(ip);
    }
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    let (host, port) = text.rsplit_once(':')?;
    port.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| host.parse().ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn mapped_addresses_are_ipv4_and_ipv6_counts_by_prefix() {
        assert_eq!(canonical(ip("::ffff:127.0.0.1")), ip("127.0.0.1"));
        assert_eq!(canonical(ip("2001:db8::1")), ip("2001:db8::1"));
        assert_eq!(bucket(ip("2001:db8:1:2:aaaa::1"), 64), ip("2001:db8:1:2::"));
        assert_eq!(bucket(ip("2001:db8:1:2:ffff::9"), 64), ip("2001:db8:1:2::"));
        assert_ne!(
            bucket(ip("2001:db8:1:3::1"), 64),
            bucket(ip("2001:db8:1:2::1"), 64)
        );
        assert_eq!(bucket(ip("2001:db8:1:3::1"), 48), ip("2001:db8:1::"));
        assert_eq!(bucket(ip("2001:db8::1"), 128), ip("2001:db8::1"));
        assert_eq!(bucket(ip("2001:db8::1"), 0), ip("::"));
        assert_eq!(bucket(ip("::ffff:10.0.0.1"), 64), ip("10.0.0.1"));
        assert_eq!(bucket(ip("10.0.0.1"), 64), ip("10.0.0.1"));
    }

    #[test]
    fn forwarded_for_is_read_from_the_right_past_trusted_proxies() {
        let trusted = [ip("127.0.0.1"), ip("10.0.0.2")];
        let client =
            |peer: &str, values: &[&[u8]]| client_of(ip(peer), values.iter().copied(), &trusted);
        // Not from a proxy: the header is the client's own words.
        assert_eq!(client("203.0.113.9", &[b"1.1.1.1"]), ip("203.0.113.9"));
        // nginx's $proxy_add_x_forwarded_for after a client sent garbage or a lie.
        assert_eq!(
            client("127.0.0.1", &[b"\xff, 198.51.100.7"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            client("127.0.0.1", &[b"6.6.6.6, 198.51.100.7"]),
            ip("198.51.100.7")
        );
        // Two proxies; headers split over several lines.
        assert_eq!(
            client("127.0.0.1", &[b"198.51.100.7", b"10.0.0.2"]),
            ip("198.51.100.7")
        );
        // The proxy seen as IPv4-mapped on a [::] listener.
        assert_eq!(
            client("::ffff:127.0.0.1", &[b"198.51.100.7"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            client("127.0.0.1", &[b"[2001:db8::5]:4444"]),
            ip("2001:db8::5")
        );
        assert_eq!(
            client("127.0.0.1", &[b"198.51.100.7:5000"]),
            ip("198.51.100.7")
        );
        // Garbage where the nearest client should be: unknown, never the proxy.
        assert_eq!(client("127.0.0.1", &[b"198.51.100.7, nonsense"]), ip("::"));
        // No header: the proxy made the request itself.
        assert_eq!(client("127.0.0.1", &[]), ip("127.0.0.1"));
        assert!(is_trusted(ip("::ffff:10.0.0.2"), &trusted));
        assert!(is_trusted(ip("127.0.0.1"), &[ip("::ffff:127.0.0.1")]));
    }
}
