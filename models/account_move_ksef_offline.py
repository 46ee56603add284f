"""Issuing invoices offline (tryby-offline.md, digest §9): offline24, KSeF unavailability, emergency.

An invoice issued offline reaches the buyer *before* KSeF has it: printed with KOD I
(labelled OFFLINE) and KOD II (signed with the company's Offline KSeF certificate). Its FA(3)
is frozen when it is issued (``_l10n_pl_ksef_freeze_offline_fa3``), so exactly the printed
bytes are sent later, with ``offlineMode: true``, before the legal deadline:

* ``offline24`` (the taxpayer's choice): by the next business day after the issue date (P_1);
* ``offline`` (KSeF unavailability announced by the Ministry of Finance): by the next business
  day after the end of the unavailability;
* ``emergency`` (KSeF failure, "tryb awaryjny", announced by the Ministry): within 7 business
  days after the end of the failure. A failure announced while an offline24/offline invoice is
  waiting moves its deadline the same way: switch its mode to ``emergency``.

Business days skip Saturdays, Sundays and Polish public holidays.

Invoices issued offline keep ``l10n_pl_ksef_offline_mode`` for the record; once KSeF accepted
them their state is the ordinary ``accepted`` (``offline_sent`` is not used).

Technical correction (offline/korekta-techniczna.md, digest §10): when KSeF rejects an offline
invoice for a technical reason (430 schema, 440 duplicate, 450 semantic error; not for missing
permissions), the hash of the rejected file is kept in ``l10n_pl_ksef_corrected_invoice_hash``.
The user resets the invoice to draft, fixes what KSeF reported and posts it again: the invoice is
issued offline again in the same mode (new frozen FA(3), new KOD I) and sent, online and in
offline mode, with ``hashOfCorrectedInvoice``; KSeF links it to the rejected file, so the KOD I
printed on the first version leads the buyer to the corrected invoice.
"""
import datetime
import logging
import zoneinfo

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import format_date

from ..ksef_protocol import sha256_b64
from ..ksef_protocol.errors import KsefServerError, KsefTransportError

_logger = logging.getLogger(__name__)

OFFLINE_MODES = [
    ('offline24', "Offline24 (my choice)"),
    ('offline', "KSeF unavailable (announced)"),
    ('emergency', "KSeF failure (emergency mode)"),
]
#: Modes whose deadline counts from the end of an unavailability/failure, and their business days.
_DEADLINE_BUSINESS_DAYS = {'offline24': 1, 'offline': 1, 'emergency': 7}
#: KSeF states from which an invoice can be issued offline: KSeF does not hold it, nobody is sending it.
OFFLINE_ISSUABLE_STATES = ('not_sent', 'queued', 'offline_issued')
#: Offline invoices KSeF has not received yet (their deadline still matters).
OFFLINE_PENDING_STATES = ('offline_issued', 'queued')
POLAND = zoneinfo.ZoneInfo('Europe/Warsaw')
#: Invoice statuses after which KSeF accepts a technical correction of an offline invoice
#: (korekta-techniczna.md): schema (430), duplicate (440) and semantic (450) errors. Not 410
#: (permissions), nor refusals of the sending itself (KSeF never registered those files).
TECHNICAL_CORRECTION_CODES = (430, 440, 450)
#: KSeF refused the technical correction itself: already corrected (21166), original accepted (21167).
TECHNICAL_CORRECTION_REFUSED_CODES = (21166, 21167)


