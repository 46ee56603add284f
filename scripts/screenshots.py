"""Screenshots of the main KSeF screens, Polish UI, into docs/ (used in README).

Run against the demo (scripts/demo.sh running):
    ~/.cache/l10n_pl_ksef/venv/bin/python scripts/screenshots.py [--url http://localhost:8069] [--db ksef_demo]

Logs in as the demo's Polish accountant (ksiegowa / ksiegowa), sends one demo invoice to KSeF so an
accepted invoice can be shown, and drives headless Chromium through the DevTools protocol.
"""
import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import requests
import websocket

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'docs')


class Odoo:
    def __init__(self, url, db, login, password):
        self.url, self.session = url.rstrip('/'), requests.Session()
        answer = self.session.post(self.url + '/web/session/authenticate', json={
            'jsonrpc': '2.0', 'params': {'db': db, 'login': login, 'password': password}}).json()
        if answer.get('error'):
            raise SystemExit('login failed: %s' % answer['error']['data']['message'])
        self.context = answer['result']['user_context']

    def call(self, model, method, *args, **kwargs):
        kwargs.setdefault('context', self.context)
        answer = self.session.post(self.url + '/web/dataset/call_kw', json={'jsonrpc': '2.0', 'params': {
            'model': model, 'method': method, 'args': list(args), 'kwargs': kwargs}}).json()
        if answer.get('error'):
            raise RuntimeError(answer['error']['data']['message'])
        return answer['result']


