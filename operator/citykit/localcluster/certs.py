"""The local cluster's PKI: one CA, the API server's serving cert, client certs, SA keys.

The control plane runs with TLS and client-certificate authentication like a production
cluster, so RBAC, the Node authorizer and service-account tokens behave as they will for the
operator in a real city. ECDSA P-256 keys keep `cluster up` fast (RSA generation is slow).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = timedelta(days=365)
# The first address of the service range: in-cluster clients reach the API server there.
API_SERVICE_IP = "10.0.0.1"
# The real node's bridge address (citykit.localcluster.realnode.NODE_IP), where the API also
# listens when the cluster has a real node.
REAL_NODE_IP = "10.87.0.1"
# A /16: a 200-initiative city alone has some 600 Services; a /24 ran out of addresses.
SERVICE_CIDR = "10.0.0.0/16"
_API_DNS_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


@dataclass(frozen=True)
class ClientIdentity:
    """Who a client certificate authenticates as: CN is the user, O the groups."""

    user: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class KeyPair:
    """PEM files on disk, as the components' flags want them."""

    cert: Path
    key: Path


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    return x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path: Path, data: bytes, private: bool = False) -> Path:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)
    return path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class CertificateAuthority:
    """Signs every certificate of one cluster; its cert is what clients trust."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(_name("citykit-local-ca"))
            .issuer_name(_name("citykit-local-ca"))
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )
        self.pair = KeyPair(
            _write(directory / "ca.crt", self._cert.public_bytes(serialization.Encoding.PEM)),
            _write(directory / "ca.key", _key_pem(self._key), private=True),
        )

    @classmethod
    def load(cls, directory: Path) -> CertificateAuthority:
        """The CA a cluster's PKI folder already holds, to issue further certificates (a
        test's own user, say) that the running API server trusts."""
        key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{directory / 'ca.key'} is not the EC key citykit writes")
        ca = cls.__new__(cls)
        ca.directory, ca._key = directory, key
        ca._cert = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
        ca.pair = KeyPair(directory / "ca.crt", directory / "ca.key")
        return ca

    def _issue(
        self,
        name: str,
        subject: x509.Name,
        usage: x509.ObjectIdentifier,
        sans: list[x509.GeneralName],
    ) -> KeyPair:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return KeyPair(
            _write(self.directory / f"{name}.crt", cert.public_bytes(serialization.Encoding.PEM)),
            _write(self.directory / f"{name}.key", _key_pem(key), private=True),
        )

    def issue_api_serving(self) -> KeyPair:
        """Valid for 127.0.0.1 (how we connect) and the in-cluster names of the API."""
        sans: list[x509.GeneralName] = [x509.DNSName(name) for name in _API_DNS_NAMES]
        sans += [
            x509.IPAddress(ipaddress.ip_address(ip))
            for ip in ("127.0.0.1", API_SERVICE_IP, REAL_NODE_IP)
        ]
        return self._issue(
            "apiserver", _name("kube-apiserver"), ExtendedKeyUsageOID.SERVER_AUTH, sans
        )

    def issue_client(self, name: str, identity: ClientIdentity) -> KeyPair:
        """A client certificate the API server maps to `identity`."""
        subject = _name(identity.user, identity.groups)
        return self._issue(name, subject, ExtendedKeyUsageOID.CLIENT_AUTH, [])


def write_service_account_keys(directory: Path) -> KeyPair:
    """The key pair that signs service-account tokens (kube-apiserver and the token controller).

    `cert` holds the public key here: kube-apiserver's --service-account-key-file takes it.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(
        _write(directory / "sa.pub", public),
        _write(directory / "sa.key", _key_pem(key), private=True),
    )