# ----------------------------------------------------------------------
# Business days (pure functions)
# ----------------------------------------------------------------------
def easter_sunday(year):
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 (the algorithm's own name)
    m = (a + 11 * h + 22 * l) // 451
    month = (h + l - 7 * m + 114) // 31
    day = (h + l - 7 * m + 114) % 31 + 1
    return datetime.date(year, month, day)


def polish_public_holidays(year):
    """Statutory days off work in Poland (ustawa o dniach wolnych od pracy), Sundays included."""
    easter = easter_sunday(year)
    days = {datetime.date(year, month, day) for month, day in (
        (1, 1), (1, 6), (5, 1), (5, 3), (8, 15), (11, 1), (11, 11), (12, 25), (12, 26))}
    days |= {easter, easter + datetime.timedelta(days=1),      # Easter Sunday and Monday
             easter + datetime.timedelta(days=49),             # Pentecost Sunday
             easter + datetime.timedelta(days=60)}             # Corpus Christi
    if year >= 2025:
        days.add(datetime.date(year, 12, 24))                 # Christmas Eve, a day off since 2025
    return days


def is_business_day(day):
    return day.weekday() < 5 and day not in polish_public_holidays(day.year)


def add_business_days(start, count):
    """The ``count``-th business day after ``start`` (``start`` itself never counts)."""
    day = start
    while count > 0:
        day += datetime.timedelta(days=1)
        if is_business_day(day):
            count -= 1
    return day


def offline_deadline(mode, issue_date, outage_end=None):
    """Last day to send an invoice issued offline in ``mode`` (tryby-offline.md).

    offline24 counts from the issue date (P_1); offline and emergency from the end of the
    unavailability/failure (``outage_end``; the issue date while it is not known).
    """
    if not issue_date or mode not in _DEADLINE_BUSINESS_DAYS:
        return False
    start = issue_date
    if mode != 'offline24' and outage_end:
        start = max(issue_date, outage_end)
    return add_business_days(start, _DEADLINE_BUSINESS_DAYS[mode])


def polish_today():
    """Today in Poland (KSeF and the deadlines follow the Polish calendar)."""
    return datetime.datetime.now(POLAND).date()


# ----------------------------------------------------------------------
# Company option
# ----------------------------------------------------------------------
class ResCompany(models.Model):
    _inherit = 'res.company'

    l10n_pl_ksef_offline_on_outage = fields.Boolean(
        string="Issue offline when KSeF is unreachable",
        help="When KSeF cannot be reached (outage, server errors after retries) while sending a queued "
             "invoice it has not received, issue that invoice offline (offline24) instead of only waiting: "
             "it can be printed at once with both KSeF QR codes and is sent in offline mode once KSeF "
             "answers again. Needs a valid Offline KSeF certificate.")

    def _l10n_pl_ksef_missing_offline_certificate_text(self):
        """Why KOD II cannot be signed, and where to get what is missing."""
        self.ensure_one()
        return self.env._(
            "The company %(company)s has no valid Offline KSeF certificate for the %(environment)s environment, "
            "so KOD II cannot be printed. Request a KSeF certificate of type Offline under Invoicing > KSeF > "
            "Certificates (or in the KSeF settings).",
            company=self.name, environment=self._l10n_pl_ksef_environment_label())


class ResConfigSettings(models.TransientModel):
    _inherit = 'res.config.settings'

    l10n_pl_ksef_offline_on_outage = fields.Boolean(related='company_id.l10n_pl_ksef_offline_on_outage',
                                                    readonly=False)


# ----------------------------------------------------------------------
# Invoices
# ----------------------------------------------------------------------
class AccountMove(models.Model):
    _inherit = 'account.move'

    l10n_pl_ksef_offline_mode = fields.Selection(
        OFFLINE_MODES, string="KSeF offline mode", copy=False, readonly=True, tracking=True,
        help="Set when the invoice was issued offline: it carries both KSeF QR codes and is sent to KSeF "
             "in offline mode. Kept once KSeF accepted it.")
    l10n_pl_ksef_offline_outage_end = fields.Date(
        string="End of KSeF unavailability", copy=False, readonly=True,
        help="Offline and emergency modes: the day the announced unavailability or failure of KSeF ended; "
             "the send deadline counts from it.")
    l10n_pl_ksef_offline_deadline = fields.Date(
        string="Send to KSeF by", copy=False, readonly=True, tracking=True,
        help="Legal deadline to send this invoice, issued offline, to KSeF (business days skip weekends "
             "and Polish public holidays).")
    l10n_pl_ksef_offline_warning = fields.Char(string="KSeF offline deadline warning",
                                               compute='_compute_l10n_pl_ksef_offline_warning')
    l10n_pl_ksef_corrected_invoice_hash = fields.Char(
        string="Technical correction of", copy=False, readonly=True,
        help="SHA-256 (Base64) of the offline FA(3) file KSeF rejected. The corrected invoice is sent as its "
             "technical correction, so the KOD I printed on the rejected version leads to the corrected invoice.")

    # ------------------------------------------------------------------
    # What the queue asks
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_send_in_offline_mode(self):
        """True when the invoice must be sent with ``offlineMode: true`` (it was issued offline)."""
        self.ensure_one()
        return bool(self.l10n_pl_ksef_offline_mode)

    def _l10n_pl_ksef_hash_of_corrected_invoice(self):
        """``hashOfCorrectedInvoice`` to send with this invoice: the hash of its rejected offline file
        when it is sent again as a technical correction, else None."""
        self.ensure_one()
        corrected = self.l10n_pl_ksef_corrected_invoice_hash
        if corrected and self.l10n_pl_ksef_offline_mode and corrected != self.l10n_pl_ksef_invoice_hash \
                and self.l10n_pl_ksef_state in OFFLINE_PENDING_STATES + ('sending',):
            return corrected
        return None

    def _l10n_pl_ksef_is_offline_issue(self):
        # An invoice issued offline keeps KOD II on every print, also once sent (kody-qr.md).
        return super()._l10n_pl_ksef_is_offline_issue() or bool(self.l10n_pl_ksef_offline_mode)

    @api.depends('l10n_pl_ksef_offline_mode')
    def _compute_l10n_pl_ksef_qr(self):
        return super()._compute_l10n_pl_ksef_qr()

    # ------------------------------------------------------------------
    # Banner
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_offline_mode_label(self):
        self.ensure_one()
        return dict(self._fields['l10n_pl_ksef_offline_mode']._description_selection(self.env)).get(
            self.l10n_pl_ksef_offline_mode, '')

    @api.depends('l10n_pl_ksef_offline_mode', 'l10n_pl_ksef_offline_deadline', 'l10n_pl_ksef_corrected_invoice_hash')
    def _compute_l10n_pl_ksef_next_step(self):
        super()._compute_l10n_pl_ksef_next_step()
        for move in self.filtered(lambda m: m.l10n_pl_ksef_next_step and m.l10n_pl_ksef_offline_mode):
            deadline = format_date(self.env, move.l10n_pl_ksef_offline_deadline) \
                if move.l10n_pl_ksef_offline_deadline else '?'
            if move.l10n_pl_ksef_state == 'rejected' and move.l10n_pl_ksef_corrected_invoice_hash \
                    and move.l10n_pl_ksef_status_code not in TECHNICAL_CORRECTION_REFUSED_CODES:
                move.l10n_pl_ksef_next_step = self.env._(
                    "Rejected by KSeF after being issued offline. Reset it to draft, fix what KSeF reports below "
                    "(keep the content of the invoice) and post it again: it is issued offline again and sent as "
                    "a technical correction of the rejected file. Give the buyer the new print (new KOD I); the "
                    "KOD I of the first print leads to the corrected invoice once KSeF accepts it.")
            elif move.l10n_pl_ksef_state == 'offline_issued' and move._l10n_pl_ksef_hash_of_corrected_invoice():
                move.l10n_pl_ksef_next_step = self.env._(
                    "Technical correction of the offline invoice KSeF rejected (%(mode)s): give the buyer the new "
                    "print with both KSeF QR codes. Click \"Send to KSeF\" (it is also queued automatically within "
                    "the hour when the company sends automatically).", mode=move._l10n_pl_ksef_offline_mode_label())
            elif move.l10n_pl_ksef_state == 'queued' and move._l10n_pl_ksef_hash_of_corrected_invoice():
                move.l10n_pl_ksef_next_step = self.env._(
                    "%(step)s It is sent in offline mode as a technical correction of the rejected offline file.",
                    step=move.l10n_pl_ksef_next_step)
            elif move.l10n_pl_ksef_state == 'offline_issued':
                move.l10n_pl_ksef_next_step = self.env._(
                    "Issued offline (%(mode)s): give the buyer the printed invoice with both KSeF QR codes. "
                    "It must reach KSeF by %(deadline)s: click \"Send to KSeF\" (it is also queued "
                    "automatically within the hour when the company sends automatically).",
                    mode=move._l10n_pl_ksef_offline_mode_label(), deadline=deadline)
            elif move.l10n_pl_ksef_state == 'queued':
                move.l10n_pl_ksef_next_step = self.env._(
                    "%(step)s Issued offline (%(mode)s): it is sent in offline mode and must reach KSeF "
                    "by %(deadline)s.", step=move.l10n_pl_ksef_next_step,
                    mode=move._l10n_pl_ksef_offline_mode_label(), deadline=deadline)

    @api.depends('l10n_pl_ksef_offline_mode', 'l10n_pl_ksef_offline_deadline', 'l10n_pl_ksef_state')
    def _compute_l10n_pl_ksef_offline_warning(self):
        today = polish_today()
        for move in self:
            warning = False
            deadline = move.l10n_pl_ksef_offline_deadline
            if move.l10n_pl_ksef_offline_mode and deadline and move.l10n_pl_ksef_state in OFFLINE_PENDING_STATES:
                if deadline < today:
                    warning = self.env._(
                        "The deadline to send this offline invoice to KSeF passed on %(deadline)s: send it now.",
                        deadline=format_date(self.env, deadline))
                elif deadline <= add_business_days(today, 1):
                    warning = self.env._(
                        "This offline invoice must reach KSeF by %(deadline)s.",
                        deadline=format_date(self.env, deadline))
            move.l10n_pl_ksef_offline_warning = warning

    # ------------------------------------------------------------------
    # Issuing offline
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_get_offline_blockers(self):
        """Why each invoice cannot be issued offline: ``{move: [reason, ...]}`` (only moves with reasons)."""
        blockers = {}
        for move in self:
            reasons = []
            reason = move._l10n_pl_ksef_eligibility_reason()
            if not reason and (move.l10n_pl_ksef_number or move.l10n_pl_ksef_state not in OFFLINE_ISSUABLE_STATES):
                reason = self.env._("Only invoices not sent to KSeF yet can be issued offline (KSeF status: %(state)s).",
                                    state=move._l10n_pl_ksef_state_label())
            if reason:
                reasons.append(reason)
            else:
                if not move.company_id._l10n_pl_ksef_get_offline_certificate():
                    reasons.append(move.company_id._l10n_pl_ksef_missing_offline_certificate_text())
                if not move._l10n_pl_ksef_frozen_offline_attachment():
                    reasons.extend(move._l10n_pl_ksef_check_fa3())
            if reasons:
                blockers[move] = reasons
        return blockers

    def _l10n_pl_ksef_issue_offline(self, mode, outage_end=None):
        """Issue these invoices offline in ``mode`` (or change the mode of invoices already issued
        offline and not sent yet): freeze their FA(3), compute the deadline, log it.

        Public API (the "Issue offline" wizard calls it). Raises ``UserError`` listing what is
        missing when any invoice cannot be issued offline.
        """
        self._l10n_pl_ksef_check_send_rights()
        if mode not in _DEADLINE_BUSINESS_DAYS:
            raise UserError(self.env._("Choose the offline mode: offline24, KSeF unavailable or emergency."))
        self._l10n_pl_ksef_raise_offline_blockers()
        # The queue may be sending one of them right now: never change what KSeF may be receiving.
        if self.try_lock_for_update() != self:
            raise UserError(self.env._("An invoice is being sent to KSeF right now; try again in a minute."))
        self.invalidate_recordset()
        self._l10n_pl_ksef_raise_offline_blockers()
        for move in self.sudo():
            move._l10n_pl_ksef_mark_offline(mode, outage_end)
            if not move._l10n_pl_ksef_frozen_offline_attachment():
                raise UserError(self.env._("The FA(3) XML of %(invoice)s could not be generated.",
                                           invoice=move.display_name))
        return True

    def _l10n_pl_ksef_raise_offline_blockers(self):
        blockers = self._l10n_pl_ksef_get_offline_blockers()
        if blockers:
            raise UserError(self.env._("These invoices cannot be issued offline:\n%(lines)s", lines='\n'.join(
                '%s: %s' % (move.display_name, '; '.join(reasons)) for move, reasons in blockers.items())))

    def _l10n_pl_ksef_mark_offline(self, mode, outage_end=None, reason=None):
        """Record the offline issue of one invoice KSeF does not hold (caller checked and locked it)."""
        self.ensure_one()
        outage_end = outage_end if mode != 'offline24' else False
        deadline = offline_deadline(mode, self.invoice_date, outage_end)
        first_issue = not self.l10n_pl_ksef_offline_mode
        vals = {'l10n_pl_ksef_offline_mode': mode, 'l10n_pl_ksef_offline_outage_end': outage_end or False,
                'l10n_pl_ksef_offline_deadline': deadline}
        if self.l10n_pl_ksef_state != 'queued' or first_issue:
            # Not in the queue any more: the scheduled action or "Send to KSeF" queues it again.
            vals.update({'l10n_pl_ksef_state': 'offline_issued', 'l10n_pl_ksef_session_id': False,
                         'l10n_pl_ksef_error': False, 'l10n_pl_ksef_status_code': 0})
        self.write(vals)
        self._l10n_pl_ksef_freeze_offline_fa3()
        values = {'mode': self._l10n_pl_ksef_offline_mode_label(), 'deadline': format_date(self.env, deadline)}
        if reason:
            message = self.env._(
                "KSeF could not be reached (%(reason)s): the invoice was issued offline (%(mode)s) and can be "
                "given to the buyer with both KSeF QR codes. It must reach KSeF by %(deadline)s.",
                reason=reason, **values)
        elif first_issue:
            message = self.env._(
                "Issued offline (%(mode)s): give the buyer the printed invoice with both KSeF QR codes. "
                "It must reach KSeF by %(deadline)s.", **values)
        else:
            message = self.env._("Offline mode changed to %(mode)s: it must reach KSeF by %(deadline)s.",
                                 **values)
        self._l10n_pl_ksef_log(message)

    def action_l10n_pl_ksef_issue_offline(self):
        """Open the "Issue offline" wizard (mode choice, deadline, what is missing)."""
        self._l10n_pl_ksef_check_send_rights()
        modes = set(self.mapped('l10n_pl_ksef_offline_mode')) - {False}
        context = {'default_move_ids': [fields.Command.set(self.ids)]}
        if len(modes) == 1:
            context['default_mode'] = modes.pop()
            outage_ends = set(self.mapped('l10n_pl_ksef_offline_outage_end')) - {False}
            if len(outage_ends) == 1:
                context['default_outage_end'] = fields.Date.to_string(outage_ends.pop())
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._("Issue offline"),
            'res_model': 'l10n_pl_ksef.offline.wizard',
            'view_mode': 'form',
            'target': 'new',
            'context': context,
        }

    # ------------------------------------------------------------------
    # Technical correction of a rejected offline invoice (offline/korekta-techniczna.md)
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_reject(self, code, details):
        super()._l10n_pl_ksef_reject(code, details)
        # The first rejected file is the one whose KOD I the buyer holds: a correction rejected in
        # turn is corrected again against that same file.
        if self.l10n_pl_ksef_offline_mode and code in TECHNICAL_CORRECTION_CODES \
                and self.l10n_pl_ksef_invoice_hash and not self.l10n_pl_ksef_corrected_invoice_hash:
            self.l10n_pl_ksef_corrected_invoice_hash = self.l10n_pl_ksef_invoice_hash
            self._l10n_pl_ksef_log(self.env._(
                "This invoice was issued offline: once corrected it is sent again as a technical correction of "
                "the rejected file (SHA-256 %(hash)s).", hash=self.l10n_pl_ksef_invoice_hash))

    def _l10n_pl_ksef_explain(self, code, details):
        headline = {
            21166: self.env._("KSeF already accepted a technical correction of this offline invoice (21166): "
                              "it cannot be corrected a second time."),
            21167: self.env._("KSeF accepted the offline invoice this file corrects (21167): a technical "
                              "correction is only for a rejected offline invoice."),
        }.get(code)
        if not headline:
            return super()._l10n_pl_ksef_explain(code, details)
        return '%s\n%s' % (headline, details) if details else headline

    def _l10n_pl_ksef_is_technical_correction_to_issue(self):
        """A posted offline invoice KSeF rejected, waiting to be issued again as a technical correction."""
        self.ensure_one()
        return self.state == 'posted' and self.l10n_pl_ksef_state == 'rejected' \
            and bool(self.l10n_pl_ksef_offline_mode) and bool(self.l10n_pl_ksef_corrected_invoice_hash) \
            and self.l10n_pl_ksef_status_code not in TECHNICAL_CORRECTION_REFUSED_CODES

    def _l10n_pl_ksef_get_send_blockers(self):
        blockers = super()._l10n_pl_ksef_get_send_blockers()
        for move in self.filtered(lambda m: m not in blockers and m._l10n_pl_ksef_is_technical_correction_to_issue()):
            created_at = (move.create_date or fields.Datetime.now()).replace(tzinfo=datetime.timezone.utc)
            # Unchanged since the first or the last rejected sending: KSeF would refuse it again.
            if sha256_b64(move._l10n_pl_ksef_render_fa3(created_at=created_at)) \
                    in (move.l10n_pl_ksef_corrected_invoice_hash, move.l10n_pl_ksef_invoice_hash):
                blockers[move] = [self.env._(
                    "The FA(3) file is still the one KSeF rejected. Reset the invoice to draft, fix what KSeF "
                    "reported and post it again: it is then sent as a technical correction.")]
        return blockers

    def _l10n_pl_ksef_issue_technical_correction(self):
        """Issue corrected, rejected offline invoices offline again (same mode): their new FA(3) is frozen
        (new KOD I) and sent as the technical correction of the rejected file. Invoices that cannot be
        sent (FA(3) findings, file unchanged) stay rejected; the banner says why."""
        candidates = self.filtered(lambda m: m._l10n_pl_ksef_is_technical_correction_to_issue())
        blockers = candidates._l10n_pl_ksef_get_send_blockers()
        for move in candidates.filtered(lambda m: m not in blockers).sudo():
            # The rejected file no longer describes the invoice (already released when reset to draft).
            move._l10n_pl_ksef_frozen_offline_attachment().write({'description': False})
            move.write({'l10n_pl_ksef_state': 'offline_issued', 'l10n_pl_ksef_session_id': False,
                        'l10n_pl_ksef_reference': False, 'l10n_pl_ksef_status_code': 0,
                        'l10n_pl_ksef_error': False})
            move._l10n_pl_ksef_freeze_offline_fa3()
            move._l10n_pl_ksef_log(self.env._(
                "Corrected after KSeF's rejection and issued offline again (%(mode)s): give the buyer the new "
                "print (new KOD I). It is sent as a technical correction of the rejected file.",
                mode=move._l10n_pl_ksef_offline_mode_label()))

    def _l10n_pl_ksef_queue(self):
        self._l10n_pl_ksef_check_send_rights()
        self._l10n_pl_ksef_issue_technical_correction()
        return super()._l10n_pl_ksef_queue()

    def _post(self, soft=True):
        posted = super()._post(soft=soft)
        # Posted again after a rejection, not queued automatically: printable at once with the new KOD I.
        corrections = posted.filtered(lambda m: m._l10n_pl_ksef_is_technical_correction_to_issue())
        if corrections and self.env.user.has_group('account.group_account_invoice'):
            corrections._l10n_pl_ksef_issue_technical_correction()
        return posted

    # ------------------------------------------------------------------
    # KSeF unreachable: offline24 automatically (company option)
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_explain_wait(self, company, retry):
        super()._l10n_pl_ksef_explain_wait(company, retry)
        if company.l10n_pl_ksef_offline_on_outage and isinstance(retry.error, (KsefTransportError, KsefServerError)):
            self._l10n_pl_ksef_issue_offline_on_outage(company, retry.error)

    @api.model
    def _l10n_pl_ksef_offline_candidates(self, company):
        """Queued invoices of the company that KSeF does not hold and that may be issued offline."""
        return self.search([
            ('company_id', '=', company.id), ('l10n_pl_ksef_state', '=', 'queued'),
            ('l10n_pl_ksef_offline_mode', '=', False), ('l10n_pl_ksef_number', '=', False),
            ('invoice_date', '!=', False)], order='id')

    def _l10n_pl_ksef_note_not_issued_offline(self, company):
        """Say once on each of these invoices why it was not issued offline (no Offline certificate)."""
        note = self.env._("Not issued offline automatically. %(reason)s",
                          reason=company._l10n_pl_ksef_missing_offline_certificate_text())
        for move in self.filtered(lambda m: note not in (m.l10n_pl_ksef_error or '')):
            move.l10n_pl_ksef_error = '%s\n%s' % (move.l10n_pl_ksef_error, note) if move.l10n_pl_ksef_error else note

    @api.model
    def _l10n_pl_ksef_issue_offline_on_outage(self, company, error):
        """KSeF is unreachable: issue the company's queued invoices offline (offline24).

        Only 'queued' invoices qualify: KSeF does not hold them (an uncertain sending stays
        'sending' until it is reconciled by its hash, and its bytes never change). Invoices
        whose offline24 deadline has already passed stay queued (sent late, KSeF marks them
        offline by itself).
        """
        today = polish_today()
        candidates = self._l10n_pl_ksef_offline_candidates(company)
        candidates = candidates.filtered(lambda m: offline_deadline('offline24', m.invoice_date) >= today)
        for move in candidates._l10n_pl_ksef_each_issuable_offline(company):
            move._l10n_pl_ksef_mark_offline('offline24', reason=error.message)
            _logger.info("KSeF unreachable: invoice %s issued offline (offline24)", move.id)

    def _l10n_pl_ksef_each_issuable_offline(self, company):
        """Yield each of these candidates still to be issued offline, its row locked; committed after each.

        Without an Offline certificate nothing is issued and the invoices say so instead.
        """
        if not self:
            return
        if not company._l10n_pl_ksef_get_offline_certificate():
            self._l10n_pl_ksef_note_not_issued_offline(company)
            return
        for move in self:
            if not move.try_lock_for_update():
                continue  # another worker has it
            move.invalidate_recordset()
            if move.l10n_pl_ksef_state != 'queued' or move.l10n_pl_ksef_offline_mode or move.l10n_pl_ksef_number \
                    or move._l10n_pl_ksef_check_fa3():
                continue
            yield move
            self._l10n_pl_ksef_commit()

    # ------------------------------------------------------------------
    # Scheduled action: queue offline invoices, warn before the deadline
    # ------------------------------------------------------------------
    @api.model
    def _l10n_pl_ksef_cron_offline(self):
        """Queue offline invoices of companies that send automatically; remind the responsible user of
        offline invoices whose deadline is within one business day or past."""
        moves = self.sudo().search([('l10n_pl_ksef_state', '=', 'offline_issued')])
        to_queue = moves.filtered(lambda m: m.company_id.l10n_pl_ksef_auto_send
                                  or m.company_id.l10n_pl_ksef_offline_on_outage)
        if to_queue:
            to_queue._l10n_pl_ksef_queue()
        self._l10n_pl_ksef_schedule_offline_reminders()

    @api.model
    def _l10n_pl_ksef_schedule_offline_reminders(self):
        """One to-do per offline invoice whose deadline is near (next business day) or past."""
        limit = add_business_days(polish_today(), 1)
        moves = self.sudo().search([('l10n_pl_ksef_offline_mode', '!=', False),
                                    ('l10n_pl_ksef_state', 'in', OFFLINE_PENDING_STATES),
                                    ('l10n_pl_ksef_offline_deadline', '<=', limit)])
        summary = self.env._("Send the offline invoice to KSeF")
        for move in moves:
            if move.activity_ids.filtered(lambda a: a.summary == summary):
                continue
            user = move.invoice_user_id or move.create_uid
            if not user.active or user.share:
                user = self.env.user
            move.activity_schedule(
                'mail.mail_activity_data_todo',
                date_deadline=move.l10n_pl_ksef_offline_deadline, summary=summary,
                note=self.env._("This invoice was issued offline (%(mode)s) and must reach KSeF by %(deadline)s.",
                                mode=move._l10n_pl_ksef_offline_mode_label(),
                                deadline=format_date(self.env, move.l10n_pl_ksef_offline_deadline)),
                user_id=user.id)
        # Reminders of invoices KSeF received since are done.
        received = self.env['mail.activity'].sudo().search([('res_model', '=', self._name), ('summary', '=', summary)])
        received = received.filtered(
            lambda a: self.browse(a.res_id).l10n_pl_ksef_state not in OFFLINE_PENDING_STATES + ('sending',))
        if received:
            received.action_feedback(feedback=self.env._("KSeF received the invoice."))
        return moves

