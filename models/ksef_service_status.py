"""KSeF's availability as its public status service ("Latarnia") publishes it, per environment.

A scheduled action reads the status service of every environment in use (``ksef_protocol.status_service``)
and stores it here: the status (available, maintenance, failure, total failure), the event behind it and
the last announcements. The companies then act on it (``account_move_ksef_outage.py``): the queue
pauses while KSeF announces an outage, invoices are issued offline where the company chose it, offline
deadlines follow the announced ends, and sending resumes by itself when KSeF is available again.

A status that is unknown (service down, nonsense) or stale (not confirmed for ``STALE_AFTER``) never
pauses anything: the queue then behaves as without this service.
"""
import datetime
import logging

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import format_datetime

from ..ksef_protocol import status_service as latarnia

_logger = logging.getLogger(__name__)

SERVICE_STATES = [
    ('available', "Available"),
    ('maintenance', "Maintenance (announced unavailability)"),
    ('failure', "Failure"),
    ('total_failure', "Total failure"),
    ('unknown', "Unknown"),
]
_STATE_OF = {latarnia.AVAILABLE: 'available', latarnia.MAINTENANCE: 'maintenance', latarnia.FAILURE: 'failure',
             latarnia.TOTAL_FAILURE: 'total_failure'}
EVENT_CATEGORIES = [
    ('maintenance', "Maintenance"),
    ('failure', "Failure"),
    ('total_failure', "Total failure"),
]
#: Statuses in which the queue makes no request to KSeF.
PAUSING_STATES = ('maintenance', 'failure', 'total_failure')
#: A status not confirmed for this long no longer pauses the queue (the scheduled action runs every 5 minutes).
STALE_AFTER = datetime.timedelta(minutes=20)
#: Announcements shown in the settings.
SHOWN_ANNOUNCEMENTS = 5
STATUS_TIMEOUT_SECONDS = 10.0


def _naive(moment):
    """ORM datetimes are naive UTC."""
    return moment.astimezone(datetime.timezone.utc).replace(tzinfo=None) if moment else False


def _iso(moment):
    return moment.isoformat() if moment else None


