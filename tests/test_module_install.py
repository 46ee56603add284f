from odoo.tests import tagged, TransactionCase


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestModuleInstall(TransactionCase):
    """The addon installs on top of the Polish localisation with its security in place."""

    def test_installed_with_polish_localisation(self):
        modules = self.env['ir.module.module'].search([('name', 'in', ('l10n_pl', 'l10n_pl_ksef'))])
        self.assertEqual(set(modules.mapped('state')), {'installed'})

    def test_ksef_manager_group_is_accounting_user(self):
        group = self.env.ref('l10n_pl_ksef.group_ksef_manager')
        self.assertIn(self.env.ref('account.group_account_invoice'), group.all_implied_ids)
        self.assertIn(group, self.env.ref('base.user_admin').all_group_ids)

    def test_protocol_package_never_imports_odoo(self):
        # The protocol package must stay usable outside Odoo (emulator tests, scripts).
        import ast
        import pathlib
        root = pathlib.Path(__file__).resolve().parent.parent / 'ksef_protocol'
        offenders = []
        for path in root.rglob('*.py'):
            tree = ast.parse(path.read_text(encoding='utf-8'))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module or '']
                if any(name == 'odoo' or name.startswith('odoo.') for name in names):
                    offenders.append(str(path.relative_to(root)))
        self.assertTrue(root.is_dir())
        self.assertEqual(offenders, [])
