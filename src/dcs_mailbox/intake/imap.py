"""IMAP sessions over imapclient. Every failure surfaces as ImapError with an actionable message."""

from __future__ import annotations

import logging
import re
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType

import imapclient
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from imapclient.imapclient import SENT
from imapclient.util import to_unicode
from pydantic import SecretStr

from dcs_mailbox.config import ImapSettings, Security
from dcs_mailbox.errors import ImapError
from dcs_mailbox.tls import client_context

log = logging.getLogger(__name__)

_APPENDUID = re.compile(r"\[APPENDUID \d+ (\d+)\]", re.IGNORECASE)
# A fetch batch is held in memory whole: a backlog of attachments in batches of 200
# would be gigabytes. A message larger than this is fetched alone (bench/memory.py).
FETCH_BATCH_BYTES = 16 * 1024 * 1024
SENT_NAMES = ("Sent", "Sent Items", "Sent Messages", "Éléments envoyés", "Envoyés", "INBOX.Sent")


@dataclass(frozen=True)
class FetchedMessage:
    uid: int
    raw: bytes
    internal_date: datetime | None
    flags: tuple[str, ...]


@dataclass(frozen=True)
class FolderState:
    uidvalidity: int
    uidnext: int | None
    exists: int


@contextmanager
def imap_errors(where: str) -> Iterator[None]:
    try:
        yield
    except LoginError as exc:
        raise ImapError(
            f"IMAP login refused at {where}: {to_unicode(str(exc))} — check [imap].username "
            "and the password source"
        ) from exc
    except ssl.SSLError as exc:
        raise ImapError(
            f"TLS with {where} failed: {exc.reason or exc} — check [imap].ca_file or "
            "verify_certificate"
        ) from exc
    except TimeoutError as exc:
        raise ImapError(f"IMAP server {where} did not answer in time") from exc
    except IMAPClientError as exc:
        raise ImapError(f"IMAP server {where} refused or dropped the exchange: {exc}") from exc
    except OSError as exc:
        raise ImapError(f"cannot reach IMAP server {where}: {exc}") from exc


def connect(settings: ImapSettings, password: SecretStr | None) -> IMAPClient:
    """The one place that opens IMAP connections (tests replace it to inject faults)."""
    where = f"{settings.host}:{settings.port}"
    context = client_context(settings.verify_certificate, settings.ca_file)
    timeout = imapclient.SocketTimeout(
        connect=settings.timeout_seconds, read=settings.timeout_seconds
    )
    with imap_errors(where):
        client = IMAPClient(
            settings.host,
            port=settings.port,
            ssl=settings.security is Security.TLS,
            ssl_context=context,
            timeout=timeout,
        )
        _quiet_imaplib(client)
        try:
            if settings.security is Security.STARTTLS:
                client.starttls(context)
            client.normalise_times = False  # keep INTERNALDATE's zone: we store aware UTC
            client.login(settings.username or "", password.get_secret_value() if password else "")
        except BaseException:
            _close_quietly(client)
            raise
    return client


def _quiet_imaplib(client: IMAPClient) -> None:
    # imapclient sets imaplib's debug level to 5 and sends its output to the
    # "imapclient.imaplib" logger, but imaplib formats each message (the repr of every
    # response, literals included) before any logger can drop it: at each FETCH of a
    # 41 MB message, ~95 MB of repr strings (bench/memory.py, docs/benchmarks.md).
    # Left on when that logger would show it, for protocol debugging.
    if not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
        client._imap.debug = 0


def _close_quietly(client: IMAPClient) -> None:
    with suppress(OSError, IMAPClientError):
        client.shutdown()


