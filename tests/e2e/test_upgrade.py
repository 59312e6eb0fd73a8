"""The upgrade test: a clinic's database of the previous release, upgraded, loses nothing.

The previous release is the newest commit the addons' changelog names ("Released at commit:"
in ``medpulse_telephony/readme/HISTORY.md``), checked out in a ``git worktree``. A database
is built there the way a clinic's is (``upgrade_release.py``): ``scripts/demo_init.py`` of
that release (demo data, the settings and the PBX keys), that release's Odoo code and its PBX
emulator posting every scenario through the signed webhook, the recordings downloaded by
their cron, one played (an audit row) and one deleted on request, follow-ups closed with a
note, a patient deleted. That database is kept between runs, keyed by all it depends on
(the release, the Odoo, the PostgreSQL server, the code that builds it): a second run
restores it. Then, every run, ``odoo-bin -u`` of our addons with this checkout, and:

* every record of every model of ours (``medpulse.*``, and our ``medpulse_*`` fields on
  ``res.company`` and ``res.users``) is still there with the same values, or the migrated
  ones that ``MIGRATED`` documents; a field or model that disappears fails (a rename
  needs a migration that carries its values over);
* the recordings' bytes and the access log are unchanged;
* the upgrade log has no WARNING or ERROR line (``.ci/log-allowlist.txt`` aside);
* the PBX keys still work: this checkout's emulator plays a call through the signed
  webhook and it lands in the journal, folded by this checkout's fold;
* the screen crawl (``medpulse_telephony/tests/test_crawl.py``, every menu of our apps, in
  Chromium) passes on the upgraded database as the roles of ``UPGRADE_CRAWL_ROLES``.

The crawl on the upgraded database is limited to what an upgrade can break that a fresh
install (the test command's own crawl, every role) does not show: screens over the records
the release left (the administrator sees every menu and every record), and the record rules
of each group, which ``-u`` leaves as the release made them (they are ``noupdate``): the
receptionist's and the doctor's (medpulse_clinic), the operator's and the telephony
manager's (medpulse_telephony). Not crawled here: the clinic manager and the user of a
second company, who have the company rules only (every crawled role meets them), and the
Russian user, whose translations the crawl itself loads after the upgrade (Russian was not
installed at the release), as on a fresh database. That is 5 roles of 8.

``test_a_field_renamed_without_migration_is_reported`` shows the comparison failing on a
field renamed without a migration (README, "Upgrades").
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from conftest import ODOO_PYTHON, ROOT, OdooRPC, run_scenario
from odoo_instance import ADDONS, OdooInstance, free_port
from test_backup_restore import snapshot
from test_scenarios import FAST
from upgrade_release import (
    Emulator,
    audio_of,
    download_recordings,
    our_fields_on_odoo_models,
    recordings_audio,
    release_database,
)

import mango_vpbx

HISTORY = ROOT / "medpulse_telephony" / "readme" / "HISTORY.md"
RELEASED = re.compile(r"^Released at commit: ([0-9a-f]{7,40})\s*$", re.M)
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \d+ (?P<level>[A-Z]+) ")
TEST_TOTAL = re.compile(r"(?P<failed>\d+) failed, (?P<errors>\d+) error\(s\) of (?P<run>\d+) tests")

#: The roles the screen crawl visits on the upgraded database (the module docstring says why).
UPGRADE_CRAWL_ROLES = ("administrator", "receptionist", "doctor", "operator", "telephony_manager")
#: Written again by ``-u`` for every record of a data file, whatever its values: not compared.
REWRITTEN = {"write_date", "write_uid"}


def _fold_version(before: dict, after: dict, events: dict[int, dict]) -> bool:
    return after["fold_version"] == (mango_vpbx.calls.FOLD_VERSION if after["id"] in events
                                     else 0)


def _stats_version(before: dict, after: dict, events: dict[int, dict]) -> bool:
    stats = before["recovered_from_stats"] or before["completed_from_stats"]
    return after["stats_version"] == (1 if stats else 0)


def _empty(name: str):
    return lambda before, after, events: after[name] in (False, None, [], 0, "")


def _folded(name: str):
    """``name`` is what the fold of the call's stored events gives (``insight_of``): the
    upgrade's refold computed it for the calls folded before it existed."""
    def check(before, after, events):
        expected = events.get(after["id"], {}).get(name, False)
        if name == "ivr_label_ids":  # the places typed in: one label each at least
            return bool(after[name]) == bool(expected)
        return (after[name] or False) == expected
    return check


