"""Incremental download of purchase invoices from KSeF: the company as buyer (``Subject2``), as third
party (``Subject3``: additional buyer, recipient, payer, VAT-group member...) and as authorized subject
(``SubjectAuthorized``). An invoice found under several roles becomes one bill (deduplicated by KSeF
number).

One checkpoint per company and subject type: the ``permanentStorageDate`` high-water mark (HWM) up to
which every purchase invoice is known to be imported (digest §8.4). Each step exports
``PermanentStorage`` dates from the checkpoint with ``restrictToPermanentStorageHwmDate``,
imports the invoices (deduplicated by KSeF number) and only then moves the checkpoint to
``lastPermanentStorageDate`` (truncated package) or ``permanentStorageHwmDate``. An outage,
a rate limit or an unfinished export ends the run with the checkpoint unchanged, so the
next run fetches the same window again and skips what was already imported. The scheduled
action's client never sleeps in the client-side rate limiter past the run's deadline: it hands
over to a run triggered for when the limit frees.
"""
import datetime
import logging
import time

import psycopg2

from odoo import api, fields, models, modules
from odoo.exceptions import UserError
from odoo.tools import config

from ..ksef_protocol import SessionKey
from ..ksef_protocol.api_receiving import next_checkpoint
from ..ksef_protocol.errors import (KsefError, KsefOperationFailed, KsefOperationPending, KsefRateLimited,
                                    KsefRateLimitHandOver, KsefServerError, KsefTransportError, KsefUnauthorized)
from .res_company_ksef_fairness import RECEIVE_RUN_DEADLINE

_logger = logging.getLogger(__name__)

#: Without a checkpoint, the first run fetches invoices stored in KSeF during this period.
INITIAL_LOOKBACK = datetime.timedelta(days=30)
#: KSeF accepts a date range of at most 100 days (API 2.9.0); a longer gap is fetched window by window.
MAX_WINDOW = datetime.timedelta(days=89)
#: Seconds one run waits for KSeF to prepare an export before trying again later.
EXPORT_WAIT_SECONDS = 20.0
#: Export steps per company and run (each step returns up to 10,000 invoices).
MAX_STEPS_PER_RUN = 10
#: When to try again after an outage (KSeF unreachable, export not ready).
RETRY_DELAY = datetime.timedelta(minutes=15)
#: KSeF export status: the range starts after the HWM (nothing new is stored yet).
EXPORT_STATUS_AFTER_HWM = 420
#: The roles the company fetches invoices for, in this order; Subject2 keeps its checkpoint in
#: ``l10n_pl_ksef_receive_checkpoint``, the others in ``l10n_pl_ksef_receive_checkpoints``.
SUBJECT_TYPES = ('Subject2', 'Subject3', 'SubjectAuthorized')
#: Export statuses worth another try later: expired (210), unknown error (500), cancelled (550).
EXPORT_STATUSES_TO_RETRY = (210, 500, 550)


def _can_commit():
    """Commit between invoices in real runs; never inside tests (they roll back)."""
    return not config['test_enable'] and not modules.module.current_test


def _parse_ksef_datetime(value):
    """An aware UTC datetime from a KSeF ISO 8601 date-time (up to 7 fractional digits)."""
    text = value.strip().replace('Z', '+00:00')
    if '.' in text:
        head, tail = text.split('.', 1)
        digits = len(tail) - len(tail.lstrip('0123456789'))
        text = '%s.%s%s' % (head, (tail[:digits] + '000000')[:6], tail[digits:])
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc)


def _format_ksef_datetime(moment):
    return moment.astimezone(datetime.timezone.utc).isoformat(timespec='microseconds')


def _error_text(error):
    if error.errors:
        return '\n'.join('%s %s%s' % (e.code, e.description, (': ' + '; '.join(e.details)) if e.details else '')
                         for e in error.errors)
    return error.message


class _StopReceiving(Exception):
    """End this company's run without moving the checkpoint; ``retry_after`` seconds or None."""

    def __init__(self, message, retry_after=None):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class _HandOverReceiving(Exception):
    """End this company's run without moving the checkpoint: our own limiter allows the next request only
    after the run's deadline (``retry_after`` seconds from now). Not a fault: nothing is recorded as an error."""

    def __init__(self, retry_after):
        super().__init__(retry_after)
        self.retry_after = retry_after


