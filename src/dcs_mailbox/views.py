"""What agents read in the terminal: French labels, Paris time."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from zoneinfo import ZoneInfo

from dcs_mailbox.store.queries import RequestDetail, RequestSummary

SCOPE_FR = {"in": "dans le périmètre", "out": "hors périmètre", "uncertain": "incertain"}
STATUS_FR = {
    "received": "reçue",
    "acknowledged": "accusé envoyé",
    "answered": "répondue",
    "referred": "orientée",
    "closed": "close",
    "not_a_request": "pas une saisine",
}
EVENT_FR = {
    "received": "Saisine reçue",
    "acknowledgement_queued": "Accusé de réception mis en file",
    "acknowledgement_sent": "Accusé de réception envoyé",
    "acknowledgement_delayed": "Envoi de l'accusé retardé",
    "acknowledgement_failed": "Envoi de l'accusé impossible",
    "acknowledgement_withheld": "Pas d'accusé de réception",
    "followup_received": "Message de suivi reçu",
    "auto_reply_received": "Réponse automatique reçue",
    "bounce_received": "Avis de non-remise reçu",
    "other_received": "Message lié reçu",
    "urgent_alert_queued": "Alerte urgente mise en file",
    "urgent_alert_sent": "Alerte urgente envoyée à la permanence",
    "urgent_alert_delayed": "Envoi de l'alerte urgente retardé",
    "urgent_alert_failed": "Envoi de l'alerte urgente impossible",
    "agent_correction": "Correction par un agent",
    "answer_sent": "Réponse envoyée au demandeur",
    "referred": "Orientée vers un service",
    "agent_mail_sent": "Courriel d'un agent",
    "agent_close": "Close par un agent (étiquette)",
    "agent_refer": "Orientée par un agent (étiquette)",
    "agent_not_a_request": "Marquée « pas une saisine » (étiquette)",
    "phone_call_logged": "Appel téléphonique enregistré",
}


def _paris(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%d/%m/%Y %H:%M") if moment else "—"


def requests_table(rows: list[RequestSummary], zone: ZoneInfo) -> str:
    if not rows:
        return "Aucune saisine enregistrée."
    lines = [f"{'Référence':<16} {'Reçue le':<16} {'État':<14} {'Demandeur':<32} Objet"]
    for r in rows:
        lines.append(
            f"{r.reference:<16} {_paris(r.received_at, zone):<16} "
            f"{STATUS_FR.get(r.status, r.status):<14} {_who(r)[:32]:<32} "
            f"{r.subject[:60]}"
        )
    return "\n".join(lines)


def _who(r: RequestSummary) -> str:
    if r.medium == "phone":
        return f"{r.requester_name} (tél.)"
    return r.requester_address or "—"


def request_text(detail: RequestDetail, zone: ZoneInfo) -> str:
    s = detail.summary
    out = [
        f"Saisine {s.reference} (canal {s.channel})",
        f"  Demandeur : {s.requester_name} "
        + ("(par téléphone)" if s.medium == "phone" else f"<{s.requester_address or '—'}>"),
        f"  Objet     : {s.subject}",
        f"  Reçue le  : {_paris(s.received_at, zone)}",
        f"  État      : {STATUS_FR.get(s.status, s.status)}",
        f"  Accusé    : {_paris(s.acknowledged_at, zone)}",
        f"  Réponse   : {_paris(s.answered_at, zone)}"
        + (
            f" · orientée le {_paris(s.referred_at, zone)}"
            f" ({s.referred_service or 'service non précisé'})"
            if s.referred_at
            else ""
        )
        + (f" · close le {_paris(s.closed_at, zone)}" if s.closed_at else ""),
        f"  Membre    : {'oui' if s.member else 'non'}"
        f"{f' ({s.member_company})' if s.member_company else ''}",
        f"  Périmètre : {SCOPE_FR.get(s.scope, s.scope)}{f' [{s.category}]' if s.category else ''}"
        f"{f' — service compétent suggéré : {s.service}' if s.service else ''}",
        f"  Données personnelles : {'oui' if s.personal_data else 'non'}"
        f" · Urgent : {'oui' if s.urgent else 'non'}",
        "",
        "Chronologie :",
    ]
    for event in detail.events:
        label = EVENT_FR.get(event.type, event.type)
        out.append(f"  {_paris(event.at, zone)}  {label}{_event_suffix(event.detail)}")
    reasons = [r for m in detail.messages[:1] for r in m.reasons]
    if reasons:
        out += ["", "Motifs du tri :"]
        out += [f"  - {r.get('detail', '')} [{r.get('rule', '')}]" for r in reasons]
    return "\n".join(out)


def _event_suffix(detail: dict[str, object]) -> str:
    changes = detail.get("changes")
    if isinstance(changes, dict):
        text = ", ".join(f"{k} {v[0]} → {v[1]}" for k, v in changes.items())
        return f" ({detail.get('agent', '')}) : {text} — « {detail.get('reason', '')} »"
    if detail.get("delay_hours") is not None:
        return f" → {detail.get('to', '')} (délai : {detail['delay_hours']} h)"
    if "service" in detail:
        return f" → {detail['service']}"
    if "tag" in detail:
        return f" : « {detail['tag']} »"
    if "company" in detail and "agent" in detail:
        return f" ({detail['agent']}) : {detail['company']}"
    if "to" in detail:
        return f" → {detail['to']}"
    reason = detail.get("reason")
    if isinstance(reason, dict):
        return f" : {reason.get('detail', '')}"
    if "error" in detail:
        return f" : {detail['error']}"
    if "from" in detail:
        return f" ← {detail['from']}"
    return ""


def to_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=_default)


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)  # type: ignore[call-overload]
    raise TypeError(f"cannot serialise {type(value).__name__}")
