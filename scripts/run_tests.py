"""Driver of ``scripts/test``: runs every test of this checkout, fails loudly.

Runs under the Python that imports Odoo 18.0 (``scripts/test`` picks it). Steps:

1. installs the *missing* test dependencies at pinned versions, then ``pip check`` (the set-up
   environment of ``scripts/setup`` has them all already);
2. preflight: Odoo 18.0, PostgreSQL (the server PGHOST/PGPORT/PGUSER point to, else a private
   cluster in the run's folder), Chromium, websocket-client (``--check`` stops here);
3. pytest: the ``mango_vpbx`` toolkit, the emulator, repository checks and the
   end-to-end suite (which starts its own Odoo servers), with coverage of ``mango_vpbx`` and
   ``mango_vpbx_emulator``;
4. Odoo: a fresh database with a unique name, the addons installed with demo data,
   their Python tests, HttpCase tests, tours and JS unit tests; then a second
   install without demo data; both logs must be free of WARNING/ERROR lines
   except those listed, with a reason, in ``.ci/log-allowlist.txt``; on the first
   database, every addon test module is collected by pytest-odoo (README, "Develop");
5. drops the databases and the filestore, prints where the time went (per phase, the
   slowest pytest files and Odoo test classes) and ``N passed, M failed``.

The linters, step 3 (as two pytest processes: the end-to-end suite, and the rest) and step 4
(its two installs side by side) run at the same time, on their own databases and ports: most
of each is waiting on a server, a browser or pip, and the machine has cores to spare meanwhile.

A skipped test, a module with no test, a log warning or an error all fail the run.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "setup"))
import lint  # noqa: E402 - importable once the sys.path lines above ran
from devdb import PYTEST_ODOO_OPTIONS  # noqa: E402 - after the sys.path set-up above
from medpulse_setup import TEST_DEPENDENCIES, pg_bin_dir, server_answers  # noqa: E402 - after the sys.path set-up above
from odoo_instance import (  # noqa: E402 - after the sys.path set-up above
    ADDONS,
    ROOT,
    OdooInstance,
    PgParams,
    PostgresUnavailable,
    check_role,
    resolve_postgres,
)

PYTEST_SUITES = (
    "tests/mango_vpbx", "tests/emulator", "tests/repository", "tests/setup", "tests/e2e",
)
# Without --suite, the pytest suites run as two pytest processes at once, beside the Odoo half
# and the linters: the end-to-end suite (its servers share one session database) and the rest
# (the set-up tests build their own environments). Each is mostly waiting on a server, a
# browser or pip; one after the other they took longer than the Odoo half and the rest together.
PYTEST_GROUPS = (("tests/e2e",), ("tests/mango_vpbx", "tests/emulator", "tests/repository",
                                  "tests/setup"))
# The addon tests that pytest-odoo collects but that cannot pass under it, with the reason
# (node id prefixes); ``odoo-bin --test-enable`` (step 4) runs them. None today: the whole
# addon suite passed under pytest-odoo with scripts/devdb's options (README, "Develop").
PYTEST_ODOO_LIMITS: dict[str, str] = {}
BROWSERS = ("google-chrome", "chromium", "chromium-browser", "google-chrome-stable")
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \d+ (?P<level>[A-Z]+) (?P<rest>.*)$")
TEST_START = re.compile(
    r" odoo\.addons\.(?P<addon>\w+)\.tests\.(?P<module>\w+): Starting (?P<test>\S+) \.\.\.")
TEST_SKIP = re.compile(r" odoo\.addons\.(?P<addon>\w+)\.tests\.\S+: skipped (?P<what>.*)")
TEST_TOTAL = re.compile(r"(?P<failed>\d+) failed, (?P<errors>\d+) error\(s\) of (?P<run>\d+) tests")
#: Odoo log lines that end a test's time: module loading and the server's own steps.
TEST_END = re.compile(r" odoo\.(modules\.loading|service\.server|tests\.result|tests\.stats):")
SLOWEST = 8  # slowest pytest files and Odoo test classes shown in the timing summary


class Failure(Exception):
    """A reason to stop the run, in one line."""


def say(msg: str) -> None:
    print(msg, flush=True)


class Timings:
    """Where the run's time went: phases (wall clock) and, under each, its slowest parts.

    Printed at the end of every run (``summary``), to see which phase to make faster."""

    def __init__(self):
        self._lock = threading.Lock()
        self.phases: list[tuple[str, float, list[tuple[str, float]]]] = []

    def add(self, phase: str, seconds: float, parts: list[tuple[str, float]] = ()) -> None:
        with self._lock:
            self.phases.append((phase, seconds, sorted(parts, key=lambda p: -p[1])[:SLOWEST]))

    @contextmanager
    def timed(self, phase: str):
        """``with TIMINGS.timed("phase"):`` adds the phase's wall-clock time."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.add(phase, time.monotonic() - started)

    def summary(self) -> list[str]:
        lines = ["time per phase (wall clock; the linters, the Odoo half and the pytest groups "
                 "run at the same time):"]
        for phase, seconds, parts in self.phases:
            lines.append(f"  {phase:<58} {seconds:6.0f} s")
            lines += [f"      {name:<54} {part:6.0f} s" for name, part in parts]
        return lines


