#!/usr/bin/env bash
# Run a Python file inside `odoo shell` on a throw-away copy of the template database with
# l10n_pl_ksef installed; the copy is dropped afterwards. Environment variables pass through.
#   usage: scripts/odoo_shell_fresh_db.sh NAME FILE [LOG_LEVEL]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/odoo_env.sh
DB="ksef_${1}_$$"
createdb -T "$(ksef_template_db)" "$DB"
trap 'dropdb --if-exists "$DB"' EXIT
odoo_bin server -d "$DB" -i l10n_pl_ksef --stop-after-init --log-level=warn
odoo_bin shell -d "$DB" --no-http --log-level="${3:-warn}" < "$2"
