"""Downloads of KSeF certificates and private keys, streamed from memory (never stored in clear)."""
from odoo import http
from odoo.http import content_disposition, request


class KsefCredentialsController(http.Controller):

    def _certificate(self, certificate_id):
        record = request.env['ksef.certificate'].browse(certificate_id).exists()
        if not record:
            raise request.not_found()
        record.check_access('read')
        return record

    @staticmethod
    def _send(filename, content):
        return request.make_response(content, headers=[
            ('Content-Type', 'application/x-pem-file'),
            ('Content-Disposition', content_disposition(filename)),
            ('Cache-Control', 'no-store'),
        ])

    @http.route('/l10n_pl_ksef/certificate/<int:certificate_id>/certificate', type='http', auth='user')
    def download_certificate(self, certificate_id):
        return self._send(*self._certificate(certificate_id)._export_certificate_pem())

    @http.route('/l10n_pl_ksef/certificate/<int:certificate_id>/private_key', type='http', auth='user')
    def download_private_key(self, certificate_id):
        return self._send(*self._certificate(certificate_id)._export_private_key_pem())
