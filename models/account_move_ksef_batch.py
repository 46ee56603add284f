"""Batch sending: a long queue goes to KSeF as one batch session (ZIP package) instead of one call per invoice.

When a company's queue holds at least ``res.company.l10n_pl_ksef_batch_threshold`` invoices (0: never)
at the moment the send step runs, the queue step sends them in one batch session (digest §5):

``queued``
    every invoice's FA(3) is rendered and validated (invalid ones become ``not_sent`` and are left
    out) by chunks, over as many runs as it takes: each chunk's XML is kept (attachment and hash) on
    the invoices, still queued, and committed; a change of the invoice's KSeF state drops it (the file is
    deleted, unless it became the file sent or the register holds it). Once
    the queue (up to 10,000 invoices, KSeF's limit per session) is prepared, the ZIP package is
    built from the kept files (each checked against its hash) and split into parts (≤ 100 MB each),
    and the batch session is opened on KSeF: a long queue is one session, not one per run;
``sending``
    recorded and committed *before* any upload, exactly as online sending records it: the session
    (kind ``batch``), the hash, size and attachment of the exact XML of every invoice;
``sent``
    the parts are uploaded to KSeF's pre-signed URLs and the session is closed: KSeF processes the
    package (session status 150, then 200 with the collective UPO);
``accepted`` / ``rejected``
    once KSeF has processed the package, the session's invoice list gives each invoice's status,
    matched by the hash of its XML; the existing status handling records the KSeF number and
    attaches the UPO (downloaded from KSeF's pre-signed link, which is not rate-limited).

Nothing lost, nothing sent twice:

* KSeF never processes a batch session that is not closed. When the upload fails, or the close is
  refused, the session is *abandoned*: marked failed and never closed afterwards, and its invoices are
  queued again at once (a new batch session sends them).
* While the parts are uploaded and the session is closed, the session's row stays locked; a close
  with an uncertain outcome (timeout, dropped answer), or a worker that died before recording it,
  leaves the invoices ``sending``: the next run (or the *Refresh* button) reads the session status on
  KSeF: still open (100) or cancelled (440) -> abandoned and queued again; anything else -> closed,
  the invoices are ``sent`` and followed.
* A processed session that does not list an invoice (package-level failure such as 405/415/430/435)
  never will: that invoice is queued again.
"""
import datetime
import logging

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, split_every

from ..ksef_protocol import BatchArchive, sha256_b64
from ..ksef_protocol.batch import MAX_PART_SIZE
from ..ksef_protocol.errors import (KsefError, KsefHttpError, KsefRateLimited, KsefServerError,
                                    KsefTransportError)
from .account_move_ksef_queue import INVOICE_ACCEPTED, _HandOver, _RetryLater, _error_text
from .account_move_ksef_register import NEW_FILES

_logger = logging.getLogger(__name__)

#: KSeF accepts at most 10,000 invoices per batch session.
BATCH_MAX_INVOICES = 10000
#: Size of each package part before encryption (KSeF: at most 100 MB, at most 50 parts).
BATCH_PART_SIZE = MAX_PART_SIZE
#: Uncompressed XML bytes per package; the rest of the queue waits for the next batch (memory bound).
BATCH_MAX_XML_BYTES = 500 * 1000 * 1000
#: Invoices rendered and kept per committed chunk while a package is prepared (over several runs when needed:
#: each run works within its share of ``RUN_BUDGET_SECONDS``, then hands over to a run triggered at once).
BATCH_PREPARE_CHUNK = 200
#: Estimated seconds to send a prepared package (read and check the kept files, ZIP, open, record 'sending',
#: upload, close): fixed part and per invoice. A run that has less time left hands over to a fresh run, so
#: the transaction up to the commit of 'sending' never meets the cron's time limit. Measured: 8.7 s for the
#: whole send of 10,000 invoices on a quiet 2-core machine (0.9 ms each); the margin covers a loaded one.
BATCH_SEND_SECONDS = 5.0
BATCH_SEND_SECONDS_PER_INVOICE = 0.004
#: Seconds between reads of the status of a batch session KSeF is processing (KSeF allows 120 a minute and
#: 1,200 an hour): every second during the first ``BATCH_FIRST_FOLLOW_UPS_SECONDS`` after the close (the
#: session's ``last_used``; a package of a few thousand invoices takes seconds), then every
#: ``BATCH_FOLLOW_UP_SECONDS``: 30 + 12 a minute at most.
BATCH_FOLLOW_UP_SECONDS = 5
BATCH_FIRST_FOLLOW_UPS_SECONDS = 30
#: Invoices whose state changes are committed together after KSeF closed or abandoned a session (a run
#: checks its time between chunks, so a chunk bounds how far a run may go past its budget).
BATCH_COMMIT_CHUNK = 250
#: Session status codes meaning KSeF has not closed the session, so it never processes it
#: (100 open, 440 cancelled: not closed in time or nothing uploaded).
BATCH_NOT_CLOSED_CODES = (100, 440)
#: Session status codes while KSeF is still working on a package (0: not read yet).
BATCH_PROCESSING_CODES = (0, 100, 150)
#: Page size when listing a processed session's invoices (KSeF allows 10-1000).
BATCH_STATUS_PAGE_SIZE = 1000
#: UPO downloads from pre-signed links at a time, and how many may wait downloaded ahead of their recording
#: (the links are not rate-limited; against KSeF each download is a network round trip).
UPO_DOWNLOAD_WORKERS = 8
UPO_DOWNLOADS_AHEAD = 2 * BATCH_COMMIT_CHUNK


