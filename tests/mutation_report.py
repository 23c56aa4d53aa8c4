"""Mutation report: does the default test suite catch each realistic bug of tests/mutations.py?

For each registered mutation, a fresh copy of the repository (the files git tracks, as they
are in the working tree) gets the one text replacement, and the default tests that concern
that script run on it, cheapest first, stopping at the first failure: the unit tests, the
script's own end-to-end tests, then its learning-curve regression checks. A mutation is
"caught" when some test fails, "survived" when all pass. The result, per mutation: the
verdict, the first test that failed and the seconds it took, in tests/baselines/MUTATIONS.md.

    python -m tests.mutation_report                 # every mutation not yet judged
    python -m tests.mutation_report --only ppo_clip-truncation-reset-obs
    python -m tests.mutation_report --redo          # judge every mutation again

Resumable: each verdict is appended to tests/baselines/mutations.jsonl as it is reached, keyed
by the mutation and the exact text of the mutated script, so a killed run loses only the
mutations in flight and a mutation whose script changed is judged again. Mutations run in
parallel, one per core (--workers); A3C's run two worker processes each.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import date

from benchmark.common import REPO, machine_description
from tests.mutations import MUTATIONS, apply

STATE = os.path.join(REPO, "tests", "baselines", "mutations.jsonl")
REPORT = os.path.join(REPO, "tests", "baselines", "MUTATIONS.md")
SUMMARY = os.path.join(REPO, "tests", "baselines", "MUTATION_SCORE.md")  # per class, for the README
COMMAND = "python -m tests.mutation_report"
REPORT_NAME = "tests/baselines/MUTATIONS.md"

# The default tests that concern one script, cheapest first (pytest runs files in this order
# and stops at the first failure): the unit tests select the script's parameter by -k.
FILES = ["tests/test_math.py", "tests/test_trpo.py", "tests/test_a3c.py", "tests/test_cli.py", "tests/test_switches.py",
         "tests/test_regression.py"]


def tracked_files():
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [p for p in out.split("\0") if p and os.path.isfile(os.path.join(REPO, p))]


def fresh_copy(directory):
    """The tracked files of the working tree, copied into directory."""
    for path in tracked_files():
        target = os.path.join(directory, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(REPO, path), target)


def key(mutation):
    """Identifies a verdict: the mutation and the exact text of the script it mutates."""
    with open(os.path.join(REPO, "algos", f"{mutation.script}.py"), "rb") as f:
        return hashlib.sha256(f.read() + mutation.old.encode() + mutation.new.encode()).hexdigest()[:16]


def pytest_command(mutation):
    files = [f for f in FILES if f != "tests/test_trpo.py" or mutation.script == "trpo"]
    files = [f for f in files if f != "tests/test_a3c.py" or mutation.script == "a3c"]
    # -k by the script's name: its parameter in test_math/test_cli/test_regression ids; the
    # script-specific files (test_trpo.py, test_a3c.py) carry it in their own name.
    return [sys.executable, "-m", "pytest", "-x", "-q", "-n", "0", "-p", "no:cacheprovider",
            "-m", "not slow and not benchmark", "-k", mutation.script, *files]


def judge(mutation):
    """{'id', 'key', 'verdict', 'first_test', 'seconds'} of one mutation."""
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="mutation-") as directory:
        fresh_copy(directory)
        path = os.path.join(directory, "algos", f"{mutation.script}.py")
        with open(path) as f:
            source = f.read()
        with open(path, "w") as f:
            f.write(apply(mutation, source))
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        proc = subprocess.run(pytest_command(mutation), cwd=directory, env=env, capture_output=True, text=True)
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", proc.stdout, re.MULTILINE)
    if proc.returncode == 0:
        verdict, first = "survived", ""
    elif failed:
        verdict, first = "caught", failed[0]
    else:  # collection error, crash, no tests: the mutant did not run as a test would need
        verdict, first = "caught", f"pytest exit {proc.returncode}: " + (proc.stdout.strip().splitlines() or [""])[-1]
    return {"id": mutation.id, "key": key(mutation), "verdict": verdict, "first_test": first, "seconds": round(time.time() - start)}


def load_state():
    if not os.path.exists(STATE):
        return {}
    with open(STATE) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return {(r["id"], r["key"]): r for r in rows}


def write_report(state):
    by_id = {m.id: state.get((m.id, key(m))) for m in MUTATIONS}
    judged = [r for r in by_id.values() if r]
    caught = sum(r["verdict"] == "caught" for r in judged)
    lines = [
        "# Mutation report: the default tests against realistic bugs",
        "",
        "Produced by:",
        "",
        f"    {COMMAND}",
        "",
        "Each mutation is one exact text replacement in one script (tests/mutations.py); the default",
        "tests that concern that script run on a fresh copy of the repository, cheapest first, and",
        "stop at the first failure.",
        "",
        f"Machine: {machine_description()}; {date.today().isoformat()}.",
        "",
        f"**Score: {caught} of {len(MUTATIONS)} caught**"
        + (f" ({len(MUTATIONS) - len(judged)} not judged yet)." if len(judged) < len(MUTATIONS) else "."),
        "",
        "| mutation | script | class | what it breaks | verdict | first test that failed | s |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in MUTATIONS:
        r = by_id[m.id]
        verdict, first, seconds = (r["verdict"], r["first_test"], r["seconds"]) if r else ("not judged", "", "")
        first, description = first.replace("|", "\\|"), m.description.replace("|", "\\|")
        first = f"`{first}`" if first else ""
        lines.append(f"| {m.id} | {m.script} | {m.kind} | {description} | {verdict} | {first} | {seconds} |")
    with open(REPORT, "w") as f:
        f.write("\n".join(lines) + "\n")
    rows = ["# Mutation score by class of bug", "", f"Produced by `{COMMAND}` with {REPORT_NAME}.", "",
            "| class of bug | mutations | caught | survived | not judged |", "|---|---|---|---|---|"]
    for kind in sorted({m.kind for m in MUTATIONS}) + [None]:
        group = [m for m in MUTATIONS if kind is None or m.kind == kind]
        verdicts = [(by_id[m.id] or {}).get("verdict") for m in group]
        name = "**all**" if kind is None else kind
        rows.append(f"| {name} | {len(group)} | {verdicts.count('caught')} | {verdicts.count('survived')} | {verdicts.count(None)} |")
    with open(SUMMARY, "w") as f:
        f.write("\n".join(rows) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", help="mutation ids (default: all)")
    parser.add_argument("--redo", action="store_true", help="judge again even where a verdict is recorded")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()

    state = load_state()
    todo = [m for m in MUTATIONS if (args.only is None or m.id in args.only) and (args.redo or (m.id, key(m)) not in state)]
    print(f"{len(todo)} of {len(MUTATIONS)} mutations to judge, {args.workers} at a time", flush=True)
    os.makedirs(os.path.dirname(STATE), exist_ok=True)
    with ProcessPoolExecutor(max(1, args.workers)) as pool:
        futures = {pool.submit(judge, m): m for m in todo}
        for done, future in enumerate(as_completed(futures), 1):
            row = future.result()
            with open(STATE, "a") as f:
                f.write(json.dumps(row) + "\n")
            state[(row["id"], row["key"])] = row
            print(f"[{done}/{len(todo)}] {row['id']}: {row['verdict']}"
                  + (f" by {row['first_test']}" if row["first_test"] else "") + f" ({row['seconds']} s)", flush=True)
            write_report(state)
    write_report(state)
    survived = [m.id for m in MUTATIONS if (state.get((m.id, key(m))) or {}).get("verdict") == "survived"]
    print(f"wrote {os.path.relpath(REPORT, REPO)}" + (f"; survived: {', '.join(survived)}" if survived else ""))
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
