"""Copy recorded results into the Markdown pages, so that no number there is typed by hand.

Every Markdown page of the repository (README.md, algos/*.md, benchmark/README.md,
tests/README.md, ...; not the result files themselves) may hold marked blocks:

    <!-- BEGIN benchmark/results/speed.md -->         the table(s) and verdict lines of that file
    <!-- BEGIN benchmark/results/x.md table=2 -->     only its second table
    <!-- BEGIN benchmark/results/x.md drop=command --> without the column named "command"
    <!-- BEGIN diff algos/ppo_clip.py algos/ppo_kl.py -->   the number of changed lines
    <!-- BEGIN scripts -->      README's table of the six scripts (lines, CartPole-v1 times)
    <!-- BEGIN mujoco_1m -->    the 1M suite's table, per-task tuned cells labelled as such
    <!-- BEGIN figure3 -->      the headline: the PPO paper's figure 3, like for like
    <!-- BEGIN args algos/ppo_clip.py -->   the script's arguments and defaults, from its Args
    <!-- END -->               (or <!-- END name -->)

and links to a line of a script, [`name`](ppo_clip.py#L138): the line number is where `name`
is defined (`def name` / `class name`; a module-level one before a method of that name), or else
the first line that contains the text.

`python benchmark/update_readme.py` rewrites every block and line number from its source;
`python benchmark/update_readme.py --check` exits 1 if any page is out of date (a test runs it).
"""

import ast
import os
import re
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from benchmark import configs  # noqa: E402
from benchmark.configs import CONFIGS  # noqa: E402

# the lines besides tables that a block copies: a target's verdict (benchmark/run.py's reports),
# the ranking against the paper's (benchmark/ppo_objectives.py's)
VERDICTS = ("Target ", "Ranking here: ", "Paper's ranking: ", "Spearman rank correlation")
BLOCK = re.compile(r"(<!-- BEGIN (.+?) -->\n)(.*?)(<!-- END(?: [^>]*?)? -->)", re.S)
LINE_LINK = re.compile(r"\[`([^`]+)`\]\(([^)#\s]+\.py)#L(\d+)\)")
# folders whose Markdown files are sources (results, reports), not pages with blocks
SOURCE_DIRS = ("benchmark/results", "tests/baselines")
SKIP_DIRS = {".git", ".venv", "venv", "runs", "videos", "node_modules", "__pycache__", "wandb"}

SCRIPTS = ["reinforce", "a2c", "a3c", "trpo", "ppo_kl", "ppo_clip"]
ALGORITHMS = {
    "reinforce": "REINFORCE with a baseline (Williams 1992)",
    "a2c": "synchronous advantage actor-critic, A2C (Mnih et al. 2016)",
    "a3c": "asynchronous advantage actor-critic, A3C (Mnih et al. 2016)",
    "trpo": "trust-region policy optimisation, TRPO, and NPG (Schulman et al. 2015; Kakade 2001)",
    "ppo_kl": "PPO with the adaptive KL penalty (Schulman et al. 2017)",
    "ppo_clip": "PPO with the clipped surrogate, PPO-Clip (Schulman et al. 2017)",
}
SUITE_ENVS = ["HalfCheetah-v5", "Hopper-v5", "Walker2d-v5"]
FIGURE3_ENVS = ["HalfCheetah-v5", "Hopper-v5", "InvertedDoublePendulum-v5", "InvertedPendulum-v5",
                "Reacher-v5", "Swimmer-v5", "Walker2d-v5"]
# The PPO paper (Schulman et al. 2017), figure 3: returns at 1M steps read off the plots (MuJoCo
# v1, 3 seeds, one setting per algorithm for all seven tasks); Reacher and Swimmer not read.
PPO_PAPER_FIGURE3 = {
    "PPO-Clip": {"HalfCheetah-v5": "~1800", "Hopper-v5": "~2330", "InvertedDoublePendulum-v5": "~8000",
                 "InvertedPendulum-v5": "~1000", "Walker2d-v5": "~3460"},
    "TRPO": {"HalfCheetah-v5": "~0", "Hopper-v5": "~2100", "InvertedDoublePendulum-v5": "~200",
             "InvertedPendulum-v5": "~1000", "Walker2d-v5": "~1100"},
    "A2C": {"HalfCheetah-v5": "~1000", "Hopper-v5": "~900", "InvertedDoublePendulum-v5": "~7100",
            "InvertedPendulum-v5": "~1000", "Walker2d-v5": "~850"},
}
# CleanRL's ppo_continuous_action with its defaults (the paper's setting), MuJoCo v4, 3 seeds,
# mean of the last 100 training episodes: the metric used here (as in benchmark/run.py's PUBLISHED).
CLEANRL_PPO = {"HalfCheetah-v5": "1443 ± 46", "Hopper-v5": "2383 ± 272", "Walker2d-v5": "2288 ± 572"}
FIGURE3_REPORT = "benchmark/results/figure3.md"