class Chromium:
    def __init__(self, width=1440, height=1000):
        binary = shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')
        if not binary:
            raise SystemExit('chromium is needed (scripts/bootstrap.sh installs it)')
        with socket.socket() as probe:
            probe.bind(('127.0.0.1', 0))
            port = probe.getsockname()[1]
        self.profile = tempfile.mkdtemp(prefix='ksef-shots-')
        self.process = subprocess.Popen([
            binary, '--headless=new', '--no-sandbox', '--disable-gpu', '--hide-scrollbars',
            '--remote-debugging-port=%d' % port, '--user-data-dir=' + self.profile,
            '--window-size=%d,%d' % (width, height), 'about:blank'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _attempt in range(100):
            try:
                with urllib.request.urlopen('http://127.0.0.1:%d/json' % port) as response:
                    pages = [page for page in json.load(response) if page['type'] == 'page']
                if pages:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        self.ws = websocket.create_connection(pages[0]['webSocketDebuggerUrl'], timeout=60)
        self.next_id = 0

    def send(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({'id': self.next_id, 'method': method, 'params': params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get('id') == self.next_id:
                return message.get('result', {})

    def evaluate(self, expression):
        return self.send('Runtime.evaluate', expression=expression, returnByValue=True).get(
            'result', {}).get('value')

    def shot(self, url, path, ready_selector, click=None, scroll=None, timeout=60):
        self.send('Page.navigate', url=url)
        deadline = time.time() + timeout
        while time.time() < deadline and not self.evaluate('!!document.querySelector(%s)' % json.dumps(ready_selector)):
            time.sleep(0.3)
        if click:
            self.evaluate('document.querySelector(%s)?.click()' % json.dumps(click))
        if scroll:
            self.evaluate('document.querySelector(%s)?.scrollIntoView()' % json.dumps(scroll))
        time.sleep(1.5)  # let the web client settle (fonts, notifications)
        data = self.send('Page.captureScreenshot', format='png')['data']
        with open(path, 'wb') as handle:
            handle.write(base64.b64decode(data))
        print('[screenshots] %s' % os.path.relpath(path))

    def close(self):
        self.ws.close()
        self.process.terminate()
        self.process.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--url', default='http://localhost:%s' % os.environ.get('ODOO_PORT', '8069'))
    parser.add_argument('--db', default=os.environ.get('KSEF_DEMO_DB', 'ksef_demo'))
    parser.add_argument('--login', default='ksiegowa')
    parser.add_argument('--password', default='ksiegowa')
    args = parser.parse_args()
    os.makedirs(DOCS, exist_ok=True)

    odoo = Odoo(args.url, args.db, args.login, args.password)
    out = [('move_type', '=', 'out_invoice')]
    posted = odoo.call('account.move', 'search_read', out + [('state', '=', 'posted')],
                       fields=['l10n_pl_ksef_state'], order='id')
    draft = odoo.call('account.move', 'search', out + [('state', '=', 'draft')], limit=1)
    accepted = [move['id'] for move in posted if move['l10n_pl_ksef_state'] == 'accepted']
    to_send = [move['id'] for move in posted if move['l10n_pl_ksef_state'] == 'not_sent']
    if not accepted and to_send:
        # As a user would: the "Send to KSeF" wizard, saved, then its button; the demo's cron sends it.
        wizard = odoo.call('l10n_pl_ksef.send.wizard', 'create', {'move_ids': [(6, 0, to_send[:1])]})
        odoo.call('l10n_pl_ksef.send.wizard', 'action_queue', [wizard])
        for _attempt in range(120):
            [move] = odoo.call('account.move', 'read', to_send[:1], ['l10n_pl_ksef_state'])
            if move['l10n_pl_ksef_state'] == 'accepted':
                accepted = to_send[:1]
                break
            time.sleep(1)
        to_send = to_send[1:]

    browser = Chromium()
    try:
        cookie = odoo.session.cookies.get('session_id')
        host = args.url.split('//', 1)[1].split(':')[0].split('/')[0]
        browser.send('Network.enable')
        browser.send('Network.setCookie', name='session_id', value=cookie, domain=host, path='/')
        # The first page load builds the web client's assets: wait for it once.
        browser.shot(args.url + '/odoo', os.path.join(tempfile.gettempdir(), 'ksef-warmup.png'), '.o_main_navbar',
                     timeout=180)
        shots = [
            ('/odoo/action-l10n_pl_ksef.action_l10n_pl_ksef_invoices', 'ksef-invoices.png',
             '.o_list_renderer .o_group_header, .o_view_nocontent'),
            ('/odoo/action-account.action_account_config', 'ksef-settings.png', '#l10n_pl_ksef_environment_setting'),
            ('/odoo/action-l10n_pl_ksef.action_ksef_session', 'ksef-sessions.png', '.o_list_renderer'),
            ('/odoo/action-l10n_pl_ksef.action_l10n_pl_ksef_received_bills', 'ksef-received-bills.png',
             '.o_list_renderer, .o_view_nocontent'),
        ]
        if to_send:
            shots.append(('/odoo/customer-invoices/%d' % to_send[0], 'ksef-invoice-to-send.png',
                          'button[name="action_l10n_pl_ksef_send"]'))
        if draft:
            shots.append(('/odoo/customer-invoices/%d' % draft[0], 'ksef-invoice-findings.png',
                          'div[name="l10n_pl_ksef_findings"]'))
        bills = odoo.call('account.move', 'search', [('l10n_pl_ksef_received_date', '!=', False)], limit=1)
        if bills:
            shots.append(('/odoo/action-l10n_pl_ksef.action_l10n_pl_ksef_received_bills/%d' % bills[0],
                          'ksef-received-bill.png', 'div[name="l10n_pl_ksef_received_banner"]'))
        for url, name, selector in shots:
            browser.shot(args.url + url, os.path.join(DOCS, name), selector,
                         scroll='#l10n_pl_ksef_settings' if name == 'ksef-settings.png' else None)
        if accepted:
            browser.shot(args.url + '/odoo/customer-invoices/%d' % accepted[0], os.path.join(DOCS, 'ksef-invoice-accepted.png'),
                         'div[name="l10n_pl_ksef_accepted_banner"]', click='a[name="l10n_pl_ksef"]')
    finally:
        browser.close()


if __name__ == '__main__':
    main()
