//! Native TLS (config.md §3.13): the operator's certificate and key (`provision: off`), or a
//! self-signed pair kept under `<state_dir>/tls` (`provision: self-signed`), turned into the
//! rustls configuration the TCP listener accepts with (ring provider, HTTP/1.1 over ALPN).
//!
//! The self-signed pair is regenerated when it is missing, within 30 days of its expiry, or
//! when `tls.hostnames` changed; `self-signed.json` beside it records the hostnames and the
//! expiry it was made for, so nothing needs to parse the certificate again.

use std::fs::{DirBuilder, Permissions};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clauster_core::config::{Config, TlsProvision, TlsSettings};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

/// Lifetime of a generated certificate (config.md §3.13).
pub const SELF_SIGNED_DAYS: i64 = 825;
/// A generated certificate this close to its expiry is replaced at startup.
pub const RENEW_WITHIN_DAYS: i64 = 30;

const DAY_SECONDS: i64 = 24 * 60 * 60;

/// The file names under `<state_dir>/tls`.
pub const CERT_NAME: &str = "self-signed.crt";
pub const KEY_NAME: &str = "self-signed.key";
pub const META_NAME: &str = "self-signed.json";

/// Why TLS could not be set up. Startup stops with exit 2 `clauster: TLS error: …`.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {key} {}: {source}; point {key} at a readable PEM file", path.display())]
    Read {
        key: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{key} {} is not a regular file; point {key} at a PEM file", path.display())]
    NotAFile { key: &'static str, path: PathBuf },
    #[error(
        "tls.cert_file and tls.key_file are required when tls.provision is off; set both to \
         PEM files or set tls.provision: self-signed"
    )]
    FilesMissing,
    #[error(
        "tls.cert_file {} holds no PEM certificate (a `-----BEGIN CERTIFICATE-----` block); \
         point it at the certificate, not the key",
        path.display()
    )]
    NoCertificate { path: PathBuf },
    #[error(
        "tls.key_file {} holds no usable PEM private key (PKCS#8, PKCS#1 or SEC1); point it at \
         the certificate's private key",
        path.display()
    )]
    NoKey { path: PathBuf },
    #[error(
        "the key in tls.key_file {} does not match the certificate in tls.cert_file {}; use \
         the private key the certificate was issued for",
        key.display(),
        cert.display()
    )]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error(
        "tls.hostnames entry {0:?} is neither a DNS name nor an IP address; list names like \
         clauster.lan or addresses like 192.168.1.5"
    )]
    BadHostname(String),
    #[error("cannot generate the self-signed certificate: {0}")]
    Generate(String),
    #[error(
        "cannot write the self-signed certificate to {}: {source}; make the state_dir \
         writable by this user",
        path.display()
    )]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the TLS configuration was refused: {0}; check tls.cert_file and tls.key_file")]
    Rustls(#[source] rustls::Error),
}

/// What startup needs from TLS: the acceptor, plus what to tell the operator.
#[derive(Clone)]
pub struct TlsSetup {
    pub(crate) config: Arc<rustls::ServerConfig>,
    /// Startup warnings (a key file readable by group or others).
    pub warnings: Vec<String>,
    /// `Some(reason)` when a self-signed pair was (re)generated at this start.
    pub generated: Option<String>,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup")
            .field("warnings", &self.warnings)
            .field("generated", &self.generated)
            .finish_non_exhaustive()
    }
}