def read(path):
    with open(os.path.join(REPO, path)) as f:
        return f.read()


def tables(text):
    """The Markdown tables of a text, each a list of rows, each a list of cells."""
    out, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            current.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif current:
            out.append(current)
            current = []
    return out


def table_lines(rows):
    return ["| " + " | ".join(row) + " |" for row in rows]


def changed_lines(a, b):
    """What `diff a b | grep -c '^[<>]'` prints: it runs that very diff."""
    proc = subprocess.run(["diff", a, b], cwd=REPO, capture_output=True, text=True)
    return sum(line.startswith(("<", ">")) for line in proc.stdout.splitlines())


def copy_file(path, options):
    """The tables and verdict lines of a result file; options table=N, drop=COLUMN."""
    lines = read(path).splitlines()
    out, gap = [], False
    for line in lines:  # tables and verdicts; a blank line wherever the source had other lines between them
        if not line.startswith(("|", *VERDICTS)):
            gap = True
            continue
        if out and (gap or (line.startswith(VERDICTS) and out[-1].startswith("|"))):
            out.append("")
        out.append(line)
        gap = False
    text = "\n".join(out) + "\n"
    if "table" in options or "drop" in options:
        found = tables(text)
        if "table" in options:
            found = [found[int(options["table"]) - 1]]
        if "drop" in options:
            for i, rows in enumerate(found):
                if options["drop"] in rows[0]:
                    k = rows[0].index(options["drop"])
                    found[i] = [row[:k] + row[k + 1:] for row in rows]
        text = "\n\n".join("\n".join(table_lines(rows)) for rows in found) + "\n"
    return text


# ---------------------------------------------------------------- named blocks


def cartpole_record(script):
    """(threshold, budget, first steps, wall seconds) of the script's recorded CartPole-v1 runs."""
    for name in (f"{script}__CartPole-v1__defaults.md", f"{script}__CartPole-v1__ppo_cartpole.md", f"{script}__CartPole-v1.md"):
        path = f"benchmark/results/targets/{name}"
        if os.path.exists(os.path.join(REPO, path)):
            text = read(path)
            rows = tables(text)[0]
            threshold = re.search(r">= (\d+)", rows[0][1]).group(1)
            budget = int(re.search(r"within (\d+) steps", text).group(1))
            firsts = [int(r[1]) for r in rows[2:] if r[1].isdigit()]
            walls = [int(r[4]) for r in rows[2:]]
            return path, threshold, budget, firsts, walls, run_setting(text), "--hold" in text.split("Each run:")[0]
    return None


def run_setting(record):
    """The setting of a target record's runs: "defaults", the name of a configs.py setting, or
    the arguments themselves."""
    command = re.search(r"Each run:\s+(python .*)", record).group(1)
    extra = re.sub(r"^python \S+ --env-id \S+ --seed \S+ --total-timesteps \d+ ?", "", command).split()
    if not extra:
        return "defaults"
    named = [name for name, value in vars(configs).items() if name.isupper() and value == extra]
    return f"`{named[0]}`" if named else "`" + " ".join(extra) + "`"


def scripts_table():
    """README's table of the six scripts: algorithm, page, lines, CartPole-v1 record."""
    rows = [["script and page", "algorithm (paper)", "lines",
             "CartPole-v1: steps to reach the threshold, median of seeds (setting)", "wall time of a whole recorded run"]]
    rows.append(["---"] * len(rows[0]))
    for s in SCRIPTS:
        with open(os.path.join(REPO, "algos", f"{s}.py")) as f:
            n = len(f.read().splitlines())
        rec = cartpole_record(s)
        if rec is None:
            steps = wall = "not recorded"
        else:
            path, threshold, budget, firsts, walls, setting, hold = rec
            steps = (f"{round(statistics.median(firsts) / 1000)}k to mean(last 20) ≥ {threshold}{', at or above it at the end' if hold else ''} "
                     f"({len(firsts)} of {len(walls)} seeds; {setting}; [record]({path}))")
            wall = f"{min(walls)}-{max(walls)} s for {budget // 1000}k steps"
        rows.append([f"[`{s}.py`](algos/{s}.md)", ALGORITHMS[s], str(n), steps, wall])
    return "\n".join(table_lines(rows)) + "\n"


