"""The KSeF queue: send queued invoices, follow their status, fetch UPOs, close sessions.

Guarantees:
* an invoice is sent at most once: its row is locked, and the 'sending' state with the
  hash of the exact XML is committed *before* the HTTP call; right before that call, under
  the row lock again, the invoice must still be posted and 'sending' with that same hash
  (send what was checked); after an uncertain outcome the session's invoice list is
  searched for that hash before anything is sent again;
* one worker per company: a PostgreSQL advisory lock per company makes two server
  processes running the scheduled action never work on one company at once (no invoice
  sent twice, never two sessions opened for one company);
* nothing is forgotten: every state short of final is picked up by the next run;
* a passing fault (5xx, timeout, HTML error page, 429) delays only the request that met it,
  by ``Retry-After`` or exponential back-off with jitter; other work goes on and the
  scheduled action is re-triggered for when work is due;
* KSeF refusing a *session* (21173, 21180, 21184, 21155) never rejects an invoice: the
  session is marked unusable and the invoice goes out in a new session;
* texts written for people are in the language of the user who queued the invoice, else
  the company's.
"""
import collections
import contextlib
import datetime
import logging
import random
import time
import zoneinfo

import psycopg2

from odoo import api, fields, models, modules
from odoo.exceptions import UserError
from odoo.tools import config

from ..ksef_protocol import sha256_b64
from ..ksef_protocol.fa3 import same_invoice
from ..ksef_protocol.errors import (KsefAuthFailed, KsefBadRequest, KsefError, KsefForbidden, KsefHttpError,
                                    KsefRateLimited, KsefRateLimitHandOver, KsefServerError, KsefTransportError,
                                    KsefUnauthorized)
from .account_move_ksef_register import REQUEUE_REASON

_logger = logging.getLogger(__name__)

#: Invoices sent per company and run (the cron re-triggers itself when more remain).
SEND_BATCH_SIZE = 50
#: Seconds one run of the queue may work (Odoo's default cron time limit is 120 s; the issue asks for no run
#: over 60 s): the companies share it, and what is left (or what KSeF's limits allow only later) is handed
#: over to a run triggered for when it is due, never slept through.
RUN_BUDGET_SECONDS = 45.0
#: Seconds a company is given at least when its turn comes (a run then starts no further company).
MIN_COMPANY_SECONDS = 5.0
#: Context key: the time (``time.time()``) at which the current company's part of the run must end.
RUN_DEADLINE = 'l10n_pl_ksef_run_deadline'
#: Context key: KSeF's limits allow the next sending only then (naive UTC datetime): queued invoices are due then.
SEND_LIMITED_UNTIL = 'l10n_pl_ksef_send_limited_until'
#: Invoice status codes: 100 received, 150 processing, 200 accepted, 440 duplicate.
INVOICE_PENDING_CODES = (100, 150)
INVOICE_ACCEPTED = 200
INVOICE_DUPLICATE = 440
#: Codes with which KSeF refuses the *session*, not the invoice (open-api.json 2.9, send invoice):
#: 21173 no such session, 21180 session status does not allow it (closed, expired), 21184 session
#: temporarily unavailable (maintenance), 21155 the session's invoice limit is reached.
SESSION_REFUSED_CODES = frozenset({21173, 21180, 21184, 21155})
#: New sessions one run may open after KSeF refused one (then the invoices wait for the next run).
MAX_SESSION_REFUSALS_PER_RUN = 2
#: Accepted invoices still waiting for their UPO (an outage interrupted the download).
_UPO_MISSING_DOMAIN = [('l10n_pl_ksef_state', '=', 'accepted'), ('l10n_pl_ksef_upo_attachment_id', '=', False),
                       ('l10n_pl_ksef_session_id', '!=', False), ('l10n_pl_ksef_error', '=', False)]
#: How soon the cron looks again while KSeF is still verifying invoices or closing sessions (KSeF takes
#: seconds; the status reads are paced by the shared limiter, which hands over when its limit is reached).
FOLLOW_UP_DELAY = datetime.timedelta(seconds=10)
#: Back-off after a passing fault: BASE * 2^(n-1) seconds for the n-th fault in a row, at most MAX, +-20 % jitter.
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_MAX_SECONDS = 300.0
BACKOFF_JITTER = 0.2
#: Passing faults in a row after which a step stops for this run (KSeF is probably down).
MAX_FAULTS_IN_A_ROW = 3
#: Advisory lock class of "a worker processes this company's KSeF queue" (pg_try_advisory_lock(class, company)).
WORKER_LOCK_CLASS = 0x6b736566  # 'ksef'
#: FA(3) size limits (limity/limity.md: 1 MB without attachment, 3 MB with one).
MAX_INVOICE_BYTES = 1000000
MAX_INVOICE_WITH_ATTACHMENT_BYTES = 3000000


