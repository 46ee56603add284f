# Fed to `odoo shell` by check_outage_cron.sh, one step per process (OUTAGE_STEP):
#   setup   a Polish company pointed at the emulator (KSEF_EMULATOR_URL), one posted invoice queued;
#   status  run the scheduled action "KSeF: read KSeF's status" as ir.cron runs it;
#   queue   run the scheduled action "KSeF: send queued invoices" as ir.cron runs it;
#   report  print the invoice's KSeF state and message as JSON.
import json
import os
import urllib.request

step = os.environ['OUTAGE_STEP']
emulator = os.environ.get('KSEF_EMULATOR_URL', '')
SELLER_NIP = '5261040828'


def emulator_admin(path, payload):
    request = urllib.request.Request(f'{emulator}/admin{path}', data=json.dumps(payload).encode(),
                                     headers={'Content-Type': 'application/json'}, method='POST')
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


if step == 'setup':
    company = env.ref('base.main_company')
    company.write({'name': 'Outage Polska Sp. z o.o.', 'country_id': env.ref('base.pl').id,
                   'vat': f'PL{SELLER_NIP}', 'street': 'ul. Marszałkowska 1', 'zip': '00-624', 'city': 'Warszawa',
                   'currency_id': env.ref('base.PLN').id})
    env.ref('base.PLN').active = True
    env['account.chart.template'].try_loading('pl', company, install_demo=False)
    company.write({'l10n_pl_ksef_environment': 'custom', 'l10n_pl_ksef_custom_url': f'{emulator}/v2',
                   'l10n_pl_ksef_auth_method': 'token', 'l10n_pl_ksef_auto_send': False})
    issued = emulator_admin('/tokens', {'nip': SELLER_NIP, 'permissions': ['InvoiceWrite', 'InvoiceRead']})
    env['ksef.token'].create({'company_id': company.id, 'environment': 'custom', 'name': 'Outage check token',
                              'token': issued['token'], 'reference_number': issued['referenceNumber']})
    buyer = env['res.partner'].create({'name': 'Odbiorca S.A.', 'is_company': True, 'vat': 'PL1234560007',
                                       'street': 'ul. Długa 5', 'zip': '80-001', 'city': 'Gdańsk',
                                       'country_id': env.ref('base.pl').id})
    tax = env['account.tax'].search([('company_id', '=', company.id), ('type_tax_use', '=', 'sale'),
                                     ('amount', '=', 23.0)], limit=1)
    move = env['account.move'].create({
        'move_type': 'out_invoice', 'partner_id': buyer.id,
        'invoice_line_ids': [(0, 0, {'name': 'Usługa', 'quantity': 1, 'price_unit': 100.0,
                                     'tax_ids': [(6, 0, tax.ids)]})]})
    move.action_post()
    move._l10n_pl_ksef_queue()
    env['ir.config_parameter'].set_param('outage_check.move_id', move.id)
    env.cr.commit()
elif step in ('status', 'queue'):
    xmlid = {'status': 'l10n_pl_ksef.ir_cron_l10n_pl_ksef_service_status',
             'queue': 'l10n_pl_ksef.ir_cron_l10n_pl_ksef_process_queue'}[step]
    env.ref(xmlid).method_direct_trigger()
    env.cr.commit()
elif step == 'report':
    move = env['account.move'].browse(int(env['ir.config_parameter'].get_param('outage_check.move_id')))
    status = move.company_id._l10n_pl_ksef_service_status()
    print('OUTAGE-REPORT ' + json.dumps({'state': move.l10n_pl_ksef_state, 'error': move.l10n_pl_ksef_error or '',
                                         'number': move.l10n_pl_ksef_number or '', 'service': status.status or ''}))
