#!/usr/bin/env bash
# Run every test of the project and exit non-zero on any failure:
#   1. the pure pytest suites (ksef_protocol, ksef_emulator), with Odoo 19's pinned
#      libraries and again with current releases; then the conformance suite (third-party
#      KSeF SDKs from PyPI drive the emulator, in their own venv: scripts/conformance_venv.sh);
#   2. the addon's Odoo tests on a fresh database copied from a cached template;
#   3. install/uninstall lifecycle and a scan of the Odoo log for warnings.
# usage: scripts/test.sh [--pure-only | --odoo-only] [--tags ODOO_TEST_TAGS] [--keep-db]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/odoo_env.sh

run_pure=1; run_odoo=1; keep_db=0; tags="/l10n_pl_ksef"
while [ $# -gt 0 ]; do
    case "$1" in
        --pure-only) run_odoo=0 ;;
        --odoo-only) run_pure=0 ;;
        --tags) tags="$2"; shift ;;
        --keep-db) keep_db=1 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

failures=0
summary=()
total_passed=0; total_failed=0
count() {  # add "N passed"/"N failed"/"N error(s)" found in $1 to the totals
    local p f e
    p="$(grep -oE '[0-9]+ passed' <<<"$1" | grep -oE '[0-9]+' | tail -1 || true)"
    f="$(grep -oE '[0-9]+ failed' <<<"$1" | grep -oE '[0-9]+' | tail -1 || true)"
    e="$(grep -oE '[0-9]+ error' <<<"$1" | grep -oE '[0-9]+' | tail -1 || true)"
    total_passed=$((total_passed + ${p:-0})); total_failed=$((total_failed + ${f:-0} + ${e:-0}))
}
# One log folder per run, so parallel runs never mix their logs; "latest" points at the newest.
RUN_ID="$$-$RANDOM"  # PIDs repeat across sandboxes sharing a machine
LOG_DIR="$KSEF_CACHE/test-logs/run-$(date +%Y%m%d-%H%M%S)-$RUN_ID"; mkdir -p "$LOG_DIR"
ln -sfn "$LOG_DIR" "$KSEF_CACHE/test-logs/latest"

run_pytest() {  # $1 label, $2 venv
    local label="$1" venv="$2" out="$LOG_DIR/pytest-$1.log" rc=0
    echo "=== pytest ($label) ==="
    "$venv/bin/python" -m pytest -q -p no:cacheprovider 2>&1 | tee "$out" || rc=$?
    local line; line="$(grep -E '[0-9]+ (passed|failed|error)' "$out" | tail -1 || true)"
    summary+=("pytest ($label): ${line:-no summary}")
    count "$line"
    [ $rc -eq 0 ] || failures=$((failures + 1))
}

run_conformance() {
    local out="$LOG_DIR/pytest-conformance.log" rc=0 python
    echo "=== conformance (third-party KSeF SDKs against the emulator) ==="
    if ! python="$(scripts/conformance_venv.sh 2>"$LOG_DIR/conformance-venv.log" | tail -1)"; then
        cat "$LOG_DIR/conformance-venv.log"
        summary+=("conformance: venv could not be built")
        failures=$((failures + 1)); total_failed=$((total_failed + 1))
        return
    fi
    "$python" -m pytest -q -p no:cacheprovider -rsx conformance 2>&1 | tee "$out" || rc=$?
    local line; line="$(grep -E '[0-9]+ (passed|failed|error)' "$out" | tail -1 || true)"
    summary+=("conformance: ${line:-no summary}")
    count "$line"
    [ $rc -eq 0 ] || failures=$((failures + 1))
}

if [ $run_pure = 1 ]; then
    run_pytest "odoo-pins" "$KSEF_VENV"
    run_pytest "current-releases" "$KSEF_VENV_LATEST"
    run_conformance
fi

