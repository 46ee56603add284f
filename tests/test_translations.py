import pathlib

import polib

from odoo.tests import tagged, TransactionCase
from odoo.tools.translate import TranslationModuleReader


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestPolishTranslation(TransactionCase):
    """Users are Polish: every translatable term of the addon has a Polish translation."""

    def test_polish_translation_is_complete(self):
        po_path = pathlib.Path(__file__).resolve().parent.parent / 'i18n' / 'pl.po'
        translated = {
            entry.msgid for entry in polib.pofile(str(po_path))
            if entry.msgstr.strip() and 'fuzzy' not in entry.flags and not entry.obsolete
        }
        reader = TranslationModuleReader(self.env.cr, modules=['l10n_pl_ksef'])
        sources = {source for _module, _type, _name, _res_id, source, _value, _comments in reader}
        self.assertGreater(len(sources), 20, "the addon should have translatable terms")
        missing = sorted(sources - translated)
        self.assertFalse(missing, "terms without a Polish translation in i18n/pl.po "
                                  "(run scripts/update_translations.sh, then translate):\n" + "\n".join(missing[:50]))
