"""The KSeF queue: send queued invoices, follow their status, fetch UPOs, close sessions.

Guarantees:
* an invoice is sent at most once: its row is locked, and the 'sending' state with the
  hash of the exact XML is committed *before* the HTTP call; after an uncertain outcome
  the session's invoice list is searched for that hash before anything is sent again;
* nothing is forgotten: every state short of final is picked up by the next run, and
  transport errors leave invoices queued with a readable message.
"""
import datetime
import logging

from odoo import api, fields, models, modules
from odoo.exceptions import UserError
from odoo.tools import config

from ..ksef_protocol import sha256_b64
from ..ksef_protocol.errors import (KsefBadRequest, KsefError, KsefHttpError, KsefRateLimited,
                                    KsefServerError, KsefTransportError, KsefUnauthorized)

_logger = logging.getLogger(__name__)

#: Invoices sent per company and run (the cron re-triggers itself when more remain).
SEND_BATCH_SIZE = 50
#: Invoice status codes: 100 received, 150 processing, 200 accepted, 440 duplicate.
INVOICE_PENDING_CODES = (100, 150)
INVOICE_ACCEPTED = 200
INVOICE_DUPLICATE = 440
#: Accepted invoices still waiting for their UPO (an outage interrupted the download).
_UPO_MISSING_DOMAIN = [('l10n_pl_ksef_state', '=', 'accepted'), ('l10n_pl_ksef_upo_attachment_id', '=', False),
                       ('l10n_pl_ksef_session_id', '!=', False), ('l10n_pl_ksef_error', '=', False)]
#: How soon the cron looks again while KSeF is still verifying invoices or closing sessions.
FOLLOW_UP_DELAY = datetime.timedelta(minutes=1)


class _RetryLater(Exception):
    """Stop this company's run: KSeF is unreachable or asked to wait (``retry_after`` seconds)."""

    def __init__(self, error=None, retry_after=None):
        super().__init__()
        self.error = error
        self.retry_after = retry_after


def _can_commit():
    """Commit between invoices in real runs; never inside tests (they roll back)."""
    return not config['test_enable'] and not modules.module.current_test


def _error_text(error):
    """Readable text of a protocol error: the KSeF codes with their details, never secrets."""
    if error.errors:
        return '\n'.join('%s %s%s' % (e.code, e.description, (': ' + '; '.join(e.details)) if e.details else '')
                         for e in error.errors)
    return error.message


