"""The scripts read in the order of the slides, the same in all six: the module docstring (the
math), Args, the math functions, the running statistics, the Agent, train, and only then the
plumbing (environment checks, checkpoints, evaluation, run directory, argument checks) and
`__main__`. Catches plumbing moved back above the math, a script whose sections drift from its
neighbours' order (so that `diff` shows reordering instead of the idea), and long lines."""

import ast
import os

import pytest

from tests.scripts import REPO

SCRIPTS = ["reinforce", "a2c", "a3c", "trpo", "ppo_kl", "ppo_clip"]
FIRST_MATH = {"reinforce": "discounted_reward_to_go"}  # every other script: compute_gae
# The landmarks, in the order every script must have them.
LANDMARKS = ["class Args", "first math function", "class RunningMeanStd", "class Agent", "def train",
             "# ---- plumbing", 'if __name__ == "__main__"']


def source(script):
    with open(os.path.join(REPO, "algos", f"{script}.py")) as f:
        return f.read()


def long_lines(text):
    return [(n, len(line)) for n, line in enumerate(text.splitlines(), 1) if len(line) > 100]


def layout_errors(text, script):
    """What is wrong with one script's layout: missing or misordered landmarks, or a first math
    function more than 150 lines below the module docstring. Empty when the layout is right."""
    first_math = f"def {FIRST_MATH.get(script, 'compute_gae')}("
    found = {}
    for number, line in enumerate(text.splitlines(), 1):
        for name in LANDMARKS:
            prefix = first_math if name == "first math function" else name
            if name not in found and line.startswith(prefix):
                found[name] = number
    if set(found) != set(LANDMARKS):
        return [f"missing: {sorted(set(LANDMARKS) - set(found))}"]
    errors = []
    if sorted(LANDMARKS, key=found.get) != LANDMARKS:
        errors.append(f"sections out of order: {found}")
    docstring_end = ast.parse(text).body[0].end_lineno
    if found["first math function"] - docstring_end > 150:
        errors.append(f"first math function at line {found['first math function']}, docstring ends at {docstring_end}")
    return errors


@pytest.mark.parametrize("script", SCRIPTS)
def test_no_line_is_longer_than_100_characters(script):
    assert not long_lines(source(script)), f"algos/{script}.py: (line, length) over 100"


@pytest.mark.parametrize("script", SCRIPTS)
def test_sections_in_the_same_order_and_the_first_equation_near_the_top(script):
    assert not layout_errors(source(script), script)


def test_the_checks_can_fail():
    text = source("ppo_clip")
    plumbing = text[text.index("# ---- plumbing"):text.index('if __name__ == "__main__"')]
    moved_up = text.replace(plumbing, "").replace("\nclass Args", "\n" + plumbing + "class Args", 1)
    assert any("out of order" in e for e in layout_errors(moved_up, "ppo_clip"))
    # plumbing moved between the docstring and Args also pushes the math down
    assert any("first math function" in e for e in layout_errors(moved_up, "ppo_clip"))
    renamed = text.replace("def compute_gae(", "def gae(")
    assert layout_errors(renamed, "ppo_clip") == ["missing: ['first math function']"]
    assert long_lines(text + "# " + "x" * 99) == [(len(text.splitlines()) + 1, 101)]
