"""Invoices during an outage KSeF announces through its status service (tryby-offline.md).

Acting on ``l10n_pl_ksef.service.status`` (``ksef_service_status.py``), per company, without any request
to KSeF itself:

* **pause**: while the status is maintenance, failure or total failure the queue sends nothing, polls
  nothing (``res.company._l10n_pl_ksef_service_paused()`` at the queue's entry); the waiting invoices
  say why;
* **issue offline** (company option ``l10n_pl_ksef_offline_on_service_outage``): queued invoices are issued
  offline in the mode the situation calls for: ``offline`` (unavailability announced by the Ministry:
  maintenance) or ``emergency`` (failure), deadline from the announced end; during a **total failure**
  invoices issued since it began are issued outside KSeF (state ``outside_ksef``: no FA(3) obligation,
  no QR codes, never sent), and invoices already issued offline no longer have to be sent (their
  deadline is lifted; they are still sent once KSeF is back, so their printed KOD I verifies);
* **deadlines** (every company): an invoice issued offline follows its event: when KSeF publishes a new
  end, its deadline moves (next business day after an unavailability, 7 business days after a failure);
  a failure announced while an offline24/offline invoice waits makes it ``emergency`` (its deadline then
  counts from the failure's end), and a later failure restarts an emergency invoice's count. To-dos
  move with the deadline;
* **resume**: when KSeF is available again, invoices issued offline are queued (companies that send
  automatically or chose one of the offline options) and the queue runs at once.
"""
import datetime
import logging

from odoo import api, fields, models
from odoo.tools import format_date

from .account_move_ksef_offline import OFFLINE_PENDING_STATES, POLAND, offline_deadline, polish_today

_logger = logging.getLogger(__name__)

#: Offline mode for an outage category (tryby-offline.md): announced unavailability / failure.
MODE_OF_CATEGORY = {'maintenance': 'offline', 'failure': 'emergency'}


def _polish_day(moment):
    """Calendar day in Poland of an aware datetime (deadlines count in Polish days)."""
    return moment.astimezone(POLAND).date() if moment else None


