# Shared by scripts/test and scripts/demo: find, or set up, the Python that runs Odoo 18.0.
#   1. $MEDPULSE_PYTHON if set (it must import Odoo 18.0);
#   2. unless $MEDPULSE_ODOO_SOURCE asks for a set-up from a local source: `python3` if it
#      imports Odoo 18.0, else /opt/odoo18/venv/bin/python (Odoo's documented source install);
#   3. else the environment scripts/setup/medpulse_setup.py builds once in the user's cache
#      folder (README, "Getting Odoo 18.0"), with ${MEDPULSE_SETUP_PYTHON:-python3}.
# The system packages the command needs are checked in every case (installed as root).
# Sets $python or prints the reason and exits 2.

medpulse_fallback_python=/opt/odoo18/venv/bin/python

imports_odoo18() {
    "$1" -c 'import odoo.release, sys; sys.exit(0 if odoo.release.version_info[0] == 18 else 1)' \
        >/dev/null 2>&1
}

# find_odoo_python demo|test
find_odoo_python() {
    local purpose="${1:-test}" existing="" setup_python="${MEDPULSE_SETUP_PYTHON:-python3}"
    python=""
    if [[ -n "${MEDPULSE_PYTHON:-}" ]]; then
        if ! imports_odoo18 "$MEDPULSE_PYTHON"; then
            echo "FAIL: MEDPULSE_PYTHON=$MEDPULSE_PYTHON does not import Odoo 18.0" >&2
            exit 2
        fi
        existing="$MEDPULSE_PYTHON"
    elif [[ -z "${MEDPULSE_ODOO_SOURCE:-}" ]]; then
        if command -v python3 >/dev/null && imports_odoo18 python3; then
            existing="$(command -v python3)"
        elif [[ -x "$medpulse_fallback_python" ]] && imports_odoo18 "$medpulse_fallback_python"; then
            existing="$medpulse_fallback_python"
        fi
    fi
    if ! command -v "$setup_python" >/dev/null; then
        [[ -n "$existing" ]] && { python="$existing"; return; }
        echo "FAIL: $setup_python not found: install Python 3.10-3.12" \
            "(Debian 12: apt-get install python3 python3-venv python3-dev)" >&2
        exit 2
    fi
    if [[ -z "$existing" ]]; then
        "$setup_python" "$here/scripts/setup/python_check.py" || exit 2
    fi
    python="$("$setup_python" "$here/scripts/setup/medpulse_setup.py" ensure --for "$purpose" \
        ${existing:+--python "$existing"})" || exit 2
}
