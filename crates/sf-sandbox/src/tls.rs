//! HTTPS for `--tls`: a certificate for `localhost` and `127.0.0.1` signed by a local
//! authority, both made at start (simple-salesforce only speaks https). Clients trust it by its PEM, which the
//! sandbox hands out (`Sandbox::tls_certificate_pem`, `--tls-cert-out`).

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::Error;

/// A generated certificate and the acceptor that serves it.
pub(crate) struct TlsSetup {
    pub acceptor: tokio_rustls::TlsAcceptor,
    pub certificate_pem: String,
}

/// A one-off certificate authority and a server certificate it signed. Clients trust the
/// authority's PEM: OpenSSL (Python's `ssl`) refuses a bare self-signed leaf as a trust
/// anchor, so the sandbox does what a private CA would.
pub(crate) fn self_signed() -> Result<TlsSetup, Error> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let tls_error = |error: rcgen::Error| Error::Tls(error.to_string());
    let authority_key = KeyPair::generate().map_err(tls_error)?;
    let mut authority = CertificateParams::new(Vec::<String>::new()).map_err(tls_error)?;
    authority.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    authority.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    authority
        .distinguished_name
        .push(DnType::CommonName, "sf-sandbox local authority");
    let authority_certificate = authority.self_signed(&authority_key).map_err(tls_error)?;
    let issuer = Issuer::new(authority, authority_key);

    let server_key = KeyPair::generate().map_err(tls_error)?;
    let mut server = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .map_err(tls_error)?;
    server
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let server_certificate = server.signed_by(&server_key, &issuer).map_err(tls_error)?;

    let chain = vec![
        CertificateDer::from(server_certificate.der().to_vec()),
        CertificateDer::from(authority_certificate.der().to_vec()),
    ];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    // ring is the provider the rest of the workspace already builds (reqwest's rustls).
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| Error::Tls(error.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| Error::Tls(error.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsSetup {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        certificate_pem: authority_certificate.pem(),
    })
}