def _source_asked(before, after, events):
    """The visitor's source is asked of a call on a call-tracking number, once (the
    release's calls have type 0 at most: none)."""
    return after["dct_source_asked"] == bool(
        after["dct_number"] and after["dct_type"] in ("1", "2"))


def insight_of(rpc) -> dict[int, dict]:
    """{call id: its keys pressed and call-tracking number} as this checkout's fold computes
    them from the call's stored events (``medpulse.call._insight_vals_from_state``)."""
    by_call: dict[int, list] = {}
    for row in rpc("medpulse.call.event", "search_read",
                   [("call_id", "!=", False), ("state", "!=", "not_understood")],
                   fields=["call_id", "path", "json"]):
        by_call.setdefault(row["call_id"][0], []).append(
            mango_vpbx.parse_event(row["path"], row["json"]))
    insight = {}
    for call_id, parsed in by_call.items():
        state = mango_vpbx.fold(parsed)
        choices = state.dtmf_choices
        insight[call_id] = {
            "dtmf_choices": " ".join(
                f"{c.location}:{c.dtmf}" if c.location else c.dtmf for c in choices) or False,
            "ivr_label_ids": [loc for c in choices for loc in (c.location, c.next_location)
                              if loc],
            "dct_number": state.dct_number or False,
            "dct_type": str(state.dct_type) if state.dct_type in (0, 1, 2) else False,
        }
    return insight


def _followup_locks(after: dict[str, list[dict]]) -> str | None:
    """Why the follow-up locks after the upgrade (``NEW_MODELS``) are not one per external
    number of the journal at most (the refold decides the follow-ups again: it takes them)."""
    numbers = {call["external_e164"] for call in after["medpulse.call"]
               if call.get("external_e164")}
    locks = after.get("medpulse.call.followup.lock", [])
    if len(locks) > len(numbers):
        return f"{len(locks)} locks for {len(numbers)} numbers"
    return None


def _refolded(after: dict[str, list[dict]]) -> str | None:
    """Why the upgrade's refold (``NEW_MODELS``) is not one finished run of every call."""
    runs = after.get("medpulse.call.refold", [])
    if len(runs) != 1:
        return f"{len(runs)} refolds, one expected"
    [run] = runs
    if (run["state"], run["fold_version"]) != ("done", mango_vpbx.calls.FOLD_VERSION):
        return f"the refold is {run['state']} at version {run['fold_version']}"
    if run["failed_count"] or run["done_count"] != run["call_count"]:
        return (f"{run['done_count']} of {run['call_count']} calls refolded, "
                f"{run['failed_count']} failed")
    return None


def _equals(name: str, value):
    return lambda before, after, events: after[name] == value


