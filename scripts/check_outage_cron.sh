#!/usr/bin/env bash
# The status-service scheduled action and the queue, each run in its own Odoo process as ir.cron runs
# them, against the emulator: a maintenance window KSeF announces pauses the queue without a single
# request reaching KSeF, and when KSeF is available again the invoice is sent and accepted.
# Uses a throw-away database (from test.sh's template when there is one). Exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/odoo_env.sh
DB="ksef_outage_$$"
WORK="$(mktemp -d)"
createdb -T "$(ksef_template_db)" "$DB"
EMULATOR_PID=""
cleanup() { [ -z "$EMULATOR_PID" ] || kill "$EMULATOR_PID" 2>/dev/null || true; dropdb --if-exists "$DB" || true; rm -rf "$WORK"; }
trap cleanup EXIT

"$KSEF_VENV/bin/python" -m ksef_emulator --host 127.0.0.1 --port 0 --state "$WORK/state" > "$WORK/emulator.log" 2>&1 &
EMULATOR_PID=$!
for _ in $(seq 50); do grep -q listening "$WORK/emulator.log" && break; sleep 0.2; done
export KSEF_EMULATOR_URL="$(grep -oE 'http://[0-9.:]+' "$WORK/emulator.log" | head -1)"
admin() {  # admin METHOD PATH [JSON]
    "$KSEF_VENV/bin/python" - "$@" <<'PY'
import json, os, sys, urllib.request
method, path = sys.argv[1], sys.argv[2]
data = sys.argv[3].encode() if len(sys.argv) > 3 else None
request = urllib.request.Request(os.environ['KSEF_EMULATOR_URL'] + '/admin' + path, data=data, method=method,
                                 headers={'Content-Type': 'application/json'})
print(urllib.request.urlopen(request, timeout=10).read().decode())
PY
}
counter() { admin GET /status-service | "$KSEF_VENV/bin/python" -c "import json,sys; d=json.load(sys.stdin); print(d['apiRequests'], d['apiRefused'])"; }
step() {  # step NAME: one Odoo process
    OUTAGE_STEP="$1" odoo_bin shell -d "$DB" --no-http --log-level=warn --logfile="$WORK/odoo.log" \
        < scripts/outage_cron_step.py | grep '^OUTAGE-REPORT' | sed 's/^OUTAGE-REPORT //' || true
}
field() { "$KSEF_VENV/bin/python" -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

echo "[outage] installing l10n_pl_ksef in $DB"
odoo_bin server -d "$DB" -i l10n_pl_ksef --stop-after-init --log-level=warn --logfile="$WORK/odoo.log"
step setup
admin POST /status-service '{"status": "MAINTENANCE"}' > /dev/null
before="$(counter)"
step status
step queue
step queue
report="$(step report)"
after="$(counter)"
echo "[outage] during maintenance: $report; emulator API calls (seen refused) before: $before, after: $after"
[ "$(field "$report" service)" = maintenance ] || { echo "FAILED: status not read"; exit 1; }
[ "$(field "$report" state)" = queued ] || { echo "FAILED: invoice left the queue"; exit 1; }
[ "$before" = "$after" ] || { echo "FAILED: requests reached KSeF during the maintenance window"; exit 1; }

admin POST /status-service '{"status": "AVAILABLE"}' > /dev/null
step status
for _ in $(seq 15); do
    step queue
    report="$(step report)"
    [ "$(field "$report" state)" = accepted ] && break
    sleep 0.5
done
final="$(counter)"
echo "[outage] after maintenance: $report; emulator API calls (seen refused): $final"
[ "$(field "$report" state)" = accepted ] || { echo "FAILED: not accepted"; exit 1; }
[ "${final#* }" = 0 ] || { echo "FAILED: KSeF refused requests"; exit 1; }
if grep -E " (WARNING|ERROR|CRITICAL) " "$WORK/odoo.log"; then echo "FAILED: warnings in the Odoo log"; exit 1; fi
echo "[outage] OK: paused without a request, then sent and accepted"
