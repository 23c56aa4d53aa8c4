"""Power report of the regression harness on real scripts: tests/baselines/POWER.md.

For each script and environment, the harness judges, against the recorded fast-tier baseline:
- the unchanged script on fresh seeds (the three after the baseline's: 4-6, or 9-11 where BASELINE_SEEDS
  records 8): must pass;
- deliberately broken variants run through the same CLI: learning rate 1e-30 (none), the advantage's
  sign flipped (a patched copy of the script), learning rate divided by 10, discount 0.5:
  each must be rejected.

    python -m tests.power_report --algos ppo_clip ppo_kl
"""

import argparse
import os
import re
import shlex
import sys
import tempfile
import time

from benchmark.common import REPO, machine_description
from tests.regression import BASELINE_SEEDS, ENVS, REGISTRY, check, settings
from tests.scripts import load

# The line after which a copy of the script flips the advantage's sign, per script: never inside
# an `if` (a3c's normalisation sits under `if args.norm_adv`, False by default, and a flip placed
# there was never executed: its row passed; test_the_sign_flip_is_unconditional).
ADVANTAGE_LINE = {
    "reinforce": r"\n( +)b_advantages = normalize_advantages\(.*\n",
    "a2c": r"\n( +)b_advantages = normalize_advantages\(.*\n",
    "a3c": r"\n( +)b_advantages = torch\.from_numpy\(advantages.*\n",
    "trpo": r"\n( +)b_advantages = normalize_advantages\(.*\n",
    "ppo_clip": r"\n( +)mb_advantages = b_advantages\[mb\]\n",
    "ppo_kl": r"\n( +)mb_advantages = b_advantages\[mb\]\n",
}


def override(extra, flag, value):
    """The argument list with `flag value` set, replacing an existing value."""
    extra = list(extra)
    if flag in extra:
        extra[extra.index(flag) + 1] = str(value)
    else:
        extra += [flag, str(value)]
    return extra


def flipped_copy(script, directory):
    """A copy of algos/<script>.py that ascends -A instead of A."""
    with open(os.path.join(REPO, "algos", f"{script}.py")) as f:
        source = f.read()
    patched, n = re.subn(ADVANTAGE_LINE[script], lambda m: m.group(0) + f"{m.group(1)}{m.group(0).split('=')[0].strip()} = -{m.group(0).split('=')[0].strip()}  # BROKEN ON PURPOSE\n", source, count=1)
    if n != 1:
        raise RuntimeError(f"advantage line of {script}.py not found: update ADVANTAGE_LINE")
    path = os.path.join(directory, f"{script}.py")
    with open(path, "w") as f:
        f.write(patched)
    return path