#: What an upgrade from the previous release changes on purpose, with the migration that
#: does it: (model, field) -> (why, check(before row, after row, ids of calls with events)).
#: A field that appears here is checked on every record; any other difference fails.
MIGRATED = {
    ("medpulse.call", "fold_version"): (
        "18.0.1.1.0 (migrations/18.0.1.1.0/post-fold-versions.py): a call folded from its "
        "events was computed by fold version 1, refolded by the upgrade's refold to the "
        "current one; a call without events by none", _fold_version,
    ),
    ("medpulse.call", "stats_version"): (
        "18.0.1.1.0: a call whose values came from the PBX statistics used mapping version 1",
        _stats_version,
    ),
    ("medpulse.call", "outcome_id"): ("18.0.1.1.0: a new field, empty on the calls before it",
                                      _empty("outcome_id")),
    ("res.company", "medpulse_pbx_notify_patient_name"): (
        "18.0.1.1.0: names stay out of desktop notifications",
        _equals("medpulse_pbx_notify_patient_name", False),
    ),
    ("res.company", "medpulse_pbx_outcome_required"): (
        "18.0.1.1.0: an outcome is optional", _equals("medpulse_pbx_outcome_required", False),
    ),
    ("res.users", "medpulse_pbx_sound"): (
        "18.0.1.1.0: the card rings", _equals("medpulse_pbx_sound", True),
    ),
    ("res.users", "medpulse_pbx_desktop_notify"): (
        "18.0.1.1.0: desktop notifications on", _equals("medpulse_pbx_desktop_notify", True),
    ),
    ("res.users", "medpulse_pbx_away"): (
        "18.0.1.1.0: nobody is away from call-backs", _empty("medpulse_pbx_away"),
    ),
    ("res.company", "medpulse_callback_min_wait_seconds"): (
        "18.0.1.1.0: call-backs from a 3 s wait", _equals("medpulse_callback_min_wait_seconds", 3),
    ),
    ("res.company", "medpulse_callback_service_minutes"): (
        "18.0.1.1.0: call back within 30 working minutes",
        _equals("medpulse_callback_service_minutes", 30),
    ),
    ("res.company", "medpulse_callback_owner_rule"): (
        "18.0.1.1.0: the operator whose phone rang owns the call-back",
        _equals("medpulse_callback_owner_rule", "rang"),
    ),
    ("res.company", "medpulse_callback_user_id"): (
        "18.0.1.1.0: no fixed owner of call-backs", _empty("medpulse_callback_user_id"),
    ),
    ("res.company", "medpulse_health_silence_minutes"): (
        "18.0.1.1.0: red after 60 minutes of working time without events, as before",
        _equals("medpulse_health_silence_minutes", 60),
    ),
    ("res.company", "medpulse_health_close_minutes"): (
        "18.0.1.1.0: an incident closes after 15 green minutes",
        _equals("medpulse_health_close_minutes", 15),
    ),
    ("res.company", "medpulse_health_alert_email"): (
        "18.0.1.1.0: incidents alert in Odoo, no e-mail",
        _equals("medpulse_health_alert_email", False),
    ),
    ("res.company", "medpulse_callback_escalation_minutes"): (
        "18.0.1.1.0: no escalation step after the breach",
        _empty("medpulse_callback_escalation_minutes"),
    ),
    ("res.company", "medpulse_callback_escalation_group_id"): (
        "18.0.1.1.0: no group to escalate to", _empty("medpulse_callback_escalation_group_id"),
    ),
    ("res.company", "medpulse_callback_escalation_user_id"): (
        "18.0.1.1.0: no user to escalate to", _empty("medpulse_callback_escalation_user_id"),
    ),
    # Issue 21 (SMS): no SMS to a patient whose consent was never recorded.
    ("medpulse.patient", "consent_sms"): (
        "issue 21: patients of before have no SMS consent until it is recorded",
        _empty("consent_sms"),
    ),
    ("medpulse.patient", "medpulse_sms_ids"): (
        "issue 21: the patient's SMS (a one2many of medpulse.sms), none before",
        _empty("medpulse_sms_ids"),
    ),
    ("res.company", "medpulse_consent_sms_default"): (
        "issue 21: new patients do not agree to SMS unless the clinic says so",
        _equals("medpulse_consent_sms_default", False),
    ),
    ("res.company", "medpulse_sms_extension"): (
        "issue 21: no SMS extension for automatic SMS", _empty("medpulse_sms_extension"),
    ),
    ("res.company", "medpulse_sms_sender"): (
        "issue 21: the PBX account's default sender name", _empty("medpulse_sms_sender"),
    ),
    # Issue 21 (reminders): every command of before was a person's.
    ("medpulse.call.command", "priority"): (
        "issue 21: commands of before were interactive (a person's)",
        _equals("priority", "interactive"),
    ),
    # Issue 21 (confirmation calls): appointments of before were never confirmed by phone.
    ("medpulse.appointment", "confirmation_state"): (
        "issue 21: appointments of before are not confirmed by a confirmation call",
        _equals("confirmation_state", "none"),
    ),
    ("medpulse.appointment", "reminder_ids"): (
        "issue 21: an appointment's reminders (a one2many of medpulse.reminder), none before",
        _empty("reminder_ids"),
    ),
    # Issue 20 follow-up: the "no events" alert only at times that usually have calls.
    ("res.company", "medpulse_health_silence_min_calls"): (
        "issue 20 follow-up: no events is red where 5 calls usually come (the default)",
        _equals("medpulse_health_silence_min_calls", 5),
    ),
    # Issue 22 (waiting list): freed times within 24 hours are offered by a call only.
    ("res.company", "medpulse_waitlist_call_only_hours"): (
        "issue 22: a freed time within 24 hours is offered by a call only",
        _equals("medpulse_waitlist_call_only_hours", 24),
    ),
    # Issue 23 (wallboard): since when an operator is away; nobody was away before.
    ("res.users", "medpulse_pbx_away_since"): (
        "issue 23: no operator was away before the upgrade", _empty("medpulse_pbx_away_since"),
    ),
    # Issue 23 part 2 (call insight): the fold computes the keys pressed and the
    # call-tracking number since FOLD_VERSION 2, so the upgrade's refold gives the calls of
    # before theirs from their stored events; their topics and sources were never asked.
    **{
        ("medpulse.call", name): (
            "issue 23: the keys pressed and the call-tracking number, refolded from the "
            "call's events by the upgrade's refold (fold version 2)", _folded(name),
        )
        for name in ("dtmf_choices", "ivr_label_ids", "dct_number", "dct_type")
    },
    ("medpulse.call", "dct_source_asked"): (
        "issue 23: the source asked of the calls on a call-tracking number", _source_asked,
    ),
    **{
        ("medpulse.call", name): (
            "issue 23: a new field of the call's insight, empty on the calls before it",
            _empty(name),
        )
        for name in ("dct_source", "dct_medium", "dct_campaign", "dct_bound", "topic_ids",
                     "insight_ids")
    },
    **{
        ("medpulse.call.recording", name): (
            "issue 23: speech analytics of the recordings after the upgrade", _empty(name),
        )
        for name in ("topic_ids", "transcript")
    },
    # Issue 25 part 2 (retention of raw events): kept forever unless set, so nothing is
    # purged by the upgrade.
    ("res.company", "medpulse_event_retention_months"): (
        "issue 25: raw PBX events are kept forever (0) until an administrator sets it",
        _equals("medpulse_event_retention_months", 0),
    ),
    ("medpulse.call", "events_purged"): (
        "issue 25: no call's raw events were purged before the upgrade", _empty("events_purged"),
    ),
}
#: Models an upgrade adds -> (why, records their data files ship); beyond those they start
#: empty (what fills them comes after the upgrade). A model the upgrade fills from existing
#: records has, instead of a number, a check of the upgraded records (a reason, or None).
NEW_MODELS = {
    # Issue 23: fold version 2 (the keys pressed, the call-tracking number): the upgrade
    # refolds the release's calls, to the end before the comparison.
    "medpulse.call.refold": ("18.0.1.1.0: refolds of the journal: the upgrade's", _refolded),
    # Issue 22: "Appointment confirmed", the card's Confirm, is the eighth.
    "medpulse.call.outcome": ("18.0.1.1.0: call outcomes, 8 shipped", 8),
    "medpulse.call.followup.lock": (
        "18.0.1.1.0 (migrations/18.0.1.1.0/pre-migrate.py drops the hand-made lock table): "
        "follow-up locks, taken again when a follow-up is next decided: by the upgrade's "
        "refold of the release's calls, one per number at most", _followup_locks,
    ),
    # Missed calls of before the upgrade keep their follow-up in the journal.
    "medpulse.call.callback": ("18.0.1.1.0: call-backs of the missed calls after it", 0),
    # A database view: its rows come from the journal. The release's missed calls are of one
    # day, not reconciled yet: that day's row, once per day and per week.
    "medpulse.call.ledger": ("18.0.1.1.0: the lost-patient ledger (a view of the journal)", 2),
    # The first check runs after the upgrade, by the cron.
    "medpulse.telephony.incident": ("18.0.1.1.0: integration incidents", 0),
    # Issue 21: SMS through the PBX.
    "medpulse.sms": ("issue 21: the SMS log, of the SMS after it", 0),
    "medpulse.sms.template": ("issue 21: SMS templates, 3 shipped", 3),
    # Issue 21, part 2: nothing is reminded until a clinic manager writes a rule.
    # The demo's two rules: -u loads a new demo file of a demo database (its call list is
    # made at installation only).
    "medpulse.reminder.rule": ("issue 21: reminder rules, the demo's two (none otherwise)", 2),
    "medpulse.reminder": ("issue 21: the reminders, built by the job after the upgrade", 0),
    # Issue 22: and the no-show recall list (kind "recall"), filled by no-shows after it (the
    # demo's recall list is made at installation only).
    "medpulse.confirmation.item": ("issue 21: the confirmation call list, filled by them", 0),
    # Issue 22, part 3: the demo's waiting list is made at installation only.
    "medpulse.waitlist": ("issue 22: the waiting list, entered after the upgrade", 0),
    "medpulse.waitlist.slot": ("issue 22: the times freed after the upgrade", 0),
    "medpulse.waitlist.offer": ("issue 22: their offers to the waiting list", 0),
    # Issue 24: the reports' tallies, filled from the journal by -u (their rows depend on the
    # release's calls): they count every settled call of the journal, once.
    "medpulse.call.tally": ("issue 24: calls per day, operator, line and type",
                            lambda after: _tallies_count_the_journal(after, "medpulse.call.tally")),
    "medpulse.call.tally.hour": ("issue 24: calls per day, hour of day, line and type",
                                 lambda after: _tallies_count_the_journal(
                                     after, "medpulse.call.tally.hour")),
    "medpulse.call.tally.month": ("issue 24: calls per month, operator, line and type",
                                  lambda after: _tallies_count_the_journal(
                                      after, "medpulse.call.tally.month")),
    "medpulse.call.tally.hour.month": ("issue 24: calls per month, hour of day, line and type",
                                       lambda after: _tallies_count_the_journal(
                                           after, "medpulse.call.tally.hour.month")),
    # Issue 23 part 2: filled by the calls after the upgrade.
    "medpulse.ivr.label": ("issue 23: the places of the voice menu callers reached", 0),
    "medpulse.call.topic": ("issue 23: speech-analytics topics", 0),
    "medpulse.call.insight": ("issue 23: questions to the PBX about calls", 0),
    "medpulse.call.source.report": ("issue 23: calls by source (a view of the journal)", 0),
    "medpulse.call.event.snapshot": ("issue 25: raw events purged by the retention after it", 0),
    # Issue 23: the wallboards' pushes; rows only while a board is open.
    "medpulse.wallboard.change": ("issue 23: boards changed since the last push", 0),
    "medpulse.wallboard.watch": ("issue 23: companies with a board open", 0),
}


