"""A real Mosquitto (Debian's package) for the tests: its own CA, a certificate per hub and for
the centre, mutual TLS, and the ACL docs/centre-protocol.md gives a centre to start from.

`MosquittoBroker` writes its files into a temporary folder, starts `mosquitto -c` on a free
loopback port and can be stopped cleanly, killed or restarted on the same port and state.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CENTRE = "centre"  # the CN of the centre's own client certificate


def mosquitto_path() -> str | None:
    return shutil.which("mosquitto") or (p if os.path.exists(p := "/usr/sbin/mosquitto") else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Identity:
    cert: Path
    key: Path


class CertificateAuthority:
    """A throwaway CA that issues the broker's and the clients' certificates."""

    def __init__(self, folder: Path, name: str = "Heima test centre CA") -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path = folder / "ca.pem"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, cn: str, *, server: bool = False) -> Identity:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        else:
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        safe = cn.replace("/", "_")
        cert_path, key_path = self.folder / f"{safe}.crt", self.folder / f"{safe}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        key_path.chmod(0o600)
        return Identity(cert_path, key_path)


# The ACL a centre can start from (docs/centre-protocol.md prints the same rules).
ACL = """\
# Every hub (its certificate's CN is its user name and, with use_username_as_clientid, its
# client id): its own topics only.
pattern read {root}/%u/cmd/+
pattern read {root}/%u/video/in
pattern write {root}/%u/presence
pattern write {root}/%u/event/+
pattern write {root}/%u/reply/#
pattern write {root}/%u/video/out/#

# The centre: commands and the nurse's call signalling to any hub; presence, events, replies
# and the hubs' call signalling from every hub.
user {centre}
topic write {root}/+/cmd/+
topic write {root}/+/video/in
topic read {root}/+/presence
topic read {root}/+/event/+
topic read {root}/+/reply/#
topic read {root}/+/video/out/#
"""


def mosquitto_conf(*, port: int, folder: Path, ca: Path, cert: Path, key: Path, acl: Path) -> str:
    user = "user root\n" if os.geteuid() == 0 else ""  # as root it would drop to `mosquitto`
    return f"""\
{user}per_listener_settings true
persistence true
persistence_location {folder}/
autosave_interval 3600
set_tcp_nodelay true
log_dest file {folder}/mosquitto.log
log_type error
log_type warning
log_type notice
max_queued_messages 10000

listener {port} 127.0.0.1
allow_anonymous false
cafile {ca}
certfile {cert}
keyfile {key}
require_certificate true
use_identity_as_username true
use_username_as_clientid true
acl_file {acl}
"""


class MosquittoBroker:
    def __init__(self, folder: Path, *, root: str = "heima") -> None:
        exe = mosquitto_path()
        if exe is None:
            raise RuntimeError("mosquitto is not installed: run scripts/setup.sh (apt-get install mosquitto)")
        self.exe = exe
        self.folder = folder
        self.root = root
        self.ca = CertificateAuthority(folder / "pki")
        self.server = self.ca.issue("localhost", server=True)
        self.centre = self.ca.issue(CENTRE)
        self.port = free_port()
        self.acl = folder / "acl"
        self.acl.write_text(ACL.format(root=root, centre=CENTRE))
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(
            mosquitto_conf(port=self.port, folder=folder, ca=self.ca.cert_path, cert=self.server.cert, key=self.server.key, acl=self.acl)
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def hub_identity(self, hub_id: str) -> Identity:
        return self.ca.issue(hub_id)

    def start(self, timeout: float = 10.0) -> None:
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"mosquitto exited at start: {err} {self.log()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.01)
        raise RuntimeError("mosquitto did not listen in time")

    def stop(self) -> None:
        """A clean shutdown: Mosquitto saves its sessions and queued messages."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        self.proc = None

    def kill(self) -> None:
        """kill -9: what Mosquitto had not saved (sessions, queued messages) is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self, *, hard: bool = False) -> None:
        """Stop and start on the same port; `hard`: killed, its saved state removed too (a new
        broker that knows no session: the hub must subscribe again by itself)."""
        if hard:
            self.kill()
            (self.folder / "mosquitto.db").unlink(missing_ok=True)
        else:
            self.stop()
        self.start()

    def rss_bytes(self) -> int:
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def log(self) -> str:
        path = self.folder / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""