TIMINGS = Timings()


# --------------------------------------------------------------------------- preflight
def odoo_paths() -> tuple[Path, list[Path]]:
    import odoo  # noqa: PLC0415 - only importable under the right Python

    if odoo.release.version_info[0] != 18:
        raise Failure(f"Odoo {odoo.release.version} found, 18.0 needed")
    root = Path(odoo.__file__).resolve().parent
    addons = [p for p in (root / "addons", (root / ".." / "addons").resolve()) if p.is_dir()]
    return root, addons


def find_browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    raise Failure(
        "Chromium not found on PATH (Debian: apt-get install chromium); tours would be skipped"
    )


def preflight(work: Path | None) -> dict:
    """What the run needs; with ``work`` (a run, not ``--check``) PostgreSQL is made ready:
    the server PGHOST/PGPORT/PGUSER point to when it answers, else a private cluster in
    ``work`` (its address is then exported as PGHOST/PGPORT/PGUSER/PGPASSWORD)."""
    odoo_root, odoo_addons = odoo_paths()
    cluster = None
    try:
        if work is None:
            pg = PgParams()
            if server_answers(pg.host, int(pg.port)):
                check_role(pg)
                pg_desc = f"{pg.user}@{pg.host}:{pg.port}"
            elif pg_bin_dir():
                pg_desc = (f"nothing answers at {pg.host}:{pg.port}: "
                           f"a private cluster ({pg_bin_dir()})")
            else:
                raise Failure(f"no PostgreSQL answers at {pg.host}:{pg.port} and PostgreSQL's "
                              "binaries are missing: apt-get install postgresql")
        else:
            pg, cluster = resolve_postgres(work, durable=False)
            pg_desc = (f"private cluster in {cluster.data_dir} (127.0.0.1:{pg.port})" if cluster
                       else f"{pg.user}@{pg.host}:{pg.port}")
            os.environ.update(PGHOST=pg.host, PGPORT=pg.port, PGUSER=pg.user,
                              PGPASSWORD=pg.password)
    except PostgresUnavailable as exc:
        raise Failure(str(exc)) from None
    browser = find_browser()
    try:
        import websocket  # noqa: F401, PLC0415 - only checks that it is installed
    except ImportError:
        raise Failure(
            f"websocket-client is not installed for {sys.executable} "
            "(pip install websocket-client==1.8.0); tours would be skipped"
        ) from None
    return {"odoo_root": odoo_root, "odoo_addons": odoo_addons, "pg": pg, "pg_desc": pg_desc,
            "cluster": cluster, "browser": browser}