def _tallies_count_the_journal(after: dict[str, list[dict]], model: str) -> str | None:
    """Why the tally ``model`` does not count the counted calls of the upgraded journal (a
    result and the final state: ``call_measures.COUNTED``), if it does not (``NEW_MODELS``:
    filled by the upgrade, its size depends on the release)."""
    settled = sum(
        1 for call in after["medpulse.call"]
        if call.get("result") in ("answered", "missed") and call.get("created_at") and (
            call.get("is_final") or call.get("recovered_from_stats")
            or call.get("completed_from_stats")
        )
    )
    counted = sum(row.get("call_count") or 0 for row in after.get(model, []))
    if not settled:
        return "the release has no settled call to count: the fill is not tested"
    if counted != settled:
        return f"counts {counted} calls, the journal has {settled} settled ones"
    return None


# --------------------------------------------------------------------------- comparison
def compare(before: dict[str, list[dict]], after: dict[str, list[dict]],
            migrated: dict = MIGRATED, new_models: dict = NEW_MODELS,
            events: dict[int, dict] | None = None) -> list[str]:
    """What the upgrade lost or changed without a documented migration (empty: nothing).

    ``events``: {id of a call with stored events: what the fold gives it (``insight_of``)}."""
    events = events if events is not None else {}
    problems = []
    for model in sorted(before.keys() - after.keys()):
        problems.append(f"{model}: the model is gone ({len(before[model])} records lost)")
    for model in sorted(after.keys() - before.keys()):
        if model not in new_models:
            problems.append(f"{model}: a new model, not in NEW_MODELS")
        elif callable(new_models[model][1]):
            problem = new_models[model][1](after)
            if problem:
                problems.append(f"{model}: {problem}")
        elif len(after[model]) != new_models[model][1]:
            problems.append(f"{model}: a new model with {len(after[model])} records after -u, "
                            f"{new_models[model][1]} expected")
    for model in sorted(before.keys() & after.keys()):
        old_rows = {row["id"]: row for row in before[model]}
        new_rows = {row["id"]: row for row in after[model]}
        lost = sorted(old_rows.keys() - new_rows.keys())
        if lost:
            problems.append(f"{model}: {len(lost)} records lost, ids {lost[:10]}")
        appeared = sorted(new_rows.keys() - old_rows.keys())
        if appeared:
            problems.append(f"{model}: records appeared, ids {appeared[:10]}")
        old_fields = set().union(*(row.keys() for row in old_rows.values())) - REWRITTEN
        new_fields = set().union(*(row.keys() for row in new_rows.values())) - REWRITTEN
        for name in sorted(old_fields - new_fields):
            values = sum(1 for row in old_rows.values()
                         if row.get(name) not in (False, None, [], 0, ""))
            problems.append(f"{model}.{name}: the field is gone, {values} records held a value")
        for name in sorted(new_fields - old_fields):
            if (model, name) not in migrated:
                problems.append(f"{model}.{name}: a new stored field, not in MIGRATED")
        for record_id in sorted(old_rows.keys() & new_rows.keys()):
            old, new = old_rows[record_id], new_rows[record_id]
            for name in sorted((old.keys() & new.keys()) - REWRITTEN):
                if (model, name) in migrated:
                    continue
                if old[name] != new[name]:
                    problems.append(f"{model}({record_id}).{name}: {old[name]!r} -> {new[name]!r}")
            for name in sorted(new.keys()):
                if (model, name) in migrated and not migrated[model, name][1](old, new, events):
                    problems.append(f"{model}({record_id}).{name}: {new[name]!r} is not the "
                                    f"documented migration ({migrated[model, name][0]})")
    return problems