class AccountMove(models.Model):
    _inherit = 'account.move'

    l10n_pl_ksef_state = fields.Selection(
        selection_add=[('outside_ksef', "Issued outside KSeF (total failure)")],
        ondelete={'outside_ksef': 'set default'})
    l10n_pl_ksef_outage_event = fields.Char(
        string="KSeF outage event", copy=False, readonly=True,
        help="The unavailability or failure (event of KSeF's status service) the offline deadline counts from.")

    # ------------------------------------------------------------------
    # Queue entry: nothing is sent while KSeF announces an outage
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_wait_for_service(self, company):
        """The queue's answer for a company whose KSeF announced an outage: no request, invoices say why.

        The status scheduled action triggers the queue when KSeF is available again.
        """
        record = company._l10n_pl_ksef_service_paused()
        if record:
            self._l10n_pl_ksef_apply_service_status(company, record)
        return None

    @api.model
    def _l10n_pl_ksef_apply_service_status(self, companies, record):
        """Act on KSeF's published status for ``companies`` (all on the environment of ``record``)."""
        if not record or not record._l10n_pl_ksef_is_fresh():
            return
        events = record._l10n_pl_ksef_events()
        ongoing = record.event_key if record._l10n_pl_ksef_pauses() else False
        for company in companies:
            # Scheduled actions write in the company's language and Polish time, not the cron user's.
            context = {'tz': self.env.context.get('tz') or 'Europe/Warsaw'}
            if self.env.context.get('cron_id') and company.partner_id.lang:
                context['lang'] = company.partner_id.lang
            moves = self.sudo().with_company(company).with_context(**context)
            record = record.with_context(**context)
            moves._l10n_pl_ksef_follow_outage_events(company, events, ongoing)
            if record.status in MODE_OF_CATEGORY:
                # Explained first: what keeps an invoice from being issued offline is added to it.
                moves._l10n_pl_ksef_explain_service_wait(company, record)
                if company.l10n_pl_ksef_offline_on_service_outage:
                    moves._l10n_pl_ksef_issue_offline_for_outage(company, record)
            elif record.status == 'total_failure':
                moves._l10n_pl_ksef_lift_offline_deadlines(company, record)
                if company.l10n_pl_ksef_offline_on_service_outage:
                    moves._l10n_pl_ksef_issue_outside_ksef(company, record)
                moves._l10n_pl_ksef_explain_service_wait(company, record)
            elif record.status == 'available':
                moves._l10n_pl_ksef_resume_after_outage(company)

    @api.model
    def _l10n_pl_ksef_explain_service_wait(self, company, record):
        message = self.env._("%(reason)s The invoice stays queued and is sent automatically when KSeF is "
                             "available again.", reason=record._l10n_pl_ksef_wait_reason())
        queued = self.search([('company_id', '=', company.id), ('l10n_pl_ksef_state', '=', 'queued')])
        queued.filtered(lambda m: m.l10n_pl_ksef_error != message).write({'l10n_pl_ksef_error': message})

    # ------------------------------------------------------------------
    # Issuing offline / outside KSeF
    # ------------------------------------------------------------------
    @api.model
    def _l10n_pl_ksef_issue_offline_for_outage(self, company, record):
        """Queued invoices KSeF does not hold are issued offline: 'offline' during a maintenance window,
        'emergency' during a failure; the deadline counts from the announced end (today while unknown)."""
        mode = MODE_OF_CATEGORY[record.status]
        today = polish_today()
        end_day = _polish_day(record.event_end and record.event_end.replace(tzinfo=datetime.timezone.utc)) or today
        candidates = self._l10n_pl_ksef_offline_candidates(company)
        reason = record._l10n_pl_ksef_wait_reason() if candidates else None
        for move in candidates._l10n_pl_ksef_each_issuable_offline(company):
            move.l10n_pl_ksef_outage_event = record.event_key or False
            move._l10n_pl_ksef_mark_offline(mode, end_day, reason=reason)
            _logger.info("KSeF announced %s: invoice %s issued offline (%s)", record.status, move.id, mode)

    @api.model
    def _l10n_pl_ksef_issue_outside_ksef(self, company, record):
        """Total failure: invoices issued since it began are issued outside KSeF (tryby-offline.md: any form,
        no FA(3) obligation, no QR codes, nothing to send afterwards)."""
        start_day = _polish_day(record.event_start and record.event_start.replace(tzinfo=datetime.timezone.utc))
        domain = [('company_id', '=', company.id), ('l10n_pl_ksef_state', '=', 'queued'),
                  ('l10n_pl_ksef_offline_mode', '=', False), ('l10n_pl_ksef_number', '=', False),
                  ('invoice_date', '!=', False)]
        if start_day:
            domain.append(('invoice_date', '>=', start_day))
        for move in self.search(domain, order='id'):
            if not move.try_lock_for_update():
                continue
            move.invalidate_recordset()
            if move.l10n_pl_ksef_state != 'queued' or move.l10n_pl_ksef_number:
                continue
            move.write({'l10n_pl_ksef_state': 'outside_ksef', 'l10n_pl_ksef_error': False,
                        'l10n_pl_ksef_session_id': False, 'l10n_pl_ksef_outage_event': record.event_key or False})
            move._l10n_pl_ksef_log(self.env._(
                "KSeF announced a total failure: the invoice is issued outside KSeF. Give it to the buyer on paper "
                "or as PDF (it carries no KSeF QR code); it is not sent to KSeF, not even after the failure."))
            self._l10n_pl_ksef_commit()

    @api.model
    def _l10n_pl_ksef_lift_offline_deadlines(self, company, record):
        """Total failure: the obligation to send invoices issued offline is lifted (tryby-offline.md)."""
        pending = self.search([('company_id', '=', company.id), ('l10n_pl_ksef_offline_mode', '!=', False),
                               ('l10n_pl_ksef_state', 'in', OFFLINE_PENDING_STATES),
                               ('l10n_pl_ksef_offline_deadline', '!=', False)])
        for move in pending:
            if not move._l10n_pl_ksef_lock_pending():
                continue
            move.write({'l10n_pl_ksef_offline_deadline': False,
                        'l10n_pl_ksef_outage_event': record.event_key or False})
            move._l10n_pl_ksef_log(self.env._(
                "KSeF announced a total failure: this invoice issued offline no longer has to be sent to KSeF. "
                "It is still sent once KSeF is available again, so the KOD I printed on it can be verified."))
            move._l10n_pl_ksef_reminders().action_feedback(feedback=self.env._(
                "KSeF announced a total failure: no deadline any more."))

    # ------------------------------------------------------------------
    # Deadlines follow the events KSeF publishes
    # ------------------------------------------------------------------
    @api.model
    def _l10n_pl_ksef_follow_outage_events(self, company, events, ongoing=False):
        """Deadlines of the company's pending offline invoices follow the events (``ongoing``: the key of
        the event behind the current outage status; it lasts at least until today, whatever end it announced)."""
        pending = self.search([('company_id', '=', company.id), ('l10n_pl_ksef_offline_mode', '!=', False),
                               ('l10n_pl_ksef_state', 'in', OFFLINE_PENDING_STATES),
                               ('l10n_pl_ksef_offline_deadline', '!=', False)])
        if not pending:
            return
        now = datetime.datetime.now(datetime.timezone.utc)
        today = polish_today()
        position = {event['key']: index for index, event in enumerate(events)}
        for index, event in enumerate(events):
            mode = MODE_OF_CATEGORY.get(event['category'])
            if not mode or (event['start'] and event['start'] > now):
                continue  # total failures lift deadlines instead; announcements ahead do nothing yet
            start_day = _polish_day(event['start']) or today
            # While an outage lasts without an announced end, or beyond it, it lasts at least until today.
            end_day = _polish_day(event['end']) or today
            if event['key'] == ongoing:
                end_day = max(end_day, today)
            for move in pending:
                if move.l10n_pl_ksef_outage_event == event['key']:
                    if move.l10n_pl_ksef_offline_outage_end != end_day and move._l10n_pl_ksef_lock_pending():
                        move._l10n_pl_ksef_follow_event(move.l10n_pl_ksef_offline_mode, event['key'], end_day)
                elif mode == 'emergency' and position.get(move.l10n_pl_ksef_outage_event, -1) < index \
                        and move.l10n_pl_ksef_offline_deadline >= start_day and move.invoice_date <= end_day \
                        and move._l10n_pl_ksef_lock_pending():
                    # A failure announced while the invoice waits: 7 business days from its end, and a
                    # later failure restarts the count (tryby-offline.md).
                    move._l10n_pl_ksef_follow_event('emergency', event['key'], end_day)

    def _l10n_pl_ksef_lock_pending(self):
        """Lock a pending offline invoice before changing it; False when the queue holds it (next run)."""
        self.ensure_one()
        if not self.try_lock_for_update():
            return False
        self.invalidate_recordset()
        return self.l10n_pl_ksef_state in OFFLINE_PENDING_STATES and bool(self.l10n_pl_ksef_offline_deadline)

    def _l10n_pl_ksef_follow_event(self, mode, event_key, end_day):
        self.ensure_one()
        deadline = offline_deadline(mode, self.invoice_date, end_day)
        mode_changed = mode != self.l10n_pl_ksef_offline_mode
        self.write({'l10n_pl_ksef_offline_mode': mode, 'l10n_pl_ksef_offline_outage_end': end_day,
                    'l10n_pl_ksef_offline_deadline': deadline, 'l10n_pl_ksef_outage_event': event_key})
        values = {'mode': self._l10n_pl_ksef_offline_mode_label(), 'end': format_date(self.env, end_day),
                  'deadline': format_date(self.env, deadline)}
        if mode_changed:
            message = self.env._("KSeF announced a failure while this offline invoice waits: it follows the "
                                 "%(mode)s rules now and must reach KSeF by %(deadline)s (end of the failure: "
                                 "%(end)s).", **values)
        else:
            message = self.env._("KSeF published a new end of the outage (%(end)s): the invoice must reach KSeF "
                                 "by %(deadline)s.", **values)
        self._l10n_pl_ksef_log(message)
        reminders = self._l10n_pl_ksef_reminders()
        if reminders:
            reminders.write({'date_deadline': deadline})

    def _l10n_pl_ksef_reminders(self):
        """The open to-dos "Send the offline invoice to KSeF" of these invoices."""
        summary = self.env._("Send the offline invoice to KSeF")
        return self.activity_ids.filtered(lambda a: a.summary == summary)

    # ------------------------------------------------------------------
    # KSeF available again
    # ------------------------------------------------------------------
    @api.model
    def _l10n_pl_ksef_resume_after_outage(self, company):
        """Queue the invoices issued offline (when the company lets them go by themselves) and run the queue."""
        if company.l10n_pl_ksef_auto_send or company.l10n_pl_ksef_offline_on_outage \
                or company.l10n_pl_ksef_offline_on_service_outage:
            offline = self.search([('company_id', '=', company.id), ('l10n_pl_ksef_state', '=', 'offline_issued')])
            if offline:
                offline._l10n_pl_ksef_queue()
        if self.search_count([('company_id', '=', company.id), ('l10n_pl_ksef_state', '=', 'queued')], limit=1):
            self._l10n_pl_ksef_trigger_cron()

    # ------------------------------------------------------------------
    # Banner
    # ------------------------------------------------------------------
    @api.depends('l10n_pl_ksef_state')
    def _compute_l10n_pl_ksef_next_step(self):
        super()._compute_l10n_pl_ksef_next_step()
        for move in self.filtered(lambda m: m.l10n_pl_ksef_applicable and m.l10n_pl_ksef_state == 'outside_ksef'):
            move.l10n_pl_ksef_next_step = self.env._(
                "Issued outside KSeF during the total failure KSeF announced: give the buyer the invoice on paper "
                "or as PDF, without KSeF QR codes. It does not have to be sent to KSeF.")