# --------------------------------------------------------------------------- dependencies
def install_missing_dependencies() -> None:
    missing = []
    for dist, (version, _module) in TEST_DEPENDENCIES.items():
        try:
            importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            missing.append(f"{dist}=={version}")
    if missing:
        say(f"installing missing test dependencies: {' '.join(missing)}")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], check=True)
    check = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    if check.returncode:
        raise Failure(f"pip check failed: {check.stdout.strip() or check.stderr.strip()}")


# --------------------------------------------------------------------------- pytest
def suite_holds(suite: str, classname: str) -> bool:
    """Whether a JUnit ``classname`` (``tests.e2e.test_x`` or ``tests.e2e.test_x.TestY``) is
    of ``suite``: a folder, a file or a file's node id (``tests/e2e/test_x.py::test_y``)."""
    path = suite.split("::")[0].rstrip("/").removesuffix(".py")
    prefix = path.replace("/", ".")
    return classname == prefix or classname.startswith(prefix + ".")


def run_pytest(env_info: dict, work: Path, suites: list[str],
               name: str = "pytest") -> tuple[int, int, list[str]]:
    """One pytest process over ``suites``; ``name`` keeps its report and coverage data apart
    from another one running at the same time."""
    missing = [s for s in suites if not (ROOT / s.split("::")[0]).exists()]
    if missing:
        return 0, 1, [f"no such test path: {', '.join(missing)}"]
    junit = work / f"{name}.xml"
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    env.update(
        # pytest-cov's subprocesses (Odoo, the emulator) write next to this file.
        COVERAGE_FILE=str(work / f".coverage-{name}"),
        MEDPULSE_ODOO_PYTHON=sys.executable,
        MEDPULSE_ADDONS_PATH=",".join(map(str, [*env_info["odoo_addons"], ROOT])),
        MEDPULSE_PG_HOST=env_info["pg"].host,
        MEDPULSE_PG_PORT=env_info["pg"].port,
        MEDPULSE_PG_USER=env_info["pg"].user,
        MEDPULSE_BROWSER=env_info["browser"],
        MEDPULSE_WORK_DIR=str(work),
    )
    paths = list(suites)
    cmd = [
        sys.executable, "-m", "pytest", *paths, "-q", "-p", "no:cacheprovider",
        f"--junitxml={junit}", "--cov=mango_vpbx", "--cov=mango_vpbx_emulator",
        "--cov-report=term:skip-covered",
        "-o", "junit_family=xunit2",
    ]
    say("$ " + " ".join(cmd))
    started = time.monotonic()
    subprocess.run(cmd, cwd=ROOT, env=env)
    elapsed = time.monotonic() - started
    problems = []
    if not junit.exists():
        TIMINGS.add(name, elapsed)
        return 0, 1, ["pytest wrote no report"]
    root = ET.parse(junit).getroot()
    passed = failed = 0
    per_suite = dict.fromkeys(paths, 0)
    per_file: dict[str, float] = defaultdict(float)
    for case in root.iter("testcase"):
        classname = case.get("classname", "")
        per_file[pytest_file(classname)] += float(case.get("time") or 0)
        for suite in paths:
            if suite_holds(suite, classname):
                per_suite[suite] += 1
        outcome = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        if not outcome:
            passed += 1
            continue
        failed += 1
        if "skipped" in outcome:
            problems.append(f"skipped (counted as failed): {classname}.{case.get('name')}")
    for suite, count in per_suite.items():
        if count == 0:
            failed += 1
            problems.append(f"no test collected in {suite}")
    TIMINGS.add(f"pytest: {', '.join(paths)}", elapsed, list(per_file.items()))
    return passed, failed, problems


def pytest_file(classname: str) -> str:
    """The test file of a JUnit ``classname`` (``tests.e2e.test_x.TestY`` -> its .py)."""
    parts = classname.split(".")
    for end in range(len(parts), 0, -1):
        if (ROOT.joinpath(*parts[:end]).with_suffix(".py")).is_file():
            return "/".join(parts[:end]) + ".py"
    return classname