def test_a_field_renamed_without_migration_is_reported():
    """The check catches what a missing migration loses: a stored field renamed in the code
    (``followup_note`` -> ``followup_comment``) with no script to carry its values over
    comes back empty under its new name."""
    before = {"medpulse.call": [
        {"id": 1, "followup_note": "called back, booked", "write_date": "a"},
        {"id": 2, "followup_note": False, "write_date": "a"},
    ]}
    after = {"medpulse.call": [
        {"id": 1, "followup_comment": False, "write_date": "b"},
        {"id": 2, "followup_comment": False, "write_date": "b"},
    ]}
    problems = compare(before, after, migrated={}, new_models={})
    assert problems == [
        "medpulse.call.followup_note: the field is gone, 1 records held a value",
        "medpulse.call.followup_comment: a new stored field, not in MIGRATED",
    ]
    # With the migration (values carried over) and the rename documented, nothing is lost.
    carried = {"medpulse.call": [
        {"id": 1, "followup_note": "called back, booked"}, {"id": 2, "followup_note": False},
    ]}
    assert compare(before, carried) == []


# --------------------------------------------------------------------------- the release
def previous_release() -> str:
    """The newest commit the addons' changelog names as a release."""
    found = RELEASED.search(HISTORY.read_text())
    assert found, f"{HISTORY} names no released commit"
    return found[1]


