"""Office mode: a company logs into its own KSeF context with the credential of another company.

An accounting office keeps its client companies in one database and holds one KSeF certificate
(its company seal, or a KSeF certificate of its NIP). Each client grants the office's NIP the
permissions InvoiceRead and InvoiceWrite in KSeF; each client company then logs into its own
context (its NIP) with the office's certificate. The client's settings only say whose credential
it uses; the access and refresh tokens stay on the client company, i.e. per context.

KSeF tokens cannot serve here: a KSeF token is bound to the context it was generated in
(CIRFMF/ksef-api#741), so the office's token only opens the office's own context.
"""
from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..ksef_protocol.errors import KsefAuthFailed

#: Authentication status "Uwierzytelnianie zakończone niepowodzeniem" with "Brak przypisanych uprawnień".
AUTH_NO_PERMISSIONS = 415
#: What an accounting office needs in its client's context: receiving and sending.
OFFICE_PERMISSIONS = ('InvoiceRead', 'InvoiceWrite')


class ResCompany(models.Model):
    _inherit = 'res.company'

    l10n_pl_ksef_credential_company_id = fields.Many2one(
        'res.company', string="KSeF credential of",
        domain="[('id', '!=', id), ('l10n_pl_ksef_credential_company_id', '=', False)]",
        help="Log into this company's KSeF context with the certificate of another company, e.g. the "
             "accounting office that serves it. This company must have granted that company's NIP the "
             "permissions InvoiceRead and InvoiceWrite in KSeF. Empty: the company's own credentials.")
    l10n_pl_ksef_office_client_ids = fields.One2many(
        'res.company', 'l10n_pl_ksef_credential_company_id', string="Companies using this KSeF credential")
    l10n_pl_ksef_required_grant = fields.Text(
        string="Permissions this company must grant", compute='_compute_l10n_pl_ksef_required_grant')

    @api.constrains('l10n_pl_ksef_credential_company_id')
    def _check_l10n_pl_ksef_credential_company(self):
        for company in self:
            office = company.l10n_pl_ksef_credential_company_id
            if not office:
                continue
            if office == company:
                raise ValidationError(self.env._("A company cannot use its own KSeF credential as another's."))
            if office.l10n_pl_ksef_credential_company_id or company.l10n_pl_ksef_office_client_ids:
                raise ValidationError(self.env._(
                    "%(office)s itself uses the KSeF credential of another company, or %(company)s serves other "
                    "companies: choose the company that holds the certificate.",
                    office=office.name, company=company.name))

    def write(self, vals):
        if 'l10n_pl_ksef_credential_company_id' not in vals:
            return super().write(vals)
        changed = self.filtered(lambda c: c.l10n_pl_ksef_credential_company_id.id
                                != (vals['l10n_pl_ksef_credential_company_id'] or False))
        result = super().write(vals)
        # Tokens obtained with the previous credential must not outlive the switch.
        changed._l10n_pl_ksef_forget_tokens()
        return result

    # ------------------------------------------------------------------ which credential

    def _l10n_pl_ksef_credential_owner(self):
        """The company whose credential logs into this company's context (itself, or the office)."""
        self.ensure_one()
        if self.env.context.get('l10n_pl_ksef_own_credentials'):
            return self
        return self.sudo().l10n_pl_ksef_credential_company_id or self

    def _l10n_pl_ksef_get_auth_credentials(self):
        """In office mode: the office's certificate, used in this company's context (its NIP)."""
        office = self._l10n_pl_ksef_credential_owner()
        if office == self:
            return super()._l10n_pl_ksef_get_auth_credentials()
        nip = self._l10n_pl_ksef_nip()
        office = office.sudo()
        if office._l10n_pl_ksef_environment_key() != self._l10n_pl_ksef_environment_key():
            raise UserError(self.env._(
                "%(company)s uses the KSeF credential of %(office)s, but the two companies are set up for "
                "different KSeF environments. Choose the same environment (and URL) in both.",
                company=self.name, office=office.name))
        if office.l10n_pl_ksef_auth_method != 'certificate':
            raise UserError(self.env._(
                "%(company)s uses the KSeF credential of %(office)s, which logs in with a KSeF token. A KSeF "
                "token only opens the KSeF context it was generated in, so it cannot serve other companies: "
                "give %(office)s a certificate (its company seal or a KSeF certificate) and choose "
                "certificate authentication there.", company=self.name, office=office.name))
        credentials = super(ResCompany, office)._l10n_pl_ksef_get_auth_credentials()
        return dict(credentials, nip=nip)

    def _l10n_pl_ksef_get_client(self, authenticated=True):
        try:
            return super()._l10n_pl_ksef_get_client(authenticated=authenticated)
        except KsefAuthFailed as error:
            if error.status_code != AUTH_NO_PERMISSIONS:
                raise
            raise UserError(self._l10n_pl_ksef_missing_grant_message()) from None

    # ------------------------------------------------------------------ what must be granted

    def _l10n_pl_ksef_credential_subject(self):
        """``(kind, value)`` the login credential is known by in KSeF: ('Nip'|'Pesel'|'Fingerprint', value)."""
        self.ensure_one()
        owner = self._l10n_pl_ksef_credential_owner().sudo()
        if owner.l10n_pl_ksef_auth_method != 'certificate':
            return None
        try:
            certificate = owner._l10n_pl_ksef_get_authentication_certificate()
        except UserError:
            return None
        if certificate.subject_identifier_type == 'certificateFingerprint' or not (certificate.nip or certificate.pesel):
            return 'Fingerprint', (certificate.fingerprint or '').upper()
        return ('Nip', certificate.nip) if certificate.nip else ('Pesel', certificate.pesel)

    def _l10n_pl_ksef_grant_instruction(self):
        """One sentence: who must grant whom which permissions, for this company's credential."""
        self.ensure_one()
        subject = self._l10n_pl_ksef_credential_subject()
        owner = self._l10n_pl_ksef_credential_owner()
        try:
            nip = self._l10n_pl_ksef_nip()
        except UserError:
            nip = '?'
        if not subject:
            who = owner.name
        elif subject[0] == 'Nip':
            who = self.env._("the NIP %(nip)s (%(name)s)", nip=subject[1], name=owner.name)
        elif subject[0] == 'Pesel':
            who = self.env._("the person with PESEL %(pesel)s", pesel=subject[1])
        else:
            who = self.env._("the certificate with fingerprint %(fingerprint)s", fingerprint=subject[1])
        return self.env._(
            "%(company)s (NIP %(nip)s) must grant %(who)s the KSeF permissions InvoiceRead (receiving "
            "invoices) and InvoiceWrite (sending invoices): in Odoo under KSeF > Permissions of %(company)s, "
            "logged in with its own credential, or in the KSeF taxpayer application.",
            company=self.name, nip=nip, who=who)

    def _l10n_pl_ksef_missing_grant_message(self):
        self.ensure_one()
        owner = self._l10n_pl_ksef_credential_owner()
        return self.env._(
            "KSeF refused the login of %(owner)s into the KSeF context of %(company)s: no permissions there "
            "(KSeF: \"Brak przypisanych uprawnień\"). %(instruction)s",
            owner=owner.name, company=self.name, instruction=self._l10n_pl_ksef_grant_instruction())

    @api.depends('l10n_pl_ksef_credential_company_id', 'vat')
    def _compute_l10n_pl_ksef_required_grant(self):
        for company in self:
            company.l10n_pl_ksef_required_grant = company.l10n_pl_ksef_credential_company_id \
                and company._l10n_pl_ksef_grant_instruction() or False


class ResConfigSettings(models.TransientModel):
    _inherit = 'res.config.settings'

    l10n_pl_ksef_credential_company_id = fields.Many2one(
        related='company_id.l10n_pl_ksef_credential_company_id', readonly=False)
    l10n_pl_ksef_required_grant = fields.Text(related='company_id.l10n_pl_ksef_required_grant')
