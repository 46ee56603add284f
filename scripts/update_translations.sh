#!/usr/bin/env bash
# Regenerate i18n/l10n_pl_ksef.pot from the code and merge it into i18n/pl.po
# (new terms arrive untranslated; translations of removed terms are dropped).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/odoo_env.sh
DB="ksef_i18n_$$"
createdb -T "$(ksef_template_db)" "$DB"
trap 'dropdb --if-exists "$DB"' EXIT
odoo_bin server -d "$DB" -i l10n_pl_ksef --stop-after-init --log-level=warn
odoo_bin i18n export -d "$DB" -o i18n/l10n_pl_ksef.pot l10n_pl_ksef
"$KSEF_VENV/bin/python" - <<'PY'
import polib
pot = polib.pofile('i18n/l10n_pl_ksef.pot')
try:
    po = polib.pofile('i18n/pl.po')
except OSError:
    po = polib.POFile()
po.merge(pot)
po.metadata.update({'Language': 'pl', 'Content-Type': 'text/plain; charset=UTF-8',
                    'Content-Transfer-Encoding': '', 'Plural-Forms':
                    'nplurals=3; plural=(n==1 ? 0 : (n%10>=2 && n%10<=4) && (n%100<12 || n%100>14) ? 1 : 2);'})
po.obsolete_entries and [po.remove(e) for e in po.obsolete_entries()]
po.save('i18n/pl.po')
print(f"pl.po: {po.percent_translated()}% translated, {len(po.untranslated_entries())} untranslated")
PY
