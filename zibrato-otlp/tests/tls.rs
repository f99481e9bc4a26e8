//! `zibrato-otlp` to an HTTPS receiver behind a private certificate authority, and to
//! one that asks for the client's certificate (mutual TLS). Certificates are made by
//! the `openssl` command for each run; the receiver is Python's `ssl` module with the
//! official OTLP decoder (tests/otlp_receiver.py).

mod receiver;

use zibrato_testkit::{connected_client, free_ports, start_broker};

use receiver::{Receiver, WAIT, make_pki, worker};

fn pki_dir(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("zibrato-otlp-tls-{name}-{}", std::process::id()))
}

#[test]
fn a_private_ca_is_trusted_from_the_opentelemetry_variable_and_not_without_it() {
    let dir = pki_dir("ca");
    let pki = make_pki(&dir);
    let (cert, key) = (
        pki.server_cert.to_str().unwrap(),
        pki.server_key.to_str().unwrap(),
    );
    let Some(receiver) = Receiver::start(&["--tls-cert", cert, "--tls-key", key]) else {
        return;
    };
    assert!(receiver.url.starts_with("https://"));
    let port = free_ports();
    let _broker = start_broker(port, &[]);

    // Without the CA: the system's and Mozilla's roots do not know it.
    let untrusting = worker(port, &receiver, &[], &[]);
    let z = connected_client(port);
    z.count_by("info", "secure.orders", 1);
    z.flush(WAIT).unwrap();
    untrusting.wait_for_output("UnknownIssuer", WAIT);
    assert!(receiver.points("secure.orders").is_empty());
    drop(untrusting);

    let trusting = worker(
        port,
        &receiver,
        &[],
        &[("OTEL_EXPORTER_OTLP_CERTIFICATE", pki.ca.to_str().unwrap())],
    );
    z.count_by("info", "secure.orders", 2);
    z.flush(WAIT).unwrap();
    receiver.wait_for("a window over HTTPS", |r| {
        !r.points("secure.orders").is_empty()
    });
    drop(trusting);

    // The system's trust store is read too: a CA the machine trusts (here through
    // SSL_CERT_FILE, which the system store's reader honours) needs no setting.
    let _system = worker(
        port,
        &receiver,
        &[],
        &[("SSL_CERT_FILE", pki.ca.to_str().unwrap())],
    );
    z.count_by("info", "system.orders", 5);
    z.flush(WAIT).unwrap();
    receiver.wait_for("a window trusted by the system store", |r| {
        !r.points("system.orders").is_empty()
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_receiver_that_asks_for_a_client_certificate_gets_it() {
    let dir = pki_dir("mtls");
    let pki = make_pki(&dir);
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let (cert, key, ca) = (path(&pki.server_cert), path(&pki.server_key), path(&pki.ca));
    let Some(receiver) =
        Receiver::start(&["--tls-cert", &cert, "--tls-key", &key, "--client-ca", &ca])
    else {
        return;
    };
    let port = free_ports();
    let _broker = start_broker(port, &[]);

    // Trusting the server but without a certificate of its own: refused in the handshake.
    let anonymous = worker(port, &receiver, &["--certificate", &ca], &[]);
    let z = connected_client(port);
    z.count_by("info", "mutual.orders", 1);
    z.flush(WAIT).unwrap();
    anonymous.wait_for_output("CertificateRequired", WAIT);
    assert!(receiver.points("mutual.orders").is_empty());
    drop(anonymous);

    let (client_cert, client_key) = (path(&pki.client_cert), path(&pki.client_key));
    let _known = worker(
        port,
        &receiver,
        &[
            "--certificate",
            &ca,
            "--client-certificate",
            &client_cert,
            "--client-key",
            &client_key,
        ],
        &[],
    );
    z.count_by("info", "mutual.orders", 2);
    z.flush(WAIT).unwrap();
    receiver.wait_for("a window over mutual TLS", |r| {
        !r.points("mutual.orders").is_empty()
    });
    let export = receiver
        .exports()
        .into_iter()
        .find(|e| e["empty"] == false)
        .unwrap();
    assert_eq!(export["client"], "zibrato-test-client");
    let _ = std::fs::remove_dir_all(&dir);
}
