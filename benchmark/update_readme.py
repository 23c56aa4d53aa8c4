"""Copy recorded results into README.md, so that no number there is typed by hand.

README.md holds marked blocks:

    <!-- BEGIN benchmark/results/speed.md -->        the table(s) and verdict lines of that file
    <!-- BEGIN diff algos/ppo_clip.py algos/ppo_kl.py -->   the number of changed lines
    <!-- END -->

`python benchmark/update_readme.py` rewrites every block from its source;
`python benchmark/update_readme.py --check` exits 1 if README.md is out of date (a test runs it).
"""

import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the lines besides tables that a block copies: a target's verdict (benchmark/run.py's reports),
# the ranking against the paper's (benchmark/ppo_objectives.py's)
VERDICTS = ("Target ", "Ranking here: ", "Paper's ranking: ", "Spearman rank correlation")
BLOCK = re.compile(r"(<!-- BEGIN (.+?) -->\n)(.*?)(<!-- END -->)", re.S)


def changed_lines(a, b):
    """What `diff a b | grep -c '^[<>]'` prints: it runs that very diff."""
    proc = subprocess.run(["diff", a, b], cwd=REPO, capture_output=True, text=True)
    return sum(line.startswith(("<", ">")) for line in proc.stdout.splitlines())


def render(source):
    if source.startswith("diff "):
        a, b = source.split()[1:]
        return f"`diff {a} {b} | grep -c '^[<>]'`: **{changed_lines(a, b)}** changed lines.\n"
    with open(os.path.join(REPO, source)) as f:
        lines = f.read().splitlines()
    out, gap = [], False
    for line in lines:  # tables and verdicts; a blank line wherever the source had other lines between them
        if not line.startswith(("|", *VERDICTS)):
            gap = True
            continue
        if out and (gap or (line.startswith(VERDICTS) and out[-1].startswith("|"))):
            out.append("")
        out.append(line)
        gap = False
    return "\n".join(out) + "\n"


def update(text):
    return BLOCK.sub(lambda m: m.group(1) + render(m.group(2)) + m.group(4), text)


def main():
    path = os.path.join(REPO, "README.md")
    with open(path) as f:
        text = f.read()
    new = update(text)
    if "--check" in sys.argv:
        if new != text:
            print("README.md is out of date with benchmark/results: run python benchmark/update_readme.py")
            sys.exit(1)
        print("README.md matches benchmark/results")
        return
    with open(path, "w") as f:
        f.write(new)
    print(f"README.md: {len(BLOCK.findall(new))} blocks updated")


if __name__ == "__main__":
    main()
