"""Who may do what in a company's KSeF context: a copy of KSeF's list, refreshed from KSeF.

KSeF is the record: the list is replaced by KSeF's answer on every refresh and after every grant
or revocation. Grants and revocations are asynchronous in KSeF: each is followed to its end;
one that KSeF has not finished within the wait stays listed as *pending* with its operation
number and is followed again at the next refresh.

Managing permissions needs a login into the company's context with the company's OWN credential
(its owner's certificate, or a KSeF token with CredentialsManage), never the office's.
"""
import datetime
import logging

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..ksef_protocol import KsefClient
from ..ksef_protocol.errors import KsefError, KsefForbidden, KsefOperationFailed, KsefOperationPending

_logger = logging.getLogger(__name__)

#: Seconds a grant or revocation is followed before it is left pending for the next refresh.
OPERATION_WAIT_SECONDS = 20.0
LOGIN_WAIT_SECONDS = 30.0

PERMISSION_SCOPES = [
    ('InvoiceRead', "Read invoices (InvoiceRead)"),
    ('InvoiceWrite', "Issue invoices (InvoiceWrite)"),
    ('CredentialsManage', "Manage permissions (CredentialsManage)"),
    ('CredentialsRead', "View permissions (CredentialsRead)"),
    ('Introspection', "Session history (Introspection)"),
    ('SubunitManage', "Manage subunits (SubunitManage)"),
    ('EnforcementOperations', "Enforcement (EnforcementOperations)"),
    ('CollectiveIdentifierManage', "Collective identifiers (CollectiveIdentifierManage)"),
    ('SelfInvoicing', "Self-billing (SelfInvoicing)"),
    ('RRInvoicing', "VAT RR invoices (RRInvoicing)"),
    ('TaxRepresentative', "Tax representative (TaxRepresentative)"),
    ('PefInvoicing', "PEF invoices (PefInvoicing)"),
]
SUBJECT_TYPES = [('Nip', "NIP"), ('Pesel', "PESEL"), ('Fingerprint', "Certificate fingerprint"),
                 ('PeppolId', "Peppol ID"), ('AllPartners', "All clients")]
AUTHORIZATION_SCOPES = ('SelfInvoicing', 'RRInvoicing', 'TaxRepresentative', 'PefInvoicing')


class KsefPermission(models.Model):
    _name = 'ksef.permission'
    _description = "KSeF permission"
    _order = 'company_id, subject_value, scope'
    _rec_name = 'subject_display'

    company_id = fields.Many2one('res.company', required=True, readonly=True, index=True, ondelete='cascade')
    ksef_id = fields.Char(string="KSeF permission ID", readonly=True, index=True)
    kind = fields.Selection([
        ('direct', "Direct"),
        ('entity', "Entity (invoices)"),
        ('indirect', "Indirect (through an intermediary)"),
        ('subunit', "Subunit administrator"),
        ('authorization', "Entity authorization"),
    ], required=True, readonly=True)
    subject_type = fields.Selection(SUBJECT_TYPES, string="Identified by", required=True, readonly=True)
    subject_value = fields.Char(string="Identifier", readonly=True)
    subject_name = fields.Char(string="Name", readonly=True)
    subject_display = fields.Char(string="Who", compute='_compute_subject_display')
    scope = fields.Selection(PERMISSION_SCOPES, string="Permission", required=True, readonly=True)
    can_delegate = fields.Boolean(string="May pass on", readonly=True)
    target_value = fields.Char(string="For client", readonly=True,
                               help="Indirect permissions: the client they apply to (or all clients).")
    description = fields.Char(readonly=True)
    author = fields.Char(string="Granted by", readonly=True)
    date_start = fields.Datetime(string="Since", readonly=True)
    state = fields.Selection([
        ('pending', "Being granted"),
        ('active', "Active"),
        ('revoking', "Being revoked"),
    ], required=True, readonly=True, default='active')
    operation_reference = fields.Char(string="KSeF operation", readonly=True,
                                      help="Grant or revocation KSeF is still processing.")

    @api.depends('subject_type', 'subject_value', 'subject_name')
    def _compute_subject_display(self):
        labels = dict(SUBJECT_TYPES)
        for permission in self:
            identifier = "%s %s" % (labels.get(permission.subject_type, ''), permission.subject_value or '')
            permission.subject_display = "%s (%s)" % (permission.subject_name, identifier.strip()) \
                if permission.subject_name else identifier.strip()

    # ------------------------------------------------------------------ actions

    def action_revoke(self):
        """Row button "Revoke": ask KSeF to take the permission away and follow the operation."""
        company = self.company_id
        if len(company) != 1:
            raise UserError(self.env._("Revoke the permissions of one company at a time."))
        company._l10n_pl_ksef_check_permissions_manager()
        pending = self.filtered(lambda p: p.state != 'active' or not p.ksef_id)
        if pending:
            raise UserError(self.env._("KSeF is still processing %(who)s: refresh the list first.",
                                       who=pending[0].subject_display))
        client = company._l10n_pl_ksef_permissions_client()
        references = []
        for permission in self:
            revoke = client.revoke_authorization if permission.kind == 'authorization' else client.revoke_permission
            references.append((permission, company._l10n_pl_ksef_permissions_call(revoke, permission.ksef_id)))
        pending = self.browse()
        for permission, reference in references:
            if not company._l10n_pl_ksef_follow_operation(client, reference):
                pending |= permission
                permission.sudo().write({'state': 'revoking', 'operation_reference': reference})
        # The office's stored login was obtained under the grant just revoked: drop it.
        if company.l10n_pl_ksef_credential_company_id:
            company._l10n_pl_ksef_forget_tokens()
        company._l10n_pl_ksef_sync_permissions(client, keep=pending)
        return company.action_l10n_pl_ksef_open_permissions()

    @api.model
    def _l10n_pl_ksef_screen_company(self):
        """The company whose permissions screen is open (list header buttons act on no record)."""
        company_id = self.env.context.get('l10n_pl_ksef_permissions_company_id')
        company = self.env['res.company'].browse(company_id).exists() if company_id else self.env.company
        return company

    def action_refresh_from_ksef(self):
        """List header button "Refresh from KSeF"."""
        return self._l10n_pl_ksef_screen_company().action_l10n_pl_ksef_refresh_permissions()

    def action_open_grant(self):
        """List header button "Grant"."""
        return self._l10n_pl_ksef_screen_company().action_l10n_pl_ksef_grant_permissions()


