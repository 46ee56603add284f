#!/usr/bin/env bash
# Prepare everything the demo and the tests need, idempotently:
#   - the Odoo 19.0 source (ODOO_SRC, else the cache, else a shallow clone),
#   - a virtualenv with Odoo's requirements and the addon's own,
#   - a second virtualenv with current releases, for the pure protocol tests,
#   - a running PostgreSQL with a role for the current user,
#   - Debian tools the tests use (xmlsec1 as an independent XAdES verifier,
#     chromium for the browser tours, pdftotext to read invoice PDFs),
#   - wkhtmltopdf and fonts with Polish letters, which Odoo needs to print PDFs (checked).
# Source it (". scripts/bootstrap.sh") to get ODOO_SRC, KSEF_VENV, KSEF_VENV_LATEST,
# KSEF_ADDONS_DIR and KSEF_CACHE exported.
set -euo pipefail

KSEF_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KSEF_CACHE="${KSEF_CACHE:-$HOME/.cache/l10n_pl_ksef}"
ODOO_SRC="${ODOO_SRC:-$KSEF_CACHE/odoo-19.0}"
KSEF_VENV="${KSEF_VENV:-$KSEF_CACHE/venv}"
KSEF_VENV_LATEST="${KSEF_VENV_LATEST:-$KSEF_CACHE/venv-latest}"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
mkdir -p "$KSEF_CACHE"

log() { echo "[bootstrap] $*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
    # Install Debian packages only when one of them is missing.
    local missing=()
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
}

# --- Debian packages -------------------------------------------------------
if command -v dpkg >/dev/null 2>&1; then
    apt_install libpq-dev xmlsec1 postgresql chromium wkhtmltopdf fonts-dejavu-core fonts-liberation poppler-utils
fi

# --- PDFs: Odoo prints invoices (with their KSeF QR codes) through wkhtmltopdf --------
check_wkhtmltopdf() {
    command -v wkhtmltopdf >/dev/null 2>&1 || { log "wkhtmltopdf is missing: Odoo cannot print PDFs"; return 1; }
    local probe
    probe="$(mktemp -d)/probe"  # its own folder: scripts started together bootstrap at the same time
    printf '<html><head><meta charset="utf-8"/></head><body>Zażółć gęślą jaźń</body></html>' > "$probe.html"
    if ! wkhtmltopdf -q "$probe.html" "$probe.pdf" >/dev/null 2>&1 || ! head -c 4 "$probe.pdf" | grep -q '%PDF'; then
        log "wkhtmltopdf does not render a PDF: Odoo will print HTML instead"; return 1
    fi
    rm -rf "$(dirname "$probe")"
}
check_wkhtmltopdf || true

# --- Odoo source -----------------------------------------------------------
if [ ! -f "$ODOO_SRC/odoo/release.py" ]; then
    log "no Odoo source in $ODOO_SRC: cloning Odoo 19.0 (needs internet)"
    git clone --depth 1 --branch 19.0 https://github.com/odoo/odoo.git "$ODOO_SRC"
fi

# --- Odoo virtualenv (Odoo's pins) -----------------------------------------
stamp_of() { cat "$ODOO_SRC/requirements.txt" "$KSEF_REPO/requirements.txt" "$KSEF_REPO/requirements-dev.txt" | sha256sum | cut -c1-16; }
STAMP="$(stamp_of)"
if [ ! -x "$KSEF_VENV/bin/python" ] || [ "$(cat "$KSEF_VENV/.ksef-stamp" 2>/dev/null)" != "$STAMP" ]; then
    log "building the Odoo virtualenv in $KSEF_VENV"
    "$PYTHON" -m venv "$KSEF_VENV"
    "$KSEF_VENV/bin/pip" install -q --upgrade "pip<25" wheel "setuptools<70"
    # cbor2 5.4.2 no longer builds (its build needs pkg_resources): take a 5.6 wheel.
    # python-ldap only serves auth_ldap and needs LDAP headers: left out.
    sed -e 's/^cbor2==5\.4\.2.*/cbor2==5.6.5/' -e '/^python-ldap/d' \
        "$ODOO_SRC/requirements.txt" > "$KSEF_CACHE/odoo-requirements.txt"
    "$KSEF_VENV/bin/pip" install -q -r "$KSEF_CACHE/odoo-requirements.txt"
    "$KSEF_VENV/bin/pip" install -q -r "$KSEF_REPO/requirements.txt" -r "$KSEF_REPO/requirements-dev.txt" \
        -c "$KSEF_CACHE/odoo-requirements.txt"
    echo "$STAMP" > "$KSEF_VENV/.ksef-stamp"
fi

# --- current-releases virtualenv (protocol package must work on both) ------
LSTAMP="$(cat "$KSEF_REPO/requirements-dev.txt" | sha256sum | cut -c1-16)"
if [ ! -x "$KSEF_VENV_LATEST/bin/python" ] || [ "$(cat "$KSEF_VENV_LATEST/.ksef-stamp" 2>/dev/null)" != "$LSTAMP" ]; then
    log "building the current-releases virtualenv in $KSEF_VENV_LATEST"
    "$PYTHON" -m venv "$KSEF_VENV_LATEST"
    "$KSEF_VENV_LATEST/bin/pip" install -q --upgrade pip
    "$KSEF_VENV_LATEST/bin/pip" install -q cryptography requests lxml -r "$KSEF_REPO/requirements-dev.txt"
    echo "$LSTAMP" > "$KSEF_VENV_LATEST/.ksef-stamp"
fi

# --- the addon under its own name, whatever the clone's folder is called ----
# One addons folder per checkout, so several clones (or git worktrees) can run side by side.
KSEF_ADDONS_DIR="$KSEF_CACHE/addons-$(printf %s "$KSEF_REPO" | sha256sum | cut -c1-8)"
mkdir -p "$KSEF_ADDONS_DIR"
ln -sfn "$KSEF_REPO" "$KSEF_ADDONS_DIR/l10n_pl_ksef"

# --- PostgreSQL ------------------------------------------------------------
if ! pg_isready -q 2>/dev/null; then
    log "starting PostgreSQL"
    if command -v pg_ctlcluster >/dev/null 2>&1; then
        cluster="$(pg_lsclusters -h 2>/dev/null | awk 'NR==1{print $1" "$2}')"
        as_root pg_ctlcluster ${cluster:-15 main} start
    fi
    for _ in $(seq 1 30); do pg_isready -q && break; sleep 0.5; done
fi
if [ "$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1; then
    if ! as_root su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='$(id -un)'\"" | grep -q 1; then
        log "creating the PostgreSQL role $(id -un)"
        as_root su postgres -c "createuser -s $(id -un)"
    fi
fi

export KSEF_REPO KSEF_CACHE ODOO_SRC KSEF_VENV KSEF_VENV_LATEST KSEF_ADDONS_DIR