class ImapSession:
    """One authenticated IMAP connection, with the commands the daemon uses."""

    def __init__(self, client: IMAPClient, where: str) -> None:
        self.client = client
        self.where = where
        self.last_exchange = time.monotonic()

    def __enter__(self) -> ImapSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.client.logout()
        except (OSError, IMAPClientError):
            _close_quietly(self.client)

    @contextmanager
    def _exchange(self) -> Iterator[None]:
        with imap_errors(self.where):
            yield
        self.last_exchange = time.monotonic()

    def has_idle(self) -> bool:
        with self._exchange():
            return bool(self.client.has_capability("IDLE"))

    def select(self, folder: str, *, readonly: bool = False) -> FolderState:
        with self._exchange():
            info = self.client.select_folder(folder, readonly=readonly)
        uidnext = info.get(b"UIDNEXT")
        return FolderState(
            uidvalidity=int(info[b"UIDVALIDITY"]),
            uidnext=int(uidnext) if uidnext is not None else None,
            exists=int(info.get(b"EXISTS", 0)),
        )

    def uids_after(self, last_uid: int) -> list[int]:
        # "UID n:*" always matches the highest UID even when it is below n (RFC 3501 §6.4.8).
        with self._exchange():
            found = self.client.search(["UID", f"{last_uid + 1}:*"])
        return sorted(uid for uid in found if uid > last_uid)

    def fetch_batches(
        self, uids: Sequence[int], count: int, max_bytes: int = FETCH_BATCH_BYTES
    ) -> Iterator[Sequence[int]]:
        """`uids` in batches of at most `count` messages and `max_bytes` (RFC822.SIZE);
        the sizes of each `count` are asked for just before its batches are used."""
        for start in range(0, len(uids), count):
            chunk = uids[start : start + count]
            with self._exchange():
                data = self.client.fetch(list(chunk), ["RFC822.SIZE"])
            batch: list[int] = []
            total = 0
            for uid in chunk:
                size = int(data.get(uid, {}).get(b"RFC822.SIZE", 0))  # 0: expunged meanwhile
                if batch and total + size > max_bytes:
                    yield batch
                    batch, total = [], 0
                batch.append(uid)
                total += size
            if batch:
                yield batch

    def fetch(self, uids: Sequence[int]) -> list[FetchedMessage]:
        # BODY.PEEK: fetching must not mark mail read for the agents (RFC 3501 §6.4.5).
        with self._exchange():
            data = self.client.fetch(list(uids), ["BODY.PEEK[]", "INTERNALDATE", "FLAGS"])
        fetched = []
        for uid in uids:
            item = data.get(uid)
            if item is None or b"BODY[]" not in item:
                continue  # expunged meanwhile
            flags = tuple(to_unicode(f) for f in item.get(b"FLAGS", ()))
            fetched.append(FetchedMessage(uid, item[b"BODY[]"], item.get(b"INTERNALDATE"), flags))
        return fetched

    def flags(self, uids: Sequence[int]) -> dict[int, tuple[str, ...]]:
        """Current flags and keywords of `uids` (expunged ones are simply absent)."""
        if not uids:
            return {}
        with self._exchange():
            data = self.client.get_flags(list(uids))
        return {uid: tuple(to_unicode(f) for f in flags) for uid, flags in data.items()}

    def add_keywords(self, uids: Sequence[int], keywords: Sequence[str]) -> None:
        if not uids or not keywords:
            return
        with self._exchange():
            self.client.add_flags(list(uids), list(keywords), silent=True)

    def copy_to(self, uids: Sequence[int], path: tuple[str, ...]) -> None:
        """COPY `uids` of the selected folder to the folder `path` (created if missing)."""
        with self._exchange():
            delimiter = self.client.list_folders(pattern="INBOX")[0][1] or b"/"
            name = to_unicode(delimiter).join(path)
            if not self.client.folder_exists(name):
                self.client.create_folder(name)
            self.client.copy(list(uids), name)

    def search_header(self, name: str, value: str) -> list[int]:
        with self._exchange():
            return list(self.client.search(["HEADER", name, value]))

    def append(self, folder: str, raw: bytes, when: datetime, flags: Sequence[str]) -> None:
        with self._exchange():
            self.client.append(folder, raw, flags=list(flags), msg_time=when)

    def ensure_folder(self, name: str) -> None:
        """Create `name` if missing, unsubscribed (mail clients show subscribed folders)."""
        with self._exchange():
            if not self.client.folder_exists(name):
                self.client.create_folder(name)

    def append_returning_uid(self, folder: str, raw: bytes, marker: str) -> int:
        """APPEND with the server's own INTERNALDATE; the new UID from APPENDUID (RFC
        4315), else found by searching `marker` in the message (the folder is selected)."""
        with self._exchange():
            response = to_unicode(self.client.append(folder, raw))
            match = _APPENDUID.search(response)
            if match:
                return int(match.group(1))
            found = self.client.search(["TEXT", marker])
        if not found:
            raise ImapError(f"the message just appended to {folder!r} cannot be found")
        return int(max(found))

    def headers_and_dates(
        self, names: Sequence[str], uids: Sequence[int]
    ) -> dict[int, tuple[bytes, datetime]]:
        """The named header fields and INTERNALDATE of `uids` in the selected folder."""
        if not uids:
            return {}
        section = f"BODY.PEEK[HEADER.FIELDS ({' '.join(names).upper()})]"
        with self._exchange():
            data = self.client.fetch(list(uids), [section, "INTERNALDATE"])
        found = {}
        for uid, item in data.items():
            header = next((v for k, v in item.items() if k.startswith(b"BODY[HEADER")), None)
            at = item.get(b"INTERNALDATE")
            if isinstance(header, bytes) and isinstance(at, datetime):
                found[uid] = (header, at if at.tzinfo else at.replace(tzinfo=UTC))
        return found

    def remove(self, uids: Sequence[int]) -> bool:
        """Remove exactly `uids` from the selected folder: \\Deleted + UID EXPUNGE (RFC
        4315). Without UIDPLUS a plain EXPUNGE would also purge what agents marked
        deleted, so the messages are only marked read; returns whether they went."""
        if not uids:
            return True
        with self._exchange():
            if not self.client.has_capability("UIDPLUS"):
                self.client.add_flags(list(uids), [b"\\Seen"], silent=True)
                return False
            self.client.delete_messages(list(uids), silent=True)
            self.client.uid_expunge(list(uids))
        return True

    def delete(self, uids: Sequence[int]) -> None:
        """Delete `uids` of the selected folder: UID EXPUNGE where the server has UIDPLUS,
        else EXPUNGE (only where every \\Deleted message may go, as in the lease folder)."""
        if not uids:
            return
        with self._exchange():
            self.client.delete_messages(list(uids), silent=True)
            if self.client.has_capability("UIDPLUS"):
                self.client.uid_expunge(list(uids))
            else:
                self.client.expunge()

    def find_sent_folder(self, configured: str) -> str:
        if configured:
            return configured
        with self._exchange():
            found = self.client.find_special_folder(SENT)
            if found:
                return str(found)
            names = {to_unicode(name) for _flags, _delim, name in self.client.list_folders()}
        for candidate in SENT_NAMES:
            if candidate in names:
                return candidate
        raise ImapError(
            f"no Sent folder found on {self.where} (no SPECIAL-USE \\Sent, none of "
            f"{', '.join(SENT_NAMES)}): set [imap].sent_folder"
        )

    def announced_changes(self) -> bool:
        """Did the server announce new mail inside the replies to our own commands?

        A server tells a session about new mail in whatever reply comes next (RFC 3501
        §7.3.1): a SEARCH, a FETCH, a STORE. imaplib keeps such untagged responses in
        `untagged_responses`, where idle_check never looks, and IDLE will not announce
        them again — a message arriving during our pre-IDLE SEARCH would otherwise wait
        for the next renewal. Draining the dict here also keeps it from growing for the
        life of the daemon. (imaplib attribute, present since Python 2.)
        """
        stash = getattr(getattr(self.client, "_imap", None), "untagged_responses", None)
        if not isinstance(stash, dict):
            return False
        changed = False
        for name in ("EXISTS", "RECENT", "FETCH", "EXPUNGE"):
            if stash.pop(name, None) and name in ("EXISTS", "RECENT"):
                changed = True
        return changed

    def wait(self, seconds: float, use_idle: bool, should_stop: Callable[[], bool]) -> bool:
        """Block until the folder changes, `seconds` pass, or should_stop(); True on change."""
        deadline = time.monotonic() + seconds
        if not use_idle:
            while time.monotonic() < deadline and not should_stop():
                time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
            with self._exchange():
                self.client.noop()
            return True
        with self._exchange():
            self.client.idle()
        changed = False
        try:
            # Short slices so a stop request is seen within a second; a push ends the
            # wait at once (idle_check returns as soon as the server speaks).
            while not changed and time.monotonic() < deadline and not should_stop():
                with imap_errors(self.where):
                    responses = self.client.idle_check(
                        timeout=min(1.0, max(0.0, deadline - time.monotonic()))
                    )
                if responses:  # a silent slice proves nothing: a hung server is silent too
                    self.last_exchange = time.monotonic()
                changed = any(_is_change(r) for r in responses)
        finally:
            with self._exchange():
                self.client.idle_done()
        return changed