class ResCompany(models.Model):
    _inherit = 'res.company'

    l10n_pl_ksef_permission_ids = fields.One2many('ksef.permission', 'company_id', string="KSeF permissions")
    l10n_pl_ksef_permissions_synced = fields.Datetime(string="KSeF permissions refreshed", readonly=True, copy=False)

    def _l10n_pl_ksef_check_permissions_manager(self):
        self.ensure_one()
        if not self.env.su and (not self.env.user.has_group('l10n_pl_ksef.group_ksef_manager')
                                or self not in self.env.user.company_ids):
            raise UserError(self.env._("Only KSeF managers of %(company)s can manage its KSeF permissions.",
                                       company=self.name))

    def _l10n_pl_ksef_permissions_client(self):
        """A client logged into the company's context with its OWN credential (not stored: a rare task)."""
        self.ensure_one()
        own = self.with_context(l10n_pl_ksef_own_credentials=True).sudo()
        try:
            credentials = own._l10n_pl_ksef_get_auth_credentials()
        except UserError as error:
            raise UserError(self.env._(
                "Managing the KSeF permissions of %(company)s needs its own credential (its owner's certificate, "
                "or a KSeF token with the permission CredentialsManage): %(reason)s",
                company=self.name, reason=error.args[0])) from None
        client = KsefClient(self._l10n_pl_ksef_get_environment(), timeout=30.0)
        self._l10n_pl_ksef_load_public_keys(client)
        if credentials['method'] == 'certificate':
            login = lambda: client.authenticate_with_certificate(  # noqa: E731
                credentials['nip'], credentials['certificate'], credentials['private_key'],
                subject_identifier_type=credentials.get('subject_identifier_type', 'certificateSubject'),
                wait=LOGIN_WAIT_SECONDS)
        else:
            login = lambda: client.authenticate_with_ksef_token(  # noqa: E731
                credentials['nip'], credentials['token'], wait=LOGIN_WAIT_SECONDS)
        self._l10n_pl_ksef_permissions_call(login)
        return client

    def _l10n_pl_ksef_permissions_call(self, function, *args, **kwargs):
        """Run a protocol call for permissions management; KSeF's refusals become messages that say what to do."""
        self.ensure_one()
        try:
            return function(*args, **kwargs)
        except KsefForbidden as error:
            security = error.security or {}
            raise UserError(self.env._(
                "The credential of %(company)s may not manage KSeF permissions: it holds %(present)s, KSeF "
                "requires one of %(required)s. Use the owner's certificate, or a KSeF token generated with "
                "CredentialsManage.", company=self.name,
                present=', '.join(security.get('presentPermissions') or []) or self.env._("none"),
                required=', '.join(security.get('requiredAnyOfPermissions') or []) or 'CredentialsManage')) from None
        except KsefOperationFailed as error:
            raise UserError(self.env._("KSeF refused the operation: %(message)s", message=error.message)) from None
        except KsefError as error:
            raise UserError(self.env._("KSeF could not be asked about permissions: %(message)s",
                                       message=error.message)) from None

    def _l10n_pl_ksef_follow_operation(self, client, reference):
        """Wait for a grant/revocation; True when done, False when KSeF is still on it. Failures raise."""
        def wait():
            try:
                client.wait_permission_operation(reference, wait=OPERATION_WAIT_SECONDS)
            except KsefOperationPending:
                return False
            return True
        return self._l10n_pl_ksef_permissions_call(wait)

    def _l10n_pl_ksef_poll_pending_permissions(self, client):
        """Follow grants and revocations left pending by an earlier action; returns those still pending."""
        still = self.env['ksef.permission']
        for permission in self.l10n_pl_ksef_permission_ids.filtered('operation_reference'):
            status = self._l10n_pl_ksef_permissions_call(client.get_permission_operation_status,
                                                         permission.operation_reference)
            if status.pending:
                still |= permission
            elif not status.done:
                _logger.info("KSeF permission operation %s ended with %s", status.reference_number, status.code)
        return still

    def _l10n_pl_ksef_sync_permissions(self, client, keep=None):
        """Replace the list by KSeF's (persons, entities, indirect grants, authorizations); ``keep``: pending rows."""
        self.ensure_one()
        rows = []
        for item in self._l10n_pl_ksef_permissions_call(lambda: list(client.iter_person_permissions())):
            rows.append(self._l10n_pl_ksef_permission_values(item))
        for item in self._l10n_pl_ksef_permissions_call(lambda: list(client.iter_authorizations('Granted'))):
            rows.append(self._l10n_pl_ksef_authorization_values(item))
        permissions = self.env['ksef.permission'].sudo()
        keep = (keep or permissions).sudo()
        (self.sudo().l10n_pl_ksef_permission_ids - keep).unlink()
        kept_ids = set(keep.mapped('ksef_id'))
        permissions.create([row for row in rows if row['ksef_id'] not in kept_ids])
        self.sudo().l10n_pl_ksef_permissions_synced = fields.Datetime.now()

    def _l10n_pl_ksef_permission_values(self, item):
        subject = item.get('authorizedIdentifier') or {}
        person = item.get('subjectPersonDetails') or {}
        entity = item.get('subjectEntityDetails') or {}
        name = entity.get('fullName') or ' '.join(p for p in (person.get('firstName'), person.get('lastName')) if p)
        target = item.get('targetIdentifier')
        if target:
            kind = 'indirect'
        elif item.get('contextIdentifier'):
            kind = 'subunit'
        elif entity:
            kind = 'entity'
        else:
            kind = 'direct'
        author = item.get('authorIdentifier') or {}
        return {
            'company_id': self.id,
            'ksef_id': item['id'],
            'kind': kind,
            'subject_type': subject.get('type') or 'Nip',
            'subject_value': subject.get('value'),
            'subject_name': name or False,
            'scope': item['permissionScope'],
            'can_delegate': bool(item.get('canDelegate')),
            'target_value': target and (target.get('value') or self.env._("all clients")) or False,
            'description': item.get('description'),
            'author': ' '.join(v for v in (author.get('type'), author.get('value')) if v) or False,
            'date_start': _naive(item.get('startDate')),
            'state': 'active' if item.get('permissionState', 'Active') == 'Active' else 'pending',
        }

    def _l10n_pl_ksef_authorization_values(self, item):
        subject = item.get('authorizedEntityIdentifier') or {}
        author = item.get('authorIdentifier') or {}
        return {
            'company_id': self.id,
            'ksef_id': item['id'],
            'kind': 'authorization',
            'subject_type': subject.get('type') or 'Nip',
            'subject_value': subject.get('value'),
            'subject_name': (item.get('subjectEntityDetails') or {}).get('fullName') or False,
            'scope': item['authorizationScope'],
            'description': item.get('description'),
            'author': ' '.join(v for v in (author.get('type'), author.get('value')) if v) or False,
            'date_start': _naive(item.get('startDate')),
            'state': 'active',
        }

    # ------------------------------------------------------------------ buttons

    def action_l10n_pl_ksef_open_permissions(self):
        """The "KSeF permissions" screen of the company."""
        self.ensure_one()
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._("KSeF permissions of %(company)s", company=self.name),
            'res_model': 'ksef.permission',
            'view_mode': 'list',
            'domain': [('company_id', '=', self.id)],
            'context': {'default_company_id': self.id, 'l10n_pl_ksef_permissions_company_id': self.id},
        }

    def action_l10n_pl_ksef_refresh_permissions(self):
        """Button "Refresh from KSeF": follow pending operations, then copy KSeF's list."""
        self.ensure_one()
        self._l10n_pl_ksef_check_permissions_manager()
        client = self._l10n_pl_ksef_permissions_client()
        pending = self._l10n_pl_ksef_poll_pending_permissions(client)
        self._l10n_pl_ksef_sync_permissions(client, keep=pending)
        return self.action_l10n_pl_ksef_open_permissions()

    def action_l10n_pl_ksef_grant_permissions(self):
        """Button "Grant": the grant dialog for this company."""
        self.ensure_one()
        self._l10n_pl_ksef_check_permissions_manager()
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._("Grant KSeF permissions"),
            'res_model': 'ksef.permission.grant',
            'view_mode': 'form',
            'target': 'new',
            'context': {'default_company_id': self.id},
        }


def _naive(value):
    """KSeF's ISO timestamps as naive UTC datetimes for the ORM."""
    if not value:
        return False
    text = value.replace('Z', '+00:00')
    head, dot, tail = text.partition('.')
    if dot:  # KSeF sends 7 fractional digits; Python reads at most 6
        digits = ''.join(c for c in tail if c.isdigit())
        text = '%s.%s%s' % (head, digits[:6], tail[len(digits):])
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo:
        moment = moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return moment