/// Loads or provisions the certificate for `config.tls`: `Ok(None)` without a `tls`
/// section (plain HTTP).
pub fn prepare(config: &Config) -> Result<Option<TlsSetup>, TlsError> {
    let Some(tls) = &config.tls else {
        return Ok(None);
    };
    let now = unix_now();
    let (cert_file, key_file, generated) = match tls.provision {
        TlsProvision::Off => {
            let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) else {
                // Validation refuses this before startup; kept total for other callers.
                return Err(TlsError::FilesMissing);
            };
            (cert.clone(), key.clone(), None)
        }
        TlsProvision::SelfSigned => {
            let dir = config.state_dir.join("tls");
            let generated = provision_self_signed(&dir, tls, now)?;
            (dir.join(CERT_NAME), dir.join(KEY_NAME), generated)
        }
    };
    let certs = read_certificates(&cert_file)?;
    let key = read_key(&key_file)?;
    let mut warnings = Vec::new();
    if let Ok(meta) = std::fs::metadata(&key_file)
        && meta.permissions().mode() & 0o077 != 0
    {
        warnings.push(format!(
            "tls.key_file {} is readable by group or others (mode {:o}); run chmod 600 on it",
            key_file.display(),
            meta.permissions().mode() & 0o777
        ));
    }
    let config = server_config(certs, key, &cert_file, &key_file)?;
    Ok(Some(TlsSetup {
        config: Arc::new(config),
        warnings,
        generated,
    }))
}

/// The TLS of a listener: none without one (the control socket), else what the caller
/// prepared, else prepared now.
pub(crate) fn for_listener(
    listener: bool,
    prepared: Option<TlsSetup>,
    config: &Config,
) -> Result<Option<TlsSetup>, TlsError> {
    match (listener, prepared) {
        (false, _) => Ok(None),
        (true, Some(prepared)) => Ok(Some(prepared)),
        (true, None) => prepare(config),
    }
}

fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_file: &Path,
    key_file: &Path,
) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signing_key = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|_| TlsError::NoKey {
            path: key_file.to_owned(),
        })?;
    let certified = rustls::sign::CertifiedKey::new(certs.clone(), signing_key);
    match certified.keys_match() {
        // `Unknown`: the key cannot tell its public half; rustls decides below.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(_) => {
            return Err(TlsError::KeyMismatch {
                cert: cert_file.to_owned(),
                key: key_file.to_owned(),
            });
        }
    }
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Rustls)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|err| match err {
            rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch {
                cert: cert_file.to_owned(),
                key: key_file.to_owned(),
            },
            other => TlsError::Rustls(other),
        })?;
    // HTTP/1.1 only: WebSocket upgrades ride on it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn read_file(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let meta = std::fs::metadata(path).map_err(|source| TlsError::Read {
        key,
        path: path.to_owned(),
        source,
    })?;
    if !meta.is_file() {
        return Err(TlsError::NotAFile {
            key,
            path: path.to_owned(),
        });
    }
    std::fs::read(path).map_err(|source| TlsError::Read {
        key,
        path: path.to_owned(),
        source,
    })
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_file("tls.cert_file", path)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::NoCertificate {
            path: path.to_owned(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read_file("tls.key_file", path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|_| TlsError::NoKey {
        path: path.to_owned(),
    })
}

/// What `self-signed.json` records about the pair beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelfSignedMeta {
    pub hostnames: Vec<String>,
    /// Expiry, Unix seconds.
    pub not_after: i64,
}

/// Why the self-signed pair must be (re)made, or `None` to keep it (pure: the recorded
/// metadata, whether both files exist, the wanted hostnames, now in Unix seconds).
pub fn regeneration_reason(
    recorded: Option<&SelfSignedMeta>,
    files_present: bool,
    hostnames: &[String],
    now: i64,
) -> Option<&'static str> {
    let Some(meta) = recorded else {
        return Some(if files_present {
            "no record of the existing certificate's hostnames"
        } else {
            "no certificate yet"
        });
    };
    if !files_present {
        Some("the certificate or key file is missing")
    } else if meta.hostnames != hostnames {
        Some("tls.hostnames changed")
    } else if meta.not_after - now <= RENEW_WITHIN_DAYS * DAY_SECONDS {
        Some("the certificate expires within 30 days")
    } else {
        None
    }
}