def _is_change(response: tuple[object, ...]) -> bool:
    return len(response) >= 2 and response[1] in (b"EXISTS", b"RECENT", b"EXPUNGE", b"FETCH")


class ImapSentFolder:
    """The Sent folder over its own connection, opened when first needed."""

    def __init__(self, open_session: Callable[[], ImapSession], configured_name: str) -> None:
        self._open = open_session
        self._configured = configured_name
        self._session: ImapSession | None = None
        self._name: str | None = None

    def ready(self) -> tuple[ImapSession, str]:
        """The Sent folder's connection and name (opened and found on first use)."""
        try:
            return self._ready()
        except ImapError:
            self.close()
            raise

    def _ready(self) -> tuple[ImapSession, str]:
        if self._session is None:
            self._session = self._open()
        if self._name is None:
            self._name = self._session.find_sent_folder(self._configured)
        return self._session, self._name

    def _guard(self, action: Callable[[ImapSession, str], bool | None]) -> bool | None:
        try:
            session, name = self._ready()
            return action(session, name)
        except ImapError:
            self.close()
            raise

    def contains(self, message_id: str) -> bool:
        def check(session: ImapSession, name: str) -> bool:
            session.select(name, readonly=True)
            return bool(session.search_header("Message-ID", f"<{message_id}>"))

        return bool(self._guard(check))

    def append(self, raw: bytes, when: datetime) -> None:
        self._guard(lambda session, name: session.append(name, raw, when, [r"\Seen"]))

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
