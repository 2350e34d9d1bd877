"""A private Dovecot 2.3 (IMAP, IMAPS, LMTP) on loopback, for the integration tests.

Each :class:`DovecotServer` runs ``dovecot -F -c DIR/dovecot.conf`` from a configuration
written into its own directory, with its own ``base_dir``/``state_dir``, log file,
self-signed certificate and Maildirs. ``/etc/dovecot`` and the system service are never
used, so several instances can run side by side (one per test) and nothing outlives the
test session.

Users log in with their bare name (``sec-dcs``) or with any address whose local part is
that name (``sec-dcs@interieur.gouv.fr``): ``auth_username_format = %Ln`` reduces every
login and LMTP recipient to the lower-cased local part before the lookup.
"""

from __future__ import annotations

import atexit
import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import NamedTuple, Self

from imapclient import IMAPClient

HOST = "127.0.0.1"
DEFAULT_USER = "sec-dcs"
DEFAULT_PASSWORD = "secret"
INSTALL_HINT = "run scripts/install-test-deps.sh (as root or with sudo) to install Dovecot"

# The greeting identifies *our* instance, so that a foreign server that grabbed one of the
# ports between picking and binding it is never mistaken for a started Dovecot.
GREETING = "dcs-test-dovecot ready."

# Debian installs the binary in /usr/sbin, which is not on an ordinary user's PATH.
_SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")
# sun_path holds 107 bytes plus NUL; the longest socket Dovecot 2.3 creates under base_dir
# is "token-login/imap-urlauth" (24 characters), plus the "/" and a small margin.
_MAX_SOCKET_DIR_LEN = 107 - 1 - 24 - 2
# Fresh port sets tried by the first start() before giving up.
_PORT_ATTEMPTS = 3
# No "+": it is LMTP's recipient_delimiter ("sec-dcs+tag@..." delivers to sec-dcs).
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
# Characters that would need quoting or would be expanded (%) in dovecot.conf values.
_UNSAFE_PATH_CHARS = frozenset(' \t\n"#%{}<\\')
_APPENDUID_RE = re.compile(rb"\[APPENDUID (\d+) ([0-9:,]+)\]", re.IGNORECASE)


class DovecotNotInstalledError(RuntimeError):
    """The ``dovecot`` binary (package dovecot-imapd/dovecot-lmtpd) is missing."""


class DovecotStartError(RuntimeError):
    """The private Dovecot did not start, or did not stop, as expected."""


class _PortTakenError(DovecotStartError):
    """Another process bound one of the chosen ports first; worth retrying with others."""


class StoredMessage(NamedTuple):
    """One message as read back by :meth:`DovecotServer.fetch_all`."""

    uid: int
    flags: tuple[str, ...]  # system flags keep their backslash: "\\Seen"; keywords as is
    raw: bytes


@dataclass(frozen=True)
class _Ports:
    imap: int
    imaps: int
    lmtp: int

    def all(self) -> tuple[int, int, int]:
        return (self.imap, self.imaps, self.lmtp)


@dataclass(frozen=True)
class _Identity:
    """Who the Dovecot processes run as."""

    mail_uid: int
    mail_gid: int
    login_user: str
    internal_user: str
    internal_group: str
    as_root: bool


def find_dovecot() -> str | None:
    """Return the path of the ``dovecot`` binary, or None when it is not installed."""
    found = shutil.which("dovecot")
    if found:
        return found
    for directory in _SBIN_DIRS:
        candidate = Path(directory, "dovecot")
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def make_self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """Write ``cert.pem`` and ``key.pem`` (EC P-256) into *directory*; return both paths.

    The certificate names ``IP:127.0.0.1`` and ``DNS:localhost`` as subject alternative
    names, so a client that trusts it (``ssl.create_default_context(cafile=cert)``) can
    keep hostname checking on while connecting to 127.0.0.1.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise DovecotNotInstalledError(f"openssl is not installed; {INSTALL_HINT}")
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    # EC keys are generated in milliseconds, unlike RSA; no DH parameters are needed.
    command = [
        openssl, "req", "-x509", "-nodes", "-days", "30",
        "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,digitalSignature,keyCertSign",
        "-addext", "extendedKeyUsage=serverAuth",
        "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DovecotStartError(
            f"openssl could not make a self-signed certificate in {directory}:\n"
            f"{result.stderr.strip()}"
        )
    return cert, key


def normalize_user(login: str) -> str:
    """Map a login or address to the Dovecot user it logs in as, like ``%Ln`` does."""
    return login.partition("@")[0].lower()


def _free_ports(count: int) -> list[int]:
    """Ask the kernel for *count* distinct free loopback ports.

    All sockets stay bound until every port is known, so the ports are distinct; they are
    released before Dovecot binds them, a race that the greeting check detects.
    """
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((HOST, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def _port_is_free(port: int) -> bool:
    """True when *port* can be bound the way Dovecot binds it (with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no file)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


