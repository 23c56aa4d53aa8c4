"""The README's result tables are copies of benchmark/results, made by
benchmark/update_readme.py: never typed by hand, never stale."""

import subprocess
import sys

from benchmark.update_readme import REPO, update


def test_readme_matches_recorded_results():
    proc = subprocess.run([sys.executable, "benchmark/update_readme.py", "--check"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_hand_edited_number_is_detected():
    with open(f"{REPO}/README.md") as f:
        text = f.read()
    assert "<!-- BEGIN benchmark/results/speed.md -->" in text
    tampered = text.replace("<!-- BEGIN benchmark/results/speed.md -->\n|", "<!-- BEGIN benchmark/results/speed.md -->\n| 99999 |", 1)
    assert tampered != text and update(tampered) != tampered