def suite_cells():
    """{script: {env: cell}} of the 1M suite's table (benchmark/results/mujoco_1m.md)."""
    rows = tables(read("benchmark/results/mujoco_1m.md"))[0]
    envs = rows[0][1:]
    return {r[0].removesuffix(".py"): dict(zip(envs, r[1:])) for r in rows[2:]}


def tuned_per_task(script, env_id):
    """A setting that the script uses on this task of the suite alone (configs.py)."""
    own = CONFIGS.get(script, {}).get(env_id, [])
    return all(CONFIGS.get(script, {}).get(e, []) != own for e in SUITE_ENVS if e != env_id)


def mujoco_1m_table():
    """The suite's table, with every cell run with a per-task tuned setting labelled so."""
    rows = tables(read("benchmark/results/mujoco_1m.md"))[0]
    envs = rows[0][1:]
    out = [rows[0], rows[1]]
    for r in rows[2:]:
        script = r[0].removesuffix(".py")
        out.append([r[0]] + [c + (" **tuned per task**" if tuned_per_task(script, e) and "tuned" not in c else "")
                             for e, c in zip(envs, r[1:])])
    return "\n".join(table_lines(out)) + "\n"


def objectives_scores(setting):
    """{env: 'mean ± std'} of one setting in the PPO objectives report."""
    for rows in tables(read("benchmark/results/ppo_objectives/ppo_objectives.md")):
        if rows[0][0].startswith("score"):
            envs = rows[0][1:]
            for r in rows[2:]:
                if r[0] == setting:
                    return {e: re.sub(r" \(\d+\)$", "", c) for e, c in zip(envs, r[1:])}
    return {}


def figure3_headline():
    """The README headline: one setting per script against the PPO paper's figure 3.

    From benchmark/results/figure3.md (the section between its <!-- BEGIN headline --> and
    <!-- END headline --> markers) once that report exists; until then from the runs recorded
    with each script's own defaults: ppo_clip.py in the PPO objectives study (all seven tasks)
    and trpo.py in the 1M suite (the tasks it runs with its defaults)."""
    if os.path.exists(os.path.join(REPO, FIGURE3_REPORT)):
        m = re.search(r"<!-- BEGIN headline -->\n(.*?)<!-- END headline -->", read(FIGURE3_REPORT), re.S)
        if m:
            return m.group(1)
    clip = objectives_scores("clip_0.2")
    suite = suite_cells()
    rows = [["task (v5 here, v1 in the paper)", "ppo_clip.py, its defaults", "paper: PPO-Clip",
             "CleanRL PPO, its defaults (v4)", "trpo.py, its defaults", "paper: TRPO", "paper: A2C"]]
    rows.append(["---"] * len(rows[0]))
    for e in FIGURE3_ENVS:
        trpo = suite.get("trpo", {}).get(e, "") if not CONFIGS["trpo"].get(e, []) else ""
        trpo = re.sub(r" \(.*\)$", "", trpo) or "–"
        rows.append([e, clip.get(e, "–"), PPO_PAPER_FIGURE3["PPO-Clip"].get(e, "not read"),
                     CLEANRL_PPO.get(e, "–"), trpo, PPO_PAPER_FIGURE3["TRPO"].get(e, "not read"),
                     PPO_PAPER_FIGURE3["A2C"].get(e, "not read")])
    return "\n".join(table_lines(rows)) + "\n"