def _stop_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, then SIGKILL if the master has not exited in *timeout* seconds; reap it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()


# Masters told to stop without waiting (stop(wait=False)). Dovecot's master sleeps one
# second after signalling its log process before it exits, so function-scoped fixtures
# let that second pass in the background; the Popen objects are kept here so that they
# are reaped (no zombie, no "subprocess is still running" ResourceWarning).
# Each entry also names the short runtime directory to delete once the master is gone.
_stopping: list[tuple[subprocess.Popen[bytes], Path | None]] = []
_stopping_lock = threading.Lock()


def _reap_stopped() -> None:
    with _stopping_lock:
        done = [entry for entry in _stopping if entry[0].poll() is not None]
        _stopping[:] = [entry for entry in _stopping if entry not in done]
    for _process, run_dir in done:
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)


def wait_for_stopped_servers(timeout: float = 10.0) -> None:
    """Wait until every master stopped with ``stop(wait=False)`` has exited.

    Called at the end of the test session (and at interpreter exit as a safety net).
    """
    with _stopping_lock:
        pending = [process for process, _run_dir in _stopping]
    for process in pending:
        _stop_process(process, timeout)
    _reap_stopped()


atexit.register(wait_for_stopped_servers)


def _parse_uid_set(text: str) -> list[int]:
    uids: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition(":")
        uids.extend(range(int(low), int(high or low) + 1))
    return uids


def _identity() -> _Identity:
    if os.geteuid() == 0:
        # Dovecot refuses mail access as uid 0 and login processes running as root; the
        # Debian package creates the dovenull and dovecot users for exactly this.
        nobody = pwd.getpwnam("nobody")
        try:
            mail_gid = grp.getgrnam("nogroup").gr_gid
        except KeyError:  # Red Hat-style systems call it "nobody"
            mail_gid = grp.getgrnam("nobody").gr_gid
        return _Identity(nobody.pw_uid, mail_gid, "dovenull", "dovecot", "dovecot", True)
    # Without root everything runs as the invoking user: Dovecot cannot switch users.
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    return _Identity(os.getuid(), os.getgid(), user, user, group, False)