def variants(script, env_id, directory):
    """[(name, extra arguments, script file or None, seeds or None, expected verdict)]."""
    _, _, extra = settings(script, env_id)
    first = max(BASELINE_SEEDS.get((script, env_id), [3])) + 1  # seeds no baseline has seen
    fresh = [first, first + 1, first + 2]
    lr = float(extra[extra.index("--learning-rate") + 1]) if "--learning-rate" in extra else load(script).Args.learning_rate
    return [
        (f"unchanged, fresh seeds {fresh[0]}-{fresh[-1]}", extra, None, fresh, True),
        # the scripts refuse a learning rate of 0; 1e-30 moves no weight by a visible amount (trpo: its
        # critic only, the policy step being set by the trust region)
        (f"learning rate 1e-30 ({'critic only' if script == 'trpo' else 'none'})", override(extra, "--learning-rate", 1e-30),
         None, None, False),
        ("advantage sign flipped", extra, flipped_copy(script, directory), None, False),
        (f"learning rate / 10 ({lr / 10:g})", override(extra, "--learning-rate", lr / 10), None, None, False),
        ("discount 0.5", override(extra, "--gamma", 0.5), None, None, False),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algos", nargs="+", required=True)
    parser.add_argument("--envs", nargs="+", default=ENVS)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--output", default=os.path.join(REPO, "tests", "baselines", "POWER.md"))
    parser.add_argument("--replace", action="store_true", help="keep the report's other rows; replace only those of --algos x --envs")
    parser.add_argument("--variants", nargs="+", help="with --replace: only the variants whose names start with these")
    args = parser.parse_args()

    command = "python -m tests.power_report " + shlex.join(sys.argv[1:])
    keys = [(script, env_id) for script in args.algos for env_id in args.envs]
    for key in keys:
        if key not in REGISTRY:
            sys.exit(f"error: {key} is not registered in tests/regression.py")
    if args.variants and not args.replace:
        sys.exit("error: --variants replaces rows of an existing report: add --replace")

    def chosen(name):
        return not args.variants or name.startswith(tuple(args.variants))

    rows, all_as_expected, kept, produced = [], True, [], []
    if args.replace and os.path.exists(args.output):
        with open(args.output) as f:
            for line in f:
                cells = [c.strip() for c in line.split("|")]
                if line.startswith(("Produced by", "Rows of --algos")):
                    produced.append(line.strip())
                elif len(cells) > 3 and (cells[1], cells[2]) in REGISTRY and ((cells[1], cells[2]) not in keys or not chosen(cells[3])):
                    kept.append(line.rstrip("\n"))
    with tempfile.TemporaryDirectory() as directory:
        planned = {(script, env_id): [v for v in variants(script, env_id, directory) if chosen(v[0])] for script, env_id in keys}
        if not any(planned.values()):
            sys.exit(f"error: no variant's name starts with {' or '.join(map(repr, args.variants))}")
        for script, env_id in keys:
            for name, extra, script_file, seeds, expected in planned[(script, env_id)]:
                start = time.time()
                verdict, _ = check(script, env_id, workers=args.workers, script_file=script_file, extra_override=extra, seeds_override=seeds,
                                   statistics_only=True)
                ok = verdict.passed == expected
                all_as_expected &= ok
                detail = "; ".join(verdict.message.splitlines()[1:3])
                rows.append(f"| {script} | {env_id} | {name} | {'pass' if verdict.passed else 'REJECTED'} | {'yes' if ok else '**NO**'} | {detail} |")
                print(rows[-1], f"({time.time() - start:.0f} s)", flush=True)
                expected_so_far = all_as_expected and not any("**NO**" in row for row in kept)
                write_report(args.output, command, sorted_rows(kept + rows), expected_so_far, done=len(rows) == sum(map(len, planned.values())), produced=produced)
    print(f"written to {os.path.relpath(args.output, REPO)}")
    sys.exit(0 if all_as_expected else 1)


def sorted_rows(rows):
    """Rows in the order of REGISTRY (script, environment), each group's variants in order."""
    order = {key: i for i, key in enumerate(REGISTRY)}
    names = ["unchanged", "learning rate 1e-30", "advantage sign flipped", "learning rate / 10", "discount 0.5"]

    def rank(row):
        cells = [c.strip() for c in row.split("|")]
        return order.get(tuple(cells[1:3]), len(order)), next((i for i, n in enumerate(names) if cells[3].startswith(n)), len(names))

    return sorted(rows, key=rank)


def write_report(path, command, rows, all_as_expected, done, produced=()):
    """(Re)write the report after every row, so an interrupted run keeps what it measured."""
    with open(path, "w") as f:
        f.write("# Power of the learning-curve regression harness on real scripts\n\n")
        for line in produced:  # with --replace: the commands that produced the rows kept
            f.write(f"{line}\n")
        f.write(f"{'Rows of --algos x --envs replaced' if produced else 'Produced'} by `{command}` on {time.strftime('%Y-%m-%d')}"
                f" ({machine_description()}).\n\n")
        f.write("A line above without a machine ran on an AMD EPYC with 2 cores and the versions of requirements.txt.\n\n")
        f.write("Each row runs 3 seeds through the script's CLI at the fast-tier budget of tests/regression.py and judges them ")
        f.write("against the recorded baseline with the same criterion as `pytest`. The unchanged script runs on fresh seeds ")
        f.write("(seeds the baseline was not recorded with) and must pass; every broken variant must be rejected. ")
        f.write("Statistics: AUC is the mean of the binned curve, final the mean of its last quarter.\n\n")
        f.write("| script | env | variant | verdict | as expected | statistics (current vs baseline) |\n|---|---|---|---|---|---|\n")
        f.write("\n".join(rows) + "\n\n")
        if not done:
            f.write("**Incomplete**: the run was interrupted or is still going; rerun the command above.\n")
        else:
            f.write(f"{'Every verdict is as expected.' if all_as_expected else 'NOT every verdict is as expected.'}\n")


if __name__ == "__main__":
    main()
