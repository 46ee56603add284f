#!/usr/bin/env bash
# One command for the demo: the KSeF emulator on :8123, and Odoo 19 on
# http://localhost:8069 with database "ksef_demo" (login admin / admin): a Polish
# demo company whose KSeF settings point at the emulator, and posted invoices
# ready to send. Ctrl+C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/odoo_env.sh

DEMO_DB="${KSEF_DEMO_DB:-ksef_demo}"
EMULATOR_PORT="${KSEF_EMULATOR_PORT:-8123}"
ODOO_PORT="${ODOO_PORT:-8069}"
STATE_DIR="$KSEF_CACHE/emulator-state"
mkdir -p "$STATE_DIR"

echo "[demo] starting the KSeF emulator on http://127.0.0.1:$EMULATOR_PORT/v2 (log: $KSEF_CACHE/emulator.log)"
"$KSEF_VENV/bin/python" -m ksef_emulator --host 127.0.0.1 --port "$EMULATOR_PORT" --state "$STATE_DIR" \
    > "$KSEF_CACHE/emulator.log" 2>&1 &
EMULATOR_PID=$!
trap 'kill $EMULATOR_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
    grep -q "listening" "$KSEF_CACHE/emulator.log" 2>/dev/null && break
    kill -0 $EMULATOR_PID 2>/dev/null || { cat "$KSEF_CACHE/emulator.log"; exit 1; }
    sleep 0.2
done

# Odoo's own log is kept quiet; the module loader's lines show the progress of a first install.
progress() {
    sed -un -e 's/.*Loading module \([a-z0-9_]*\) (\([0-9]*\)\/\([0-9]*\)).*/[demo]   module \2\/\3: \1/p' \
        -e 's/.* \(WARNING\|ERROR\|CRITICAL\) .*/&/p'
}
# The demo is rebuilt only when the addon changed: a stamp of its files (tests aside).
addon_stamp() {
    find . -path ./tests -prune -o -path ./.git -prune -o -path './ksef_*/tests' -prune -o -type f \
        \( -name '*.py' -o -name '*.xml' -o -name '*.csv' -o -name '*.po' -o -name '*.js' -o -name '*.xsd' \) \
        -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16
}
STAMP_FILE="$KSEF_CACHE/demo-$DEMO_DB.stamp"
STAMP="$(addon_stamp)"
START=$(date +%s)
if ! psql -lqt | cut -d'|' -f1 | grep -qw "$DEMO_DB"; then
    echo "[demo] first start: creating database $DEMO_DB with l10n_pl_ksef and its dependencies (a few minutes)"
    odoo_bin server -d "$DEMO_DB" -i l10n_pl_ksef --stop-after-init --log-level=warn \
        --log-handler=odoo.modules.loading:INFO 2>&1 | progress
    echo "[demo] loading the demo data: Polish company, KSeF token, customers, invoices"
    KSEF_EMULATOR_URL="http://127.0.0.1:$EMULATOR_PORT" \
        odoo_bin shell -d "$DEMO_DB" --no-http --log-level=warn < scripts/demo_setup.py
    echo "$STAMP" > "$STAMP_FILE"
elif [ "$(cat "$STAMP_FILE" 2>/dev/null)" != "$STAMP" ]; then
    echo "[demo] the addon changed since the last start: updating l10n_pl_ksef in $DEMO_DB"
    # --i18n-overwrite: the texts the update adds to existing views get their Polish translation too.
    odoo_bin server -d "$DEMO_DB" -u l10n_pl_ksef --i18n-overwrite --stop-after-init --log-level=warn \
        --log-handler=odoo.modules.loading:INFO 2>&1 | progress
    echo "$STAMP" > "$STAMP_FILE"
else
    echo "[demo] database $DEMO_DB is up to date: starting without reinstalling"
fi
echo "[demo] ready after $(( $(date +%s) - START )) s"

echo "[demo] Odoo on http://localhost:$ODOO_PORT (database $DEMO_DB, login admin / admin)"
odoo_bin server -d "$DEMO_DB" --db-filter="^$DEMO_DB\$" --http-interface="${ODOO_HTTP_INTERFACE:-127.0.0.1}" --http-port="$ODOO_PORT" \
    --log-level=info