class _HandOver(Exception):
    """Stop this company's run here, keep what is done and come back ``at`` (a naive UTC datetime): the
    run's time is used up, or KSeF's limits allow the next request only later. Not a fault."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    @classmethod
    def after(cls, seconds):
        return cls(fields.Datetime.now() + datetime.timedelta(seconds=max(seconds or 0.0, 0.0)))


class _RetryLater(Exception):
    """Stop this step: KSeF is unreachable or asked to wait (``retry_after`` seconds)."""

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


def backoff_seconds(faults_in_a_row, retry_after=None):
    """Seconds to wait after the ``faults_in_a_row``-th passing fault: KSeF's ``Retry-After`` when given,
    else exponential with jitter (so that many invoices do not all come back at the same instant)."""
    if retry_after:
        return float(retry_after)
    delay = min(BACKOFF_BASE_SECONDS * 2 ** max(faults_in_a_row - 1, 0), BACKOFF_MAX_SECONDS)
    return delay * random.uniform(1 - BACKOFF_JITTER, 1 + BACKOFF_JITTER)


def _usable_upo_link(status):
    """KSeF's pre-signed link to the UPO of an ``InvoiceStatus`` when it is there and not expired."""
    expires = status.upo_download_url_expires_at
    if not status.upo_download_url or (expires and expires <= datetime.datetime.now(datetime.timezone.utc)):
        return None
    return status.upo_download_url