class ResCompany(models.Model):
    _inherit = 'res.company'

    l10n_pl_ksef_receive_enabled = fields.Boolean(
        string="Receive vendor bills from KSeF",
        help="The scheduled action downloads purchase invoices issued to this company in KSeF and creates "
             "draft vendor bills from them.")
    l10n_pl_ksef_receive_checkpoint = fields.Char(
        string="KSeF receiving checkpoint", readonly=True, copy=False,
        help="KSeF permanent-storage date (HWM) up to which purchase invoices are imported; kept verbatim "
             "as KSeF returned it.")
    l10n_pl_ksef_receive_env_key = fields.Char(readonly=True, copy=False)
    l10n_pl_ksef_receive_checkpoints = fields.Json(
        string="KSeF receiving checkpoints (third party, authorized subject)", readonly=True, copy=False)
    l10n_pl_ksef_receive_third_party = fields.Boolean(
        string="Also as third party (Podmiot3)", default=True,
        help="Also fetch invoices naming the company as third party (Podmiot3: additional buyer with a share, "
             "recipient, payer, VAT-group member...).")
    l10n_pl_ksef_receive_authorized = fields.Boolean(
        string="Also as authorized subject", default=True,
        help="Also fetch invoices naming the company as authorized subject (PodmiotUpowazniony).")
    l10n_pl_ksef_receive_user_id = fields.Many2one(
        'res.users', string="Reviews received bills", domain="[('share', '=', False)]",
        help="Gets an activity for every bill received from KSeF; empty: the company's first accounting "
             "administrator.")
    l10n_pl_ksef_last_receive_date = fields.Datetime(
        string="Last KSeF receiving", readonly=True, copy=False,
        help="When purchase invoices were last fetched from KSeF successfully.")
    l10n_pl_ksef_receive_error = fields.Text(
        string="KSeF receiving problem", readonly=True, copy=False,
        help="Why the last attempt to fetch purchase invoices from KSeF did not finish.")

    # ------------------------------------------------------------------
    # Entry points
    # ------------------------------------------------------------------
    @api.model
    def _l10n_pl_ksef_cron_receive_invoices(self):
        """Scheduled action: fetch new purchase invoices of every company that receives from KSeF."""
        retry_at = None
        deadline = self._l10n_pl_ksef_receiving_deadline()
        # Fair turns across companies (res_company_ksef_fairness.py): least recently tried first, each
        # once per round (a round may take several runs).
        round_started, continued = self._l10n_pl_ksef_receiving_round()
        finished = True
        for company in self._l10n_pl_ksef_receiving_turns():
            if continued and company._l10n_pl_ksef_receiving_served(round_started):
                break  # least recently tried first: every company from here on had its turn in this round
            if time.time() > deadline:
                retry_at = fields.Datetime.now()  # the rest in the next run, right away
                finished = False
                break
            try:
                with company._l10n_pl_ksef_receiving_turn() as mine:
                    if not mine:
                        continue  # another worker is receiving for this company
                    result = company.with_context(
                        **{RECEIVE_RUN_DEADLINE: deadline})._l10n_pl_ksef_receive_invoices()
            except psycopg2.errors.TransactionRollbackError as error:
                # Rolled back (res_company_ksef_fairness.py): the other companies still get their turn.
                company._l10n_pl_ksef_receive_turn_failed(error)
                retry_at = fields.Datetime.now()
                finished = False
                continue
            if result['retry_at']:
                company._l10n_pl_ksef_receiving_again(round_started)
                finished = False
                retry_at = min(retry_at or result['retry_at'], result['retry_at'])
        self._l10n_pl_ksef_receiving_round_end(round_started, finished)
        if retry_at:
            cron = self.env.ref('l10n_pl_ksef.ir_cron_l10n_pl_ksef_receive_invoices', raise_if_not_found=False)
            if cron:
                cron.sudo()._trigger(at=retry_at)

    def action_l10n_pl_ksef_receive_invoices(self):
        """Button "Fetch from KSeF": run the incremental sync now and open what was imported."""
        self.ensure_one()
        if not self.env.user.has_group('account.group_account_invoice') \
                or (not self.env.su and self not in self.env.user.company_ids):
            raise UserError(self.env._("Only users with invoicing rights in %(company)s can fetch its invoices "
                                       "from KSeF.", company=self.name))
        with self._l10n_pl_ksef_receiving_turn() as mine:
            if not mine:
                raise UserError(self.env._("Purchase invoices of %(company)s are being fetched from KSeF right now "
                                           "(scheduled action). Try again in a moment.", company=self.name))
            result = self.sudo()._l10n_pl_ksef_receive_invoices()
        if result['error']:
            raise UserError(result['error'])
        if not result['moves']:
            return {
                'type': 'ir.actions.client',
                'tag': 'display_notification',
                'params': {'type': 'info', 'sticky': False,
                           'message': self.env._("No new purchase invoices in KSeF.")},
            }
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._("Received from KSeF"),
            'res_model': 'account.move',
            'view_mode': 'list,form',
            'domain': [('id', 'in', result['moves'].ids)],
            'context': {'default_move_type': 'in_invoice'},
        }

    def _l10n_pl_ksef_receive_invoices(self, max_steps=MAX_STEPS_PER_RUN):
        """Fetch purchase invoices stored in KSeF since the checkpoint and import them as draft bills.

        :returns: ``{'moves': account.move imported in this run, 'error': str | False,
            'retry_at': datetime | None}``; on an error the checkpoint is unchanged and the
            bills already created stay (the next run skips them by KSeF number).
        """
        self.ensure_one()
        company = self.sudo()
        imported = []  # bills created by the steps: reported even when a later step fails
        more = False
        try:
            try:
                more = company._l10n_pl_ksef_receive_steps(max_steps, imported)
            except KsefUnauthorized:
                # The stored access token was revoked or expired early: authenticate again, once.
                company._l10n_pl_ksef_forget_access_token()
                more = company._l10n_pl_ksef_receive_steps(max_steps, imported)
        except _HandOverReceiving as handover:
            # Our own pacing, not KSeF refusing: the problem shown stays what the last real answer said (an
            # earlier outage is cleared by the next step that completes), and the run ends without sleeping.
            _logger.info("KSeF receiving of company %s handed over: the rate limit frees in %.1f s",
                         company.id, handover.retry_after or 0.0)
            return {'moves': self._l10n_pl_ksef_moves(imported), 'error': False,
                    'retry_at': fields.Datetime.now() + datetime.timedelta(seconds=handover.retry_after or 0.0)}
        except _StopReceiving as stop:
            company.l10n_pl_ksef_receive_error = stop.message
            delay = datetime.timedelta(seconds=stop.retry_after) if stop.retry_after else RETRY_DELAY
            return {'moves': self._l10n_pl_ksef_moves(imported), 'error': stop.message,
                    'retry_at': fields.Datetime.now() + delay}
        except (UserError, KsefError) as error:
            message = error.args[0] if isinstance(error, UserError) else _error_text(error)
            _logger.info("KSeF receiving of company %s stopped: %s", company.id, message)
            company.l10n_pl_ksef_receive_error = message
            return {'moves': self._l10n_pl_ksef_moves(imported), 'error': message, 'retry_at': None}
        # More than ``max_steps`` packages waiting: carry on in the next run, right away.
        return {'moves': self._l10n_pl_ksef_moves(imported), 'error': False,
                'retry_at': fields.Datetime.now() if more else None}

    def _l10n_pl_ksef_moves(self, moves):
        return self.env['account.move'].union(*moves)

    # ------------------------------------------------------------------
    # Steps
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_receive_subject_types(self):
        self.ensure_one()
        return [subject for subject in SUBJECT_TYPES
                if subject == 'Subject2'
                or (subject == 'Subject3' and self.l10n_pl_ksef_receive_third_party)
                or (subject == 'SubjectAuthorized' and self.l10n_pl_ksef_receive_authorized)]

    def _l10n_pl_ksef_receive_steps(self, max_steps, imported):
        """For each subject type the company receives as: export, import, advance the checkpoint;
        repeat while KSeF says there is more.

        Each package's new bills are appended to the list ``imported``; returns True when
        packages remain after ``max_steps`` for some subject type.
        """
        client = self._l10n_pl_ksef_receiving_call(self._l10n_pl_ksef_get_client)
        # A scheduled run never sleeps in the rate limiter past its deadline (None: the button waits as before).
        client.limiter.deadline = self.env.context.get(RECEIVE_RUN_DEADLINE)
        key = SessionKey.generate()
        subjects = self._l10n_pl_ksef_receive_subject_types()
        start = self._l10n_pl_ksef_receive_window('Subject2')[0]
        checkpoints = dict(self.l10n_pl_ksef_receive_checkpoints or {})
        missing = {subject: start for subject in subjects if subject != 'Subject2' and not checkpoints.get(subject)}
        if missing:  # a role received for the first time starts where the buyer's run starts now
            self.l10n_pl_ksef_receive_checkpoints = dict(checkpoints, **missing)
        more = False
        for subject in subjects:
            more |= self._l10n_pl_ksef_receive_subject_steps(client, key, subject, max_steps, imported)
        return more

    def _l10n_pl_ksef_receive_subject_steps(self, client, key, subject, max_steps, imported):
        for _step in range(max_steps):
            checkpoint, window_end = self._l10n_pl_ksef_receive_window(subject)
            date_range = {'dateType': 'PermanentStorage', 'from': checkpoint,
                          'restrictToPermanentStorageHwmDate': True}
            if window_end:
                date_range['to'] = window_end
            filters = {'subjectType': subject, 'dateRange': date_range}
            reference = self._l10n_pl_ksef_receiving_call(client.start_export, filters, key)
            try:
                status = self._l10n_pl_ksef_receiving_call(client.wait_for_export, reference,
                                                           wait=EXPORT_WAIT_SECONDS)
            except KsefOperationFailed as error:
                if error.status_code == EXPORT_STATUS_AFTER_HWM:
                    self._l10n_pl_ksef_receive_done(checkpoint, subject)  # nothing stored after it yet
                    return False
                if error.status_code in EXPORT_STATUSES_TO_RETRY:
                    raise _StopReceiving(self.env._(
                        "KSeF could not prepare the invoice export (status %(code)s); it is tried again "
                        "automatically later.", code=error.status_code)) from error
                raise
            package = self._l10n_pl_ksef_receiving_call(client.download_export, status, key)
            imported.append(self._l10n_pl_ksef_import_package(package))
            package_info = status.get('package') or {}
            new_checkpoint = next_checkpoint(package_info, checkpoint)
            truncated = bool(package_info.get('isTruncated'))
            if window_end and not truncated:
                new_checkpoint = window_end  # the HWM may lie beyond the window we asked for
            self._l10n_pl_ksef_receive_done(new_checkpoint, subject)
            if not truncated and not window_end:
                return False
            if new_checkpoint == checkpoint:
                raise UserError(self.env._(
                    "KSeF returned a truncated export without moving past %(date)s; contact KSeF support.",
                    date=checkpoint))
        return True

    def _l10n_pl_ksef_receive_window(self, subject='Subject2'):
        """``(from, to | None)`` of the next export: from the checkpoint, at most MAX_WINDOW long.

        A subject type without a checkpoint of its own starts where the buyer's (Subject2) is."""
        env_key = self._l10n_pl_ksef_environment_key()
        same_env = self.l10n_pl_ksef_receive_env_key == env_key
        checkpoint = self.l10n_pl_ksef_receive_checkpoint if same_env else False
        if subject != 'Subject2' and same_env:
            checkpoint = (self.l10n_pl_ksef_receive_checkpoints or {}).get(subject) or checkpoint
        now = datetime.datetime.now(datetime.timezone.utc)
        if not checkpoint:
            checkpoint = _format_ksef_datetime(now - INITIAL_LOOKBACK)
            self.write({'l10n_pl_ksef_receive_checkpoint': checkpoint, 'l10n_pl_ksef_receive_env_key': env_key,
                        'l10n_pl_ksef_receive_checkpoints': False})
        start = _parse_ksef_datetime(checkpoint)
        if now - start > MAX_WINDOW:
            return checkpoint, _format_ksef_datetime(start + MAX_WINDOW)
        return checkpoint, None

    def _l10n_pl_ksef_receive_done(self, checkpoint, subject='Subject2'):
        """Every invoice of ``subject`` up to ``checkpoint`` is imported: store it (committed in real runs)."""
        vals = {'l10n_pl_ksef_last_receive_date': fields.Datetime.now(), 'l10n_pl_ksef_receive_error': False}
        if subject == 'Subject2':
            vals['l10n_pl_ksef_receive_checkpoint'] = checkpoint
        else:
            vals['l10n_pl_ksef_receive_checkpoints'] = dict(self.l10n_pl_ksef_receive_checkpoints or {},
                                                            **{subject: checkpoint})
        self.write(vals)
        if _can_commit():
            self.env['ir.cron']._commit_progress(0)

    def _l10n_pl_ksef_import_package(self, package):
        """Create draft bills for the package's invoices not imported yet; commit after each."""
        Move = self.env['account.move']
        files = package.invoices_by_ksef_number()
        metadata = {record.get('ksefNumber'): record for record in package.metadata}
        numbers = sorted(files, key=lambda number: (metadata.get(number, {}).get('permanentStorageDate') or '',
                                                    number))
        known = Move._l10n_pl_ksef_find_received(self, numbers)
        imported = Move
        for number in numbers:
            if number in known:
                continue
            imported |= Move._l10n_pl_ksef_import_received_invoice(self, number, files[number], metadata.get(number))
            if _can_commit():
                self.env['ir.cron']._commit_progress(1)
        if imported:
            _logger.info("KSeF: %s purchase invoice(s) imported for company %s", len(imported), self.id)
            self._l10n_pl_ksef_ask_review(imported)
        return imported

    def _l10n_pl_ksef_review_user(self):
        """Who reviews received bills: the chosen user, else the company's first accounting administrator."""
        self.ensure_one()
        if self.l10n_pl_ksef_receive_user_id:
            return self.l10n_pl_ksef_receive_user_id
        return self.env['res.users'].sudo().search([
            ('group_ids', 'in', self.env.ref('account.group_account_manager').id), ('share', '=', False),
            ('company_ids', 'in', self.id), ('id', '!=', self.env.ref('base.user_root').id)], order='id', limit=1)

    def _l10n_pl_ksef_ask_review(self, bills):
        """One to-do activity per new bill for the reviewer, worded in the reviewer's language."""
        user = self._l10n_pl_ksef_review_user()
        if not user:
            return
        for bill in bills.with_context(lang=user.lang or self.env.lang):
            bill.activity_schedule(
                'mail.mail_activity_data_todo', user_id=user.id,
                summary=bill.env._("Review the bill received from KSeF"),
                note=bill.env._("%(supplier)s, invoice %(number)s: check the accounts and taxes, read the notes "
                                "and post the bill.", supplier=bill.partner_id.display_name, number=bill.ref or ''))

    @api.model
    def _l10n_pl_ksef_receiving_call(self, function, *args, **kwargs):
        """Run a protocol call; outages, rate limits and slow exports end the run for a later retry."""
        try:
            return function(*args, **kwargs)
        except KsefRateLimitHandOver as error:
            raise _HandOverReceiving(error.retry_after) from error
        except KsefRateLimited as error:
            raise _StopReceiving(self.env._(
                "KSeF asked to wait (too many requests); purchase invoices are fetched again in %(seconds)s "
                "seconds.", seconds=int(error.retry_after or 0) or '?'), error.retry_after) from error
        except (KsefTransportError, KsefServerError) as error:
            _logger.info("KSeF unreachable while receiving: %s", error.message)
            raise _StopReceiving(self.env._(
                "KSeF is not reachable right now; purchase invoices are fetched again automatically later. "
                "(%(error)s)", error=_error_text(error))) from error
        except KsefOperationPending as error:
            raise _StopReceiving(self.env._(
                "KSeF is still preparing the invoice export; it is fetched again automatically later.")) from error