/// Refuses a hostname that is neither an IP address nor made of DNS name characters.
fn check_hostnames(hostnames: &[String]) -> Result<(), TlsError> {
    for name in hostnames {
        if name.parse::<std::net::IpAddr>().is_err()
            && (name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '*')))
        {
            return Err(TlsError::BadHostname(name.clone()));
        }
    }
    Ok(())
}

/// Makes sure `<dir>` (0700) holds a current self-signed pair for `tls.hostnames`; the
/// reason when it was (re)generated.
fn provision_self_signed(
    dir: &Path,
    tls: &TlsSettings,
    now: i64,
) -> Result<Option<String>, TlsError> {
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::Write { path, source }
    };
    // Nothing is created for a list that cannot become a certificate.
    check_hostnames(&tls.hostnames)?;
    if !dir.is_dir() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(write_err(dir))?;
    }
    std::fs::set_permissions(dir, Permissions::from_mode(0o700)).map_err(write_err(dir))?;
    let (cert_path, key_path, meta_path) =
        (dir.join(CERT_NAME), dir.join(KEY_NAME), dir.join(META_NAME));
    let recorded = std::fs::read(&meta_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<SelfSignedMeta>(&bytes).ok());
    let present = cert_path.is_file() && key_path.is_file();
    let Some(reason) = regeneration_reason(recorded.as_ref(), present, &tls.hostnames, now) else {
        return Ok(None);
    };
    let (cert_pem, key_pem, not_after) = generate(&tls.hostnames, now)?;
    // The record goes last: a crash between the writes regenerates on the next start.
    let _ = std::fs::remove_file(&meta_path);
    write_private(&key_path, key_pem.as_bytes())?;
    write_private(&cert_path, cert_pem.as_bytes())?;
    let meta = SelfSignedMeta {
        hostnames: tls.hostnames.clone(),
        not_after,
    };
    let json = serde_json::to_vec_pretty(&meta).unwrap_or_default();
    write_private(&meta_path, &json)?;
    Ok(Some(reason.to_owned()))
}

/// A self-signed certificate for `hostnames` (first = common name, all as SANs, IP
/// addresses as IP SANs) valid from a minute ago for 825 days: (cert PEM, key PEM, expiry).
pub fn generate(hostnames: &[String], now: i64) -> Result<(String, String, i64), TlsError> {
    check_hostnames(hostnames)?;
    let mut params = rcgen::CertificateParams::new(hostnames.to_vec())
        .map_err(|err| TlsError::Generate(err.to_string()))?;
    let mut subject = rcgen::DistinguishedName::new();
    if let Some(first) = hostnames.first() {
        subject.push(rcgen::DnType::CommonName, first.as_str());
    }
    params.distinguished_name = subject;
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let not_after = now + SELF_SIGNED_DAYS * DAY_SECONDS;
    params.not_before = at(now - 60)?;
    params.not_after = at(not_after)?;
    let key = rcgen::KeyPair::generate().map_err(|err| TlsError::Generate(err.to_string()))?;
    let cert = params
        .self_signed(&key)
        .map_err(|err| TlsError::Generate(err.to_string()))?;
    Ok((cert.pem(), key.serialize_pem(), not_after))
}

fn at(unix: i64) -> Result<time::OffsetDateTime, TlsError> {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map_err(|err| TlsError::Generate(err.to_string()))
}

