"""Grant KSeF permissions in a company's context: to an accounting office (its NIP) or to a person."""
from odoo import api, fields, models
from odoo.exceptions import UserError

from ..ksef_protocol import person_details


class KsefPermissionGrant(models.TransientModel):
    _name = 'ksef.permission.grant'
    _description = "Grant KSeF permissions"

    company_id = fields.Many2one('res.company', required=True, readonly=True,
                                 default=lambda self: self.env.company)
    grantee_type = fields.Selection([
        ('office', "Accounting office or other company (NIP)"),
        ('person', "Person"),
        ('authorization', "Entity authorization (self-billing, VAT RR, tax representative)"),
    ], string="Grant to", required=True, default='office')
    authorization = fields.Selection([
        ('SelfInvoicing', "Self-billing (SelfInvoicing)"),
        ('RRInvoicing', "VAT RR invoices (RRInvoicing)"),
        ('TaxRepresentative', "Tax representative (TaxRepresentative)"),
    ], string="Authorization", default='SelfInvoicing',
        help="Lets the other company issue invoices in the name of this one (e.g. the buyer who self-bills).")
    identifier_type = fields.Selection([
        ('Pesel', "PESEL"), ('Nip', "NIP"), ('Fingerprint', "Certificate fingerprint (SHA-256)"),
    ], string="Person identified by", default='Pesel')
    identifier = fields.Char(string="NIP / PESEL / fingerprint", required=True,
                             help="The office's NIP; for a person the PESEL, NIP or the SHA-256 fingerprint of the "
                                  "certificate the person logs in with.")
    office_id = fields.Many2one('res.company', string="Office in this database",
                                help="Fill the NIP and name from a company of this database (e.g. the office "
                                     "whose credential this company uses).")
    name = fields.Char(string="Company name", help="Full name of the office as KSeF shows it (5-90 characters).")
    first_name = fields.Char(string="First name")
    last_name = fields.Char(string="Last name")
    person_id_type = fields.Selection([('Pesel', "PESEL"), ('Nip', "NIP")], string="Person's PESEL or NIP type",
                                      default='Pesel')
    person_id_value = fields.Char(string="Person's PESEL or NIP",
                                  help="For a certificate fingerprint: the PESEL or NIP of its holder.")
    invoice_read = fields.Boolean(string="Read invoices (InvoiceRead)", default=True)
    invoice_write = fields.Boolean(string="Issue invoices (InvoiceWrite)", default=True)
    can_delegate = fields.Boolean(string="May pass them on to its staff",
                                  help="The office may grant these permissions to its employees (indirectly).")
    credentials_manage = fields.Boolean(string="Manage permissions (CredentialsManage)")
    credentials_read = fields.Boolean(string="View permissions (CredentialsRead)")
    introspection = fields.Boolean(string="Session history (Introspection)")
    description = fields.Char(string="Description", required=True, default=lambda self: self.env._("Granted from Odoo"))

    @api.onchange('company_id')
    def _onchange_company_id(self):
        office = self.company_id.l10n_pl_ksef_credential_company_id
        if office and not self.office_id and self.grantee_type == 'office':
            self.office_id = office

    @api.onchange('office_id')
    def _onchange_office_id(self):
        if self.office_id:
            subject = self.company_id._l10n_pl_ksef_credential_subject() \
                if self.company_id.l10n_pl_ksef_credential_company_id == self.office_id else None
            try:
                nip = subject[1] if subject and subject[0] == 'Nip' else self.office_id._l10n_pl_ksef_nip()
            except UserError:
                nip = False
            self.identifier = nip
            self.name = self.office_id.name

    def _scopes(self):
        if self.grantee_type == 'authorization':
            return [self.authorization]
        scopes = [scope for scope, wanted in (('InvoiceRead', self.invoice_read), ('InvoiceWrite', self.invoice_write))
                  if wanted]
        if self.grantee_type == 'person':
            scopes += [scope for scope, wanted in (('CredentialsManage', self.credentials_manage),
                                                   ('CredentialsRead', self.credentials_read),
                                                   ('Introspection', self.introspection)) if wanted]
        if not scopes:
            raise UserError(self.env._("Choose at least one permission to grant."))
        return scopes

    def _clean_identifier(self):
        """NIPs are often typed with dashes, fingerprints with colons or spaces: KSeF wants bare digits/hex."""
        return ''.join(c for c in (self.identifier or '') if c not in '-: ').upper()

    def _grant(self, client):
        """Send the grant; returns the KSeF operation reference."""
        identifier = self._clean_identifier()
        try:
            if self.grantee_type in ('office', 'authorization') and (not self.name or len(self.name.strip()) < 5):
                raise UserError(self.env._("Enter the company's full name (at least 5 characters)."))
            if self.grantee_type == 'authorization':
                return client.grant_authorization(identifier, self.authorization, self.description, self.name[:90])
            if self.grantee_type == 'office':
                return client.grant_entity_permissions(identifier, self._scopes(), self.description, self.name[:90],
                                                       can_delegate=self.can_delegate)
            if not (self.first_name and self.last_name):
                raise UserError(self.env._("Enter the person's first and last name."))
            if self.identifier_type == 'Fingerprint':
                if not self.person_id_value:
                    raise UserError(self.env._(
                        "For a certificate fingerprint enter the PESEL or NIP of the certificate's holder."))
                details = person_details(self.first_name, self.last_name, identifier_type=self.person_id_type,
                                         identifier_value=self.person_id_value.strip())
            else:
                details = person_details(self.first_name, self.last_name)
            return client.grant_person_permissions(self.identifier_type, identifier, self._scopes(),
                                                   self.description, details)
        except ValueError as error:
            # The protocol package checks identifiers and lengths before anything is sent.
            raise UserError(self.env._("Cannot grant: %(reason)s", reason=str(error))) from None

    def action_grant(self):
        """Button "Grant": send the grant to KSeF, follow it to its end, show the refreshed list."""
        self.ensure_one()
        company = self.company_id
        company._l10n_pl_ksef_check_permissions_manager()
        self._scopes()
        client = company._l10n_pl_ksef_permissions_client()
        reference = company._l10n_pl_ksef_permissions_call(self._grant, client)
        pending = self.env['ksef.permission']
        if not company._l10n_pl_ksef_follow_operation(client, reference):
            pending = self.env['ksef.permission'].sudo().create([{
                'company_id': company.id,
                'kind': {'office': 'entity', 'authorization': 'authorization'}.get(self.grantee_type, 'direct'),
                'subject_type': self.identifier_type if self.grantee_type == 'person' else 'Nip',
                'subject_value': self._clean_identifier(),
                'subject_name': self.name if self.grantee_type != 'person'
                else '%s %s' % (self.first_name, self.last_name),
                'scope': scope,
                'description': self.description,
                'state': 'pending',
                'operation_reference': reference,
            } for scope in self._scopes()])
        company._l10n_pl_ksef_sync_permissions(client, keep=pending)
        if company.l10n_pl_ksef_credential_company_id:
            # A login refused before the grant may be retried now.
            company._l10n_pl_ksef_forget_tokens()
        return company.action_l10n_pl_ksef_open_permissions()
