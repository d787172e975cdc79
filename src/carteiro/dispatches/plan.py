"""What to do with each claimed dispatch, decided at fire time in one transaction.

Every check runs now, not at creation: the lead may have opted out, the window may have
closed, the hour may be outside the lead's legal contact hours, the number may be paused."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carteiro.config import Settings
from carteiro.dispatches import contact, email_channel, lifecycle, quiet, zones
from carteiro.dispatches.models import ContactConsent, Disparo
from carteiro.errors import CarteiroError
from carteiro.leads.models import Lead, LeadTelefone
from carteiro.whatsapp import service as whatsapp
from carteiro.whatsapp import templates as wa_templates
from carteiro.whatsapp.models import WhatsAppNumber, WhatsAppTemplate
from carteiro.whatsapp.provider import TemplateMessage

RESEND_AFTER_AMBIGUITY = ("transacional", "agendamento")


@dataclass(frozen=True)
class Job:
    """One provider call to make, at `slot` at the earliest."""

    disparo_id: int
    lead_id: int | None
    number: WhatsAppNumber
    to: str
    correlation: str
    slot: datetime
    text: str | None = None
    template: TemplateMessage | None = None

    @property
    def sent_as(self) -> str:
        return "text" if self.text is not None else "template"


def policy_for(d: Disparo, settings: Settings) -> str:
    if d.quiet_policy:
        return d.quiet_policy
    if d.purpose == "cobranca":
        return settings.dispatch_quiet_policy_cobranca
    if d.purpose == "marketing":
        return "comercial"
    return "none"


def cap_for(purpose: str, settings: Settings) -> int:
    if purpose == "cobranca":
        return settings.dispatch_daily_cap_cobranca
    if purpose == "marketing":
        return settings.dispatch_daily_cap_marketing
    return 0


def lead_phone(session: Session, d: Disparo) -> str | None:
    if d.canal == "whatsapp":
        return d.destino
    stmt = select(LeadTelefone.telefone).where(LeadTelefone.lead_id == d.lead_id)
    return session.scalar(stmt.order_by(LeadTelefone.telefone_principal.desc()).limit(1))


class Planner:
    def __init__(self, session: Session, settings: Settings, *, worker_id: str, now: datetime):
        self.session, self.settings, self.worker_id, self.now = session, settings, worker_id, now
        self.jobs: list[Job] = []
        self.emails = 0
        self._wanting: dict[int, list[tuple[Disparo, str, str | None, TemplateMessage | None]]] = {}
        # Read once per batch rather than once per dispatch (three queries each, before).
        self._blocked: set[tuple[int, str]] = set()
        self._consents: dict[tuple[int, int, str, str], ContactConsent] = {}
        self._templates: dict[tuple[int, str], WhatsAppTemplate | None] = {}

    def plan(self, ids: list[int]) -> list[Job]:
        rows = list(self.session.scalars(select(Disparo).where(Disparo.disparo_id.in_(ids))))
        mine = [d for d in rows if d.lease_owner == self.worker_id]
        self._blocked = contact.blocked_among(self.session, values=[d.destino for d in mine])
        self._consents = contact.consents_for(
            self.session, lead_ids=[d.lead_id for d in mine if d.lead_id is not None]
        )
        for d in sorted(rows, key=lambda r: (r.run_at, r.disparo_id)):
            if d.lease_owner != self.worker_id:
                continue
            try:
                self._one(d)
            except CarteiroError as exc:
                self._fail(d, "payload", None, exc.message)
        self._reserve()
        return self.jobs

    def _fail(self, d: Disparo, cls: str, code: str | None, message: str) -> None:
        lifecycle.fail(
            self.session,
            d,
            error_class=cls,
            code=code,
            message=message,
            now=self.now,
            dead_letter_days=self.settings.dispatch_dead_letter_days,
        )

    def _skip(self, d: Disparo, reason: str) -> None:
        d.status, d.mensagem_erro, d.data_retorno = "cancelado", reason, self.now
        lifecycle.record(self.session, d, "pulado", {"motivo": reason})
        d.lease_owner = d.lease_until = None

    def _later(self, d: Disparo, at: datetime, kind: str, detail: dict[str, str]) -> None:
        d.run_at = at
        d.lease_owner = d.lease_until = None
        lifecycle.record(self.session, d, kind, {**detail, "ate": at.isoformat()})

    def _one(self, d: Disparo) -> None:
        if d.inflight_at is not None:
            # A worker died during its provider call: the message may have left. Wait for a
            # status webhook with its correlation id instead of sending it again.
            d.awaiting_until = d.inflight_at + timedelta(
                seconds=self.settings.whatsapp_ambiguous_wait_seconds
            )
            d.inflight_at = None
            self._later(d, d.awaiting_until, "ambiguo", {"motivo": "worker lost mid-send"})
            return
        if d.awaiting_until is not None and self._resend_after_ambiguity(d):
            d.awaiting_until = None
            lifecycle.record(self.session, d, "reenvio", {"motivo": "no status webhook came"})
        if d.awaiting_until is not None:
            self._fail(
                d,
                "ambiguous",
                "timeout",
                "the provider may have accepted this message but no status webhook confirmed it "
                "in time; not re-sent, to avoid a duplicate (requeue it if it never arrived)",
            )
            return
        if d.not_after is not None and self.now >= d.not_after:
            self._skip(d, "nao_enviar_apos passed before it could be sent")
            return
        if (d.tenant_id, contact.blocking_key(d.destino)) in self._blocked:
            self._fail(d, "opt_out", None, f"{d.destino} is on the do-not-contact list")
            return
        lead_id = d.lead_id
        refusal = lead_id is not None and contact.refusal_of(
            self._consents.get((d.tenant_id, lead_id, d.canal, d.purpose)),
            canal=d.canal,
            purpose=d.purpose,
        )
        if refusal:
            self._fail(d, "consent", None, str(refusal))
            return
        if not self._in_hours(d):
            return
        cap = cap_for(d.purpose, self.settings)
        if (
            cap
            and lead_id is not None
            and contact.sent_recently(
                self.session,
                tenant_id=d.tenant_id,
                lead_id=lead_id,
                purpose=d.purpose,
                now=self.now,
            )
            >= cap
        ):
            self._fail(d, "frequency_cap", None, f"at most {cap} {d.purpose} dispatches a day")
            return
        if d.canal == "email":
            lead = self.session.get(Lead, lead_id) if lead_id is not None else None
            d.tentativas += 1
            d.email_message_id = email_channel.enqueue(
                self.session, d=d, lead=lead, settings=self.settings
            )
            d.lease_owner = d.lease_until = None
            lifecycle.record(self.session, d, "email_enfileirado", {"email_id": d.email_message_id})
            self.emails += 1
            return
        self._whatsapp(d)

    def _resend_after_ambiguity(self, d: Disparo) -> bool:
        """No webhook settled an ambiguous attempt: a transactional message or a reminder is
        sent again (a duplicate at worst), a collection or marketing one is not (a duplicate
        collection message is itself a risk under CDC art. 42)."""
        return d.purpose in RESEND_AFTER_AMBIGUITY and d.tentativas < d.max_tentativas

    def _in_hours(self, d: Disparo) -> bool:
        phone = lead_phone(self.session, d)
        uf = zones.uf_of_phone(phone)
        zone = zones.zone_of(uf, self.settings.default_timezone)
        d.timezone = zone.key
        verdict = quiet.evaluate(policy_for(d, self.settings), at=self.now, zone=zone, uf=uf)
        if verdict.allowed:
            return True
        reason = f"outside contact hours in {zone.key}" + (f" ({uf})" if uf else "")
        if d.on_quiet == "fail" or verdict.next_open is None:
            self._fail(d, "quiet_hours", None, reason)
            return False
        opens = quiet.jittered(verdict.next_open, self.settings.dispatch_quiet_jitter_seconds)
        if d.on_quiet == "skip" or (d.not_after is not None and opens >= d.not_after):
            self._skip(d, reason)
            return False
        d.deferred_from = d.deferred_from or d.run_at
        self._later(d, opens, "adiado", {"motivo": reason})
        return False

    def _whatsapp(self, d: Disparo) -> None:
        number = self.session.get(WhatsAppNumber, d.whatsapp_number_id or 0)
        if number is None:
            self._fail(d, "account", None, "its WhatsApp number was removed")
            return
        if not whatsapp.usable(number, self.now):
            until = number.paused_until or self.now + timedelta(minutes=10)
            self._later(d, until, "numero_pausado", {"motivo": number.paused_reason or "paused"})
            return
        to = (d.recipient_id or d.destino).lstrip("+")
        pair = timedelta(seconds=number.pair_interval_seconds)
        last = None
        if pair:
            last = self.session.scalar(
                select(func.max(Disparo.data_envio)).where(
                    Disparo.tenant_id == d.tenant_id,
                    Disparo.destino == d.destino,
                    Disparo.whatsapp_number_id == number.id,
                    Disparo.data_envio > self.now - pair,
                )
            )
        if last is not None and self.now < last + pair:
            self._later(d, last + pair, "limite_par", {"motivo": "pair limit"})
            return
        text, template = self._content(d, number)
        self._wanting.setdefault(number.id, []).append((d, to, text, template))

    def _content(
        self, d: Disparo, number: WhatsAppNumber
    ) -> tuple[str | None, TemplateMessage | None]:
        payload = d.payload or {}
        texto = payload.get("texto")
        if d.sent_as == "text_only":
            return str(texto), None
        key = (d.tenant_id, d.template)
        if key not in self._templates:
            self._templates[key] = whatsapp.find_template(
                self.session, tenant_id=d.tenant_id, name=d.template
            )
        registered = self._templates[key]
        if registered is None:
            raise CarteiroError(f"template {d.template} is no longer registered")
        variables = email_channel.variables_for(None, d)
        message = wa_templates.build(registered, variables, field="payload.variaveis")
        if number.provider == "evolution":
            return (texto or wa_templates.render(registered, message)), None
        wants_text = texto and d.sent_as != "template"
        if wants_text and whatsapp.window_open(
            self.session,
            number_id=number.id,
            wa_id=d.recipient_id or d.destino.lstrip("+"),
            now=self.now,
        ):
            return texto, None
        return None, message

    def _reserve(self) -> None:
        horizon = self.settings.dispatch_lease_seconds / 2
        for number_id, wanted in self._wanting.items():
            n = self.session.get(WhatsAppNumber, number_id)
            assert n is not None
            gap = (
                self.settings.whatsapp_evolution_min_interval_seconds
                if n.provider == "evolution"
                else 0.0
            )
            slots = whatsapp.reserve_slots(
                self.session,
                number_id=number_id,
                count=len(wanted),
                min_interval=gap,
                now=self.now,
                horizon=horizon,
            )
            for i, (d, to, text, template) in enumerate(wanted):
                if i >= len(slots):
                    # No room on the number within this lease: back to the queue as it was.
                    d.lease_owner = d.lease_until = None
                    continue
                d.tentativas += 1
                d.inflight_at = self.now
                if d.sent_as != "text_only":
                    d.sent_as = "text" if text is not None else "template"
                self.jobs.append(
                    Job(
                        disparo_id=d.disparo_id,
                        lead_id=d.lead_id,
                        number=n,
                        to=to,
                        correlation=d.correlation,
                        slot=slots[i],
                        text=text,
                        template=template,
                    )
                )