# --------------------------------------------------------------------------- odoo
def load_allowlist() -> list[re.Pattern]:
    path = ROOT / ".ci" / "log-allowlist.txt"
    patterns = []
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                patterns.append(re.compile(line))
    return patterns


def scan_log(log: Path, allow: list[re.Pattern]) -> tuple[dict, list[str]]:
    """Read an Odoo log: tests started per addon, skips, totals, unaccepted warnings."""
    started: dict[str, int] = dict.fromkeys(ADDONS, 0)
    ran: set[str] = set()
    skipped: list[str] = []
    bad: list[str] = []
    totals = None
    current = None
    for raw in log.read_text(errors="replace").splitlines():
        match = LOG_LINE.match(raw)
        if not match:
            continue  # traceback continuation
        current = raw
        if m := TEST_START.search(raw):
            if m["addon"] in started:
                started[m["addon"]] += 1
                ran.add(f"{m['addon']}/tests/{m['module']}.py::{m['test'].replace('.', '::')}")
        if m := TEST_SKIP.search(raw):
            skipped.append(f"{m['addon']}: {m['what']}")
        if m := TEST_TOTAL.search(raw):
            totals = {k: int(v) for k, v in m.groupdict().items()}
        if match["level"] in ("WARNING", "ERROR", "CRITICAL"):
            if not any(p.search(current) for p in allow):
                bad.append(current[:300])
    return {"started": started, "ran": ran, "skipped": skipped, "totals": totals}, bad


