# Fed to `odoo shell` by demo.sh on a new demo database: a Polish company whose
# KSeF settings point at the local emulator, customers, products, and posted
# invoices ready to send. Runs once; everything it creates is ordinary data.
import json
import os
import urllib.request
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

EMULATOR = os.environ.get('KSEF_EMULATOR_URL', 'http://127.0.0.1:8123')
# KSeF compares an invoice's issue date with its own calendar day, in Poland: an invoice dated by
# UTC late in the evening would be taken for an offline one.
TODAY = datetime.now(ZoneInfo('Europe/Warsaw')).date()
SELLER_NIP = '5261040828'  # a NIP with a valid checksum, used only on the emulator

company = env.ref('base.main_company')
company.write({
    'name': 'Demo Polska Sp. z o.o.',
    'country_id': env.ref('base.pl').id,
    'vat': f'PL{SELLER_NIP}',
    'street': 'ul. Marszałkowska 1',
    'zip': '00-624',
    'city': 'Warszawa',
    'email': 'biuro@demo-polska.example',
    'currency_id': env.ref('base.PLN').id,
})
env.ref('base.PLN').active = True
env['account.chart.template'].try_loading('pl', company, install_demo=False)
env.user.write({'lang': 'en_US', 'tz': 'Europe/Warsaw'})
if not env['res.lang']._lang_get('pl_PL'):
    env['base.language.install'].create({'lang_ids': [(6, 0, [env.ref('base.lang_pl').id])]}).lang_install()
print('[demo]   Polish language installed')
# An accountant with the Polish interface (login ksiegowa / ksiegowa).
env['res.users'].create({
    'name': 'Anna Księgowa', 'login': 'ksiegowa', 'password': 'ksiegowa', 'lang': 'pl_PL', 'tz': 'Europe/Warsaw',
    'email': 'ksiegowa@demo-polska.example',
    'group_ids': [(6, 0, [env.ref('base.group_user').id, env.ref('base.group_system').id,
                          env.ref('account.group_account_manager').id,
                          env.ref('l10n_pl_ksef.group_ksef_manager').id])],
})

company.write({
    'l10n_pl_ksef_environment': 'custom',
    'l10n_pl_ksef_custom_url': f'{EMULATOR}/v2',
    'l10n_pl_ksef_auth_method': 'token',
    # The demo shows the one-click send from the invoice list.
    'l10n_pl_ksef_auto_send': False,
    # Purchase invoices seeded in the emulator below arrive as vendor bills ("Fetch from KSeF").
    'l10n_pl_ksef_receive_enabled': True,
})


def emulator_admin(path, payload):
    request = urllib.request.Request(
        f'{EMULATOR}/admin{path}', data=json.dumps(payload).encode(),
        headers={'Content-Type': 'application/json'}, method='POST')
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


print('[demo]   company, chart of accounts and KSeF settings ready')
issued = emulator_admin('/tokens', {
    'nip': SELLER_NIP,
    'permissions': ['InvoiceWrite', 'InvoiceRead', 'CredentialsManage', 'CredentialsRead'],
    'description': 'Odoo demo token',
})
env['ksef.token'].create({
    'company_id': company.id,
    'environment': 'custom',
    'name': 'Odoo demo token',
    'token': issued['token'],
    'reference_number': issued['referenceNumber'],
})

Partner = env['res.partner']
buyer = Partner.create({
    'name': 'Klient Testowy S.A.', 'is_company': True, 'vat': 'PL7740001454', 'email': 'faktury@klient-testowy.example',
    'street': 'ul. Długa 5', 'zip': '80-831', 'city': 'Gdańsk', 'country_id': env.ref('base.pl').id,
})
buyer_de = Partner.create({
    'name': 'Beispiel GmbH', 'is_company': True, 'vat': 'DE123456788', 'email': 'rechnungen@beispiel.example',
    'street': 'Hauptstraße 1', 'zip': '10115', 'city': 'Berlin', 'country_id': env.ref('base.de').id,
})
Product = env['product.product']
consulting = Product.create({'name': 'Usługa doradcza', 'type': 'service', 'list_price': 1200.0})
book = Product.create({'name': 'Książka', 'type': 'consu', 'list_price': 80.0})


def tax(xmlid):
    return env.ref(f'account.{company.id}_{xmlid}')


def invoice(partner, lines, days_ago=0):
    move = env['account.move'].create({
        'move_type': 'out_invoice',
        'partner_id': partner.id,
        'invoice_date': TODAY - timedelta(days=days_ago),
        'invoice_line_ids': [
            (0, 0, {'product_id': product.id, 'quantity': qty, 'price_unit': price, 'tax_ids': [(6, 0, taxes.ids)]})
            for product, qty, price, taxes in lines
        ],
    })
    move.action_post()
    return move


invoice(buyer, [(consulting, 10, 1200.0, tax('vs_kraj_usl_23'))])
invoice(buyer, [(consulting, 2, 950.0, tax('vs_kraj_usl_23')), (book, 3, 80.0, tax('vs_kraj_5'))])
# Services for an EU business: taxed where the buyer is (art. 100, reverse charge).
invoice(buyer_de, [(consulting, 1, 4000.0, tax('vs_dostu'))])
# A draft with a line left without tax: its banner says what KSeF still needs.
env['account.move'].create({
    'move_type': 'out_invoice', 'partner_id': buyer.id, 'invoice_date': TODAY,
    'invoice_line_ids': [(0, 0, {'product_id': book.id, 'quantity': 5, 'price_unit': 80.0, 'tax_ids': [(5, 0, 0)]})],
})
print('[demo]   customers, products and invoices ready')


def seed_purchase_invoice(seller_name, seller_nip, number, lines):
    """An FA(3) invoice a supplier sent to KSeF with the demo company as buyer."""
    from decimal import Decimal
    from odoo.addons.l10n_pl_ksef.ksef_protocol.fa3 import build_fa3, compute_totals
    from odoo.addons.l10n_pl_ksef.ksef_protocol.fa3.model import Address, Invoice, Line, Party, Totals
    document = Invoice(
        seller=Party(name=seller_name, nip=seller_nip, address=Address('PL', 'ul. Piękna 7', '00-549 Warszawa')),
        buyer=Party(name=company.name, nip=SELLER_NIP, address=Address('PL', company.street, '00-624 Warszawa')),
        number=number, issue_date=TODAY, created_at=datetime.now(timezone.utc).replace(microsecond=0),
        totals=Totals({}, Decimal(0)),
        lines=[Line(name, rate, 'szt.', Decimal(qty), Decimal(price), net=Decimal(qty) * Decimal(price))
               for name, rate, qty, price in lines])
    document.totals = compute_totals(document)
    emulator_admin('/purchase-invoices', {'invoices': [{'xml': build_fa3(document).decode()}]})


seed_purchase_invoice('Hurtownia Biurowa Sp. z o.o.', '6760000121', f'FZ/{TODAY:%Y/%m}/0117',
                      [('Papier A4', '23', 20, '21.50'), ('Segregatory', '23', 10, '8.90')])
seed_purchase_invoice('Drukarnia Kwadrat S.A.', '1130000453', f'DK/{TODAY:%Y}/5521',
                      [('Druk ulotek', '8', 1000, '0.45'), ('Katalogi', '5', 50, '12.00')])
env.cr.commit()
print('demo data ready')
