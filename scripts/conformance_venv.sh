#!/usr/bin/env bash
# Build (idempotently) the virtualenv of the conformance suite: third-party KSeF SDKs
# from PyPI at the versions pinned in conformance/requirements.txt. They need Python >= 3.12,
# so this venv is separate from the project's (Odoo 19 pins Python 3.11).
# Prints the venv's python path on the last line.
#   usage: scripts/conformance_venv.sh
set -euo pipefail
cd "$(dirname "$0")/.."
KSEF_CACHE="${KSEF_CACHE:-$HOME/.cache/l10n_pl_ksef}"
VENV="$KSEF_CACHE/venv-conformance"
REQS="conformance/requirements.txt"
stamp="$(sha256sum "$REQS" | cut -c1-16)"
if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.requirements-stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "$VENV/bin/python"; exit 0
fi
PY=""
for candidate in "${CONFORMANCE_PYTHON:-}" python3.13 python3.12 \
        "$(pyenv prefix 3.12 2>/dev/null | head -1)/bin/python3.12" /root/.pyenv/versions/3.12*/bin/python3.12; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
        PY="$candidate"; break
    fi
done
if [ -z "$PY" ]; then
    echo "conformance: no Python >= 3.12 found (set CONFORMANCE_PYTHON)" >&2; exit 1
fi
rm -rf "$VENV"
"$PY" -m venv "$VENV" >&2
"$VENV/bin/python" -m pip install -q --upgrade pip >&2
"$VENV/bin/python" -m pip install -q -r "$REQS" >&2
echo "$stamp" > "$VENV/.requirements-stamp"
echo "$VENV/bin/python"