class AccountMove(models.Model):
    _inherit = 'account.move'

    l10n_pl_ksef_retry_at = fields.Datetime(
        string="Next KSeF attempt", copy=False, readonly=True, index='btree_not_null',
        help="After a passing fault, the invoice waits until then (KSeF's Retry-After or back-off).")
    l10n_pl_ksef_retry_count = fields.Integer(string="Passing KSeF faults in a row", copy=False, readonly=True)
    l10n_pl_ksef_queued_uid = fields.Many2one(
        'res.users', string="Queued for KSeF by", copy=False, readonly=True,
        help="Messages the scheduled action writes about this invoice are in this user's language.")

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

        For each company (default: every company with KSeF work) not processed by another worker
        right now: reconcile invoices whose sending had an uncertain outcome, send queued invoices
        that are due in an open session (opened or re-used), follow sent invoices until KSeF accepts
        or rejects them, attach their UPO, close idle or nearly expired sessions and attach their
        collective UPO.

        :param companies: ``res.company`` records to process (default: all with work).
        :returns: ``{'retry_at': datetime | None, 'retry_after': float | None}``; ``retry_at`` is
            when the queue should run again (work is due, KSeF asked to wait, or a back-off ends).
        """
        self = self.sudo()
        if companies is None:
            companies = self._l10n_pl_ksef_companies_with_work()
        # Least recently served first, each with a share of the run's time: one company's long queue
        # never starves the others (the rest of its work goes to the next run, triggered at once).
        companies = companies._l10n_pl_ksef_queue_turns()
        run_deadline = time.time() + RUN_BUDGET_SECONDS
        retry_at = None
        retry_after = None
        for index, company in enumerate(companies):
            left = run_deadline - time.time()
            if index and left < MIN_COMPANY_SECONDS:
                retry_at = min(retry_at or fields.Datetime.now(), fields.Datetime.now())
                break  # these companies come first in the next run
            deadline = time.time() + max(left / (len(companies) - index), MIN_COMPANY_SECONDS)
            with self._l10n_pl_ksef_company_worker_lock(company) as locked:
                if not locked:
                    _logger.info("KSeF queue of company %s is being processed by another worker", company.id)
                    continue
                company._l10n_pl_ksef_take_queue_turn()
                self._l10n_pl_ksef_commit(0)
                company_env = self.with_company(company).with_context(
                    lang=company._l10n_pl_ksef_lang(), **{RUN_DEADLINE: deadline})
                company_retry = company_env._l10n_pl_ksef_process_company(company)
            if company_retry:
                retry_after = max(retry_after or 0, company_retry.get('retry_after') or 0) or retry_after
                retry_at = min(retry_at or company_retry['retry_at'], company_retry['retry_at'])
        return {'retry_at': retry_at, 'retry_after': retry_after}

    @contextlib.contextmanager
    def _l10n_pl_ksef_company_worker_lock(self, company):
        """Yield True when this worker may process ``company`` (session-level advisory lock, kept across
        the commits of the run, released at the end or when the worker's connection dies)."""
        cr = self.env.cr
        cr.execute("SELECT pg_try_advisory_lock(%s, %s)", (WORKER_LOCK_CLASS, company.id))
        locked = cr.fetchone()[0]
        try:
            yield locked
        finally:
            if locked:
                try:
                    cr.execute("SELECT pg_advisory_unlock(%s, %s)", (WORKER_LOCK_CLASS, company.id))
                except psycopg2.Error:
                    # The transaction failed: it is lost anyway; the lock must not stay on a pooled connection.
                    cr.rollback()
                    cr.execute("SELECT pg_advisory_unlock(%s, %s)", (WORKER_LOCK_CLASS, company.id))

    @api.model
    def _l10n_pl_ksef_companies_with_work(self):
        moves = self.search([('l10n_pl_ksef_state', 'in', ('queued', 'sending', 'sent'))])
        sessions = self.env['ksef.session'].search([('state', 'in', ('open', 'closing'))])
        return moves.company_id | sessions.company_id

    def _l10n_pl_ksef_lang(self):
        """Language of what the scheduled action writes about this invoice."""
        self.ensure_one()
        return self.l10n_pl_ksef_queued_uid.lang or self.company_id._l10n_pl_ksef_lang()

    def _l10n_pl_ksef_by_language(self):
        """These invoices split by the language of their messages, each part in an environment of that language."""
        return [moves.with_context(lang=lang)
                for lang, moves in self.grouped(lambda move: move._l10n_pl_ksef_lang()).items()]

    @api.model
    def _l10n_pl_ksef_due_domain(self, company):
        now = fields.Datetime.now()
        return [('company_id', '=', company.id), ('l10n_pl_ksef_state', '=', 'queued'),
                '|', ('l10n_pl_ksef_retry_at', '=', False), ('l10n_pl_ksef_retry_at', '<=', now)]

    def _l10n_pl_ksef_process_company(self, company):
        """One company's run; returns ``None`` or ``{'retry_at', 'retry_after'}``."""
        faults = []
        if company._l10n_pl_ksef_service_paused():  # KSeF announced an outage: not a single request
            return self._l10n_pl_ksef_wait_for_service(company)
        try:
            try:
                faults, send_limited_until = self._l10n_pl_ksef_run_steps(company)
            except KsefUnauthorized:
                # The stored access token was revoked or expired early: authenticate again, once.
                company._l10n_pl_ksef_forget_access_token()
                faults, send_limited_until = self._l10n_pl_ksef_run_steps(company)
        except KsefRateLimitHandOver as error:
            handover = _HandOver.after(error.retry_after)
            self._l10n_pl_ksef_commit()
            return {'retry_at': handover.at, 'retry_after': None}
        except _HandOver as handover:
            # What is done is kept; the run ends well inside the cron's time limit and the next one is
            # triggered for when the work is due (now, or when KSeF's limit frees).
            self._l10n_pl_ksef_commit()
            return {'retry_at': handover.at, 'retry_after': None}
        except _RetryLater as retry:
            # No client (authentication met a passing fault): the invoices due now wait with back-off.
            self.search(self._l10n_pl_ksef_due_domain(company))._l10n_pl_ksef_back_off(retry)
            self._l10n_pl_ksef_explain_wait(company, retry)
            faults = [retry]
        except (UserError, KsefError) as error:
            # Settings or credentials problem (or KSeF refusing us): every waiting invoice says what to do.
            message = error.args[0] if isinstance(error, UserError) else self._l10n_pl_ksef_failure_text(
                company, error)
            waiting = self.search([('company_id', '=', company.id),
                                   ('l10n_pl_ksef_state', 'in', ('queued', 'sending', 'sent'))])
            waiting.filtered(lambda m: m.l10n_pl_ksef_error != message).write({'l10n_pl_ksef_error': message})
            _logger.info("KSeF queue of company %s stopped: %s", company.id, message)
            return None
        retry_at = self.with_context(**{SEND_LIMITED_UNTIL: send_limited_until})._l10n_pl_ksef_next_run_at(company)
        retry_after = max((fault.retry_after or 0 for fault in faults), default=0) or None
        if faults:
            # A step stopped on a passing fault: come back once KSeF allows it (or after a short back-off).
            again = fields.Datetime.now() + datetime.timedelta(seconds=backoff_seconds(1, retry_after))
            retry_at = min(retry_at, again) if retry_at else again
        return {'retry_at': retry_at, 'retry_after': retry_after} if retry_at else None

    @api.model
    def _l10n_pl_ksef_next_run_at(self, company):
        """When this company's queue has work due next (None: the regular schedule is enough)."""
        now = fields.Datetime.now()
        domain = [('company_id', '=', company.id)]
        candidates = []
        if self.search_count(self._l10n_pl_ksef_due_domain(company), limit=1):
            # More than one batch was queued: carry on right away, or once KSeF's limits allow sending.
            candidates.append(max(now, self.env.context.get(SEND_LIMITED_UNTIL) or now))
        waiting = self.search(domain + [('l10n_pl_ksef_state', 'in', ('queued', 'sending')),
                                        ('l10n_pl_ksef_retry_at', '>', now)],
                              order='l10n_pl_ksef_retry_at', limit=1)
        if waiting:
            candidates.append(waiting.l10n_pl_ksef_retry_at)
        if self.search_count(domain + [('l10n_pl_ksef_state', 'in', ('sending', 'sent')), '|',
                                       ('l10n_pl_ksef_retry_at', '=', False),
                                       ('l10n_pl_ksef_retry_at', '<=', now)], limit=1) \
                or self.env['ksef.session'].search_count(domain + [('state', '=', 'closing')], limit=1):
            candidates.append(now + FOLLOW_UP_DELAY)
        return min(candidates) if candidates else None

    def _l10n_pl_ksef_back_off(self, retry):
        """A passing fault met these invoices' request: they wait (Retry-After or back-off), nothing is lost.
        One write per group of invoices with the same number of faults in a row."""
        now = fields.Datetime.now()
        for count, moves in self.grouped('l10n_pl_ksef_retry_count').items():
            delay = backoff_seconds(count + 1, retry.retry_after)
            moves.with_context(skip_invoice_sync=True).write({
                'l10n_pl_ksef_retry_at': now + datetime.timedelta(seconds=delay),
                'l10n_pl_ksef_retry_count': count + 1,
            })

    def _l10n_pl_ksef_explain_wait(self, company, retry):
        """Tell queued invoices why they are still waiting (outage or KSeF's request to slow down)."""
        queued = self.search([('company_id', '=', company.id), ('l10n_pl_ksef_state', '=', 'queued')])
        for moves in queued._l10n_pl_ksef_by_language():
            message = moves._l10n_pl_ksef_wait_text(retry)
            moves.filtered(lambda m: m.l10n_pl_ksef_error != message).with_context(skip_invoice_sync=True).write(
                {'l10n_pl_ksef_error': message})

    def _l10n_pl_ksef_wait_text(self, retry):
        if isinstance(retry.error, KsefRateLimited):
            return self.env._(
                "KSeF asked to wait (too many requests); the invoice stays queued and is sent automatically "
                "in %(seconds)s seconds.", seconds=int(retry.retry_after or 0) or '?')
        return self.env._(
            "KSeF is not reachable right now; the invoice stays queued and is sent automatically later. "
            "(%(error)s)", error=retry.error and _error_text(retry.error) or '')

    def _l10n_pl_ksef_failure_text(self, company, error):
        """What to do when KSeF refuses the company's login or requests (translated)."""
        if isinstance(error, KsefAuthFailed) and error.status_code in (450, 415):
            if error.status_code == 450:
                company._l10n_pl_ksef_mark_token_refused()
                return self.env._(
                    "KSeF refused the company's KSeF token (450: revoked, expired or wrong). Generate a new token "
                    "in the KSeF portal (or in Settings > Invoicing > KSeF) and save it; the queued invoices are "
                    "then sent automatically. (%(details)s)", details=error.message)
            return self.env._(
                "The KSeF token or certificate has no permissions in the context of NIP %(nip)s (415). Ask the "
                "company's KSeF administrator to grant it \"Wystawianie faktur\" (InvoiceWrite) and "
                "\"Przeglądanie faktur\" (InvoiceRead) in the KSeF portal.", nip=company._l10n_pl_ksef_nip_text())
        if isinstance(error, KsefForbidden):
            return self.env._(
                "KSeF refused the request: the token or certificate lacks a permission (403). Ask the company's "
                "KSeF administrator to grant \"Wystawianie faktur\" (InvoiceWrite) to send invoices and "
                "\"Przeglądanie faktur\" (InvoiceRead) to read statuses and UPOs, in the KSeF portal "
                "(Uprawnienia) for NIP %(nip)s. (%(details)s)",
                nip=company._l10n_pl_ksef_nip_text(), details=error.message)
        if isinstance(error, KsefHttpError) and error.http_status == 404 \
                and company.l10n_pl_ksef_environment == 'custom':
            return self.env._(
                "The KSeF API URL %(url)s answered \"not found\" (404). Check the URL in Settings > Invoicing > "
                "KSeF: it must end with the API version, e.g. https://api-test.ksef.mf.gov.pl/v2.",
                url=company.l10n_pl_ksef_custom_url or '')
        return _error_text(error)

    def _l10n_pl_ksef_run_steps(self, company):
        """Run every step of the company; a step that meets a passing fault stops alone.
        Returns the ``_RetryLater`` of the steps that stopped, and when KSeF's limits allow sending again
        (None: not limited) when the sending handed over to a later run while the other steps go on."""
        domain = [('company_id', '=', company.id)]
        has_work = self.search_count(domain + [('l10n_pl_ksef_state', 'in', ('queued', 'sending', 'sent'))]) \
            or self.search_count(domain + _UPO_MISSING_DOMAIN)
        sessions = self.env['ksef.session'].search(domain + [('state', 'in', ('open', 'closing'))])
        if not has_work and not sessions:
            return [], None
        client = self._l10n_pl_ksef_call(company._l10n_pl_ksef_get_client)
        # The client-side limiter never sleeps past this company's part of the run: it hands over.
        client.limiter.deadline = self.env.context.get(RUN_DEADLINE)
        now = fields.Datetime.now()
        due = ['|', ('l10n_pl_ksef_retry_at', '=', False), ('l10n_pl_ksef_retry_at', '<=', now)]
        faults = []

        def step(function, *args):
            try:
                function(*args)
            except _RetryLater as retry:
                faults.append(retry)

        for moves in self.search(domain + due + [('l10n_pl_ksef_state', '=', 'sending')])._l10n_pl_ksef_by_language():
            step(moves._l10n_pl_ksef_reconcile, client)
        queued = self.search(self._l10n_pl_ksef_due_domain(company), order='id', limit=SEND_BATCH_SIZE)
        send_limited_until = None
        if queued:
            try:
                queued._l10n_pl_ksef_send(client, company)
            except _HandOver as handover:
                if handover.at <= fields.Datetime.now():
                    raise  # this company's time is used up
                # KSeF's limit allows the next sending later: following what was sent goes on meanwhile.
                send_limited_until = handover.at
                self._l10n_pl_ksef_commit()
            except _RetryLater as retry:
                # KSeF is down or asks everyone to wait: what is still due waits too, and says why.
                self.search(self._l10n_pl_ksef_due_domain(company))._l10n_pl_ksef_back_off(retry)
                self._l10n_pl_ksef_explain_wait(company, retry)
                self._l10n_pl_ksef_commit()
                faults.append(retry)
        for moves in self.search(domain + [('l10n_pl_ksef_state', '=', 'sent')])._l10n_pl_ksef_by_language():
            step(moves._l10n_pl_ksef_poll, client)
        # A UPO download interrupted by an outage is retried: no accepted invoice stays without one.
        step(self.search(domain + _UPO_MISSING_DOMAIN, limit=SEND_BATCH_SIZE)._l10n_pl_ksef_fetch_missing_upos, client)
        step(self._l10n_pl_ksef_maintain_sessions, company, client)
        return faults, send_limited_until

    @api.model
    def _l10n_pl_ksef_call(self, function, *args, **kwargs):
        """Run a protocol call; outages and rate limits become :class:`_RetryLater`."""
        try:
            return function(*args, **kwargs)
        except KsefRateLimitHandOver as error:
            raise _HandOver.after(error.retry_after) from error
        except KsefRateLimited as error:
            raise _RetryLater(error, error.retry_after) from error
        except (KsefTransportError, KsefServerError) as error:
            _logger.info("KSeF unreachable: %s", error.message)
            raise _RetryLater(error, error.retry_after) from error

    @api.model
    def _l10n_pl_ksef_time_left(self):
        """Seconds left of this company's part of the run (infinite outside a queue run)."""
        deadline = self.env.context.get(RUN_DEADLINE)
        return float('inf') if deadline is None else deadline - time.time()

    @api.model
    def _l10n_pl_ksef_check_time(self, client=None, group=None, started=True):
        """Hand over when this company's part of the run is used up (once the step ``started``: every step
        makes progress in every run), or when KSeF's limit for ``group`` allows its next request only
        after it (checked before anything is recorded for the request)."""
        left = self._l10n_pl_ksef_time_left()
        if started and left <= 0:
            raise _HandOver.after(0)
        if client is not None and group and left != float('inf'):
            delay = client.limiter.delay_for(group)
            if delay > 0 and delay > left:
                raise _HandOver.after(delay)

    @api.model
    def _l10n_pl_ksef_commit(self, processed=1):
        if _can_commit():
            self.env['ir.cron']._commit_progress(processed)

    # ------------------------------------------------------------------
    # Sending
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_date_findings(self):
        """KSeF refuses an issue date (P_1) after the day it receives the invoice (Polish calendar day).
        Invoices issued offline are left to KSeF: they were handed to the buyer already."""
        self.ensure_one()
        today = datetime.datetime.now(zoneinfo.ZoneInfo('Europe/Warsaw')).date()
        if not self.invoice_date or self.invoice_date <= today or self._l10n_pl_ksef_send_in_offline_mode():
            return []
        return [self.env._(
            "The invoice date %(date)s is after today (%(today)s in Poland): KSeF refuses invoices issued in the "
            "future. Correct the invoice date, or send the invoice on that day.",
            date=self.invoice_date, today=today)]

    def _l10n_pl_ksef_get_send_blockers(self):
        blockers = super()._l10n_pl_ksef_get_send_blockers()
        for move in self.filtered(lambda m: m not in blockers and m.state == 'posted'):
            findings = move._l10n_pl_ksef_date_findings()
            if findings:
                blockers[move] = findings
        return blockers

    def _l10n_pl_ksef_presend_findings(self, xml):
        """What KSeF would refuse in this exact file that can be known before sending (translated)."""
        self.ensure_one()
        findings = self._l10n_pl_ksef_date_findings()
        with_attachment = b'<Zalacznik' in xml
        limit = MAX_INVOICE_WITH_ATTACHMENT_BYTES if with_attachment else MAX_INVOICE_BYTES
        if len(xml) > limit:
            findings.append(self.env._(
                "The FA(3) file is %(size)s bytes; KSeF takes at most %(limit)s bytes for an invoice %(kind)s. "
                "Shorten the line descriptions or notes, or split the invoice.",
                size=len(xml), limit=limit,
                kind=self.env._("with attachments") if with_attachment else self.env._("without attachments")))
        return findings

    def _l10n_pl_ksef_send(self, client, company):
        """Send queued invoices of ``company``, each committed before and after its HTTP call.

        The session is opened (or re-used) only once an invoice passed its checks. A session KSeF
        refuses is marked unusable and the invoice goes out in a new one; a passing fault delays
        only the invoice that met it, until several in a row say KSeF is down.
        """
        todo = collections.deque(self)
        session = key = None
        refusals = faults = 0
        sent_any = False
        last_fault = None
        tried = 0
        while todo:
            # KSeF's pace (e.g. 30 sends a minute) is kept by handing over, not by sleeping out the run.
            self._l10n_pl_ksef_check_time(client, 'invoiceSend', started=tried > 0)
            tried += 1
            move = todo.popleft()
            if not move.try_lock_for_update():
                continue  # another worker (or a user cancelling it) is on it
            move.invalidate_recordset()
            if move.l10n_pl_ksef_state != 'queued' or (move.l10n_pl_ksef_retry_at
                                                       and move.l10n_pl_ksef_retry_at > fields.Datetime.now()):
                continue
            move = move.with_context(lang=move._l10n_pl_ksef_lang())
            findings = [] if move.state == 'posted' else [move.env._("The invoice is no longer posted.")]
            xml = None
            if not findings:
                # Built once: the rendering raises the same findings the check would give.
                try:
                    xml = move._l10n_pl_ksef_render_fa3()
                except UserError as error:
                    findings = [line for line in str(error.args[0]).split('\n') if line]
                else:
                    findings = move._l10n_pl_ksef_presend_findings(xml)
            if findings:
                move.write({'l10n_pl_ksef_state': 'not_sent', 'l10n_pl_ksef_error': '\n'.join(findings)})
                move._l10n_pl_ksef_log(move.env._("Not sent to KSeF: the FA(3) XML is not valid."), '; '.join(findings))
                self._l10n_pl_ksef_commit()
                continue
            if session is None:
                # A passing fault here stops the sending (the caller makes the queue wait).
                session = self._l10n_pl_ksef_call(self.env['ksef.session']._get_or_open_session, company, client)
                key = session._get_session_key()
            outcome = move._l10n_pl_ksef_send_one(client, session, key, xml)
            if outcome == 'session_refused':
                session = key = None
                refusals += 1
                if refusals <= MAX_SESSION_REFUSALS_PER_RUN:
                    todo.appendleft(move)  # at once, in a new session
                continue
            if isinstance(outcome, _RetryLater):
                faults += 1
                last_fault = outcome
                if isinstance(outcome.error, KsefRateLimited) or faults >= MAX_FAULTS_IN_A_ROW:
                    raise outcome  # KSeF asks everyone to wait, or is down: the rest waits too
                continue
            faults = 0
            sent_any = True
            last_fault = None
        if last_fault is not None and not sent_any:
            raise last_fault  # nothing got through in this run: KSeF is not reachable

    def _l10n_pl_ksef_send_one(self, client, session, key, xml):
        """Record, then send one queued invoice (its row is locked by the caller).

        :returns: None when sent or refused for good, ``'session_refused'`` when KSeF refused the session
            (the invoice is queued again), or the ``_RetryLater`` of a passing fault (the invoice waits).
        """
        self.ensure_one()
        move = self
        xml_hash = sha256_b64(xml)
        attachment = self.env['ir.attachment'].create({
            'name': move._l10n_pl_ksef_fa3_filename(),
            'raw': xml,
            'mimetype': 'application/xml',
            'res_model': move._name,
            'res_id': move.id,
        })
        move.with_context(skip_invoice_sync=True).write({
            'l10n_pl_ksef_state': 'sending',
            'l10n_pl_ksef_session_id': session.id,
            'l10n_pl_ksef_invoice_hash': xml_hash,
            'l10n_pl_ksef_invoice_size': len(xml),
            'l10n_pl_ksef_xml_attachment_id': attachment.id,
            'l10n_pl_ksef_reference': False,
            'l10n_pl_ksef_status_code': 0,
            'l10n_pl_ksef_error': False,
        })
        session.last_used = fields.Datetime.now()
        # From here on KSeF may hold the invoice: this state must survive a crash.
        self._l10n_pl_ksef_commit(0)
        # Send what was checked: under the row lock, still posted, still this very file.
        if not move.try_lock_for_update():
            return None  # a reconciliation of another worker took it; it follows it from here
        move.invalidate_recordset()
        if move.l10n_pl_ksef_state != 'sending' or move.l10n_pl_ksef_invoice_hash != xml_hash \
                or move.l10n_pl_ksef_session_id != session:
            # Another worker recorded it since (e.g. sent it again in its own session): its record stands.
            _logger.warning("KSeF: invoice %s was taken over by another process before its sending; not sent", move.id)
            return None
        if move.state != 'posted':
            _logger.warning("KSeF: invoice %s changed between its check and its sending; not sent", move.id)
            move.with_context(**{REQUEUE_REASON: 'not_received'}).write({
                'l10n_pl_ksef_state': 'not_sent', 'l10n_pl_ksef_session_id': False,
                'l10n_pl_ksef_error': move.env._("The invoice changed while it was being sent; it was not sent. "
                                                 "Check it and send it again.")})
            self._l10n_pl_ksef_commit()
            return None
        try:
            sent = client.send_invoice(session.reference_number, key, xml,
                                       offline_mode=move._l10n_pl_ksef_send_in_offline_mode(),
                                       hash_of_corrected_invoice=move._l10n_pl_ksef_hash_of_corrected_invoice())
        except KsefRateLimitHandOver as error:
            # Nothing was sent now: back to the queue as it was, or, when an earlier attempt may have
            # reached KSeF, left 'sending' for the reconciliation (its hash is looked for first).
            if not error.may_have_been_accepted:
                move.with_context(**{REQUEUE_REASON: 'not_received'})._l10n_pl_ksef_back_to_queue(None)
            self._l10n_pl_ksef_commit()
            raise _HandOver.after(error.retry_after) from error
        except (KsefTransportError, KsefServerError, KsefRateLimited) as error:
            retry = _RetryLater(error, error.retry_after)
            if getattr(error, 'may_have_been_accepted', False):
                # Left 'sending': the reconciliation looks for it by its hash before anything is sent again.
                move.with_context(skip_invoice_sync=True).write({'l10n_pl_ksef_error': move.env._(
                    "KSeF did not confirm receipt (%(error)s). The next run checks whether it arrived "
                    "before sending again.", error=error.message)})
                move._l10n_pl_ksef_back_off(retry)
            else:
                move._l10n_pl_ksef_back_to_queue(error)
                move._l10n_pl_ksef_back_off(retry)
            self._l10n_pl_ksef_commit()
            return retry
        except KsefUnauthorized:
            move._l10n_pl_ksef_back_to_queue(None)
            raise
        except KsefBadRequest as error:
            if error.codes & SESSION_REFUSED_CODES:
                session._mark_refused(error)
                move.with_context(**{REQUEUE_REASON: 'session_refused'})._l10n_pl_ksef_back_to_queue(None)
                move.l10n_pl_ksef_transmission_id.sudo().write({'status_code': min(error.codes & SESSION_REFUSED_CODES),
                                                                 'status_text': _error_text(error)})
                self._l10n_pl_ksef_commit()
                return 'session_refused'
            move._l10n_pl_ksef_reject(error.errors and error.errors[0].code or 400, _error_text(error))
            self._l10n_pl_ksef_commit()
            return None
        move._l10n_pl_ksef_mark_sent(sent.reference_number)
        self._l10n_pl_ksef_commit()
        return None

    def _l10n_pl_ksef_back_to_queue(self, error):
        vals = {'l10n_pl_ksef_state': 'queued', 'l10n_pl_ksef_session_id': False}
        if error is not None:
            vals['l10n_pl_ksef_error'] = self.env._(
                "KSeF is not reachable right now; the invoice stays queued and is sent automatically later. "
                "(%(error)s)", error=_error_text(error))
        self.with_context(skip_invoice_sync=True).write(vals)

    def _l10n_pl_ksef_mark_sent(self, reference):
        # The register records the sending (reference, time): no chatter message for it.
        self.with_context(skip_invoice_sync=True).write({
            'l10n_pl_ksef_state': 'sent', 'l10n_pl_ksef_reference': reference,
            'l10n_pl_ksef_sent_date': fields.Datetime.now(), 'l10n_pl_ksef_error': False,
            'l10n_pl_ksef_retry_at': False, 'l10n_pl_ksef_retry_count': 0})

    def _l10n_pl_ksef_each_tolerating_faults(self, function):
        """Call ``function(move)`` for each invoice; a passing fault delays only that invoice (it is
        tried again by a later run), until several in a row stop the step."""
        faults = 0
        for move in self:
            try:
                function(move)
            except _RetryLater as retry:
                faults += 1
                if faults >= MAX_FAULTS_IN_A_ROW:
                    raise
                _logger.info("KSeF: passing fault for invoice %s; tried again later", move.id)
                continue
            faults = 0

    def _l10n_pl_ksef_reconcile(self, client):
        """Invoices whose sending had an uncertain outcome: adopt KSeF's copy, or queue them again."""
        def reconcile(move):
            if not move.try_lock_for_update():
                return
            move.invalidate_recordset()
            if move.l10n_pl_ksef_state != 'sending':
                return
            session = move.l10n_pl_ksef_session_id
            found = None
            if session.reference_number and move.l10n_pl_ksef_invoice_hash:
                try:
                    found = self._l10n_pl_ksef_call(client.find_session_invoice_by_hash,
                                                    session.reference_number, move.l10n_pl_ksef_invoice_hash)
                except _RetryLater as retry:
                    move._l10n_pl_ksef_back_off(retry)
                    self._l10n_pl_ksef_commit()
                    raise
            if found:
                move._l10n_pl_ksef_mark_sent(found.reference_number)
            else:
                move.with_context(**{REQUEUE_REASON: 'not_received'}).with_context(skip_invoice_sync=True).write(
                    {'l10n_pl_ksef_state': 'queued', 'l10n_pl_ksef_session_id': False,
                     'l10n_pl_ksef_retry_at': False})
                move._l10n_pl_ksef_log(move.env._(
                    "KSeF never received the last sending attempt; the invoice is queued again."))
            self._l10n_pl_ksef_commit()
        self._l10n_pl_ksef_each_tolerating_faults(reconcile)

    # ------------------------------------------------------------------
    # Following the status
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_poll(self, client):
        """Ask KSeF for the status of sent invoices; final answers update state, number and UPO."""
        def poll(move):
            session = move.l10n_pl_ksef_session_id
            status = self._l10n_pl_ksef_call(client.get_invoice_status, session.reference_number,
                                             move.l10n_pl_ksef_reference)
            # The answer carries a pre-signed link to the UPO, which is not rate-limited.
            move.with_context(l10n_pl_ksef_upo_download_url=_usable_upo_link(status)) \
                ._l10n_pl_ksef_apply_status(status, client)
            self._l10n_pl_ksef_commit()
        self._l10n_pl_ksef_each_tolerating_faults(poll)

    def _l10n_pl_ksef_apply_status(self, status, client):
        """Record KSeF's ``InvoiceStatus`` of this sent invoice: nothing while pending; number and UPO
        when accepted; for a duplicate the original's number only when it is the same invoice; KSeF's
        explanation when rejected."""
        self.ensure_one()
        move = self
        if move.l10n_pl_ksef_status_code != (status.code or 0):
            move.with_context(skip_invoice_sync=True).l10n_pl_ksef_status_code = status.code or 0
        if status.code in INVOICE_PENDING_CODES or not status.code:
            return
        move._l10n_pl_ksef_register_status_text(
            ' '.join([status.description or ''] + list(status.details)).strip())
        if status.code == INVOICE_ACCEPTED and status.ksef_number:
            move.with_context(skip_invoice_sync=True).write({
                'l10n_pl_ksef_state': 'accepted', 'l10n_pl_ksef_number': status.ksef_number,
                'l10n_pl_ksef_accepted_date': fields.Datetime.now(), 'l10n_pl_ksef_error': False,
                'l10n_pl_ksef_invoicing_mode': status.invoicing_mode
                if status.invoicing_mode in ('Online', 'Offline') else False})
            move._l10n_pl_ksef_log(move.env._("Accepted by KSeF with number %(number)s.",
                                              number=status.ksef_number))
            move._l10n_pl_ksef_try_fetch_upo(client)
        elif status.code == INVOICE_DUPLICATE and status.extensions.get('originalKsefNumber'):
            move._l10n_pl_ksef_check_duplicate(status, client)
        else:
            move._l10n_pl_ksef_reject(status.code, '\n'.join(
                [status.description] + list(status.details)))

    def _l10n_pl_ksef_check_duplicate(self, status, client):
        """440: KSeF holds an invoice with our number. Adopt its KSeF number only when it is this very
        invoice (read from KSeF by that number and compared); otherwise say so, never 'accepted'."""
        self.ensure_one()
        number = status.extensions['originalKsefNumber']
        try:
            original = self._l10n_pl_ksef_call(client.download_invoice, number)
        except KsefHttpError as error:
            self._l10n_pl_ksef_reject(INVOICE_DUPLICATE, self.env._(
                "KSeF already holds a document with number %(name)s (KSeF number %(number)s) but it could not be "
                "read to compare it with this invoice (%(error)s). Check that document in KSeF: if it is another "
                "one, renumber this invoice.", name=self.name, number=number, error=_error_text(error)))
            return
        ours = self.l10n_pl_ksef_xml_attachment_id.sudo().raw
        if ours and (sha256_b64(original) == self.l10n_pl_ksef_invoice_hash or same_invoice(ours, original)):
            self._l10n_pl_ksef_adopt_original(number, status.extensions.get('originalSessionReferenceNumber'))
            if self.l10n_pl_ksef_state == 'accepted' and self.l10n_pl_ksef_original_session_reference:
                self._l10n_pl_ksef_try_fetch_upo(client)
            return
        self._l10n_pl_ksef_reject(INVOICE_DUPLICATE, self.env._(
            "KSeF already holds another document with number %(name)s (KSeF number %(number)s): renumber this "
            "invoice or check the other document.", name=self.name, number=number))

    def _l10n_pl_ksef_adopt_original(self, original_number, original_session_reference=None):
        """440 duplicate of this very invoice (checked): take over its KSeF number (not a failure)."""
        self.ensure_one()
        other = self.search([('company_id', '=', self.company_id.id),
                             ('l10n_pl_ksef_number', '=', original_number), ('id', '!=', self.id)], limit=1)
        if other:
            self._l10n_pl_ksef_reject(INVOICE_DUPLICATE, self.env._(
                "KSeF already holds this invoice as %(number)s, which is invoice %(other)s in Odoo. "
                "This is a duplicate: cancel it.", number=original_number, other=other.display_name))
            return
        self.with_context(skip_invoice_sync=True).write({
            'l10n_pl_ksef_state': 'accepted', 'l10n_pl_ksef_number': original_number,
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
        # The register holds it (byte-exact, immutable): no chatter message for it.
        self.with_context(skip_invoice_sync=True).l10n_pl_ksef_upo_attachment_id = attachment

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

    def _l10n_pl_ksef_fetch_missing_upos(self, client):
        """Accepted invoices whose UPO download was interrupted: fetch it now (faults tolerated per invoice)."""
        def fetch(move):
            move._l10n_pl_ksef_try_fetch_upo(client)
            self._l10n_pl_ksef_commit()
        self._l10n_pl_ksef_each_tolerating_faults(fetch)

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
            try:
                self._l10n_pl_ksef_call(session._close_on_ksef, client)
            except _RetryLater:
                continue  # closed by a later run
            self._l10n_pl_ksef_commit()
        for session in sessions.filtered(lambda s: s.state == 'closing'):
            try:
                self._l10n_pl_ksef_call(session._update_from_status, client)
            except _RetryLater:
                continue
            self._l10n_pl_ksef_commit()


class ResCompany(models.Model):
    _inherit = 'res.company'

    def _l10n_pl_ksef_lang(self):
        """Language of what the scheduled action writes for the company (its partner's, else English)."""
        self.ensure_one()
        return self.partner_id.lang or 'en_US'

    def _l10n_pl_ksef_nip_text(self):
        self.ensure_one()
        try:
            return self._l10n_pl_ksef_nip()
        except UserError:
            return self.vat or '?'

    def _l10n_pl_ksef_mark_token_refused(self):
        """KSeF refused the company's token (450): mark it revoked, so nobody keeps waiting on it."""
        self.ensure_one()
        if self.l10n_pl_ksef_auth_method != 'token':
            return
        try:
            token = self._l10n_pl_ksef_get_token_record()
        except UserError:
            return
        token.sudo().write({'ksef_status': 'Revoked'})
        token.sudo().message_post(body=self.env._(
            "KSeF refused this token when the scheduled action logged in (450); it is marked revoked. "
            "Generate a new token and save it."))
