"""The KSeF register: one record per transmission of an invoice to KSeF, never overwritten.

A transmission is one sending of one exact FA(3) file: online, as a member of a batch package, after
an offline issue, as a technical correction, or again in a new session after KSeF refused the session.
It keeps what was sent (the XML attachment, its hash and size), where (session, KSeF reference), what
KSeF answered (status code and text, KSeF number) and the UPO exactly as received. The invoice's KSeF
fields show its current transmission; earlier ones stay as they were.
"""
from odoo import api, fields, models

TRANSMISSION_KINDS = [
    ('online', "Online send"),
    ('batch', "Batch member"),
    ('offline', "Send after offline issue"),
    ('technical_correction', "Technical correction"),
    ('resend', "Re-send in a new session"),
]
TRANSMISSION_STATES = [
    ('sending', "Sending"),
    ('sent', "Sent, awaiting KSeF"),
    ('accepted', "Accepted"),
    ('duplicate', "Duplicate of an accepted sending (440)"),
    ('rejected', "Rejected"),
    ('session_refused', "Session refused by KSeF, sent again"),
    ('not_received', "Not received by KSeF, sent again"),
]
#: States after which KSeF's answer about this transmission never changes.
FINAL_TRANSMISSION_STATES = ('accepted', 'duplicate', 'rejected', 'session_refused', 'not_received')


class KsefTransmission(models.Model):
    _name = 'ksef.transmission'
    _description = "KSeF transmission"
    _order = 'id desc'
    _check_company_auto = True

    move_id = fields.Many2one('account.move', string="Invoice", required=True, readonly=True, index=True,
                              ondelete='restrict')
    company_id = fields.Many2one(related='move_id.company_id', store=True, index=True)
    partner_id = fields.Many2one(related='move_id.partner_id', store=True, string="Customer")
    invoice_number = fields.Char(string="Invoice number", readonly=True,
                                 help="The invoice number (P_2) in the file sent.")
    kind = fields.Selection(TRANSMISSION_KINDS, required=True, readonly=True, default='online')
    state = fields.Selection(TRANSMISSION_STATES, required=True, readonly=True, default='sending', index=True)
    session_id = fields.Many2one('ksef.session', string="KSeF session", readonly=True, index='btree_not_null')
    session_reference = fields.Char(related='session_id.reference_number', string="Session reference")
    reference = fields.Char(string="KSeF reference", readonly=True, index='btree_not_null')
    xml_attachment_id = fields.Many2one('ir.attachment', string="FA(3) sent", readonly=True)
    xml_hash = fields.Char(string="XML hash (SHA-256)", readonly=True, index='btree_not_null')
    xml_size = fields.Integer(string="XML size (bytes)", readonly=True)
    status_code = fields.Integer(string="KSeF status code", readonly=True)
    status_text = fields.Text(string="KSeF status text", readonly=True)
    ksef_number = fields.Char(string="KSeF number", readonly=True, index='btree_not_null')
    upo_attachment_id = fields.Many2one('ir.attachment', string="UPO", readonly=True)
    sent_date = fields.Datetime(string="Sent on", readonly=True, default=fields.Datetime.now)
    answered_date = fields.Datetime(string="Answered on", readonly=True,
                                    help="When KSeF's final answer about this transmission was recorded.")
    user_id = fields.Many2one('res.users', string="Queued by", readonly=True)

    @api.depends('move_id', 'kind')
    def _compute_display_name(self):
        kinds = dict(self._fields['kind']._description_selection(self.env))
        for record in self:
            record.display_name = '%s (%s)' % (record.invoice_number or record.move_id.display_name,
                                               kinds.get(record.kind))

    def _is_final(self):
        self.ensure_one()
        return self.state in FINAL_TRANSMISSION_STATES

    def action_open_invoice(self):
        self.ensure_one()
        return {
            'type': 'ir.actions.act_window',
            'res_model': 'account.move',
            'res_id': self.move_id.id,
            'view_mode': 'form',
        }
