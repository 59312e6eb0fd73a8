# Shared by scripts/test and scripts/demo: pick the Python that imports Odoo 18.0.
#   $MEDPULSE_PYTHON if set; else `python3` if it imports Odoo 18.0;
#   else the fixed fallback /opt/odoo18/venv/bin/python (README, "Getting Odoo 18.0").
# Sets $python or prints a one-line reason and exits 2.

medpulse_fallback_python=/opt/odoo18/venv/bin/python

imports_odoo18() {
    "$1" -c 'import odoo.release, sys; sys.exit(0 if odoo.release.version_info[0] == 18 else 1)' \
        >/dev/null 2>&1
}

find_odoo_python() {
    python=""
    if [[ -n "${MEDPULSE_PYTHON:-}" ]]; then
        if imports_odoo18 "$MEDPULSE_PYTHON"; then
            python="$MEDPULSE_PYTHON"
            return
        fi
        echo "FAIL: MEDPULSE_PYTHON=$MEDPULSE_PYTHON does not import Odoo 18.0" >&2
        exit 2
    fi
    if command -v python3 >/dev/null && imports_odoo18 python3; then
        python="$(command -v python3)"
    elif [[ -x "$medpulse_fallback_python" ]] && imports_odoo18 "$medpulse_fallback_python"; then
        python="$medpulse_fallback_python"
    else
        echo "FAIL: Odoo 18.0 is not importable by python3 nor by $medpulse_fallback_python;" \
            "install it (README, 'Getting Odoo 18.0') or set MEDPULSE_PYTHON" >&2
        exit 2
    fi
}
