{
    'name': 'Poland - KSeF 2.0 e-invoicing',
    'summary': 'Send invoices to KSeF 2.0 as FA(3), get KSeF numbers and UPO, receive vendor bills',
    'version': '19.0.1.0.0',
    'category': 'Accounting/Localizations/EDI',
    'countries': ['pl'],
    'author': 'l10n_pl_ksef contributors',
    'website': 'https://github.com/l10n-pl-ksef/l10n_pl_ksef',
    'license': 'LGPL-3',
    'depends': [
        'l10n_pl',
        'account_edi_ubl_cii',
    ],
    'external_dependencies': {
        'python': ['cryptography', 'lxml', 'requests'],
    },
    'data': [
        'security/ksef_security.xml',
        'security/ir.model.access.csv',
    ],
    'installable': True,
    'application': False,
}
