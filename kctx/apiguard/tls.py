"""The API guard's TLS certificate: one per user, for 127.0.0.1, made once.

kubectl sends no credential over plain http, not even to 127.0.0.1, so the guard listens with
TLS. A small CA and a server certificate it signs live in <runtime>/guard (0700): ca.pem (what
session kubeconfigs trust), server.pem and server.key (0600). They are no cluster credential;
they only let this user's clients know they talk to this user's guard. Made with
`cryptography` the first time a protected entry is used (the only import of it).
"""

import os

from kctx.apiguard import state as st

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
else:
    Any = object

YEARS = 10


def files() -> tuple[str, str, str]:
    folder = st.guard_dir()
    return (os.path.join(folder, "ca.pem"), os.path.join(folder, "server.pem"),
            os.path.join(folder, "server.key"))


def ensure() -> str:
    """The CA file session kubeconfigs name, making the certificates when missing."""
    ca, cert, key = files()
    if not (os.path.exists(ca) and os.path.exists(cert) and os.path.exists(key)):
        _make(ca, cert, key)
    return ca


def _make(ca_path: str, cert_path: str, key_path: str) -> None:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from kctx import session
    st.ensure_guard_dir()
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    until = now + datetime.timedelta(days=365 * YEARS)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"kctx API guard CA ({os.getuid()})")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(until)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(until)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    # The key and certificate first, the CA last: a guard never finds a CA without its server.
    session.write(key_path, key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    session.write(cert_path, leaf.public_bytes(pem))
    session.write(ca_path, ca.public_bytes(pem))


def server_context() -> Any:
    import ssl

    _, cert, key = files()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx
