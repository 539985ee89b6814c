"""Throwaway TLS material for a local secured broker: one CA, a server and a client certificate.

Everything is generated with ``cryptography`` into a directory the caller owns
(a test's temporary directory), and every private key is encrypted with the
given password. The broker's keystore is PKCS#12: a Kafka PEM keystore
(``ssl.keystore.type=PEM``) would need a key encrypted with PBES1, because
Java 17's ``SecretKeyFactory`` has no PBES2, and ``cryptography`` writes
encrypted PKCS#8 with PBES2 only. The client's key is PKCS#8 PEM, which
librdkafka (OpenSSL) reads with ``ssl.key.location`` and ``ssl.key.password``.

Examples
--------
>>> import tempfile
>>> pki = make_pki(Path(tempfile.mkdtemp()), key_password="pw")
>>> pki.ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
True
>>> "ENCRYPTED PRIVATE KEY" in pki.client_key.read_text()
True
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from midstream.stack.paths import HOST


@dataclass(frozen=True)
class Pki:
    """Paths of the generated PEM files, and the password of both private keys.

    Attributes
    ----------
    ca
        The CA certificate: the truststore of the broker and of every client.
    server_keystore
        The broker's PKCS#12 keystore: its private key and certificate, under ``key_password``.
    client_certificate
        A client certificate signed by the CA (for ``ssl.client.auth``).
    client_key
        The client's encrypted private key.
    key_password
        Password of both private keys.
    """

    ca: Path
    server_keystore: Path
    client_certificate: Path
    client_key: Path
    key_password: str

    def __repr__(self) -> str:
        return f"Pki(ca={str(self.ca)!r}, key_password=***)"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
                 issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                         x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _encrypted_key(key: ec.EllipticCurvePrivateKey, password: str) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(password.encode()))


def make_pki(directory: Path, *, key_password: str) -> Pki:
    """Write a CA, a server keystore and a client certificate and key into ``directory``.

    The server certificate names ``127.0.0.1`` and ``localhost``, so clients
    verify the broker's hostname as they would in production.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("midstream-test-ca")
    ca_cert = _certificate("midstream-test-ca", ca_key, ca_name, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _certificate("localhost", server_key, ca_name, ca_key, ca=False)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client_cert = _certificate("midstream-client", client_key, ca_name, ca_key, ca=False)
    pki = Pki(ca=directory / "ca.pem", server_keystore=directory / "server-keystore.p12",
              client_certificate=directory / "client.pem",
              client_key=directory / "client-key.pem", key_password=key_password)
    pki.ca.write_bytes(_pem(ca_cert))
    pki.server_keystore.write_bytes(pkcs12.serialize_key_and_certificates(
        b"broker", server_key, server_cert, [ca_cert],
        serialization.BestAvailableEncryption(key_password.encode())))
    pki.client_certificate.write_bytes(_pem(client_cert))
    pki.client_key.write_bytes(_encrypted_key(client_key, key_password))
    for path in (pki.server_keystore, pki.client_key):
        path.chmod(0o600)
    return pki