/// Writes `bytes` to `path` with mode 0600 through a temporary file and a rename.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    clauster_pty::atomic_write::write_private(path, bytes).map_err(|source| TlsError::Write {
        path: path.to_owned(),
        source,
    })
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::{DAY_SECONDS, SelfSignedMeta, regeneration_reason};

    fn meta(hostnames: &[&str], not_after: i64) -> SelfSignedMeta {
        SelfSignedMeta {
            hostnames: hostnames.iter().map(|h| (*h).to_owned()).collect(),
            not_after,
        }
    }

    #[test]
    fn regeneration_follows_hostnames_presence_and_expiry() {
        let now = 1_800_000_000;
        let wanted = vec!["clauster.lan".to_owned(), "10.0.0.2".to_owned()];
        let current = meta(&["clauster.lan", "10.0.0.2"], now + 400 * DAY_SECONDS);
        let cases = [
            (None, false, Some("no certificate yet")),
            (
                None,
                true,
                Some("no record of the existing certificate's hostnames"),
            ),
            (
                Some(current.clone()),
                false,
                Some("the certificate or key file is missing"),
            ),
            (Some(current.clone()), true, None),
            (
                Some(meta(&["10.0.0.2", "clauster.lan"], now + 400 * DAY_SECONDS)),
                true,
                Some("tls.hostnames changed"),
            ),
            (
                Some(meta(&["clauster.lan"], now + 400 * DAY_SECONDS)),
                true,
                Some("tls.hostnames changed"),
            ),
            (
                Some(meta(&["clauster.lan", "10.0.0.2"], now + 31 * DAY_SECONDS)),
                true,
                None,
            ),
            (
                Some(meta(&["clauster.lan", "10.0.0.2"], now + 30 * DAY_SECONDS)),
                true,
                Some("the certificate expires within 30 days"),
            ),
            (
                Some(meta(&["clauster.lan", "10.0.0.2"], now - DAY_SECONDS)),
                true,
                Some("the certificate expires within 30 days"),
            ),
        ];
        for (recorded, present, want) in cases {
            assert_eq!(
                regeneration_reason(recorded.as_ref(), present, &wanted, now),
                want,
                "{recorded:?} present={present}"
            );
        }
    }

    #[test]
    fn a_generated_pair_loads_and_a_foreign_key_is_a_mismatch() {
        let names = vec!["clauster.lan".to_owned(), "127.0.0.1".to_owned()];
        let (cert, key, not_after) = super::generate(&names, 1_800_000_000).unwrap();
        assert_eq!(not_after, 1_800_000_000 + 825 * DAY_SECONDS);
        let dir = tempfile::tempdir().unwrap();
        let (c, k) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&c, &cert).unwrap();
        std::fs::write(&k, &key).unwrap();
        let certs = super::read_certificates(&c).unwrap();
        assert!(super::server_config(certs.clone(), super::read_key(&k).unwrap(), &c, &k).is_ok());
        let (_, other_key, _) = super::generate(&names, 1_800_000_000).unwrap();
        std::fs::write(&k, other_key).unwrap();
        let err = super::server_config(certs, super::read_key(&k).unwrap(), &c, &k).unwrap_err();
        assert!(matches!(err, super::TlsError::KeyMismatch { .. }), "{err}");
        // A key where the certificate belongs.
        assert!(matches!(
            super::read_certificates(&k),
            Err(super::TlsError::NoCertificate { .. })
        ));
    }

    #[test]
    fn prepare_without_a_tls_section_is_plain_and_off_without_files_is_refused() {
        let mut config = crate::test_fixtures::config("");
        assert!(super::prepare(&config).unwrap().is_none());
        config.tls = Some(clauster_core::config::TlsSettings {
            provision: clauster_core::config::TlsProvision::Off,
            hostnames: Vec::new(),
            cert_file: None,
            key_file: None,
        });
        assert_eq!(
            super::prepare(&config).unwrap_err().to_string(),
            "tls.cert_file and tls.key_file are required when tls.provision is off; set both \
             to PEM files or set tls.provision: self-signed"
        );
    }

    #[test]
    fn hostnames_that_are_neither_names_nor_addresses_are_refused() {
        let err = super::generate(&["bad host".to_owned()], 1_800_000_000).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tls.hostnames entry \"bad host\" is neither a DNS name nor an IP address; list \
             names like clauster.lan or addresses like 192.168.1.5"
        );
    }
}
