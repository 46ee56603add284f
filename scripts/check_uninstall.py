# Fed to `odoo shell` by test.sh: uninstall the addon and check nothing of it is left.
import sys

module = env['ir.module.module'].search([('name', '=', 'l10n_pl_ksef')])
assert module.state == 'installed', f"l10n_pl_ksef should be installed, is {module.state}"
module.button_immediate_uninstall()
env.invalidate_all()
module = env['ir.module.module'].search([('name', '=', 'l10n_pl_ksef')])
leftovers = env['ir.model'].search([('model', '=like', 'ksef.%')]).mapped('model')
env.cr.execute("SELECT count(*) FROM ir_model_fields WHERE name LIKE 'l10n_pl_ksef_%%'")
fields_left = env.cr.fetchone()[0]
if module.state != 'uninstalled' or leftovers or fields_left:
    print(f"uninstall incomplete: state={module.state} models={leftovers} fields={fields_left}")
    sys.exit(1)
env.cr.commit()
print("uninstall: clean")