class DovecotServer:
    """A private Dovecot instance with IMAP (plain + STARTTLS), IMAPS and LMTP on 127.0.0.1.

    Everything lives under *base_dir*: ``dovecot.conf``, ``passwd``, ``dovecot.log``
    (Dovecot's own log; ``dovecot.stderr`` holds what the master printed before it could
    log), ``cert.pem``/``key.pem`` and ``home/<user>/Maildir``. Ports are chosen by
    :meth:`start` and kept for the life of the object, so :meth:`restart` comes back on
    the same ones.
    """

    host = HOST
    # Dovecot's default for Maildir++; tests should still read it from LIST.
    separator = "."

    def __init__(
        self,
        base_dir: Path,
        users: Mapping[str, str] | None = None,
        *,
        start_timeout: float = 10.0,
        dovecot_binary: str | None = None,
    ) -> None:
        self.base_dir = Path(base_dir).absolute()
        bad = _UNSAFE_PATH_CHARS.intersection(str(self.base_dir))
        if bad:
            raise ValueError(
                f"base_dir {self.base_dir} contains {''.join(sorted(bad))!r}, which would "
                "need quoting in dovecot.conf; use a plain temporary directory"
            )
        self.start_timeout = start_timeout
        self._binary = dovecot_binary or find_dovecot()
        if self._binary is None:
            raise DovecotNotInstalledError(f"the dovecot binary was not found; {INSTALL_HINT}")
        self._users: dict[str, str] = {}
        for name, password in (users or {DEFAULT_USER: DEFAULT_PASSWORD}).items():
            self._check_user(name, password)
            self._users[name] = password
        self._identity = _identity()
        self._ports: _Ports | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[[subprocess.Popen[bytes], float], DovecotServer] | None
        self._finalizer = None
        self._run_dir: Path | None = None
        self._short_run_dir = False
        self.cert_path, self.key_path = self.base_dir / "cert.pem", self.base_dir / "key.pem"
        self.log_path = self.base_dir / "dovecot.log"
        self.stderr_path = self.base_dir / "dovecot.stderr"
        self.config_path = self.base_dir / "dovecot.conf"
        self.passwd_path = self.base_dir / "passwd"
        self.home_root = self.base_dir / "home"
        self.startup_seconds: float | None = None  # duration of the last start()

    # -- ports and paths ------------------------------------------------------------

    def _ports_or_raise(self) -> _Ports:
        if self._ports is None:
            raise RuntimeError("DovecotServer has no ports yet: call start() first")
        return self._ports

    @property
    def imap_port(self) -> int:
        """Plain IMAP port; STARTTLS is offered on it."""
        return self._ports_or_raise().imap

    @property
    def imaps_port(self) -> int:
        """IMAP over implicit TLS."""
        return self._ports_or_raise().imaps

    @property
    def lmtp_port(self) -> int:
        return self._ports_or_raise().lmtp

    @property
    def users(self) -> dict[str, str]:
        """A copy of the user → password table."""
        return dict(self._users)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The master process id while running."""
        return self._process.pid if self.running and self._process else None

    def home_of(self, user: str) -> Path:
        return self.home_root / normalize_user(user)

    def maildir_of(self, user: str = DEFAULT_USER) -> Path:
        """The user's Maildir (INBOX); Dovecot creates it at the first login or delivery."""
        return self.home_of(user) / "Maildir"

    def password_of(self, user: str) -> str:
        try:
            return self._users[normalize_user(user)]
        except KeyError:
            known = sorted(self._users)
            raise KeyError(f"no user {user!r} on this Dovecot; known: {known}") from None

    # -- users ------------------------------------------------------------------------

    @staticmethod
    def _check_user(name: str, password: str) -> None:
        # passwd-file is colon-separated and auth_username_format lower-cases logins, so a
        # user name with capitals or an "@" could never log in.
        if not _NAME_RE.match(name):
            raise ValueError(
                f"user name {name!r} must be lower case, without '@' (logins are reduced "
                "to their lower-cased local part)"
            )
        if any(c in password for c in ":\n\r") or not password:
            raise ValueError("passwords must be non-empty and contain no ':' or newline")

    def add_user(self, name: str, password: str) -> None:
        """Add (or change the password of) a user; works while the server is running.

        Dovecot re-reads the passwd file when it changes, so no restart is needed.
        """
        self._check_user(name, password)
        self._users[name] = password
        if self.base_dir.exists():
            self._write_passwd()
            self._make_home(name)

    def _write_passwd(self) -> None:
        lines = "".join(f"{name}:{{PLAIN}}{pw}::::::\n" for name, pw in self._users.items())
        # Write then rename, so the auth process never reads a half-written file.
        tmp = self.passwd_path.with_suffix(".tmp")
        tmp.write_text(lines)
        # The auth process runs as the internal user, not root: the file must be readable.
        tmp.chmod(0o644)
        tmp.replace(self.passwd_path)

    def _make_home(self, name: str) -> None:
        home = self.home_of(name)
        home.mkdir(parents=True, exist_ok=True)
        if self._identity.as_root:
            os.chown(home, self._identity.mail_uid, self._identity.mail_gid)

    # -- configuration ----------------------------------------------------------------

    def _grant_traversal(self) -> None:
        """As root, let Dovecot's unprivileged processes reach files under base_dir.

        The imap/lmtp (uid nobody), auth (dovecot) and stats processes open paths below
        base_dir, which pytest creates inside 0700 directories. Only the search bit (o+x)
        is added, and only on directories inside the temporary directory or base_dir.
        """
        if not self._identity.as_root:
            return
        tmp_root = Path(tempfile.gettempdir()).resolve()
        for directory in (self.base_dir, *self.base_dir.parents):
            mode = directory.stat().st_mode
            if mode & 0o001:
                continue
            resolved = directory.resolve()
            if not (resolved == tmp_root or tmp_root in resolved.parents):
                raise DovecotStartError(
                    f"{directory} is not searchable by other users, so Dovecot's "
                    f"unprivileged processes cannot reach {self.base_dir}; use a base "
                    f"directory under {tmp_root} (pytest's tmp_path is fine)"
                )
            directory.chmod(mode | 0o001)

    def _choose_run_dir(self) -> Path:
        run_dir = self.base_dir / "run"
        if len(str(run_dir)) <= _MAX_SOCKET_DIR_LEN:
            self._short_run_dir = False
            return run_dir
        # Long pytest paths would overflow sun_path; the runtime directory holds only
        # sockets and pid files, so a short throw-away one in /tmp is just as good.
        self._short_run_dir = True
        return Path(tempfile.mkdtemp(prefix="dcs-dovecot-", dir="/tmp"))

    def _config_text(self, ports: _Ports, run_dir: Path) -> str:
        ident = self._identity
        # Without root Dovecot cannot chroot its login and anvil processes.
        no_chroot = (
            ""
            if ident.as_root
            else "".join(
                f"service {name} {{\n  chroot =\n}}\n"
                for name in ("anvil", "imap-login", "imap-urlauth-login", "aggregator", "director")
            )
        )
        mailboxes = "".join(
            f"  mailbox {name} {{\n    special_use = \\{name}\n    auto = subscribe\n  }}\n"
            for name in ("Sent", "Drafts", "Trash", "Junk")
        )
        return f"""\
# Written by tests/servers/dovecot.py: a private, throw-away Dovecot for the test suite.
instance_name = dcs-test-{ports.imap}
base_dir = {run_dir}
state_dir = {self.base_dir / "state"}
log_path = {self.log_path}
info_log_path = {self.log_path}
protocols = imap lmtp
listen = {HOST}
hostname = localhost
login_greeting = {GREETING}
verbose_proctitle = yes

ssl = yes
ssl_cert = <{self.cert_path}
ssl_key = <{self.key_path}

default_login_user = {ident.login_user}
default_internal_user = {ident.internal_user}
default_internal_group = {ident.internal_group}
first_valid_uid = {ident.mail_uid}
first_valid_gid = {ident.mail_gid}

# Tests log in with plain LOGIN over loopback; a wrong password is answered at once
# (stock Dovecot waits 2 s) so that failure-path tests stay fast.
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %Ln
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {self.passwd_path}
}}
userdb {{
  driver = static
  args = uid={ident.mail_uid} gid={ident.mail_gid} home={self.home_root}/%n
}}

mail_location = maildir:~/Maildir
# Durability is irrelevant for throw-away mailboxes; fsync only slows the suite.
mail_fsync = never
# inotify normally wakes IDLE at once; this is the fallback poll interval.
mailbox_idle_check_interval = 1 secs
postmaster_address = postmaster@localhost

namespace inbox {{
  inbox = yes
  separator = {self.separator}
{mailboxes}}}

protocol imap {{
  # The daemon and the tests open several connections per user at once.
  mail_max_userip_connections = 100
}}

service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {ports.imap}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {ports.imaps}
    ssl = yes
  }}
}}
# Without this listener the auth process applies no failed-login penalty (up to 15 s
# per attempt from the same IP), which would make wrong-password tests crawl.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = {HOST}
    port = {ports.lmtp}
  }}
}}
{no_chroot}"""

    def _prepare(self, ports: _Ports) -> Path:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self._grant_traversal()
        (self.base_dir / "state").mkdir(exist_ok=True)
        self.home_root.mkdir(mode=0o755, exist_ok=True)
        self.home_root.chmod(0o755)  # whatever the umask: the mail user must enter it
        if not (self.cert_path.exists() and self.key_path.exists()):
            self.cert_path, self.key_path = make_self_signed_cert(self.base_dir)
        self._write_passwd()
        for name in self._users:
            self._make_home(name)
        run_dir = self._choose_run_dir()
        self.config_path.write_text(self._config_text(ports, run_dir))
        return run_dir

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> Self:
        """Start Dovecot and return once the IMAP greeting has been read.

        The first start picks free ports, and picks others if another process grabs one
        before Dovecot binds it (other test runs may share the machine). Later starts
        reuse the same ports, waiting (up to the start timeout) until the previous
        instance has released them.
        """
        if self.running:
            raise RuntimeError(f"Dovecot is already running (pid {self.pid})")
        _reap_stopped()
        began = time.monotonic()
        deadline = began + self.start_timeout
        if self._ports is not None:
            self._wait_ports_free(self.start_timeout)
            self._launch(deadline)
        else:
            for attempt in range(1, _PORT_ATTEMPTS + 1):
                self._ports = _Ports(*_free_ports(3))
                try:
                    self._launch(deadline)
                    break
                except _PortTakenError:
                    self._ports = None
                    if attempt == _PORT_ATTEMPTS:
                        raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _launch(self, deadline: float) -> None:
        self._run_dir = self._prepare(self._ports_or_raise())
        # Only what this attempt writes is evidence: both files accumulate across starts.
        offsets = tuple(p.stat().st_size if p.exists() else 0 for p in self._log_files)
        with open(self.stderr_path, "ab") as stderr:
            stderr.write(f"--- starting dovecot at {datetime.now().isoformat()}\n".encode())
            stderr.flush()
            assert self._binary is not None  # checked in __init__
            self._process = subprocess.Popen(
                [self._binary, "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                # Its own process group, so that kill() can take down every Dovecot
                # process at once, like a crashed or unplugged server.
                process_group=0,
            )
        # Safety net: a test that forgets stop() must not leave a Dovecot running.
        self._finalizer = weakref.finalize(self, _stop_process, self._process, 5.0)
        try:
            self._wait_for_greeting(deadline, offsets)
        except BaseException:
            self._shutdown(kill=True, wait_ports=False)
            raise

    @property
    def _log_files(self) -> tuple[Path, Path]:
        return (self.stderr_path, self.log_path)

    def _output_since(self, offsets: tuple[int, ...]) -> str:
        texts = []
        for path, offset in zip(self._log_files, offsets, strict=True):
            with contextlib.suppress(FileNotFoundError), open(path, "rb") as file:
                file.seek(offset)
                texts.append(file.read().decode(errors="replace"))
        return "\n".join(texts)

    def _wait_for_greeting(self, deadline: float, offsets: tuple[int, ...]) -> None:
        assert self._process is not None
        last_error = "no attempt made"
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                what = f"dovecot exited with {code}"
                if "Address already in use" in self._output_since(offsets):
                    raise _PortTakenError(self._describe_failure(what))
                raise DovecotStartError(self._describe_failure(what))
            # A failed bind is logged at once but the master takes ~2 s to exit, and the
            # squatter on the port may accept our connection and say nothing.
            if "Address already in use" in self._output_since(offsets):
                raise _PortTakenError(self._describe_failure("a port is taken"))
            try:
                greeting = self._read_greeting(max(0.1, deadline - time.monotonic()))
            except OSError as error:
                last_error = f"{type(error).__name__}: {error}"
                time.sleep(0.01)
                continue
            if GREETING.encode() in greeting:
                return
            raise _PortTakenError(
                self._describe_failure(
                    f"port {self.imap_port} answered {greeting!r}, not our Dovecot's "
                    "greeting (another program took the port?)"
                )
            )
        raise DovecotStartError(
            self._describe_failure(
                f"no IMAP greeting on {HOST}:{self.imap_port} within {self.start_timeout} s "
                f"(last error: {last_error})"
            )
        )

    def _read_greeting(self, timeout: float) -> bytes:
        # A short timeout per attempt: Dovecot greets within milliseconds, and a silent
        # squatter on the port must not hold the loop, which simply tries again.
        with socket.create_connection((HOST, self.imap_port), timeout=min(timeout, 0.5)) as sock:
            data = b""
            while b"\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    raise ConnectionResetError("connection closed before the greeting")
                data += chunk
            return data

    def _describe_failure(self, what: str) -> str:
        return (
            f"private Dovecot in {self.base_dir} failed: {what}\n"
            f"--- {self.stderr_path} (tail)\n{_tail(self.stderr_path)}\n"
            f"--- {self.log_path} (tail)\n{_tail(self.log_path)}"
        )

    def _wait_ports_free(self, timeout: float) -> None:
        ports = self._ports_or_raise()
        deadline = time.monotonic() + timeout
        while True:
            busy = [port for port in ports.all() if not _port_is_free(port)]
            if not busy:
                return
            if time.monotonic() >= deadline:
                raise DovecotStartError(
                    f"ports {busy} on {HOST} are still in use {timeout} s after Dovecot "
                    "stopped (a leftover dovecot/imap-login process?)"
                )
            time.sleep(0.02)

    def _shutdown(self, *, kill: bool, wait: bool = True, wait_ports: bool = True) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if kill:
            # The whole group: logged-in imap processes would otherwise outlive the
            # master and keep serving their sessions.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        if not wait:
            process.terminate()
            # A short run dir outside base_dir goes once the master has exited.
            leftover = self._run_dir if self._short_run_dir else None
            with _stopping_lock:
                _stopping.append((process, leftover))
            self._run_dir = None
            return
        _stop_process(process, timeout=10.0)
        # The master is gone, but its login children may hold the listening sockets for
        # a moment longer: wait, so that an "outage" really refuses connections and a
        # restart can bind the same ports.
        try:
            if wait_ports:
                self._wait_ports_free(10.0)
        finally:
            if self._short_run_dir and self._run_dir is not None:
                shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None

    def stop(self, *, wait: bool = True) -> None:
        """Stop Dovecot with SIGTERM (a clean shutdown).

        With ``wait=True`` return once the master exited and the ports are free: about
        one second, because Dovecot's master sleeps 1 s before exiting. With
        ``wait=False`` return at once and let the master finish in the background (it is
        reaped later, see :func:`wait_for_stopped_servers`); the ports stay busy for that
        second, which does not matter when the server is not started again.
        """
        self._shutdown(kill=False, wait=wait)

    def kill(self) -> None:
        """Simulate an outage: SIGKILL every Dovecot process (master and children).

        Open IMAP/LMTP sessions are cut and new connections refused; returns in a few
        milliseconds, once the ports are free. Mail already stored stays on disk, and
        :meth:`start` brings the server back on the same ports. The children are reaped
        by init, not by the test process.
        """
        self._shutdown(kill=True)

    def restart(self) -> None:
        """Stop cleanly, then start again on the same ports with the same mailboxes.

        Takes about 1.1 s (the clean stop); ``kill()`` then ``start()`` takes 0.05 s.
        """
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        ports = "no ports"
        if self._ports is not None:
            ports = f"imap={self._ports.imap} imaps={self._ports.imaps} lmtp={self._ports.lmtp}"
        return f"<DovecotServer {state} {ports} {self.base_dir}>"

    # -- helpers for tests --------------------------------------------------------------

    @contextlib.contextmanager
    def imap(
        self,
        user: str = DEFAULT_USER,
        *,
        folder: str | None = None,
        readonly: bool = False,
    ) -> Iterator[IMAPClient]:
        """An imapclient connection logged in as *user* (plain IMAP), logged out on exit."""
        with IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=10) as client:
            client.login(user, self.password_of(user))
            if folder is not None:
                client.select_folder(folder, readonly=readonly)
            yield client

    def append(
        self,
        folder: str,
        raw: bytes,
        flags: Sequence[str] = (),
        user: str = DEFAULT_USER,
        *,
        msg_time: datetime | None = None,
    ) -> int:
        """APPEND one message and return its UID (from the APPENDUID response code)."""
        with self.imap(user) as client:
            response = client.append(folder, raw, flags=tuple(flags), msg_time=msg_time)
        return self._appended_uids(response, folder)[0]

    def append_many(
        self, folder: str, messages: Iterable[bytes], user: str = DEFAULT_USER
    ) -> list[int]:
        """MULTIAPPEND *messages* in one command (fast seeding); return their UIDs in order."""
        batch = list(messages)
        if not batch:
            return []
        with self.imap(user) as client:
            response = client.multiappend(folder, batch)
        return self._appended_uids(response, folder)

    @staticmethod
    def _appended_uids(response: object, folder: str) -> list[int]:
        # imapclient returns the response text for APPEND but ("OK", [text]) for
        # MULTIAPPEND; flatten both to bytes before looking for the response code.
        parts = response[1] if isinstance(response, tuple) else [response]
        raw = b" ".join(p if isinstance(p, bytes) else str(p).encode() for p in parts)
        match = _APPENDUID_RE.search(raw)
        if match is None:
            raise AssertionError(f"APPEND to {folder!r} returned no APPENDUID: {raw!r}")
        return _parse_uid_set(match.group(2).decode())

    def deliver_lmtp(
        self,
        rcpt: str | Sequence[str],
        raw: bytes,
        *,
        mail_from: str = "expediteur@example.org",
    ) -> None:
        """Deliver *raw* through LMTP, one transaction per recipient.

        smtplib.LMTP raises a spurious SMTPDataError(250) when one transaction has several
        recipients (LMTP answers DATA once per recipient), hence one at a time.
        """
        recipients = [rcpt] if isinstance(rcpt, str) else list(rcpt)
        # local_hostname avoids a reverse-DNS lookup (socket.getfqdn) per connection.
        with smtplib.LMTP(
            self.host, self.lmtp_port, local_hostname="localhost", timeout=10
        ) as lmtp:
            for recipient in recipients:
                lmtp.sendmail(mail_from, [recipient], raw)

    def fetch_all(self, folder: str = "INBOX", user: str = DEFAULT_USER) -> list[StoredMessage]:
        """Every message of *folder*, by ascending UID, read with BODY.PEEK[] (no \\Seen)."""
        with self.imap(user, folder=folder, readonly=True) as client:
            uids = client.search(["ALL"])
            if not uids:
                return []
            data = client.fetch(uids, ["FLAGS", "BODY.PEEK[]"])
        return [
            StoredMessage(uid, _decode_flags(data[uid][b"FLAGS"]), bytes(data[uid][b"BODY[]"]))
            for uid in sorted(data)
        ]

    def flags(self, folder: str, uid: int, user: str = DEFAULT_USER) -> tuple[str, ...]:
        """The flags and keywords of one message."""
        with self.imap(user, folder=folder, readonly=True) as client:
            data = client.fetch([uid], ["FLAGS"])
        if uid not in data:
            raise AssertionError(f"no message with UID {uid} in {folder!r} of {user!r}")
        return _decode_flags(data[uid][b"FLAGS"])

    def keywords(self, folder: str, uid: int, user: str = DEFAULT_USER) -> set[str]:
        """The custom keywords (flags without a leading backslash) of one message."""
        return {flag for flag in self.flags(folder, uid, user) if not flag.startswith("\\")}

    def folders(self, user: str = DEFAULT_USER) -> list[str]:
        """Every folder name of *user*, as LIST returns them."""
        with self.imap(user) as client:
            return [str(name) for _flags, _delimiter, name in client.list_folders()]


def _decode_flags(flags: Iterable[bytes | str]) -> tuple[str, ...]:
    return tuple(f.decode() if isinstance(f, bytes) else f for f in flags)


__all__ = [
    "DEFAULT_PASSWORD",
    "DEFAULT_USER",
    "GREETING",
    "HOST",
    "INSTALL_HINT",
    "DovecotNotInstalledError",
    "DovecotServer",
    "DovecotStartError",
    "StoredMessage",
    "find_dovecot",
    "make_self_signed_cert",
    "normalize_user",
    "wait_for_stopped_servers",
]
