"""KSeF batch sessions: one ZIP package of many invoices, uploaded in encrypted parts, then closed.

A batch session lives briefly in the ``open`` state (opened on KSeF, package being uploaded) and
is closed by the same run that uploaded it; KSeF then processes the package (status 150) and ends
with 200 and a collective UPO, exactly like a closed interactive session. The invoices themselves
are followed by :mod:`.account_move_ksef_batch`.

A batch session that was opened but not closed is never processed by KSeF (it is cancelled, 440,
when its time runs out): such a session is *abandoned* (state ``failed``) and never closed
afterwards, so its invoices can safely be sent again.
"""
import datetime

from odoo import api, fields, models

from ..ksef_protocol import SessionKey

#: KSeF cancels a batch session that is not closed within 12 hours (status 440).
BATCH_SESSION_LIFETIME = datetime.timedelta(hours=12)


class KsefSession(models.Model):
    _inherit = 'ksef.session'

    batch_file_hash = fields.Char(string="Package hash (SHA-256)", readonly=True, copy=False,
                                  help="Hash of the ZIP package of a batch session, as declared to KSeF.")
    batch_file_size = fields.Integer(string="Package size (bytes)", readonly=True, copy=False)
    batch_part_count = fields.Integer(string="Package parts", readonly=True, copy=False)

    @api.model
    def _open_batch_session(self, company, client, archive):
        """Open a batch session on KSeF declaring ``archive`` (a ``ksef_protocol.BatchArchive``).

        Returns ``(session, info, key)``: the new ``ksef.session`` (state ``open``), KSeF's
        ``BatchSessionInfo`` (pre-signed part upload URLs) and the ``SessionKey`` the parts are
        encrypted with. The key is kept in memory only: nothing is encrypted with it after the upload.
        """
        key = SessionKey.generate()
        info = client.open_batch_session(key, archive)
        now = fields.Datetime.now()
        session = self.sudo().create({
            'company_id': company.id,
            'environment': company.l10n_pl_ksef_environment,
            'environment_key': company._l10n_pl_ksef_environment_key(),
            'kind': 'batch',
            'reference_number': info.reference_number,
            'valid_until': now + BATCH_SESSION_LIFETIME,
            'last_used': now,
            'batch_file_hash': archive.file.sha256_b64,
            'batch_file_size': archive.file.size,
            'batch_part_count': len(archive.parts),
        })
        session.message_post(body=self.env._(
            "KSeF batch session %(ref)s opened for %(count)s invoices (%(parts)s package part(s)).",
            ref=info.reference_number, count=len(archive.invoice_hashes), parts=len(archive.parts)))
        return session.with_env(self.env), info, key

    def _mark_batch_closed(self):
        """KSeF confirmed the close: it processes the package now; the status is followed until 200."""
        self.ensure_one()
        self.write({'state': 'closing', 'last_used': fields.Datetime.now()})
        self.message_post(body=self.env._(
            "KSeF batch session closed: KSeF is processing the package; waiting for its collective UPO."))

    def _abandon_batch(self, reason):
        """Give up a batch session that KSeF will never process (it was not closed); never close it later."""
        self.ensure_one()
        self.write({'state': 'failed', 'status_text': reason})
        self.message_post(body=self.env._(
            "KSeF batch session abandoned before it was closed, so KSeF never processes it (it is cancelled "
            "when its time runs out); its invoices are queued again. Reason: %(reason)s", reason=reason))

    def _should_close(self):
        # A batch session is closed by the run that uploaded it, right after the upload, and an
        # abandoned one must never be closed: the idle/expiry rule of interactive sessions is not for them.
        return super()._should_close().filtered(lambda session: session.kind != 'batch')