def bad_log_lines(log: Path) -> list[str]:
    allow = [re.compile(line.strip()) for line in
             (ROOT / ".ci" / "log-allowlist.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    return [line[:300] for line in log.read_text(errors="replace").splitlines()
            if (m := LOG_LINE.match(line)) and m["level"] in ("WARNING", "ERROR", "CRITICAL")
            and not any(p.search(line) for p in allow)]


def log_excerpt(log: Path, limit: int = 8000) -> str:
    """The WARNING and ERROR lines of a log with what follows each (its traceback; a user
    error in a request is a WARNING): the log itself is
    removed with the test's folder."""
    lines = log.read_text(errors="replace").splitlines()
    out = []
    for i, line in enumerate(lines):
        if (m := LOG_LINE.match(line)) and m["level"] in ("WARNING", "ERROR", "CRITICAL"):
            out += lines[i:i + 25]
    return "\n".join(out)[:limit]


# --------------------------------------------------------------------------- the test
def refold_runs(rpc, limit: int = 20) -> list[dict]:
    """Run the refold's cron until no refold is under way; the runs."""
    [cron] = rpc("ir.model.data", "search_read",
                 [("module", "=", "medpulse_telephony"),
                  ("name", "=", "ir_cron_medpulse_call_refold")],
                 fields=["res_id"])
    runs = []
    for _ in range(limit):
        rpc("ir.cron", "method_direct_trigger", [cron["res_id"]])
        runs = rpc("medpulse.call.refold", "search_read", [], fields=["state"])
        if all(run["state"] == "done" for run in runs):
            return runs
    raise AssertionError(f"the refold did not end in {limit} runs of its cron: {runs}")


def test_upgrade_from_the_previous_release_loses_nothing(work_dir):
    timings = {}
    started = time.monotonic()
    commit = previous_release()
    dbname = f"medpulse_upgrade_{os.getpid()}"
    new = OdooInstance(dbname, work_dir, python=ODOO_PYTHON)
    emulator = None
    try:
        # The release's database (upgrade_release.py: built, or restored from the cache).
        meta, cached = release_database(commit, new, work_dir)
        before, audio = meta["before"], audio_of(meta)
        assert audio and before["medpulse.call.recording.access"]
        timings["release database" + (" (cached)" if cached else "")] = (
            time.monotonic() - started)

        # The upgrade, as an administrator runs it, with this checkout's code.
        new.write_config()
        log = work_dir / "upgrade.log"
        step = time.monotonic()
        rc = new.odoo("-u", ",".join(ADDONS), "--stop-after-init", logfile=log, check=False)
        timings["odoo -u"] = time.monotonic() - step
        assert rc == 0, f"odoo -u exited with {rc}:\n{log_excerpt(log)}"
        assert bad_log_lines(log) == [], f"WARNING/ERROR in the upgrade log {log}"

        new.start()
        rpc = OdooRPC(new.url, dbname, "admin", "admin")
        # The upgrade started the refold of the calls of an older fold version: its cron,
        # run as the scheduler runs it (this server has no cron thread), to the end.
        refold_runs(rpc)
        after = {**snapshot(rpc), **our_fields_on_odoo_models(rpc)}
        events = insight_of(rpc)
        assert any(call["dct_type"] for call in after["medpulse.call"]), (
            "the release's incoming calls carried dct type 0: the refold gave them theirs")
        problems = compare(before, after, events=events)
        assert not problems, "the upgrade lost or changed data:\n" + "\n".join(problems[:50])
        assert recordings_audio(rpc) == audio, "the recordings' bytes are unchanged"

        # The PBX keys still work: a call through the signed webhook lands in the journal.
        # This run's emulator listens on a port of its own: the PBX address follows it.
        port = free_port()
        companies = rpc("res.company", "search", [("medpulse_pbx_api_key", "=", meta["api_key"])])
        assert companies, "the release's PBX keys are in the upgraded database"
        rpc("res.company", "write", companies,
            {"medpulse_pbx_api_url": f"http://127.0.0.1:{port}/vpbx/"})
        emulator = Emulator(ROOT, new, port, meta["api_key"], meta["api_salt"],
                            work_dir / "emulator-checkout.log")
        entry = run_scenario(emulator.control, "incoming_answered", **FAST)
        [call] = rpc.wait_for("medpulse.call", [("entry_id", "=", entry), ("is_final", "=", True)],
                              ["fold_version", "call_type", "answered_user_id"])
        assert (call["fold_version"], call["call_type"]) == (
            mango_vpbx.calls.FOLD_VERSION, "incoming")
        assert call["answered_user_id"]
        # ... and its recording is downloaded from the PBX with the same keys.
        rpc.wait_for("medpulse.call.recording", [("call_id.entry_id", "=", entry)], ["id"])
        download_recordings(rpc)
        # The crawl gives its own operators the extensions 101-103, which demo_init gave
        # the demo users (unique per company): after every check above, they are freed.
        operators = rpc("res.users", "search", [("medpulse_pbx_extension", "!=", False)])
        rpc("res.users", "write", operators, {"medpulse_pbx_extension": False})
        emulator.stop()
        emulator = None
        new.stop()

        # The screen crawl on the upgraded database, as the roles an upgrade can break.
        crawl_log = work_dir / "upgrade-crawl.log"
        step = time.monotonic()
        new.odoo("--test-tags", "/medpulse_telephony:TestScreenCrawl", "--stop-after-init",
                 logfile=crawl_log, check=False,
                 extra_env={"MEDPULSE_CRAWL_ROLES": ",".join(UPGRADE_CRAWL_ROLES)})
        timings["crawl"] = time.monotonic() - step
        totals = [m.groupdict() for m in TEST_TOTAL.finditer(crawl_log.read_text())]
        assert totals and totals[-1] == {"failed": "0", "errors": "0", "run": "1"}, \
            f"the screen crawl on the upgraded database:\n{log_excerpt(crawl_log)}"
    finally:
        if emulator:
            emulator.stop()
        new.drop()
        print(f"upgrade from {commit[:12]}: " + ", ".join(
            f"{what} {seconds:.0f} s" for what, seconds in timings.items()))
