"""Refuse, in words, a Python that cannot run Odoo 18.0 (3.10, 3.11 and 3.12 can).

Kept apart from medpulse_setup.py and in the oldest syntax, so that any ``python3`` (or
``python``) reads it and says what to install instead of failing on newer syntax.
Exit 2 with the reason on stderr; nothing on success.
"""

import sys

SUPPORTED_PYTHONS = ((3, 10), (3, 11), (3, 12))


def python_refusal(version, executable):
    """Why this Python cannot run Odoo 18.0, or None when it can."""
    if tuple(version[:2]) in SUPPORTED_PYTHONS:
        return None
    # %-formatting: the oldest Pythons must read this file.
    return (
        "Odoo 18.0 runs on Python 3.10, 3.11 or 3.12; %s is Python %s. "  # noqa: UP031 - this file must parse under old Pythons to say so
        "Install one (Debian 12: apt-get install python3.11 python3.11-venv python3.11-dev; "
        "Ubuntu 22.04: python3.10 ...; Ubuntu 24.04: python3.12 ...) and run again with "
        "MEDPULSE_SETUP_PYTHON=python3.11 (or that version)"
        % (executable, ".".join(str(part) for part in version[:3]))
    )


if __name__ == "__main__":
    reason = python_refusal(tuple(sys.version_info), sys.executable)
    if reason:
        sys.stderr.write("FAIL: " + reason + "\n")
        sys.exit(2)
