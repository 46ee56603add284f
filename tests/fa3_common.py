"""Shared setup for the FA(3) Odoo tests: a Polish company with the ``pl`` chart,
customers of every kind, and a node-by-node comparison with golden files.

Regenerate the golden files after a reviewed change with ``FA3_UPDATE_GOLDEN=1``.
"""
import os
from datetime import datetime, timezone

from lxml import etree

from odoo import Command

from odoo.addons.account.tests.common import AccountTestInvoicingCommon

from ..ksef_protocol.fa3 import validate_fa3

CREATED_AT = datetime(2026, 2, 2, 9, 30, tzinfo=timezone.utc)
INVOICE_DATE = '2026-02-02'
GOLDEN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'fa3')
# Values that legitimately change from run to run.
VOLATILE = {'DataWytworzeniaFa'}


def compare_nodes(expected, actual, path=''):
    """Return the first difference between two elements as text, or None."""
    name = etree.QName(expected).localname
    here = '%s/%s' % (path, name)
    if expected.tag != actual.tag:
        return '%s: expected element %s, got %s' % (path or '/', name, etree.QName(actual).localname)
    if dict(expected.attrib) != dict(actual.attrib):
        return '%s: attributes %s != %s' % (here, dict(expected.attrib), dict(actual.attrib))
    if name not in VOLATILE and (expected.text or '').strip() != (actual.text or '').strip():
        return '%s: expected %r, got %r' % (here, (expected.text or '').strip(), (actual.text or '').strip())
    exp_children, act_children = list(expected), list(actual)
    for index, (exp, act) in enumerate(zip(exp_children, act_children), 1):
        difference = compare_nodes(exp, act, '%s[%d]' % (here, index) if len(exp_children) > 1 else here)
        if difference:
            return difference
    if len(exp_children) != len(act_children):
        names = lambda nodes: [etree.QName(n).localname for n in nodes]
        return '%s: children %s != %s' % (here, names(exp_children), names(act_children))
    return None


class Fa3OdooCase(AccountTestInvoicingCommon):

    @classmethod
    @AccountTestInvoicingCommon.setup_country('pl')
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.company_data['company']
        pl = cls.env.ref('base.pl')
        cls.company.write({
            'name': 'Przykładowa Spółka z o.o.', 'vat': '5260250009', 'street': 'ul. Marszałkowska 1/2',
            'zip': '00-624', 'city': 'Warszawa', 'country_id': pl.id, 'email': 'faktury@przyklad.pl',
            'phone': '+48221234567', 'company_registry': '0000123456',
        })
        bank = cls.env['res.bank'].create({'name': 'Santander Bank Polska', 'bic': 'WBKPPLPP'})
        cls.company_bank = cls.env['res.partner.bank'].create({
            'acc_number': 'PL61 1090 1014 0000 0712 1981 2874', 'partner_id': cls.company.partner_id.id,
            'bank_id': bank.id, 'allow_out_payment': True})
        chart = cls.env['account.chart.template'].with_company(cls.company)
        cls.taxes = {code: chart.ref(code) for code in (
            'vs_kraj_23', 'vs_kraj_8', 'vs_kraj_5', 'vs_kraj_0', 'vs_kraj_zw', 'vs_stal', 'vs_unia', 'vs_dostu',
            'vs_eksp_tow', 'vs_ekspu')}
        cls.buyer_pl = cls.env['res.partner'].create({
            'name': 'Odbiorca S.A.', 'is_company': True, 'vat': 'PL1234560007', 'street': 'ul. Długa 5',
            'zip': '80-001', 'city': 'Gdańsk', 'country_id': pl.id})
        cls.buyer_de = cls.env['res.partner'].create({
            'name': 'Kunde GmbH', 'is_company': True, 'vat': 'DE811907980', 'street': 'Friedrichstraße 10',
            'zip': '10117', 'city': 'Berlin', 'country_id': cls.env.ref('base.de').id})
        cls.buyer_us = cls.env['res.partner'].create({
            'name': 'Acme Inc.', 'is_company': True, 'vat': '12-3456789', 'street': '1 Main Street',
            'zip': '62701', 'city': 'Springfield', 'country_id': cls.env.ref('base.us').id})
        cls.person = cls.env['res.partner'].create({
            'name': 'Jan Kowalski', 'street': 'ul. Polna 3', 'zip': '31-000', 'city': 'Kraków', 'country_id': pl.id})
        uom_unit = cls.env.ref('uom.product_uom_unit')
        cls.product = cls.env['product.product'].create({
            'name': 'Usługa doradcza', 'default_code': 'SRV-001', 'uom_id': uom_unit.id, 'lst_price': 150.0})

    def invoice(self, partner, lines, move_type='out_invoice', post=True, **values):
        """Create (and post) a customer invoice; ``lines`` are (name, qty, price, tax codes or taxes, extra)."""
        line_commands = []
        for line in lines:
            name, quantity, price, taxes = line[:4]
            extra = line[4] if len(line) > 4 else {}
            if isinstance(taxes, str):
                taxes = self.taxes[taxes]
            line_commands.append(Command.create({
                'name': name, 'quantity': quantity, 'price_unit': price, 'tax_ids': [Command.set(taxes.ids)],
                'product_id': extra.pop('product_id', self.product.id), **extra}))
        move = self.env['account.move'].create({
            'move_type': move_type, 'partner_id': partner.id, 'invoice_date': INVOICE_DATE, 'date': INVOICE_DATE,
            'invoice_date_due': values.pop('invoice_date_due', '2026-02-16'),
            'partner_bank_id': self.company_bank.id, 'invoice_line_ids': line_commands, **values})
        if post:
            move.action_post()
        return move

    def credit_note(self, invoice, lines, reason, **values):
        """A credit note linked to ``invoice`` through Odoo's reversal wizard, with new ``lines``."""
        action = self.env['account.move.reversal'].with_context(
            active_model='account.move', active_ids=invoice.ids).create({
                'journal_id': invoice.journal_id.id, 'reason': reason, 'date': INVOICE_DATE}).reverse_moves()
        refund = self.env['account.move'].browse(action['res_id'])
        refund.invoice_line_ids = [Command.clear()] + [Command.create({
            'name': name, 'quantity': qty, 'price_unit': price, 'product_id': self.product.id,
            'tax_ids': [Command.set((self.taxes[taxes] if isinstance(taxes, str) else taxes).ids)]})
            for name, qty, price, taxes in lines]
        refund.write(values)
        refund.action_post()
        return refund

    def render(self, move):
        xml = move._l10n_pl_ksef_render_fa3(created_at=CREATED_AT)
        validate_fa3(xml)
        return xml

    def assert_golden(self, move, name):
        """Build the FA(3) of ``move``, validate it and compare it node by node with ``name``.xml."""
        self.assertEqual(move._l10n_pl_ksef_check_fa3(), [])
        xml = self.render(move)
        path = os.path.join(GOLDEN_DIR, '%s.xml' % name)
        if os.environ.get('FA3_UPDATE_GOLDEN') == '1':
            with open(path, 'wb') as handle:
                handle.write(xml)
        with open(path, 'rb') as handle:
            golden = handle.read()
        validate_fa3(golden)
        difference = compare_nodes(etree.fromstring(golden), etree.fromstring(xml))
        self.assertIsNone(difference, 'FA(3) of %s differs from %s.xml: %s' % (move.name, name, difference))
        return etree.fromstring(xml)

    def xpath(self, root, path):
        return [e.text for e in root.xpath(path, namespaces={'f': root.nsmap[None]})]


__all__ = ['Fa3OdooCase', 'compare_nodes', 'CREATED_AT']
