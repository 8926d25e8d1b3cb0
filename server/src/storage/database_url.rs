//! A PostgreSQL address as libpq takes it (`postgres://user:password@host:port/db?
//! sslmode=…&sslrootcert=…`, or `host=… sslmode=…`), turned into tokio-postgres's
//! configuration and the way to secure the connection.
//!
//! `sslmode`: `disable`, `allow` and `prefer` (libpq's default) connect in plain
//! text: TLS that verifies nothing stops no active attacker, so none is pretended.
//! `require`, `verify-ca` and `verify-full` connect over TLS and always verify the
//! server's certificate chain and host name (stricter than libpq's first two),
//! against `sslrootcert`: a PEM file of CA certificates, or `system` (the default)
//! for the public web PKI's roots.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::sync::Arc;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

pub struct DatabaseUrl {
    pub config: tokio_postgres::Config,
    /// How to speak TLS to the server; `None`: plain text.
    pub tls: Option<MakeRustlsConnect>,
}

/// The parameters handled here; the others go to tokio-postgres as they are.
#[derive(Default)]
struct Security {
    mode: Option<String>,
    root_certificates: Option<String>,
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<DatabaseUrl, String> {
        let (rest, security) = take_security(url);
        let mut config: tokio_postgres::Config = rest
            .parse()
            .map_err(|e| format!("not a PostgreSQL URL: {e}"))?;
        let tls = match security.mode.as_deref().unwrap_or("prefer") {
            "disable" | "allow" | "prefer" => None,
            "require" | "verify-ca" | "verify-full" => Some(verifying_tls(
                security.root_certificates.as_deref().unwrap_or("system"),
            )?),
            other => {
                return Err(format!(
                    "sslmode={other}: expected disable, allow, prefer, require, verify-ca or verify-full"
                ))
            }
        };
        config.ssl_mode(if tls.is_some() {
            SslMode::Require
        } else {
            SslMode::Disable
        });
        Ok(DatabaseUrl { config, tls })
    }
}

/// `url` without `sslmode` and `sslrootcert`, and their values.
fn take_security(url: &str) -> (String, Security) {
    let mut security = Security::default();
    let mut keep = |key: &str, value: &str| match key {
        "sslmode" => {
            security.mode = Some(value.to_string());
            false
        }
        "sslrootcert" => {
            security.root_certificates = Some(value.to_string());
            false
        }
        _ => true,
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        match url.split_once('?') {
            Some((base, query)) => {
                let kept: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
                    .filter(|(key, value)| keep(key, value))
                    .map(|(key, value)| (key.into_owned(), value.into_owned()))
                    .collect();
                if kept.is_empty() {
                    base.to_string()
                } else {
                    let query = form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(kept)
                        .finish();
                    format!("{base}?{query}")
                }
            }
            None => url.to_string(),
        }
    } else {
        // `key=value` words (these two take no quoted values).
        url.split_whitespace()
            .filter(|word| match word.split_once('=') {
                Some((key, value)) => keep(key.trim(), value.trim()),
                None => true,
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    (rest, security)
}

/// TLS that trusts the CA certificates in the PEM file `roots` (or, for `system`,
/// the web PKI's) and checks the server's host name.
fn verifying_tls(roots: &str) -> Result<MakeRustlsConnect, String> {
    let mut store = rustls::RootCertStore::empty();
    if roots == "system" {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    } else {
        let certificates = CertificateDer::pem_file_iter(roots)
            .map_err(|e| format!("sslrootcert={roots}: {e}"))?;
        for certificate in certificates {
            let certificate = certificate.map_err(|e| format!("sslrootcert={roots}: {e}"))?;
            store
                .add(certificate)
                .map_err(|e| format!("sslrootcert={roots}: {e}"))?;
        }
        if store.is_empty() {
            return Err(format!("sslrootcert={roots}: no certificate in the file"));
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS: {e}"))?
    .with_root_certificates(store)
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_unless_a_verifying_mode_is_asked_for() {
        for url in [
            "postgres://u@db/auth",
            "postgres://u@db/auth?sslmode=prefer",
            "postgres://u@db/auth?sslmode=disable&connect_timeout=5",
            "host=db user=u sslmode=allow",
        ] {
            let parsed = DatabaseUrl::parse(url).unwrap();
            assert!(parsed.tls.is_none(), "{url}");
            assert_eq!(parsed.config.get_ssl_mode(), SslMode::Disable, "{url}");
        }
        let parsed =
            DatabaseUrl::parse("postgres://u@db/auth?connect_timeout=5&sslmode=require").unwrap();
        assert!(parsed.tls.is_some());
        assert_eq!(parsed.config.get_ssl_mode(), SslMode::Require);
        // The other parameters still reach tokio-postgres.
        assert_eq!(
            parsed.config.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(5))
        );
        assert!(
            DatabaseUrl::parse("host=db sslmode=verify-full sslrootcert=system")
                .unwrap()
                .tls
                .is_some()
        );
    }

    #[test]
    fn a_bad_mode_or_root_file_is_named() {
        let bad_mode = DatabaseUrl::parse("postgres://u@db/auth?sslmode=maybe")
            .err()
            .unwrap();
        assert!(bad_mode.contains("sslmode=maybe"), "{bad_mode}");
        let missing =
            DatabaseUrl::parse("postgres://u@db/a?sslmode=require&sslrootcert=/nonexistent.pem")
                .err()
                .unwrap();
        assert!(
            missing.contains("sslrootcert=/nonexistent.pem"),
            "{missing}"
        );
        let empty = tempfile::NamedTempFile::new().unwrap();
        let path = empty.path().to_str().unwrap();
        let none = DatabaseUrl::parse(&format!(
            "postgres://u@db/a?sslmode=verify-full&sslrootcert={path}"
        ))
        .err()
        .unwrap();
        assert!(none.contains("no certificate"), "{none}");
        assert!(DatabaseUrl::parse("postgres://u@db:notaport/a").is_err());
    }
}