class KsefServiceStatus(models.Model):
    _name = 'l10n_pl_ksef.service.status'
    _description = "KSeF status (status service)"
    _order = 'id'

    name = fields.Char(string="KSeF environment of the status", readonly=True)
    url = fields.Char(string="Status service", required=True, readonly=True)
    status = fields.Selection(SERVICE_STATES, string="KSeF availability", default='unknown', required=True, readonly=True)
    checked_at = fields.Datetime(string="Confirmed on", readonly=True,
                                 help="Last time the status service answered.")
    error = fields.Char(string="Status service problem", readonly=True)
    event_key = fields.Char(string="Current event", readonly=True)
    event_category = fields.Selection(EVENT_CATEGORIES, string="Current event type", readonly=True)
    event_start = fields.Datetime(string="Since", readonly=True)
    event_end = fields.Datetime(string="Announced end", readonly=True)
    event_title = fields.Char(string="Announcement", readonly=True)
    events = fields.Json(readonly=True, help="Every event the service lists: key, category, start, end, ended.")
    announcements = fields.Json(readonly=True, help="The last published messages, newest first.")
    summary_html = fields.Html(string="KSeF status and announcements", compute='_compute_summary_html',
                               sanitize=True)

    _url_unique = models.Constraint('UNIQUE(url)', "One status record per status service.")

    # ------------------------------------------------------------------
    # Reading the service
    # ------------------------------------------------------------------
    @api.model
    def _l10n_pl_ksef_cron_refresh(self):
        """Scheduled action: read the status of every environment in use, then let the companies act on it."""
        companies = self.env['res.company'].sudo()._l10n_pl_ksef_companies_using_ksef()
        by_url = {}
        for company in companies:
            url = company._l10n_pl_ksef_service_status_url()
            if url:
                by_url.setdefault(url, self.env['res.company'].sudo())
                by_url[url] |= company
        for url, url_companies in by_url.items():
            record = self._l10n_pl_ksef_refresh(url, url_companies[:1]._l10n_pl_ksef_environment_label())
            self.env['account.move'].sudo()._l10n_pl_ksef_apply_service_status(url_companies, record)
            self.env['account.move']._l10n_pl_ksef_commit()

    @api.model
    def _l10n_pl_ksef_refresh(self, url, name=None):
        """Ask the status service at ``url`` and store its answer; returns the record."""
        record = self.sudo().search([('url', '=', url)], limit=1) \
            or self.sudo().create({'url': url, 'name': name or url})
        report = latarnia.StatusServiceClient(url, timeout=STATUS_TIMEOUT_SECONDS).check()
        record._l10n_pl_ksef_store(report, name)
        return record

    def _l10n_pl_ksef_store(self, report, name=None):
        self.ensure_one()
        now = fields.Datetime.now()
        vals = {'error': report.error or False}
        if name:
            vals['name'] = name
        if report.status == latarnia.UNKNOWN:
            # Nothing known: keep the last answer for the record, but it no longer pauses anything.
            vals.update({'status': 'unknown'})
            self.write(vals)
            return
        event = report.current_event()
        events = report.events()
        announcements = sorted(report.announcements + report.messages,
                               key=lambda m: (m.published or m.start or datetime.datetime.min.replace(
                                   tzinfo=datetime.timezone.utc), m.version), reverse=True)
        seen, shown = set(), []
        for message in announcements:
            if (message.id, message.version, message.type) not in seen and len(shown) < SHOWN_ANNOUNCEMENTS:
                seen.add((message.id, message.version, message.type))
                shown.append({'type': message.type, 'category': message.category, 'title': message.title,
                              'text': message.text, 'start': _iso(message.start), 'end': _iso(message.end),
                              'published': _iso(message.published), 'event': str(message.event_key)})
        vals.update({
            'status': _STATE_OF[report.status],
            'checked_at': now,
            'event_key': str(event.key) if event else False,
            'event_category': event.category.lower() if event else False,
            'event_start': _naive(event.start) if event else False,
            'event_end': _naive(event.end) if event else False,
            'event_title': (event.title or event.text) if event else False,
            'events': [{'key': str(e.key), 'category': e.category.lower(), 'start': _iso(e.start),
                        'end': _iso(e.end), 'ended': e.ended, 'active': e.is_active(report.checked_at)}
                       for e in events],
            'announcements': shown,
        })
        if vals['status'] != self.status:
            _logger.info("KSeF status service %s: %s -> %s", self.url, self.status, vals['status'])
        self.write(vals)

    # ------------------------------------------------------------------
    # What the rest of the addon asks
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_is_fresh(self):
        self.ensure_one()
        return bool(self.checked_at) and self.status != 'unknown' \
            and self.checked_at >= fields.Datetime.now() - STALE_AFTER

    def _l10n_pl_ksef_pauses(self):
        """True while this status stops all requests to KSeF."""
        self.ensure_one()
        return self.status in PAUSING_STATES and self._l10n_pl_ksef_is_fresh()

    def _l10n_pl_ksef_events(self):
        """Stored events with aware datetimes: ``[{'key', 'category', 'start', 'end', 'ended', 'active'}]``."""
        self.ensure_one()
        events = []
        for event in self.events or []:
            event = dict(event)
            for name in ('start', 'end'):
                event[name] = datetime.datetime.fromisoformat(event[name]) if event.get(name) else None
            events.append(event)
        return events

    def _l10n_pl_ksef_wait_reason(self):
        """Why invoices wait now (translated), for the invoices and the settings."""
        self.ensure_one()
        tz = self.env.context.get('tz') or self.env.user.tz or 'Europe/Warsaw'
        end = format_datetime(self.env, self.event_end, tz=tz, dt_format='short') if self.event_end else False
        if self.status == 'maintenance':
            text = self.env._("KSeF announced a maintenance window (unavailability) until %(end)s.", end=end) if end \
                else self.env._("KSeF announced a maintenance window (unavailability).")
        elif self.status == 'failure':
            text = self.env._("KSeF announced a failure; expected end: %(end)s.", end=end) if end \
                else self.env._("KSeF announced a failure; its end is not known yet.")
        elif self.status == 'total_failure':
            text = self.env._("KSeF announced a total failure: invoices may be issued outside KSeF (on paper or "
                              "as PDF, without QR codes) and need not be sent to KSeF afterwards.")
        else:
            return False
        if self.event_title:
            text = '%s (%s)' % (text, self.event_title)
        return text

    @api.depends('status', 'checked_at', 'announcements', 'event_end', 'error')
    def _compute_summary_html(self):
        categories = dict(EVENT_CATEGORIES)
        for record in self:
            lines = [Markup('<p><strong>%s</strong>%s</p>') % (
                self.env._("KSeF status: %(state)s", state=dict(
                    self._fields['status']._description_selection(self.env))[record.status]),
                Markup(' <small>(%s)</small>') % self.env._(
                    "confirmed %(when)s", when=format_datetime(self.env, record.checked_at, dt_format='short'))
                if record.checked_at else '')]
            reason = record._l10n_pl_ksef_wait_reason()
            if reason:
                lines.append(Markup('<p>%s</p>') % reason)
            if record.error:
                lines.append(Markup('<p class="text-muted">%s</p>') % self.env._(
                    "The status service could not be read: %(error)s. Sending carries on as usual.",
                    error=record.error))
            items = []
            for message in record.announcements or []:
                window = ' - '.join(format_datetime(self.env, _naive(datetime.datetime.fromisoformat(message[key])),
                                                    dt_format='short')
                                    for key in ('start', 'end') if message.get(key))
                kind = {
                    latarnia.FAILURE_START: self.env._("Start"),
                    latarnia.FAILURE_END: self.env._("End"),
                    latarnia.MAINTENANCE_ANNOUNCEMENT: self.env._("Announcement"),
                }.get(message.get('type'), message.get('type') or '')
                category = categories.get((message.get('category') or '').lower(), message.get('category') or '')
                items.append(Markup('<li>%s: %s %s%s</li>') % (
                    category, kind, message.get('title') or message.get('text') or '',
                    Markup(' <small>(%s)</small>') % window if window else ''))
            if items:
                lines.append(Markup('<p>%s</p><ul>%s</ul>') % (self.env._("Last announcements:"),
                                                                 Markup('').join(items)))
            record.summary_html = Markup('').join(lines)


