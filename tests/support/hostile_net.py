"""A private certificate authority, the test server behind TLS, and a CONNECT proxy, for the
proxy and CA cases of the hostile matrix (tests/system/test_hostile.py).

Everything runs on loopback. The proxy sends every tunnel to one upstream address whatever host
the client names, so a base URL such as ``https://vlm.test/v1`` reaches the TLS test server
through the proxy, and only through it: ``vlm.test`` resolves nowhere, so a client that skipped
the proxy would fail to resolve it, which is how a test proves the bypass rules.

Certificates come from the ``cryptography`` package when it is installed, else from the
``openssl`` command.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import select
import shutil
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from socketserver import BaseRequestHandler, ThreadingTCPServer

from support.fake_api import FakeAPI, _Server

log = logging.getLogger(__name__)

#: The name the proxied base URL uses; it resolves nowhere.
PROXIED_HOST = "vlm.test"
#: What the proxy reads of a CONNECT request before giving up on it.
MAX_PROXY_HEAD = 8192


@dataclass(frozen=True)
class Certificates:
    ca: Path  # the authority's certificate: what SSL_CERT_FILE / ca_bundle point at
    cert: Path  # the server's certificate, signed by the authority
    key: Path  # the server's private key

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_certificates(
    folder: Path, hosts: tuple[str, ...] = ("127.0.0.1", PROXIED_HOST)
) -> Certificates:
    """A fresh CA and a server certificate for ``hosts`` (names and IP addresses) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    certs = Certificates(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    try:
        import cryptography  # noqa: F401
    except ImportError:
        _with_openssl(certs, hosts)
    else:
        _with_cryptography(certs, hosts)
    return certs


def _with_cryptography(certs: Certificates, hosts: tuple[str, ...]) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "desktop-vlm test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    certs.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    certs.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    certs.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _with_openssl(certs: Certificates, hosts: tuple[str, ...]) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("neither the cryptography package nor the openssl command is there")
    folder = certs.ca.parent
    ca_key = folder / "ca.key"

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, timeout=60)

    run(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        str(ca_key),
        "-out",
        str(certs.ca),
        "-days",
        "7",
        "-subj",
        "/CN=desktop-vlm test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE,pathlen:0",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    csr = folder / "server.csr"
    run(
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        str(certs.key),
        "-out",
        str(csr),
        "-subj",
        f"/CN={hosts[0]}",
    )
    alt = ",".join(f"IP:{h}" if _is_ip(h) else f"DNS:{h}" for h in hosts)
    ext = folder / "server.ext"
    ext.write_text(
        f"subjectAltName={alt}\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    run(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(certs.ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-out",
        str(certs.cert),
        "-days",
        "7",
        "-extfile",
        str(ext),
    )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# --- the test server behind TLS ---------------------------------------------------------------


class _TLSServer(_Server):
    def __init__(self, api: FakeAPI, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__(api)

    def get_request(self):  # noqa: ANN201 - socketserver's signature
        conn, address = self.socket.accept()
        return self._context.wrap_socket(
            conn, server_side=True, do_handshake_on_connect=False
        ), address

    def finish_request(self, request, client_address) -> None:  # noqa: ANN001
        # The handshake runs on the connection's own thread, so a client that refuses the
        # certificate costs that thread only.
        try:
            request.settimeout(10)
            request.do_handshake()
            request.settimeout(None)
        except (ssl.SSLError, OSError) as exc:
            log.debug("TLS handshake with %s failed: %s", client_address, exc)
            self.handshake_failures += 1
            return
        super().finish_request(request, client_address)

    handshake_failures = 0


class TLSFakeAPI(FakeAPI):
    """The scriptable test server, spoken to over HTTPS with a certificate of ``certs``.

    Behaviours that wait (``Stall``, ``pause_after``) need plain sockets: use ``Stream``,
    ``Status`` and the other behaviours that answer at once.
    """

    def __init__(self, certs: Certificates, host: str = "127.0.0.1", **kwargs) -> None:  # noqa: ANN003
        super().__init__(**kwargs)
        self.certs = certs
        self.host = host

    def start(self) -> TLSFakeAPI:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _TLSServer(self, self.certs.server_context())
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-api-tls-accept",
            daemon=True,
        )
        self._thread.start()
        return self

    @property
    def handshake_failures(self) -> int:
        return self._server.handshake_failures if self._server is not None else 0

    @property
    def root_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def url_as(self, host: str) -> str:
        """The base URL with another host name (one the proxy maps here)."""
        return f"https://{host}:{self.port}/v1"


# --- a CONNECT proxy ---------------------------------------------------------------------------


class ConnectProxy:
    """An HTTP proxy on loopback that only tunnels (CONNECT), every tunnel to ``upstream``.

    ``tunnels`` lists the ``host:port`` each client asked for, in order; ``heads`` keeps each
    request head as received (all a proxy learns of a tunnelled request).
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.tunnels: list[str] = []
        self.heads: list[bytes] = []
        proxy = self

        class Handler(BaseRequestHandler):
            def handle(self) -> None:
                proxy._handle(self.request)

        self._server = ThreadingTCPServer(("127.0.0.1", 0), Handler, bind_and_activate=True)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ConnectProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _handle(self, client: socket.socket) -> None:
        client.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head and len(head) < MAX_PROXY_HEAD:
            data = client.recv(4096)
            if not data:
                return
            head += data
        self.heads.append(head)
        method, target, *_ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        if method != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Only CONNECT\r\nContent-Length: 0\r\n\r\n")
            return
        self.tunnels.append(target)
        with socket.create_connection(self.upstream, timeout=10) as upstream:
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _pipe(client, upstream)


def _pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until one side closes (or 30 s pass without any)."""
    peers = {a: b, b: a}
    while True:
        ready, _, _ = select.select(list(peers), [], [], 30)
        if not ready:
            return
        for sock in ready:
            try:
                data = sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            peers[sock].sendall(data)
