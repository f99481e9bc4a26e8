//! TLS for `https://` receivers: the certificate authorities trusted, and the
//! client's own certificate for mutual TLS.
//!
//! Trusted by default: Mozilla's root certificates (webpki-roots, built in) and the
//! system's trust store (read at start by rustls-native-certs: /etc/ssl/certs on
//! Debian), so a Collector behind a company CA that the machine trusts is reached
//! without a flag. `ca_file` adds the certificates of a PEM file
//! (`OTEL_EXPORTER_OTLP_CERTIFICATE`); `client_certificate` and `client_key`
//! (PEM; `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`, `_CLIENT_KEY`) are presented to a
//! receiver that asks for them.

use std::path::{Path, PathBuf};

use reqwest::blocking::ClientBuilder;
use reqwest::{Certificate, Identity};

use crate::SetupError;

/// TLS settings beyond the built-in and system trust.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// A PEM file of certificate authorities to trust as well.
    pub ca_file: Option<PathBuf>,
    /// A PEM file with this client's certificate (and its chain), for mutual TLS.
    pub client_certificate: Option<PathBuf>,
    /// A PEM file with the client certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub client_key: Option<PathBuf>,
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, SetupError> {
    std::fs::read(path)
        .map_err(|e| SetupError::Tls(format!("cannot read the {what} {}: {e}", path.display())))
}

impl Tls {
    /// `builder` with these settings and rustls' trust of the built-in and system roots.
    pub(crate) fn apply(&self, mut builder: ClientBuilder) -> Result<ClientBuilder, SetupError> {
        builder = builder
            .use_rustls_tls()
            .tls_built_in_webpki_certs(true)
            .tls_built_in_native_certs(true);
        if let Some(path) = &self.ca_file {
            let pem = read(path, "CA file")?;
            let certificates = Certificate::from_pem_bundle(&pem)
                .map_err(|e| SetupError::Tls(format!("{}: {e}", path.display())))?;
            if certificates.is_empty() {
                return Err(SetupError::Tls(format!(
                    "{}: no PEM certificate in it",
                    path.display()
                )));
            }
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        match (&self.client_certificate, &self.client_key) {
            (None, None) => {}
            (Some(certificate), Some(key)) => {
                let mut pem = read(certificate, "client certificate")?;
                pem.push(b'\n');
                pem.extend(read(key, "client key")?);
                let identity = Identity::from_pem(&pem).map_err(|e| {
                    SetupError::Tls(format!(
                        "the client certificate {} and key {}: {e}",
                        certificate.display(),
                        key.display()
                    ))
                })?;
                builder = builder.identity(identity);
            }
            _ => {
                return Err(SetupError::Tls(
                    "a client certificate and its key go together".to_string(),
                ));
            }
        }
        Ok(builder)
    }
}
