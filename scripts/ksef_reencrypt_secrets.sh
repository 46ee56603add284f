#!/usr/bin/env bash
# Re-encrypt every stored KSeF secret with the FIRST key of ODOO_KSEF_ENCRYPTION_KEY (or of
# ksef_encryption_key in the Odoo config), so the keys after it can be removed (README, "Rotating
# the encryption key"). Run it with the same environment and config as the Odoo server.
# usage: scripts/ksef_reencrypt_secrets.sh -d DATABASE [-c /etc/odoo/odoo.conf]
#        ODOO_BIN="python3 /opt/odoo/odoo-bin" scripts/ksef_reencrypt_secrets.sh -d DATABASE
set -euo pipefail
if [ $# -eq 0 ]; then
    sed -n '2,6p' "$0" >&2
    exit 2
fi
ODOO_BIN="${ODOO_BIN:-odoo}"
# odoo shell runs the code read from stdin, then exits; the commit makes the change permanent.
# shellcheck disable=SC2086
$ODOO_BIN shell --no-http --log-level=warn "$@" <<'PYTHON'
count = env['res.company']._l10n_pl_ksef_reencrypt_secrets()
env.cr.commit()
print("KSeF secrets re-encrypted with the current key: %s" % count)
PYTHON
