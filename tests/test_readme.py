"""The Markdown pages' result tables and line links are copies made by
benchmark/update_readme.py from their sources: never typed by hand, never stale."""

import os
import subprocess
import sys

from benchmark.update_readme import REPO, definition_line, figure3_headline, pages, update


def test_pages_match_recorded_results():
    proc = subprocess.run([sys.executable, "benchmark/update_readme.py", "--check"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_page_with_generated_blocks_is_covered():
    covered = set(pages())
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("runs", "videos", "__pycache__")]
        for f in files:
            if f.endswith(".md"):
                rel = os.path.relpath(os.path.join(root, f), REPO).replace(os.sep, "/")
                if rel.startswith(("benchmark/results/", "tests/baselines/")):
                    continue
                with open(os.path.join(root, f)) as fh:
                    if "<!-- BEGIN " in fh.read():
                        assert rel in covered, rel


def test_a_hand_edited_number_is_detected_in_every_page():
    for page in pages():
        path = os.path.join(REPO, page)
        with open(path) as f:
            text = f.read()
        marker = text.find("<!-- BEGIN ")
        if marker < 0:
            continue
        end = text.index("-->\n", marker) + 4
        tampered = text[:end] + "| 99999 |\n" + text[end:]
        assert update(tampered, os.path.dirname(path)) != tampered, page


def test_a_stale_line_link_is_detected():
    path = os.path.join(REPO, "algos", "ppo_clip.md")
    with open(path) as f:
        text = f.read()
    start = text.index("](ppo_clip.py#L") + len("](ppo_clip.py#L")
    end = text.index(")", start)
    tampered = text[:start] + str(int(text[start:end]) + 1) + text[end:]
    assert update(tampered, os.path.dirname(path)) != tampered


def test_the_headline_is_the_figure3_report_once_it_exists():
    report = os.path.join(REPO, "benchmark", "results", "figure3.md")
    headline = figure3_headline()
    assert "|" in headline
    if os.path.exists(report):
        with open(report) as f:
            text = f.read()
        if "<!-- BEGIN headline -->" in text:
            assert headline in text
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    assert "<!-- BEGIN figure3 -->\n" + headline + "<!-- END figure3 -->" in readme


def test_a_line_link_names_the_module_level_definition_before_a_method():
    lines = ["class RunningMeanStd:", "    def update(self, x):", "        pass", "def update(agent):", "    update_count = 1"]
    assert definition_line(lines, "update") == 4
    assert definition_line(lines[:3], "update") == 2  # a method when no function has the name
    assert definition_line(lines, "update_count = 1") == 5  # not a name: the first line containing it