class AccountMove(models.Model):
    _inherit = 'account.move'

    # ------------------------------------------------------------------
    # Entry points
    # ------------------------------------------------------------------
    @api.model
    def _l10n_pl_ksef_cron_process_queue(self):
        """Scheduled action: process the queue of every company, then re-trigger as needed."""
        result = self._l10n_pl_ksef_process_queue()
        if result['retry_at']:
            self._l10n_pl_ksef_trigger_cron(at=result['retry_at'])

    @api.model
    def _l10n_pl_ksef_process_queue(self, companies=None):
        """Process the KSeF queue; public API used by the cron, scripts and tests.

        For each company (default: every company with KSeF work): reconcile invoices whose
        sending had an uncertain outcome, send queued invoices in an open session (opened or
        re-used), follow sent invoices until KSeF accepts or rejects them, attach their UPO,
        close idle or nearly expired sessions and attach their collective UPO.

        :param companies: ``res.company`` records to process (default: all with work).
        :returns: ``{'retry_at': datetime | None, 'retry_after': float | None}``; ``retry_at`` is
            when the queue should run again (KSeF asked to wait, or work remains).
        """
        self = self.sudo()
        if companies is None:
            companies = self._l10n_pl_ksef_companies_with_work()
        retry_at = None
        retry_after = None
        for company in companies:
            company_retry = self.with_company(company)._l10n_pl_ksef_process_company(company)
            if company_retry:
                retry_after = max(retry_after or 0, company_retry.get('retry_after') or 0) or retry_after
                retry_at = min(retry_at or company_retry['retry_at'], company_retry['retry_at'])
        return {'retry_at': retry_at, 'retry_after': retry_after}

    @api.model
    def _l10n_pl_ksef_companies_with_work(self):
        moves = self.search([('l10n_pl_ksef_state', 'in', ('queued', 'sending', 'sent'))])
        sessions = self.env['ksef.session'].search([('state', 'in', ('open', 'closing'))])
        return moves.company_id | sessions.company_id

    def _l10n_pl_ksef_process_company(self, company):
        """One company's run; returns ``None`` or ``{'retry_at', 'retry_after'}``."""
        if company._l10n_pl_ksef_service_paused():  # KSeF announced an outage: not a single request
            return self._l10n_pl_ksef_wait_for_service(company)
        try:
            try:
                self._l10n_pl_ksef_run_steps(company)
            except KsefUnauthorized:
                # The stored access token was revoked or expired early: authenticate again, once.
                company._l10n_pl_ksef_forget_access_token()
                self._l10n_pl_ksef_run_steps(company)
        except _RetryLater as retry:
            delay = retry.retry_after or company.l10n_pl_ksef_poll_interval * 60 or 300
            self._l10n_pl_ksef_explain_wait(company, retry)
            return {'retry_at': fields.Datetime.now() + datetime.timedelta(seconds=delay),
                    'retry_after': retry.retry_after}
        except (UserError, KsefError) as error:
            # Settings or credentials problem (or KSeF refusing us): every waiting invoice says so.
            message = error.args[0] if isinstance(error, UserError) else _error_text(error)
            waiting = self.search([('company_id', '=', company.id),
                                   ('l10n_pl_ksef_state', 'in', ('queued', 'sending', 'sent'))])
            waiting.filtered(lambda m: m.l10n_pl_ksef_error != message).write({'l10n_pl_ksef_error': message})
            _logger.info("KSeF queue of company %s stopped: %s", company.id, message)
            return None
        if self.search_count([('company_id', '=', company.id), ('l10n_pl_ksef_state', '=', 'queued')]):
            # More than one batch was queued: carry on right away.
            return {'retry_at': fields.Datetime.now(), 'retry_after': None}
        remaining = self.search_count([('company_id', '=', company.id),
                                       ('l10n_pl_ksef_state', 'in', ('sending', 'sent'))])
        sessions_left = self.env['ksef.session'].search_count([('company_id', '=', company.id),
                                                               ('state', '=', 'closing')])
        if remaining or sessions_left:
            return {'retry_at': fields.Datetime.now() + FOLLOW_UP_DELAY, 'retry_after': None}
        return None

    def _l10n_pl_ksef_explain_wait(self, company, retry):
        """Tell queued invoices why they are still waiting (outage or KSeF's request to slow down)."""
        if isinstance(retry.error, KsefRateLimited):
            message = self.env._(
                "KSeF asked to wait (too many requests); the invoice stays queued and is sent automatically "
                "in %(seconds)s seconds.", seconds=int(retry.retry_after or 0) or '?')
        else:
            message = self.env._(
                "KSeF is not reachable right now; the invoice stays queued and is sent automatically later. "
                "(%(error)s)", error=retry.error and _error_text(retry.error) or '')
        queued = self.search([('company_id', '=', company.id), ('l10n_pl_ksef_state', '=', 'queued')])
        queued.filtered(lambda m: m.l10n_pl_ksef_error != message).write({'l10n_pl_ksef_error': message})

    def _l10n_pl_ksef_run_steps(self, company):
        domain = [('company_id', '=', company.id)]
        has_work = self.search_count(domain + [('l10n_pl_ksef_state', 'in', ('queued', 'sending', 'sent'))]) \
            or self.search_count(domain + _UPO_MISSING_DOMAIN)
        sessions = self.env['ksef.session'].search(domain + [('state', 'in', ('open', 'closing'))])
        if not has_work and not sessions:
            return
        client = self._l10n_pl_ksef_call(company._l10n_pl_ksef_get_client)
        self.search(domain + [('l10n_pl_ksef_state', '=', 'sending')])._l10n_pl_ksef_reconcile(client)
        queued = self.search(domain + [('l10n_pl_ksef_state', '=', 'queued')], order='id', limit=SEND_BATCH_SIZE)
        if queued:
            queued._l10n_pl_ksef_send(client, company)
        self.search(domain + [('l10n_pl_ksef_state', '=', 'sent')])._l10n_pl_ksef_poll(client)
        # A UPO download interrupted by an outage is retried: no accepted invoice stays without one.
        for move in self.search(domain + _UPO_MISSING_DOMAIN, limit=SEND_BATCH_SIZE):
            move._l10n_pl_ksef_try_fetch_upo(client)
            self._l10n_pl_ksef_commit()
        self._l10n_pl_ksef_maintain_sessions(company, client)

    @api.model
    def _l10n_pl_ksef_call(self, function, *args, **kwargs):
        """Run a protocol call; outages and rate limits become :class:`_RetryLater`."""
        try:
            return function(*args, **kwargs)
        except KsefRateLimited as error:
            raise _RetryLater(error, error.retry_after) from error
        except (KsefTransportError, KsefServerError) as error:
            _logger.info("KSeF unreachable: %s", error.message)
            raise _RetryLater(error) from error

    @api.model
    def _l10n_pl_ksef_commit(self, processed=1):
        if _can_commit():
            self.env['ir.cron']._commit_progress(processed)

    # ------------------------------------------------------------------
    # Sending
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_send(self, client, company):
        """Send queued invoices of ``company``; each committed before and after its HTTP call.

        The session is opened (or re-used) only once an invoice passed its FA(3) check.
        """
        session = key = None
        for move in self:
            if not move.try_lock_for_update():
                continue  # another worker is on it
            move.invalidate_recordset()
            if move.l10n_pl_ksef_state != 'queued':
                continue
            findings = move._l10n_pl_ksef_check_fa3()
            if findings:
                move.write({'l10n_pl_ksef_state': 'not_sent', 'l10n_pl_ksef_error': '\n'.join(findings)})
                move._l10n_pl_ksef_log(self.env._("Not sent to KSeF: the FA(3) XML is not valid."),
                                       '; '.join(findings))
                self._l10n_pl_ksef_commit()
                continue
            if session is None:
                session = self._l10n_pl_ksef_call(self.env['ksef.session']._get_or_open_session, company, client)
                key = session._get_session_key()
            xml = move._l10n_pl_ksef_render_fa3()
            attachment = self.env['ir.attachment'].create({
                'name': move._l10n_pl_ksef_fa3_filename(),
                'raw': xml,
                'mimetype': 'application/xml',
                'res_model': move._name,
                'res_id': move.id,
            })
            move.write({
                'l10n_pl_ksef_state': 'sending',
                'l10n_pl_ksef_session_id': session.id,
                'l10n_pl_ksef_invoice_hash': sha256_b64(xml),
                'l10n_pl_ksef_invoice_size': len(xml),
                'l10n_pl_ksef_xml_attachment_id': attachment.id,
                'l10n_pl_ksef_error': False,
            })
            session.last_used = fields.Datetime.now()
            # From here on KSeF may hold the invoice: this state must survive a crash.
            self._l10n_pl_ksef_commit(0)
            try:
                sent = client.send_invoice(session.reference_number, key, xml,
                                           offline_mode=move._l10n_pl_ksef_send_in_offline_mode(),
                                           hash_of_corrected_invoice=move._l10n_pl_ksef_hash_of_corrected_invoice())
            except (KsefTransportError, KsefServerError) as error:
                if error.may_have_been_accepted:
                    move.l10n_pl_ksef_error = self.env._(
                        "KSeF did not confirm receipt (%(error)s). The next run checks whether it arrived "
                        "before sending again.", error=error.message)
                else:
                    move._l10n_pl_ksef_back_to_queue(error)
                self._l10n_pl_ksef_commit()
                raise _RetryLater(error) from error
            except KsefRateLimited as error:
                move._l10n_pl_ksef_back_to_queue(error)
                self._l10n_pl_ksef_commit()
                raise _RetryLater(error, error.retry_after) from error
            except KsefUnauthorized:
                move._l10n_pl_ksef_back_to_queue(None)
                raise
            except KsefBadRequest as error:
                move._l10n_pl_ksef_reject(error.errors and error.errors[0].code or 400, _error_text(error))
                self._l10n_pl_ksef_commit()
                continue
            move._l10n_pl_ksef_mark_sent(sent.reference_number)
            self._l10n_pl_ksef_commit()

    def _l10n_pl_ksef_back_to_queue(self, error):
        vals = {'l10n_pl_ksef_state': 'queued', 'l10n_pl_ksef_session_id': False}
        if error is not None:
            vals['l10n_pl_ksef_error'] = self.env._(
                "KSeF is not reachable right now; the invoice stays queued and is sent automatically later. "
                "(%(error)s)", error=_error_text(error))
        self.write(vals)

    def _l10n_pl_ksef_mark_sent(self, reference):
        self.write({'l10n_pl_ksef_state': 'sent', 'l10n_pl_ksef_reference': reference,
                    'l10n_pl_ksef_sent_date': fields.Datetime.now(), 'l10n_pl_ksef_error': False})
        self._l10n_pl_ksef_log(self.env._("Sent to KSeF (reference %(ref)s).", ref=reference))

    def _l10n_pl_ksef_reconcile(self, client):
        """Invoices whose sending had an uncertain outcome: adopt KSeF's copy, or queue them again."""
        for move in self:
            if not move.try_lock_for_update():
                continue
            session = move.l10n_pl_ksef_session_id
            found = None
            if session.reference_number and move.l10n_pl_ksef_invoice_hash:
                found = self._l10n_pl_ksef_call(client.find_session_invoice_by_hash,
                                                session.reference_number, move.l10n_pl_ksef_invoice_hash)
            if found:
                move._l10n_pl_ksef_mark_sent(found.reference_number)
            else:
                move.write({'l10n_pl_ksef_state': 'queued', 'l10n_pl_ksef_session_id': False})
                move._l10n_pl_ksef_log(self.env._(
                    "KSeF never received the last sending attempt; the invoice is queued again."))
            self._l10n_pl_ksef_commit()

    # ------------------------------------------------------------------
    # Following the status
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_poll(self, client):
        """Ask KSeF for the status of sent invoices; final answers update state, number and UPO."""
        for move in self:
            session = move.l10n_pl_ksef_session_id
            status = self._l10n_pl_ksef_call(client.get_invoice_status, session.reference_number,
                                             move.l10n_pl_ksef_reference)
            move._l10n_pl_ksef_apply_status(status, client)
            self._l10n_pl_ksef_commit()

    def _l10n_pl_ksef_apply_status(self, status, client):
        """Record KSeF's ``InvoiceStatus`` of this sent invoice: nothing while pending; number and UPO
        when accepted; the original number for a duplicate; KSeF's explanation when rejected."""
        self.ensure_one()
        move = self
        move.l10n_pl_ksef_status_code = status.code or 0
        if status.code in INVOICE_PENDING_CODES or not status.code:
            return
        if status.code == INVOICE_ACCEPTED and status.ksef_number:
            move.write({'l10n_pl_ksef_state': 'accepted', 'l10n_pl_ksef_number': status.ksef_number,
                        'l10n_pl_ksef_accepted_date': fields.Datetime.now(), 'l10n_pl_ksef_error': False,
                        'l10n_pl_ksef_invoicing_mode': status.invoicing_mode
                        if status.invoicing_mode in ('Online', 'Offline') else False})
            move._l10n_pl_ksef_log(self.env._("Accepted by KSeF with number %(number)s.",
                                              number=status.ksef_number))
            move._l10n_pl_ksef_try_fetch_upo(client)
        elif status.code == INVOICE_DUPLICATE and status.extensions.get('originalKsefNumber'):
            move._l10n_pl_ksef_adopt_original(status.extensions['originalKsefNumber'],
                                              status.extensions.get('originalSessionReferenceNumber'))
            if move.l10n_pl_ksef_state == 'accepted' and move.l10n_pl_ksef_original_session_reference:
                move._l10n_pl_ksef_try_fetch_upo(client)
        else:
            move._l10n_pl_ksef_reject(status.code, '\n'.join(
                [status.description] + list(status.details)))

    def _l10n_pl_ksef_adopt_original(self, original_number, original_session_reference=None):
        """440 duplicate: KSeF already holds this invoice; take over its KSeF number (not a failure)."""
        self.ensure_one()
        other = self.search([('company_id', '=', self.company_id.id),
                             ('l10n_pl_ksef_number', '=', original_number), ('id', '!=', self.id)], limit=1)
        if other:
            self._l10n_pl_ksef_reject(INVOICE_DUPLICATE, self.env._(
                "KSeF already holds this invoice as %(number)s, which is invoice %(other)s in Odoo. "
                "This is a duplicate: cancel it.", number=original_number, other=other.display_name))
            return
        self.write({'l10n_pl_ksef_state': 'accepted', 'l10n_pl_ksef_number': original_number,
                    'l10n_pl_ksef_status_code': INVOICE_DUPLICATE,
                    'l10n_pl_ksef_original_session_reference': original_session_reference or False,
                    'l10n_pl_ksef_accepted_date': fields.Datetime.now(),
                    'l10n_pl_ksef_error': self.env._(
                        "KSeF already had this invoice (duplicate, code 440); its original KSeF number is kept. "
                        "The UPO is the one of the original sending.")})
        self._l10n_pl_ksef_log(self.env._(
            "KSeF already had this invoice: it is registered under KSeF number %(number)s.",
            number=original_number))

    def _l10n_pl_ksef_reject(self, code, details):
        """Final refusal: keep KSeF's readable explanation on the invoice and in the chatter."""
        self.ensure_one()
        message = self._l10n_pl_ksef_explain(code, details)
        self.write({'l10n_pl_ksef_state': 'rejected', 'l10n_pl_ksef_status_code': code or 0,
                    'l10n_pl_ksef_error': message})
        self._l10n_pl_ksef_log(self.env._("Rejected by KSeF."), message)

    def _l10n_pl_ksef_explain(self, code, details):
        """A readable message for a KSeF refusal code (the details name the field when KSeF does)."""
        explanations = {
            430: self.env._("The FA(3) file does not match the official schema (430)."),
            440: self.env._("KSeF already holds an invoice with this number (440)."),
            450: self.env._("KSeF found a semantic error in the invoice (450)."),
            21405: self.env._("KSeF validation failed (21405): the field named below has a wrong value."),
        }
        headline = explanations.get(code) or self.env._("KSeF refused the invoice (code %(code)s).", code=code)
        return '%s\n%s' % (headline, details) if details else headline

    def _l10n_pl_ksef_fetch_upo(self, client):
        """Download the invoice's UPO and attach KSeF's bytes unchanged."""
        self.ensure_one()
        if self.l10n_pl_ksef_original_session_reference:
            # 440 duplicate: KSeF's receipt is the one of the original sending.
            upo = client.get_invoice_upo(self.l10n_pl_ksef_original_session_reference,
                                         ksef_number=self.l10n_pl_ksef_number)
        else:
            upo = client.get_invoice_upo(self.l10n_pl_ksef_session_id.reference_number,
                                         invoice_reference=self.l10n_pl_ksef_reference)
        self._l10n_pl_ksef_attach_upo(upo)

    def _l10n_pl_ksef_attach_upo(self, upo):
        """Attach a downloaded UPO (``ksef_protocol.UpoDocument``) to the invoice, bytes unchanged."""
        self.ensure_one()
        attachment = self.env['ir.attachment'].create({
            'name': 'UPO-%s.xml' % self.l10n_pl_ksef_number,
            'raw': upo.content,
            'mimetype': 'application/xml',
            'res_model': self._name,
            'res_id': self.id,
        })
        self.l10n_pl_ksef_upo_attachment_id = attachment
        self._l10n_pl_ksef_log(self.env._("KSeF UPO (official receipt) attached."))

    def _l10n_pl_ksef_try_fetch_upo(self, client):
        """Fetch the UPO; when KSeF has none for it (4xx), say so instead of blocking the queue."""
        self.ensure_one()
        try:
            self._l10n_pl_ksef_call(self._l10n_pl_ksef_fetch_upo, client)
        except KsefHttpError as error:
            if error.http_status not in (400, 404, 410):
                raise
            # Not retried automatically (the queue skips accepted invoices with a message);
            # the "Download UPO" button tries again.
            self.l10n_pl_ksef_error = self.env._(
                "KSeF accepted the invoice but its UPO could not be downloaded: %(error)s",
                error=_error_text(error))

    def _l10n_pl_ksef_poll_company(self, company):
        """Refresh these invoices now (button): reconcile or poll, then fetch what became final."""
        client = company._l10n_pl_ksef_get_client()
        try:
            self.filtered(lambda m: m.l10n_pl_ksef_state == 'sending')._l10n_pl_ksef_reconcile(client)
            self.filtered(lambda m: m.l10n_pl_ksef_state == 'sent')._l10n_pl_ksef_poll(client)
        except _RetryLater:
            raise UserError(self.env._("KSeF is not reachable right now; the status is checked again "
                                       "automatically later.")) from None

    # ------------------------------------------------------------------
    # Sessions
    # ------------------------------------------------------------------
    @api.model
    def _l10n_pl_ksef_maintain_sessions(self, company, client):
        """Close idle or nearly expired sessions; follow closing ones until their UPO is attached."""
        sessions = self.env['ksef.session'].search([('company_id', '=', company.id),
                                                    ('state', 'in', ('open', 'closing'))])
        for session in sessions._should_close():
            self._l10n_pl_ksef_call(session._close_on_ksef, client)
            self._l10n_pl_ksef_commit()
        for session in sessions.filtered(lambda s: s.state == 'closing'):
            self._l10n_pl_ksef_call(session._update_from_status, client)
            self._l10n_pl_ksef_commit()
