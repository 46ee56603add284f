"""What the invoice form, the KSeF menu and the session show (the parts the browser tours do not assert)."""
from odoo.exceptions import UserError
from odoo.fields import Command
from odoo.tests import tagged

from .common import KsefEmulatorCase


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestKsefInvoiceForm(KsefEmulatorCase):

    def invoice_without_tax(self):
        move = self.create_invoice(post=False)
        move.invoice_line_ids.tax_ids = [Command.clear()]
        move.invoice_date = False
        return move

    def test_findings_on_the_banner_before_and_after_posting(self):
        move = self.invoice_without_tax()
        self.assertIn("it has no tax", move.l10n_pl_ksef_fa3_findings, "shown on the draft, with what to fix")
        self.assertNotIn("invoice date", move.l10n_pl_ksef_fa3_findings, "posting sets the date itself")
        move.action_post()
        move.invalidate_recordset()
        self.assertIn("it has no tax", move.l10n_pl_ksef_fa3_findings, "still shown once posted")
        self.assertTrue(move.l10n_pl_ksef_show_send)
        # "Send to KSeF" as the web client does it: the wizard is saved, then its button.
        action = move.action_l10n_pl_ksef_send()
        wizard = self.env[action['res_model']].with_context(action['context']).create({})
        self.assertFalse(wizard.ready_move_ids)
        with self.assertRaisesRegex(UserError, "no tax"):
            wizard.action_queue()
        self.assertEqual(move.l10n_pl_ksef_state, 'not_sent', "nothing queued, nothing said to be queued")

    def test_one_call_to_action_then_send(self):
        move = self.create_invoice()
        self.assertFalse(move.l10n_pl_ksef_fa3_findings)
        self.assertTrue(move.l10n_pl_ksef_show_send)
        self.assertFalse(move.highlight_send_button, "Send to KSeF is the one highlighted button")
        move._l10n_pl_ksef_queue()
        self.process_until(move, ('accepted',))
        move.invalidate_recordset()
        self.assertFalse(move.l10n_pl_ksef_show_send)
        self.assertTrue(move.highlight_send_button, "once in KSeF, Send (e-mail the PDF) is the next step")
        # The readable UPO names the invoice's KSeF number.
        action = move.action_l10n_pl_ksef_show_upo()
        self.assertEqual(action['report_name'], 'l10n_pl_ksef.report_l10n_pl_ksef_upo')
        html = self.env['ir.actions.report']._render_qweb_html(action['report_name'], move.ids)[0].decode()
        self.assertIn('>%s<' % move.l10n_pl_ksef_number, html)
        # The session counts what it holds, before KSeF reports its own figures.
        session = move.l10n_pl_ksef_session_id
        self.assertEqual((session.move_count, session.accepted_move_count, session.rejected_move_count),
                         (1, 1, 0))

    def test_one_ksef_tab_and_menu_on_what_needs_attention(self):
        arch = self.env['account.move'].get_view(self.env.ref('account.view_move_form').id, 'form')['arch']
        self.assertEqual(arch.count('<page string="KSeF" name="l10n_pl_ksef"'), 1)
        self.assertNotIn('name="l10n_pl_ksef_fa3"', arch.split('<page string="KSeF" name="l10n_pl_ksef"')[0])
        action = self.env.ref('l10n_pl_ksef.action_l10n_pl_ksef_invoices')
        self.assertIn("'search_default_l10n_pl_ksef_attention': 1", action.context)
        self.assertIn("'search_default_l10n_pl_ksef_group_state': 1", action.context)
        to_send = self.create_invoice()
        accepted = self.create_invoice(amount=50.0)
        accepted._l10n_pl_ksef_queue()
        self.process_until(accepted, ('accepted',))
        search = self.env['account.move'].get_view(
            self.env.ref('account.view_account_invoice_filter').id, 'search')['arch']
        self.assertIn('name="l10n_pl_ksef_attention"', search)
        attention = self.env['account.move'].search([
            ('move_type', 'in', ('out_invoice', 'out_refund')), ('state', '=', 'posted'),
            ('l10n_pl_ksef_state', 'not in', ('accepted', 'offline_sent')), ('id', 'in', (to_send + accepted).ids)])
        self.assertEqual(attention, to_send)

    def test_credit_note_reason_from_the_dialog(self):
        invoice = self.create_invoice()
        reversal = self.env['account.move.reversal'].with_context(
            active_model='account.move', active_ids=invoice.ids).create({
                'reason': "Rabat", 'journal_id': invoice.journal_id.id})
        action = reversal.refund_moves()
        credit_note = self.env['account.move'].browse(action['res_id'])
        self.assertEqual(credit_note.l10n_pl_ksef_correction_reason, "Rabat")