def log_time(raw: str) -> float | None:
    try:
        return datetime.strptime(raw[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    except ValueError:
        return None


def odoo_test_times(log: Path) -> tuple[float, list[tuple[str, float]]]:
    """From an Odoo log: (its span in seconds, seconds per test class, set-up included).

    A test runs from its ``Starting ...`` line to the next test's, or to the next line of
    the module loader or the server (an at-install test is followed by the next module)."""
    per_class: dict[str, float] = defaultdict(float)
    first = last = None
    current = None  # (test class, start)
    for raw in log.read_text(errors="replace").splitlines():
        if not LOG_LINE.match(raw) or (stamp := log_time(raw)) is None:
            continue
        first = first if first is not None else stamp
        last = stamp
        start = TEST_START.search(raw)
        if current and (start or TEST_END.search(raw)):
            per_class[current[0]] += stamp - current[1]
            current = None
        if start:
            current = (f"{start['addon']}.{start['module']}.{start['test'].split('.')[0]}", stamp)
    if current and last is not None:
        per_class[current[0]] += last - current[1]
    return ((last - first) if first is not None else 0.0), list(per_class.items())


def collect_under_pytest_odoo(instance: OdooInstance, work: Path,
                              ran: set[str]) -> tuple[int, int, list[str]]:
    """The edit-test loop's path (README, "Develop"): pytest-odoo collects, on the database
    the addons were just tested on, every test Odoo ran; ``PYTEST_ODOO_LIMITS`` says which
    of them cannot pass there and why (each entry must still name a collected test)."""
    log = work / "pytest-odoo-collect.log"
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
           f"--odoo-config={instance.config_path}", f"--odoo-database={instance.dbname}",
           *PYTEST_ODOO_OPTIONS, *(f"{addon}/tests" for addon in ADDONS)]
    with log.open("w") as out:
        rc = subprocess.run(cmd, cwd=ROOT, env=instance.env(), stdout=out,
                            stderr=subprocess.STDOUT).returncode
    collected = {line.strip() for line in log.read_text().splitlines() if "::" in line}
    if rc or not collected:
        return 0, 1, [f"pytest-odoo did not collect the addons' tests (exit {rc}); see {log}"]
    problems = [f"not collected by pytest-odoo: {test}" for test in sorted(ran - collected)]
    problems += [f"PYTEST_ODOO_LIMITS names no collected test: {prefix}"
                 for prefix in PYTEST_ODOO_LIMITS
                 if not any(test.startswith(prefix) for test in collected)]
    say(f"  pytest-odoo collects {len(collected)} tests of the addons "
        f"({len(ran & collected)} of the {len(ran)} Odoo ran); cannot run there:")
    for prefix, reason in PYTEST_ODOO_LIMITS.items():
        say(f"    {prefix}: {reason}")
    return (0, 1, problems) if problems else (1, 0, [])


def run_odoo(env_info: dict, work: Path, with_nodemo: bool,
             test_tags: str | None = None) -> tuple[int, int, list[str]]:
    stamp = f"{time.strftime('%Y%m%d%H%M%S')}_{os.getpid()}"
    pg = env_info["pg"]
    main = OdooInstance(f"medpulse_test_{stamp}", work, pg=pg)
    nodemo = OdooInstance(f"medpulse_test_{stamp}_nodemo", work, pg=pg)
    say(f"odoo config: {main.write_config()} (addons_path={main.addons_path()})")
    allow = load_allowlist()
    problems: list[str] = []
    passed = failed = 0
    nodemo_install = None
    try:
        if with_nodemo:
            nodemo_install = ThreadPoolExecutor(max_workers=1)
            nodemo_result = nodemo_install.submit(install_without_demo, nodemo, work, allow)
        log = work / "odoo-tests.log"
        tags = test_tags or ",".join(f"/{a}" for a in ADDONS)
        started = time.monotonic()
        rc = main.odoo("-i", ",".join(ADDONS), f"--test-tags={tags}", "--stop-after-init",
                       logfile=log, check=False)
        elapsed = time.monotonic() - started
        _span, per_class = odoo_test_times(log)
        in_tests = sum(seconds for _name, seconds in per_class)
        TIMINGS.add(f"odoo: install with demo data and the tests "
                    f"(tests {in_tests:.0f} s, the rest {elapsed - in_tests:.0f} s)",
                    elapsed, per_class)
        info, bad = scan_log(log, allow)
        say(f"odoo log: {log}")
        totals = info["totals"]
        if totals is None:
            failed += 1
            problems.append(f"Odoo did not run its tests (exit {rc}); see {log}")
        else:
            broken = totals["failed"] + totals["errors"]
            failed += broken + len(info["skipped"])
            passed += totals["run"] - broken - len(info["skipped"])
            if broken:
                problems.append(f"{broken} Odoo test(s) failed; see {log}")
        if rc and not problems:
            failed += 1
            problems.append(f"Odoo exited with {rc}; see {log}")
        for what in info["skipped"]:
            problems.append(f"skipped (counted as failed): {what}")
        for addon, count in info["started"].items():
            say(f"  {addon}: {count} Odoo tests")
            if count == 0 and not test_tags:
                failed += 1
                problems.append(f"no Odoo test ran for {addon}")
        if bad:
            failed += 1
            problems.append(
                f"{len(bad)} unaccepted WARNING/ERROR line(s) in the Odoo log, first: {bad[0]}"
            )
        if not test_tags:
            with TIMINGS.timed("odoo: pytest-odoo collection"):
                p, f, probs = collect_under_pytest_odoo(main, work, info["ran"])
            passed, failed, problems = passed + p, failed + f, problems + probs
        if with_nodemo:
            p, f, probs = nodemo_result.result()
            passed, failed, problems = passed + p, failed + f, problems + probs
    finally:
        if nodemo_install:
            nodemo_install.shutdown()
        main.drop()
        nodemo.drop()
        say(f"dropped {main.dbname}, {nodemo.dbname} and their filestores")
    return passed, failed, problems


def install_without_demo(nodemo: OdooInstance, work: Path,
                         allow: list[re.Pattern]) -> tuple[int, int, list[str]]:
    """The addons installed on a database without demo data, at the same time as the tests
    on the other one: its log must be clean too."""
    log = work / "odoo-nodemo.log"
    with TIMINGS.timed("odoo: install without demo data (beside the tests)"):
        rc = nodemo.odoo("-i", ",".join(ADDONS), "--without-demo=all", "--stop-after-init",
                         logfile=log, check=False)
    _info, bad = scan_log(log, allow)
    if rc or bad:
        return 0, 1, [f"install without demo data: exit {rc}, "
                      f"{len(bad)} WARNING/ERROR line(s) {bad[:1]}; see {log}"]
    say("  install without demo data: clean")
    return 1, 0, []


# --------------------------------------------------------------------------- main
def timed_lint() -> tuple[int, int, list[str]]:
    with TIMINGS.timed("lint"):
        return lint.run(say=say)


def relative_suite(suite: str) -> str:
    """A ``--suite`` as a path from the checkout (how pytest names what it collects)."""
    path, sep, node = suite.partition("::")
    absolute = Path(path).resolve() if Path(path).is_absolute() or Path(path).exists() else None
    if absolute and absolute.is_relative_to(ROOT):
        path = str(absolute.relative_to(ROOT))
    return path + sep + node


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/test", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="preflight only")
    parser.add_argument("--only", choices=("lint", "pytest", "odoo"), help="run one part only")
    parser.add_argument(
        "--suite", action="append",
        help="pytest folder, file or node id (repeatable) to run instead of all",
    )
    parser.add_argument(
        "--serial", action="store_true",
        help="run the Odoo half, then pytest (one process), then the linters (default: all at "
        "once, pytest as two processes)",
    )
    parser.add_argument(
        "--no-nodemo", action="store_true", help="skip the install without demo data"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    parser.add_argument("--test-tags", help="Odoo --test-tags instead of every test of the addons "
                        "(e.g. /medpulse_telephony:TestJournal); for the edit-test loop, not CI")
    opts = parser.parse_args()

    try:
        install_missing_dependencies()
        env_info = preflight(None)
    except Failure as exc:
        say(f"FAIL: {exc}")
        return 2
    say(f"python:   {sys.executable}")
    say(f"odoo:     {env_info['odoo_root']}")
    say(f"checkout: {ROOT}")
    say(f"postgres: {env_info['pg_desc']}")
    say(f"browser:  {env_info['browser']}")
    if opts.check:
        say("preflight OK")
        return 0

    start = time.time()
    work = Path(tempfile.mkdtemp(prefix="medpulse-test-"))
    say(f"work dir: {work}")
    passed = failed = 0
    problems: list[str] = []
    cluster = None
    try:
        env_info = preflight(work)
        cluster = env_info["cluster"]
        if cluster:
            say(f"postgres: {env_info['pg_desc']}")
        parts = []
        if opts.only in (None, "odoo"):
            parts.append(lambda: run_odoo(env_info, work, with_nodemo=not opts.no_nodemo,
                                          test_tags=opts.test_tags))
        if opts.only in (None, "pytest"):
            if opts.suite:
                groups = [[relative_suite(s) for s in opts.suite]]
            else:
                groups = [list(g) for g in PYTEST_GROUPS] if not opts.serial else [
                    list(PYTEST_SUITES)]
            for number, group in enumerate(groups, 1):
                name = "pytest" if len(groups) == 1 else f"pytest{number}"
                parts.append(lambda group=group, name=name: run_pytest(env_info, work, group,
                                                                       name))
        if opts.only in (None, "lint"):
            parts.append(lambda: timed_lint())
        with ThreadPoolExecutor(max_workers=1 if opts.serial else max(1, len(parts))) as pool:
            for p, f, probs in pool.map(lambda part: part(), parts):
                passed, failed, problems = passed + p, failed + f, problems + probs
    except Failure as exc:
        failed += 1
        problems.append(str(exc))
    finally:
        if cluster:
            cluster.discard()
        if not opts.keep and not failed:
            shutil.rmtree(work, ignore_errors=True)
    for line in TIMINGS.summary():
        say(line)
    for problem in problems:
        say(f"FAIL: {problem}")
    say(f"time: {time.time() - start:.0f} s")
    say(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
