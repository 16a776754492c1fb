//! The fake's HTTPS listener: the very same REST Router (same state, same records) over
//! TLS, with a self-signed certificate for `discord.com`, so that serenity's rate
//! limiter, which always sends to `https://discord.com` (it ignores
//! `HttpBuilder::proxy`), reaches the fake through a reqwest client that resolves
//! `discord.com` to `tls_addr` and trusts `ca_pem`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The names the certificate is good for.
const NAMES: [&str; 3] = ["discord.com", "localhost", "127.0.0.1"];

/// The certificate and its key, made once per process (a key pair takes a moment).
struct Identity {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

fn identity() -> &'static Identity {
    static IDENTITY: OnceLock<Identity> = OnceLock::new();
    IDENTITY.get_or_init(|| {
        let names: Vec<String> = NAMES.iter().map(|n| (*n).to_owned()).collect();
        let certified = rcgen::generate_simple_self_signed(names)
            .expect("generating the fake Discord's certificate");
        Identity {
            cert_pem: certified.cert.pem(),
            cert_der: certified.cert.der().clone(),
            key_der: certified.signing_key.serialize_der(),
        }
    })
}

/// PEM of the self-signed certificate the HTTPS listener presents (SANs `discord.com`,
/// `localhost`, `127.0.0.1`): the root a client adds to trust the fake.
pub(super) fn ca_pem() -> String {
    identity().cert_pem.clone()
}

/// TLS 1.2/1.3 on rustls with the ring provider (installed here, not taken from a
/// process default), ALPN `http/1.1`.
fn server_config() -> rustls::ServerConfig {
    let identity = identity();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![identity.cert_der.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key_der.clone())),
        )
        .expect("the fake Discord's certificate and key");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// Accepts TLS connections and serves `app` on each with hyper's HTTP/1.1 server.
pub(super) async fn serve(listener: TcpListener, app: axum::Router) {
    let acceptor = TlsAcceptor::from(Arc::new(server_config()));
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(_) => {
                // Out of descriptors or the like: wait, as axum::serve does.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            // A client that does not trust the certificate ends here; its own request
            // fails with the reason.
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
        });
    }
}
