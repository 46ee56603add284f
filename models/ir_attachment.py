"""The files of the KSeF register (FA(3) sent, UPO as received) are evidence: nobody changes or deletes them."""
from odoo import models
from odoo.exceptions import UserError

#: Attachment fields that carry or locate the file's content.
_CONTENT_FIELDS = frozenset({'raw', 'datas', 'db_datas', 'store_fname', 'url', 'type', 'res_model', 'res_id',
                             'res_field'})


class IrAttachment(models.Model):
    _inherit = 'ir.attachment'

    def _l10n_pl_ksef_register_files(self):
        """Those of these attachments that the KSeF register holds (sent XML, UPO, collective UPO)."""
        if not self.ids:
            return self.browse()
        ids = tuple(self.ids)
        self.env['ksef.transmission'].flush_model(['xml_attachment_id', 'upo_attachment_id'])
        self.env['ksef.session'].flush_model(['upo_attachment_ids'])
        self.env.cr.execute("""
            SELECT xml_attachment_id FROM ksef_transmission WHERE xml_attachment_id IN %(ids)s
            UNION SELECT upo_attachment_id FROM ksef_transmission WHERE upo_attachment_id IN %(ids)s
            UNION SELECT ir_attachment_id FROM ir_attachment_ksef_session_rel WHERE ir_attachment_id IN %(ids)s
        """, {'ids': ids})
        return self.browse([row[0] for row in self.env.cr.fetchall()])

    def _l10n_pl_ksef_refuse(self):
        raise UserError(self.env._(
            "This file is part of the KSeF register (the FA(3) sent to KSeF or KSeF's UPO) and cannot be changed "
            "or deleted."))

    def write(self, vals):
        if _CONTENT_FIELDS.intersection(vals):
            protected = self._l10n_pl_ksef_register_files()
            if protected:
                new_raw = vals.get('raw')
                # Moving a file between storages rewrites the same bytes: allowed. Anything else is not.
                same_bytes = set(vals) <= {'raw', 'mimetype'} and new_raw is not None and all(
                    attachment.raw == (new_raw.encode() if isinstance(new_raw, str) else new_raw)
                    for attachment in protected)
                if not same_bytes:
                    self._l10n_pl_ksef_refuse()
        return super().write(vals)

    def unlink(self):
        if self._l10n_pl_ksef_register_files():
            self._l10n_pl_ksef_refuse()
        return super().unlink()