def _execute_for_rows(cr, statement, rows):
    """Run ``statement`` (an UPDATE ... FROM (VALUES %s)) for ``rows``, 1,000 a statement: the values proper
    to each invoice are written for a whole set at once."""
    for chunk in split_every(1000, rows):
        placeholders = '(%s)' % ', '.join(['%s'] * len(chunk[0]))
        cr.execute(SQL(statement, SQL(', ').join(SQL(placeholders, *row) for row in chunk)))


def _acceptance_with_upo_link(status):
    """True for an acceptance whose UPO can be taken from KSeF's pre-signed link now (not expired)."""
    if status.code != 200 or not status.ksef_number or not status.upo_download_url:
        return False
    expires = status.upo_download_url_expires_at
    return not expires or expires > datetime.datetime.now(datetime.timezone.utc)


class AccountMove(models.Model):
    _inherit = 'account.move'

    l10n_pl_ksef_batch_xml_id = fields.Many2one(
        'ir.attachment', string="FA(3) XML prepared for a batch", copy=False, readonly=True,
        help="The file rendered and checked for the next batch package while the invoice waits in the queue.")
    l10n_pl_ksef_batch_xml_hash = fields.Char(string="Prepared FA(3) XML hash (SHA-256)", copy=False, readonly=True)

    def write(self, vals):
        # A file is prepared for this very queueing: any change of the KSeF state drops it.
        if 'l10n_pl_ksef_state' in vals and 'l10n_pl_ksef_batch_xml_hash' not in vals:
            vals = {**vals, 'l10n_pl_ksef_batch_xml_id': False, 'l10n_pl_ksef_batch_xml_hash': False}
        kept = self.sudo().l10n_pl_ksef_batch_xml_id if 'l10n_pl_ksef_batch_xml_id' in vals else None
        result = super().write(vals)
        if kept:
            self._l10n_pl_ksef_batch_delete_dropped(kept - self.sudo().l10n_pl_ksef_batch_xml_id)
        return result

    def _l10n_pl_ksef_batch_delete_dropped(self, attachments):
        """Delete prepared files these invoices no longer keep (taken out of the queue, file found changed):
        nothing would ever read them. A file that became the invoice's sent XML ('sending') or that the KSeF
        register holds is evidence and stays. One unlink for the set."""
        orphans = attachments.sudo() - self.sudo().l10n_pl_ksef_xml_attachment_id
        orphans -= orphans._l10n_pl_ksef_register_files()
        if orphans:
            orphans.unlink()

    # ------------------------------------------------------------------
    # Choosing batch
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_send(self, client, company):
        """Send the queue of ``company`` in one batch session when it is long enough, else online."""
        if self._l10n_pl_ksef_send_batch_if_due(client, company):
            return
        return super()._l10n_pl_ksef_send(client, company)

    def _l10n_pl_ksef_batch_eligible(self):
        """True when the invoice may travel in a batch package.

        ``offlineMode`` is declared per batch session, so invoices sent in offline mode (issued
        offline) are left to the online flow, which declares it per invoice.
        """
        self.ensure_one()
        in_offline_mode = getattr(self, '_l10n_pl_ksef_send_in_offline_mode', None)
        return not (in_offline_mode and in_offline_mode())

    @api.model
    def _l10n_pl_ksef_batch_candidates(self, company):
        """Queued invoices of ``company`` that would go in a batch now, oldest first (at most 10,000)."""
        threshold = company.l10n_pl_ksef_batch_threshold
        if threshold <= 0:
            return self.browse()
        domain = self._l10n_pl_ksef_due_domain(company)
        if self.search_count(domain) < threshold:
            return self.browse()
        candidates = self.search(domain, order='id', limit=BATCH_MAX_INVOICES).filtered(
            lambda move: move._l10n_pl_ksef_batch_eligible())
        return candidates if len(candidates) >= threshold else self.browse()

    @api.model
    def _l10n_pl_ksef_send_batch_if_due(self, client, company):
        """Send the queue in one batch session when it reached the company's threshold.

        :returns: True when the batch path handled this run's sending (the online flow is skipped).
        """
        candidates = self._l10n_pl_ksef_batch_candidates(company)
        if not candidates:
            return False
        # Prepared by committed chunks, across runs when needed: a process that dies between chunks loses
        # only the chunk in progress (the invoices are still queued, nothing was sent).
        unprepared = candidates.filtered(lambda move: not move.l10n_pl_ksef_batch_xml_hash)
        for index, chunk in enumerate(split_every(BATCH_PREPARE_CHUNK, unprepared.ids, self.browse)):
            self._l10n_pl_ksef_check_time(started=index > 0)
            moves = chunk.try_lock_for_update()  # others are being handled by another worker
            moves.invalidate_recordset()
            moves.filtered(lambda move: move.l10n_pl_ksef_state == 'queued'
                           and not move.l10n_pl_ksef_batch_xml_hash)._l10n_pl_ksef_batch_prepare()
            self._l10n_pl_ksef_commit(len(chunk))
        if unprepared and self._l10n_pl_ksef_time_left() < (
                BATCH_SEND_SECONDS + BATCH_SEND_SECONDS_PER_INVOICE * len(candidates)):
            raise _HandOver.after(0)  # a fresh run sends the package
        self._l10n_pl_ksef_check_time(client, 'batchSession', started=False)
        moves = candidates.try_lock_for_update()
        moves.invalidate_recordset()
        moves = moves.filtered(lambda move: move.l10n_pl_ksef_state == 'queued' and move.l10n_pl_ksef_batch_xml_hash)
        prepared = moves._l10n_pl_ksef_batch_prepared_files()
        if not prepared:
            return True  # every candidate was invalid: marked 'not sent', nothing to send
        self._l10n_pl_ksef_batch_send(client, company, prepared)
        return True

    # ------------------------------------------------------------------
    # Building and sending the package
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_batch_prepare(self):
        """Render and validate each invoice's FA(3) and keep it on the queued invoice (attachment and hash,
        one insert for the attachments); invalid ones become 'not sent' (never sent)."""
        files = []
        for move in self:
            try:
                xml = move._l10n_pl_ksef_render_fa3()
            except UserError as error:
                findings = [line for line in str(error.args[0]).split('\n') if line]
                move.write({'l10n_pl_ksef_state': 'not_sent', 'l10n_pl_ksef_error': '\n'.join(findings)})
                move._l10n_pl_ksef_log(self.env._("Not sent to KSeF: the FA(3) XML is not valid."),
                                       '; '.join(findings))
                continue
            files.append((move, xml))
        attachments = self.env['ir.attachment'].create([{
            'name': move._l10n_pl_ksef_fa3_filename(), 'raw': xml, 'mimetype': 'application/xml',
            'res_model': move._name, 'res_id': move.id,
        } for move, xml in files])
        # One statement for the set, not one write (and UPDATE) per invoice: these two
        # fields touch nothing else, and the invoices are locked by the caller.
        kept = ['l10n_pl_ksef_batch_xml_id', 'l10n_pl_ksef_batch_xml_hash']
        moves = self.browse([move.id for move, _xml in files])
        moves.flush_recordset(kept)
        _execute_for_rows(self.env.cr, "UPDATE account_move SET l10n_pl_ksef_batch_xml_id = v.file, "
                          "l10n_pl_ksef_batch_xml_hash = v.hash FROM (VALUES %s) AS v(id, file, hash) "
                          "WHERE account_move.id = v.id",
                          [(move.id, attachment.id, sha256_b64(xml))
                           for (move, xml), attachment in zip(files, attachments)])
        moves.invalidate_recordset(kept)
        moves.modified(kept)

    def _l10n_pl_ksef_batch_prepared_files(self):
        """The kept files of these prepared invoices for one package (within its size limit), each checked
        against the hash recorded when it was prepared (a file that differs is prepared again).

        :returns: list of ``(move, file_name, xml_bytes, attachment)``.
        """
        prepared = []
        names = set()
        total = 0
        changed = []  # ids of invoices whose kept file differs from its hash
        for move in self:
            attachment = move.l10n_pl_ksef_batch_xml_id
            xml = attachment.sudo().raw if attachment else b''
            if not xml or sha256_b64(xml) != move.l10n_pl_ksef_batch_xml_hash:
                changed.append(move.id)
                continue
            if prepared and total + len(xml) > BATCH_MAX_XML_BYTES:
                break
            name = attachment.name or move._l10n_pl_ksef_fa3_filename()
            if name in names:
                name = '%s-%s.xml' % (name[:-4], move.id)
            names.add(name)
            total += len(xml)
            prepared.append((move, name, xml, attachment))
        if changed:  # one write for the set: their files are deleted together (write above)
            self.browse(changed)._l10n_pl_ksef_batch_quiet().write({'l10n_pl_ksef_batch_xml_id': False,
                                                                   'l10n_pl_ksef_batch_xml_hash': False})
        return prepared

    @api.model
    def _l10n_pl_ksef_batch_send(self, client, company, prepared):
        """Open a batch session for ``prepared`` invoices, record them, upload the package and close it."""
        archive = BatchArchive.build({name: xml for _move, name, xml, _attachment in prepared},
                                     part_size=BATCH_PART_SIZE)
        # Nothing is recorded before KSeF opened the session: a failure here leaves the invoices queued,
        # and a session opened but never recorded is never closed, so KSeF never processes it.
        session, info, key = self._l10n_pl_ksef_call(
            self.env['ksef.session']._open_batch_session, company, client, archive)
        moves = self.browse([move.id for move, _name, _xml, _attachment in prepared])
        moves._l10n_pl_ksef_batch_record_sending(session, prepared)
        # From here on KSeF may end up holding the invoices: this state must survive a crash.
        self._l10n_pl_ksef_commit(0)
        # The session row stays locked until the upload and the close are recorded, so that the
        # reconciliation of another worker never abandons a session being uploaded.
        if not session.try_lock_for_update():
            return
        session.invalidate_recordset()
        moves.invalidate_recordset()
        if session.state != 'open':
            return  # another worker already settled it
        try:
            client.upload_batch_parts(info, key, archive)
        except KsefError as error:
            _logger.info("KSeF batch session %s: upload failed (%s); abandoned", session.reference_number,
                         error.message)
            moves._l10n_pl_ksef_batch_abandon(session, self._l10n_pl_ksef_batch_failure_text(error))
            self._l10n_pl_ksef_commit()
            self._l10n_pl_ksef_batch_raise(error)
        try:
            client.close_batch_session(session.reference_number)
        except KsefError as error:
            # Whether KSeF closed it decides everything: ask it (an outage leaves it for the next run).
            _logger.info("KSeF batch session %s: close failed (%s); checking its status",
                         session.reference_number, error.message)
            moves.write({'l10n_pl_ksef_error': self.env._(
                "KSeF did not confirm closing the batch session (%(error)s). The next run checks its status "
                "before sending again.", error=_error_text(error))})
            if not moves._l10n_pl_ksef_batch_settle(session, client,
                                                    self._l10n_pl_ksef_batch_failure_text(error)):
                self._l10n_pl_ksef_commit()
                self._l10n_pl_ksef_batch_raise(error)
        else:
            session._mark_batch_closed()
            self._l10n_pl_ksef_commit(0)
            moves._l10n_pl_ksef_batch_mark_sent(session)

    def _l10n_pl_ksef_batch_record_sending(self, session, prepared):
        """Record these invoices 'sending' in ``session`` with their files: one statement for the values of
        each invoice (hash, size, file), one write for the set. The register opens one transmission per
        invoice and the batch session's chatter tells the sending: no line sync (these fields never touch
        lines) and no tracking message per invoice."""
        files = ['l10n_pl_ksef_invoice_hash', 'l10n_pl_ksef_invoice_size', 'l10n_pl_ksef_xml_attachment_id']
        self.flush_recordset(files)
        _execute_for_rows(self.env.cr, "UPDATE account_move SET l10n_pl_ksef_invoice_hash = v.hash, "
                          "l10n_pl_ksef_invoice_size = v.size, l10n_pl_ksef_xml_attachment_id = v.file "
                          "FROM (VALUES %s) AS v(id, hash, size, file) WHERE account_move.id = v.id",
                          [(move.id, sha256_b64(xml), len(xml), attachment.id)
                           for move, _name, xml, attachment in prepared])
        self.invalidate_recordset(files)
        self.modified(files)
        self._l10n_pl_ksef_batch_quiet().with_context(**{NEW_FILES: True}).write({
            'l10n_pl_ksef_state': 'sending',
            'l10n_pl_ksef_session_id': session.id,
            'l10n_pl_ksef_reference': False,
            'l10n_pl_ksef_status_code': 0,
            'l10n_pl_ksef_error': False,
        })

    def _l10n_pl_ksef_batch_failure_text(self, error):
        return self.env._("KSeF did not take the batch package (%(error)s); the invoices are sent again "
                          "automatically.", error=_error_text(error))

    @api.model
    def _l10n_pl_ksef_batch_raise(self, error):
        """After abandoning a batch: outages and rate limits retry later; other errors stop the run."""
        if isinstance(error, (KsefTransportError, KsefServerError, KsefRateLimited)):
            raise _RetryLater(error, error.retry_after) from error
        raise error

    def _l10n_pl_ksef_batch_mark_sent(self, session):
        """KSeF closed ``session``: its invoices are 'sent' (committed by chunks: once the session is
        closed, what a killed run left 'sending' is marked by the next run's reconciliation)."""
        now = fields.Datetime.now()
        for index, moves in enumerate(split_every(BATCH_COMMIT_CHUNK, self.ids, self.browse)):
            self._l10n_pl_ksef_check_time(started=index > 0)
            # No chatter note here: the register shows the transmission, and the note of the acceptance
            # names the session (one message per invoice instead of two).
            moves._l10n_pl_ksef_batch_quiet().write(
                {'l10n_pl_ksef_state': 'sent', 'l10n_pl_ksef_sent_date': now, 'l10n_pl_ksef_error': False})
            self._l10n_pl_ksef_commit(len(moves))

    def _l10n_pl_ksef_batch_quiet(self):
        """These invoices in an environment for set writes of KSeF fields: Odoo's line synchronisation is
        skipped (the fields never touch lines) and so is field tracking (the message logged with the same
        write, and the register of transmissions, say what changed)."""
        return self.with_context(skip_invoice_sync=True, mail_notrack=True)

    def _l10n_pl_ksef_log_batch(self, message, bodies=None):
        """One chatter note per invoice in a single insert (``bodies``: {move id: text}, else ``message``)."""
        if not self:
            return
        self._message_log_batch(bodies={move.id: Markup('%s') % (bodies[move.id] if bodies else message)
                                        for move in self})

    def _l10n_pl_ksef_batch_abandon(self, session, reason):
        """``session`` will never be closed, so KSeF never processes it: queue its invoices again.

        The session is marked first: what a killed run left 'sending' is queued by the next run.
        """
        if session.state != 'failed':
            session._abandon_batch(reason)
            self._l10n_pl_ksef_commit(0)
        for moves in split_every(BATCH_COMMIT_CHUNK, self.ids, self.browse):
            moves._l10n_pl_ksef_batch_quiet().write({'l10n_pl_ksef_state': 'queued', 'l10n_pl_ksef_session_id': False,
                                                     'l10n_pl_ksef_error': reason})
            moves._l10n_pl_ksef_log_batch(self.env._(
                "KSeF batch session %(ref)s was not completed, so KSeF does not process it; the invoice is "
                "queued again.", ref=session.reference_number))
            self._l10n_pl_ksef_commit(0)

    def _l10n_pl_ksef_batch_settle(self, session, client, reason):
        """Decide the fate of these 'sending' invoices of ``session`` from KSeF's session status.

        The caller holds the lock of ``session``. Returns True when KSeF closed the session (the
        invoices are 'sent'), False when it was abandoned (they are queued again); an outage
        raises ``_RetryLater`` and leaves them 'sending' for the next run.
        """
        status = self._l10n_pl_ksef_call(client.get_session_status, session.reference_number)
        if status.code in BATCH_NOT_CLOSED_CODES:
            self._l10n_pl_ksef_batch_abandon(session, reason)
            return False
        if session.state == 'open':
            session.write({'status_code': status.code or 0, 'status_text': status.description})
            session._mark_batch_closed()
            self._l10n_pl_ksef_commit(0)
        self._l10n_pl_ksef_batch_mark_sent(session)
        return True

    # ------------------------------------------------------------------
    # Uncertain outcomes
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_reconcile(self, client):
        batch = self.filtered(lambda move: move.l10n_pl_ksef_session_id.kind == 'batch')
        super(AccountMove, self - batch)._l10n_pl_ksef_reconcile(client)
        for session, moves in batch.grouped('l10n_pl_ksef_session_id').items():
            if not session.try_lock_for_update():
                continue  # its upload is in progress in another transaction
            session.invalidate_recordset()
            moves.invalidate_recordset()
            moves = moves.filtered(lambda move: move.l10n_pl_ksef_state == 'sending'
                                   and move.l10n_pl_ksef_session_id == session)
            if not moves:
                continue
            moves._l10n_pl_ksef_batch_settle(session, client, self.env._(
                "The batch session was not closed (interrupted upload or close); the invoices are sent "
                "again automatically."))
            self._l10n_pl_ksef_commit()

    @api.model
    def _l10n_pl_ksef_maintain_sessions(self, company, client):
        super()._l10n_pl_ksef_maintain_sessions(company, client)
        # A batch session left open without invoices (they were queued again) is never closed: say so.
        orphans = self.env['ksef.session'].search([('company_id', '=', company.id), ('kind', '=', 'batch'),
                                                   ('state', '=', 'open')])
        for session in orphans.try_lock_for_update():
            session.invalidate_recordset()
            if session.state == 'open' and not session.move_ids.filtered(
                    lambda move: move.l10n_pl_ksef_state == 'sending'):
                session._abandon_batch(self.env._("No invoice waits for this batch session any more."))
                self._l10n_pl_ksef_commit()

    # ------------------------------------------------------------------
    # Following the status
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_poll(self, client):
        batch = self.filtered(lambda move: move.l10n_pl_ksef_session_id.kind == 'batch')
        super(AccountMove, self - batch)._l10n_pl_ksef_poll(client)
        for session, moves in batch.grouped('l10n_pl_ksef_session_id').items():
            moves._l10n_pl_ksef_batch_poll(session, client)

    def _l10n_pl_ksef_batch_poll(self, session, client):
        """Once KSeF processed the package, record every invoice's status from the session's list.

        One paged list call per session instead of one status call per invoice (KSeF allows
        1,200 of those an hour); invoices are matched by the hash of the XML sent.
        """
        if session.state == 'closing':
            self._l10n_pl_ksef_call(session._update_from_status, client)
            self._l10n_pl_ksef_commit()
        if session.status_code in BATCH_PROCESSING_CODES:
            return  # KSeF is still working on the package
        statuses = {status.invoice_hash: status for status in self._l10n_pl_ksef_call(
            lambda: list(client.iter_session_invoices(session.reference_number,
                                                      page_size=BATCH_STATUS_PAGE_SIZE)))}
        # The UPOs come in the background, in the order the chunks record them, while earlier chunks are
        # written (the links are not rate-limited); what a handed-over run did not start is cancelled.
        links = [statuses[move.l10n_pl_ksef_invoice_hash].upo_download_url for move in self
                 if move.l10n_pl_ksef_invoice_hash in statuses
                 and _acceptance_with_upo_link(statuses[move.l10n_pl_ksef_invoice_hash])]
        with client.upo_downloads(links, max_workers=UPO_DOWNLOAD_WORKERS,
                                  ahead=UPO_DOWNLOADS_AHEAD) as downloads:
            self._l10n_pl_ksef_batch_record(session, client, statuses, downloads)

    def _l10n_pl_ksef_batch_record(self, session, client, statuses, downloads):
        """Record the statuses of these invoices of the processed ``session``, by committed chunks."""
        for index, chunk in enumerate(split_every(BATCH_COMMIT_CHUNK, self.ids, self.browse)):
            # Everything KSeF finished is recorded, by committed chunks; when this run's time is used up,
            # a run triggered at once carries on.
            self._l10n_pl_ksef_check_time(started=index > 0)
            moves = chunk.try_lock_for_update()
            moves.invalidate_recordset()
            moves = moves.filtered(lambda move: move.l10n_pl_ksef_state == 'sent'
                                   and move.l10n_pl_ksef_session_id == session)
            missing = moves.filtered(lambda move: move.l10n_pl_ksef_invoice_hash not in statuses)
            if missing:
                # KSeF is done with the package and does not hold these invoices: it never will.
                missing._l10n_pl_ksef_batch_quiet().write({
                    'l10n_pl_ksef_state': 'queued', 'l10n_pl_ksef_session_id': False,
                    'l10n_pl_ksef_error': self.env._(
                        "KSeF processed the batch session %(ref)s (status %(code)s) without registering "
                        "this invoice; it is sent again automatically.",
                        ref=session.reference_number, code=session.status_code)})
                missing._l10n_pl_ksef_log_batch(self.env._(
                    "KSeF did not register the invoice from batch session %(ref)s; the invoice is queued again.",
                    ref=session.reference_number))
            found = moves - missing
            accepted = found.filtered(lambda move: _acceptance_with_upo_link(
                statuses[move.l10n_pl_ksef_invoice_hash]))
            accepted._l10n_pl_ksef_batch_accept(statuses, client, downloads)
            for move in found - accepted:  # pending, rejected, duplicates, expired links: one by one
                status = statuses[move.l10n_pl_ksef_invoice_hash]
                move.with_context(skip_invoice_sync=True).l10n_pl_ksef_reference = status.reference_number
                url = status.upo_download_url if _acceptance_with_upo_link(status) else None
                move.with_context(l10n_pl_ksef_upo_download_url=url)._l10n_pl_ksef_apply_status(status, client)
            self._l10n_pl_ksef_commit(len(chunk))

    def _l10n_pl_ksef_batch_accept(self, statuses, client, downloads):
        """Record these invoices accepted by KSeF (``statuses``: by XML hash), with their UPOs.

        UPOs come from KSeF's pre-signed links (``downloads``: ``ksef_protocol.UpoDownloads``) and are
        attached in one insert; the acceptance is one write for the set (see
        ``_l10n_pl_ksef_batch_record_accepted``) and one insert logs the chatter notes. An invoice whose
        link fails takes the one-by-one path.
        """
        upos = {}
        unreachable = self.browse()
        for move in self:
            upo = downloads.take(statuses[move.l10n_pl_ksef_invoice_hash].upo_download_url)
            if isinstance(upo, KsefHttpError):
                _logger.info("KSeF UPO link of invoice %s unusable (%s); using the API", move.id, upo.message)
            elif isinstance(upo, KsefTransportError):
                # Stays 'sent': the next run reads the session's list (fresh links) again.
                _logger.info("KSeF UPO link of invoice %s unreachable (%s)", move.id, upo.message)
                unreachable |= move
            elif isinstance(upo, KsefError):
                raise upo
            else:
                upos[move] = upo.content
        if unreachable:
            # Back-off: the run is not re-triggered at once for them (see _l10n_pl_ksef_next_run_at).
            unreachable._l10n_pl_ksef_back_off(_RetryLater(None, None))
        moves = self.browse([move.id for move in upos])
        attachments = self.env['ir.attachment'].create([{
            'name': 'UPO-%s.xml' % statuses[move.l10n_pl_ksef_invoice_hash].ksef_number,
            'raw': upos[move], 'mimetype': 'application/xml', 'res_model': move._name, 'res_id': move.id,
        } for move in moves])
        moves._l10n_pl_ksef_batch_record_accepted(statuses, attachments)
        for text, group in moves.grouped(lambda move: ' '.join(
                [statuses[move.l10n_pl_ksef_invoice_hash].description or '']
                + list(statuses[move.l10n_pl_ksef_invoice_hash].details)).strip()).items():
            group._l10n_pl_ksef_register_status_text(text)
        moves._l10n_pl_ksef_log_batch(None, bodies={move.id: self.env._(
            "Sent to KSeF in batch session %(ref)s and accepted with number %(number)s.",
            ref=move.l10n_pl_ksef_session_id.reference_number,
            number=statuses[move.l10n_pl_ksef_invoice_hash].ksef_number) for move in moves})
        # Links that failed: the one-by-one path (the UPO endpoint of the API).
        for move in self - moves - unreachable:
            status = statuses[move.l10n_pl_ksef_invoice_hash]
            # The API's UPO endpoint is addressed by the invoice's reference, known from the list.
            move.with_context(skip_invoice_sync=True).l10n_pl_ksef_reference = status.reference_number
            move._l10n_pl_ksef_apply_status(status, client)

    @api.model
    def _l10n_pl_ksef_next_run_at(self, company):
        """A batch session KSeF is processing is read every few seconds; statuses a run left unrecorded
        are recorded at once (not after the online path's minute of follow-up)."""
        result = super()._l10n_pl_ksef_next_run_at(company)
        now = fields.Datetime.now()
        candidates = [result] if result else []
        sessions = self.env['ksef.session'].search([('company_id', '=', company.id), ('kind', '=', 'batch'),
                                                    ('state', 'in', ('closing', 'done'))])
        waiting = self.search([('company_id', '=', company.id), ('l10n_pl_ksef_state', '=', 'sent'),
                               ('l10n_pl_ksef_session_id', 'in', sessions.ids),
                               '|', ('l10n_pl_ksef_retry_at', '=', False), ('l10n_pl_ksef_retry_at', '<=', now)],
                              ).l10n_pl_ksef_session_id
        if waiting.filtered(lambda session: session.status_code not in BATCH_PROCESSING_CODES):
            candidates.append(now)
        else:
            processing = waiting | sessions.filtered(lambda session: session.state == 'closing')
            if processing:
                # Every second just after the close, then every few seconds (see BATCH_FOLLOW_UP_SECONDS).
                just_closed = any(session.last_used and now - session.last_used
                                  < datetime.timedelta(seconds=BATCH_FIRST_FOLLOW_UPS_SECONDS)
                                  for session in processing)
                delay = 1 if just_closed else BATCH_FOLLOW_UP_SECONDS
                candidates.append(now + datetime.timedelta(seconds=delay))
        return min(candidates) if candidates else None

    def _l10n_pl_ksef_batch_record_accepted(self, statuses, upos):
        """Record these invoices accepted (``statuses``: by XML hash; ``upos``: their UPO attachments, in the
        same order): one statement for each invoice's own values (KSeF reference and number, invoicing
        mode, UPO) on the invoices and on their current transmissions, one write for the set."""
        if not self:
            return
        own = ['l10n_pl_ksef_reference', 'l10n_pl_ksef_number', 'l10n_pl_ksef_invoicing_mode',
               'l10n_pl_ksef_upo_attachment_id']
        transmissions = self.sudo().l10n_pl_ksef_transmission_id
        self.flush_recordset(own)
        transmissions.flush_recordset(['reference', 'ksef_number', 'upo_attachment_id'])
        rows = []
        for move, upo in zip(self, upos):
            status = statuses[move.l10n_pl_ksef_invoice_hash]
            mode = status.invoicing_mode if status.invoicing_mode in ('Online', 'Offline') else None
            rows.append((move.id, move.sudo().l10n_pl_ksef_transmission_id.id or None, status.reference_number,
                         status.ksef_number, mode, upo.id))
        _execute_for_rows(self.env.cr, "UPDATE account_move SET l10n_pl_ksef_reference = v.ref, "
                          "l10n_pl_ksef_number = v.number, l10n_pl_ksef_invoicing_mode = v.mode::varchar, "
                          "l10n_pl_ksef_upo_attachment_id = v.upo FROM (VALUES %s) "
                          "AS v(id, transmission, ref, number, mode, upo) WHERE account_move.id = v.id", rows)
        _execute_for_rows(self.env.cr, "UPDATE ksef_transmission SET reference = v.ref, ksef_number = v.number, "
                          "upo_attachment_id = v.upo FROM (VALUES %s) AS v(id, transmission, ref, number, mode, upo) "
                          "WHERE ksef_transmission.id = v.transmission::integer", rows)
        self.invalidate_recordset(own)
        self.modified(own)
        transmissions.invalidate_recordset(['reference', 'ksef_number', 'upo_attachment_id'])
        transmissions.modified(['reference', 'ksef_number', 'upo_attachment_id'])
        # The register follows this write: the transmissions become 'accepted' with KSeF's code.
        self._l10n_pl_ksef_batch_quiet().write({
            'l10n_pl_ksef_state': 'accepted', 'l10n_pl_ksef_status_code': INVOICE_ACCEPTED,
            'l10n_pl_ksef_accepted_date': fields.Datetime.now(), 'l10n_pl_ksef_error': False,
        })

    def _l10n_pl_ksef_fetch_upo(self, client):
        # KSeF's list gives a pre-signed link to each accepted invoice's UPO, which is not rate-limited:
        # a large batch does not wait hours for its receipts. The bytes are the same.
        url = self.env.context.get('l10n_pl_ksef_upo_download_url')
        if not url or self.l10n_pl_ksef_original_session_reference:
            return super()._l10n_pl_ksef_fetch_upo(client)
        self.ensure_one()
        try:
            upo = client.download_upo_url(url)
        except KsefHttpError as error:
            _logger.info("KSeF UPO link of invoice %s unusable (%s); using the API", self.id, error.message)
            return super(AccountMove, self.with_context(l10n_pl_ksef_upo_download_url=None)) \
                ._l10n_pl_ksef_fetch_upo(client)
        self._l10n_pl_ksef_attach_upo(upo)
