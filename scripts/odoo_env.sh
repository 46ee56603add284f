# Shared by demo.sh and test.sh: bootstrap, then an Odoo config for this machine.
# shellcheck shell=bash
. "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"

# The key that encrypts KSeF secrets at rest lives outside the database.
# Scripts keep a machine-local one; production sets it in the server's environment.
KSEF_KEY_FILE="$KSEF_CACHE/encryption.key"
if [ ! -s "$KSEF_KEY_FILE" ]; then
    "$KSEF_VENV/bin/python" -c "import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())" > "$KSEF_KEY_FILE"
    chmod 600 "$KSEF_KEY_FILE"
fi
export ODOO_KSEF_ENCRYPTION_KEY="${ODOO_KSEF_ENCRYPTION_KEY:-$(cat "$KSEF_KEY_FILE")}"

ODOO_ADDONS_PATH="$ODOO_SRC/odoo/addons,$KSEF_ADDONS_DIR"
ODOO_CONF="$KSEF_ADDONS_DIR/odoo.conf"  # per checkout, like the addons folder
cat > "$ODOO_CONF" <<CONF
[options]
addons_path = $ODOO_ADDONS_PATH
http_interface = 127.0.0.1
CONF
odoo_bin() {
    # Odoo from the source tree, with this addon on the addons path.
    # usage: odoo_bin COMMAND [ODOO OPTIONS...]   (COMMAND: server, shell, i18n ...)
    local command="$1"; shift
    local subcommand=()
    if [ "$command" = i18n ]; then subcommand=("$1"); shift; fi
    PYTHONPATH="$ODOO_SRC${PYTHONPATH:+:$PYTHONPATH}" "$KSEF_VENV/bin/python" -m odoo "$command" \
        "${subcommand[@]}" -c "$ODOO_CONF" "$@"
}

# Browser tours: Debian's chromium launcher checks /dev/shm with `findmnt`, which prints two lines
# (and the launcher's test breaks) when /dev/shm is mounted twice, as seen on CI machines. Start the
# browser binary directly, with the launcher's fallback for a small /dev/shm always on.
if [ -x /usr/lib/chromium/chromium ]; then
    KSEF_BROWSER_BIN="$KSEF_CACHE/browser-bin"
    mkdir -p "$KSEF_BROWSER_BIN"
    printf '#!/bin/sh\nexec /usr/lib/chromium/chromium --disable-dev-shm-usage "$@"\n' > "$KSEF_BROWSER_BIN/chromium"
    chmod +x "$KSEF_BROWSER_BIN/chromium"
    export PATH="$KSEF_BROWSER_BIN:$PATH"
fi

ksef_template_db() {
    # Print the name of the template database (Odoo 19 with l10n_pl and the UBL export installed),
    # building it first when it is missing: every throw-away database of the scripts is a copy of it.
    local stamp
    stamp="$( (cd "$ODOO_SRC" && cat odoo/release.py odoo/addons/l10n_pl/__manifest__.py) | sha256sum | cut -c1-10)"
    local name="ksef_tpl_$stamp"
    if ! psql -lqt | cut -d'|' -f1 | grep -qw "$name"; then
        echo "=== building template database $name ===" >&2
        odoo_bin server -d "$name" -i l10n_pl,account_edi_ubl_cii --stop-after-init --log-level=warn >&2
    fi
    echo "$name"
}