def args_table(script):
    """A script's arguments as its Args dataclass declares them: name, default, description."""
    source = read(script)
    rows = [["argument", "default", "what it sets"], ["---", "---", "---"]]
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef) and node.name == "Args":
            body = node.body
            for i, field in enumerate(body):
                if isinstance(field, ast.AnnAssign) and field.value is not None:
                    doc = body[i + 1].value.value if i + 1 < len(body) and isinstance(body[i + 1], ast.Expr) else ""
                    default = ast.get_source_segment(source, field.value).replace("|", "\\|")
                    rows.append([f"`--{field.target.id.replace('_', '-')}`", f"`{default}`", doc.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")])
    return "\n".join(table_lines(rows)) + "\n"


def suite_cost():
    """The recorded wall time of the 1M suite's runs, per script and in all (curve headers)."""
    import glob

    per = {}
    for path in sorted(glob.glob(os.path.join(REPO, "benchmark/results/mujoco_1m/*.csv"))):
        script = os.path.basename(path).split("__")[0]
        with open(path) as f:
            for line in f:
                if line.startswith("# wall_time_s:"):
                    per.setdefault(script, []).append(float(line.split(":")[1]))
                    break
    rows = [["script", "runs", "hours of one run, min-max", "hours in all"], ["---"] * 4]
    for script in SCRIPTS[::-1]:
        w = per.get(script, [])
        if w:
            rows.append([f"{script}.py", str(len(w)), f"{min(w) / 3600:.2f}-{max(w) / 3600:.2f}", f"{sum(w) / 3600:.1f}"])
    total = sum(sum(w) for w in per.values())
    rows.append(["**all**", str(sum(len(w) for w in per.values())), "", f"**{total / 3600:.1f}**"])
    return "\n".join(table_lines(rows)) + "\n"


NAMED = {"suite_cost": suite_cost, "scripts": scripts_table, "mujoco_1m": mujoco_1m_table, "figure3": figure3_headline}


def render(source):
    if source.startswith("diff "):
        a, b = source.split()[1:]
        return f"`diff {a} {b} | grep -c '^[<>]'`: **{changed_lines(a, b)}** changed lines.\n"
    if source in NAMED:
        return NAMED[source]()
    if source.startswith("args "):
        return args_table(source.split()[1])
    path, *opts = source.split()
    return copy_file(path, dict(o.split("=", 1) for o in opts))


# ---------------------------------------------------------------- line numbers of links


def definition_line(lines, text):
    """1-based line where `text` is defined (def/class; a module-level definition before a method
    of the same name), else the first line containing it."""
    name = text.split(".")[-1]
    if re.fullmatch(r"\w+", name):
        for indent in (r"", r"\s+"):
            for i, line in enumerate(lines, 1):
                if re.match(rf"{indent}(def|class) {name}\b", line):
                    return i
    for i, line in enumerate(lines, 1):
        if text in line:
            return i
    raise SystemExit(f"update_readme: `{text}` not found in the linked script")


def fix_line_links(text, doc_dir):
    def fix(m):
        target = os.path.normpath(os.path.join(doc_dir, m.group(2)))
        with open(target) as f:
            lines = f.read().splitlines()
        return f"[`{m.group(1)}`]({m.group(2)}#L{definition_line(lines, m.group(1))})"

    return LINE_LINK.sub(fix, text)


# ---------------------------------------------------------------- the pages


def pages():
    """Every Markdown page of the repository, relative to it (result files excluded)."""
    out = []
    for root, dirs, files in os.walk(REPO):
        rel = os.path.relpath(root, REPO).replace(os.sep, "/")
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")
                         and not f"{rel}/{d}".lstrip("./").startswith(SOURCE_DIRS))
        out += [os.path.normpath(os.path.join(rel, f)).replace(os.sep, "/") for f in sorted(files) if f.endswith(".md")]
    return out


def update(text, doc_dir=REPO):
    text = BLOCK.sub(lambda m: m.group(1) + render(m.group(2)) + m.group(4), text)
    return fix_line_links(text, doc_dir)


def main():
    stale = []
    for page in pages():
        path = os.path.join(REPO, page)
        with open(path) as f:
            text = f.read()
        new = update(text, os.path.dirname(path))
        if new != text:
            stale.append(page)
            if "--check" not in sys.argv:
                with open(path, "w") as f:
                    f.write(new)
    if "--check" in sys.argv:
        if stale:
            print(f"out of date with their sources: {', '.join(stale)}; run python benchmark/update_readme.py")
            sys.exit(1)
        print("every Markdown page matches its sources")
        return
    print(f"updated: {', '.join(stale) or 'nothing'}")


if __name__ == "__main__":
    main()