if [ $run_odoo = 1 ]; then
    # A template database with Odoo's modules installed saves minutes per run.
    TEMPLATE_DB="$(ksef_template_db 2>"$LOG_DIR/template.log")" || { cat "$LOG_DIR/template.log"; exit 1; }
    echo "=== template database $TEMPLATE_DB ==="
    TEST_DB="ksef_test_${RUN_ID//-/_}"
    createdb -T "$TEMPLATE_DB" "$TEST_DB"
    cleanup() { [ $keep_db = 1 ] || dropdb --if-exists "$TEST_DB" 2>/dev/null || true; }
    trap cleanup EXIT

    # A first, cold browser start can exceed Odoo's 10 s wait for the DevTools port: warm it up once.
    command -v chromium >/dev/null 2>&1 && timeout 60 chromium --headless --no-sandbox --disable-gpu \
        --disable-background-networking --user-data-dir="$(mktemp -d)" --dump-dom about:blank >/dev/null 2>&1 || true
    echo "=== Odoo tests ($tags) on $TEST_DB ==="
    ODOO_LOG="$LOG_DIR/odoo-tests.log"
    rm -f "$ODOO_LOG"  # Odoo appends to its log file
    rc=0
    odoo_bin server -d "$TEST_DB" -i l10n_pl_ksef --test-enable --test-tags "$tags" --stop-after-init \
        --http-port=0 --logfile="$ODOO_LOG" --log-level=info || rc=$?
    grep -E " (ERROR|CRITICAL|WARNING) | FAIL: | ERROR: " "$ODOO_LOG" | head -50 || true
    stats="$(grep -E "[0-9]+ failed, [0-9]+ error\(s\) of [0-9]+ tests" "$ODOO_LOG" | tail -1 | sed -E 's/.*: //')"
    ran="$(grep -oE "of [0-9]+ tests" <<<"$stats" | grep -oE "[0-9]+" || echo 0)"
    echo "Odoo: ${stats:-no test statistics found}"
    if [ $rc -ne 0 ] || [ -z "$stats" ] || [ "${ran:-0}" -eq 0 ]; then
        echo "Odoo tests failed or could not run (exit $rc); full log: $ODOO_LOG"
        failures=$((failures + 1))
    fi
    # Warnings at install or test time are defects, whoever logs them.
    warnings="$(grep -cE " (WARNING|ERROR|CRITICAL) " "$ODOO_LOG" || true)"
    if [ "${warnings:-0}" -ne 0 ]; then
        echo "Odoo logged $warnings warning/error lines during install and tests (see above)."
        failures=$((failures + 1))
    fi
    summary+=("Odoo tests: ${stats:-none}; log warnings: ${warnings:-0}")
    if [ -n "$stats" ]; then
        odoo_failed="$(grep -oE '^[0-9]+' <<<"$stats" || echo 0)"
        odoo_errors="$(grep -oE '[0-9]+ error' <<<"$stats" | grep -oE '[0-9]+' || echo 0)"
        total_passed=$((total_passed + ran - odoo_failed - odoo_errors))
        total_failed=$((total_failed + odoo_failed + odoo_errors))
    fi

    if [ "$tags" = "/l10n_pl_ksef" ]; then
        echo "=== uninstall lifecycle ==="
        LIFE_LOG="$LOG_DIR/odoo-uninstall.log"
        rm -f "$LIFE_LOG"
        rc=0
        odoo_bin shell -d "$TEST_DB" --no-http --logfile="$LIFE_LOG" --log-level=warn \
            < scripts/check_uninstall.py || rc=$?
        if [ $rc -ne 0 ] || grep -qE " (WARNING|ERROR|CRITICAL) " "$LIFE_LOG"; then
            cat "$LIFE_LOG"; echo "uninstall: FAILED"; failures=$((failures + 1))
            summary+=("uninstall: failed")
        else
            summary+=("uninstall: clean")
        fi
    fi
fi

if [ $run_odoo = 1 ] && [ "$tags" = "/l10n_pl_ksef" ]; then
    # Real processes on committed data: two workers on one queue with faults, and a user resetting
    # invoices while a worker sends them (what a test transaction cannot show).
    echo "=== two workers on one queue; reset while sending (scripts/soak.py) ==="
    rc=0
    { "$KSEF_VENV/bin/python" scripts/soak.py -n 40 --no-baseline && "$KSEF_VENV/bin/python" scripts/soak.py --race 6; } \
        > "$LOG_DIR/soak.log" 2>&1 || rc=$?
    grep -E "^(with faults|race|    )" "$LOG_DIR/soak.log" || tail -20 "$LOG_DIR/soak.log"
    if [ $rc -ne 0 ]; then
        summary+=("soak: FAILED (see $LOG_DIR/soak.log)"); failures=$((failures + 1))
    else
        summary+=("soak: $(grep -E '^with faults' "$LOG_DIR/soak.log" | head -1)")
    fi
fi

echo
echo "=== summary ==="
for line in "${summary[@]}"; do echo "$line"; done
if [ $failures -ne 0 ]; then
    echo "FAILED: $failures suite(s) failed"
    [ $total_failed -gt 0 ] || total_failed=$failures
    echo "$total_passed passed, $total_failed failed"
    exit 1
fi
echo "all suites passed"
echo "$total_passed passed, $total_failed failed"