class ResCompany(models.Model):
    _inherit = 'res.company'

    l10n_pl_ksef_offline_on_service_outage = fields.Boolean(
        string="Issue offline during outages KSeF announces",
        help="While KSeF's status service announces a maintenance window or a failure, queued invoices are "
             "issued offline in the mode the situation calls for (KSeF unavailable / emergency mode), printable "
             "at once with both KSeF QR codes; during a total failure they are issued outside KSeF. Their "
             "deadlines follow the announced end, and they are sent by themselves once KSeF is available again. "
             "Needs a valid Offline KSeF certificate.")

    @api.model
    def _l10n_pl_ksef_companies_using_ksef(self):
        """Companies with KSeF credentials or invoices on their way to KSeF (whose status matters)."""
        companies = self.env['ksef.token'].sudo().search([]).company_id \
            | self.env['ksef.certificate'].sudo().search([]).company_id \
            | self.env['account.move'].sudo().search([
                ('l10n_pl_ksef_state', 'in', ('queued', 'sending', 'sent', 'offline_issued'))]).company_id
        return companies.filtered(lambda c: c._l10n_pl_ksef_is_polish())

    def _l10n_pl_ksef_service_status_url(self):
        """The status service of the company's KSeF environment (False when the settings are unusable)."""
        self.ensure_one()
        try:
            return latarnia.status_service_url(self._l10n_pl_ksef_get_environment())
        except UserError:
            return False

    def _l10n_pl_ksef_service_status(self):
        """The stored status of the company's KSeF environment (may be empty)."""
        self.ensure_one()
        url = self._l10n_pl_ksef_service_status_url()
        return self.env['l10n_pl_ksef.service.status'].sudo().search([('url', '=', url)], limit=1) if url \
            else self.env['l10n_pl_ksef.service.status']

    def _l10n_pl_ksef_service_paused(self):
        """The status record when KSeF announced an outage (the queue sends nothing), else False."""
        self.ensure_one()
        record = self._l10n_pl_ksef_service_status()
        return record if record and record._l10n_pl_ksef_pauses() else False


    def _l10n_pl_ksef_receive_invoices(self, *args, **kwargs):
        # No request either for purchase invoices while KSeF announces an outage; the next run fetches them.
        record = self._l10n_pl_ksef_service_paused()
        if not record:
            return super()._l10n_pl_ksef_receive_invoices(*args, **kwargs)
        message = self.env._("%(reason)s Purchase invoices are fetched when KSeF is available again.",
                             reason=record._l10n_pl_ksef_wait_reason())
        self.sudo().l10n_pl_ksef_receive_error = message
        return {'moves': self.env['account.move'], 'error': message, 'retry_at': None}


class ResConfigSettings(models.TransientModel):
    _inherit = 'res.config.settings'

    l10n_pl_ksef_offline_on_service_outage = fields.Boolean(
        related='company_id.l10n_pl_ksef_offline_on_service_outage', readonly=False)
    l10n_pl_ksef_service_summary = fields.Html(string="KSeF availability", compute='_compute_l10n_pl_ksef_service_summary',
                                               sanitize=True)

    @api.depends('company_id')
    def _compute_l10n_pl_ksef_service_summary(self):
        for settings in self:
            record = settings.company_id._l10n_pl_ksef_service_status()
            settings.l10n_pl_ksef_service_summary = record.summary_html if record else self.env._(
                "KSeF's status service has not been read yet (the scheduled action \"KSeF: read KSeF's status\" "
                "reads it every 5 minutes).")

    def action_l10n_pl_ksef_refresh_service_status(self):
        """Button: read KSeF's status now (public service, no credentials)."""
        self.ensure_one()
        company = self.company_id
        url = company._l10n_pl_ksef_service_status_url()
        if not url:
            raise UserError(self.env._("Set a valid KSeF environment first."))
        record = self.env['l10n_pl_ksef.service.status']._l10n_pl_ksef_refresh(
            url, company._l10n_pl_ksef_environment_label())
        self.env['account.move'].sudo()._l10n_pl_ksef_apply_service_status(company, record)
        return {'type': 'ir.actions.client', 'tag': 'reload'}
