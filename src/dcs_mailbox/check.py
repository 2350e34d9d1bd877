"""`dcs-mailbox check`: is this configuration able to work? Each step reported on its own line."""

from __future__ import annotations

from collections.abc import Callable

from dcs_mailbox.config import Settings
from dcs_mailbox.errors import DcsMailboxError


def run_checks(settings: Settings) -> int:
    steps: list[tuple[str, Callable[[], str]]] = [
        ("configuration", lambda: f"{len(settings.channels)} channel(s)"),
        ("database", lambda: _database(settings)),
        ("templates", lambda: _templates(settings)),
        ("IMAP", lambda: _imap(settings)),
        ("SMTP", lambda: _smtp(settings)),
    ]
    failures = 0
    for name, step in steps:
        try:
            print(f"[ ok ] {name}: {step()}")
        except DcsMailboxError as exc:
            failures += 1
            print(f"[FAIL] {name}: {exc}")
    return 1 if failures else 0


def _database(settings: Settings) -> str:
    from dcs_mailbox.store.db import make_engine, require_current_schema

    engine = make_engine(settings.database_url)
    try:
        require_current_schema(engine)
    finally:
        engine.dispose()
    return f"schema up to date ({engine.url.render_as_string(hide_password=True)})"


def _templates(settings: Settings) -> str:
    from dcs_mailbox.outbound.render import TemplateRenderer

    renderer = TemplateRenderer(settings.service.templates_dir, settings.service.zone)
    for channel in settings.channels:
        for name in ("subject.txt.j2", "body.txt.j2", "body.html.j2"):
            renderer.env.get_template(f"{channel.template}/{name}")
    return f"found in {settings.service.templates_dir}"


def _imap(settings: Settings) -> str:
    from dcs_mailbox.intake.imap import ImapSession, connect

    if settings.imap is None:
        return "not configured (no [imap] section): only `ingest` can be used"
    imap = settings.imap
    where = f"{imap.host}:{imap.port}"
    with ImapSession(connect(imap, imap.resolve("imap")), where) as session:
        state = session.select(imap.inbox, readonly=True)
        sent = session.find_sent_folder(imap.sent_folder)
        idle = "IDLE" if session.has_idle() else "no IDLE: polling"
    return (
        f"logged in to {where} as {imap.username}; {imap.inbox} holds {state.exists} "
        f"message(s); Sent folder {sent!r}; {idle}"
    )


def _smtp(settings: Settings) -> str:
    from dcs_mailbox.outbound.smtp import SmtpSender

    if settings.smtp is None:
        return "not configured (no [smtp] section): acknowledgements cannot be sent"
    smtp = settings.smtp
    sender = SmtpSender(smtp, smtp.resolve("smtp"))
    try:
        sender.connect()
    finally:
        sender.close()
    login = f" as {smtp.username}" if smtp.username else ""
    return f"connected to {smtp.host}:{smtp.port} ({smtp.security.value}){login}"
