"""The pages are a guide to the code as it is: every relative link and #anchor resolves (GitHub's
anchor rules), the six algorithm pages share their headings, every test they name exists, and no
page holds a change history or a commit hash."""

import os
import re
import unicodedata

import pytest

from benchmark.update_readme import REPO

SKIP = {".git", ".venv", "venv", "runs", "videos", "node_modules", "__pycache__"}
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
HISTORY = [
    r"\bof then\b", r"\bearlier the same day\b", r"\bbefore the [^.\n]{0,80}\bchange\b",
    r"\b20\d\d-\d\d-\d\d\b", r"\bused to\b", r"\bno longer\b", r"\bwas re-?recorded\b",
    r"\buntil then\b", r"\bwithdrawn\b", r"\bpredates?\b", r"\bgit history\b",
]
COMMIT = re.compile(r"(?<![\w/.-])(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}(?![\w-])")
ALGOS = ["reinforce", "a2c", "a3c", "trpo", "ppo_kl", "ppo_clip"]
HEADINGS = ["Overview", "Key equations", "Pseudocode beside the script", "Implementation details",
            "Defaults and why", "Results"]


def markdown_files():
    """Every Markdown file of the repository (pages and result reports)."""
    out = []
    for root, dirs, files in os.walk(REPO):
        dirs[:] = sorted(d for d in dirs if d not in SKIP and not d.startswith("."))
        out += [os.path.join(root, f) for f in sorted(files) if f.endswith(".md")]
    return out


def doc_pages():
    """The guide's pages: every README and the algorithm pages (not the generated reports)."""
    return [p for p in markdown_files()
            if os.path.basename(p) == "README.md" or os.path.dirname(p) == os.path.join(REPO, "algos")]


def slug(heading):
    """GitHub's anchor of a heading: lower case, markup and punctuation removed, spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    return "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN").replace(" ", "-")


def anchors(path):
    with open(path) as f:
        text = FENCE.sub("", f.read())
    seen, out = {}, set()
    for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M):
        base = slug(m.group(1))
        n = seen.get(base, 0)
        out.add(base if n == 0 else f"{base}-{n}")
        seen[base] = n + 1
    out |= set(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", text))
    return out


def links(path):
    with open(path) as f:
        text = FENCE.sub("", f.read())
    text = re.sub(r"`[^`\n]*`", lambda m: m.group(0) if m.group(0).startswith("`[") else "", text)
    return LINK.findall(text)


def broken_links(path):
    out = []
    for target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("//"):
            continue  # http(s), mailto: not checked here
        file_part, _, anchor = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
        if not os.path.exists(dest):
            out.append(f"{target}: no such file")
            continue
        if not anchor:
            continue
        if dest.endswith(".md"):
            if anchor not in anchors(dest):
                out.append(f"{target}: no heading with that anchor")
        elif re.fullmatch(r"L\d+(-L\d+)?", anchor):
            with open(dest) as f:
                n = len(f.read().splitlines())
            if any(int(x) > n or int(x) < 1 for x in re.findall(r"\d+", anchor)):
                out.append(f"{target}: past the end of the file")
        else:
            out.append(f"{target}: unknown anchor form")
    return out


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: os.path.relpath(p, REPO))
def test_every_relative_link_and_anchor_resolves(path):
    assert broken_links(path) == []


def test_the_link_check_can_fail(tmp_path):
    (tmp_path / "a.md").write_text("# Some Title: here's `code`\n\n## Same\n## Same\n\nx\n")
    (tmp_path / "b.py").write_text("x = 1\n")
    good = "[a](a.md#some-title-heres-code) [b](a.md#same-1) [c](b.py#L1) [d](https://x.org/y)"
    bad = "[a](a.md#some-title) [b](missing.md) [c](b.py#L9) [d](a.md#same-2)"
    (tmp_path / "good.md").write_text(good + "\n")
    (tmp_path / "bad.md").write_text(bad + "\n")
    assert broken_links(str(tmp_path / "good.md")) == []
    assert len(broken_links(str(tmp_path / "bad.md"))) == 4


def history(text):
    found = [m.group(0) for pattern in HISTORY for m in re.finditer(pattern, text, re.I)]
    return found + [m.group(0) for m in COMMIT.finditer(text)]


@pytest.mark.parametrize("path", doc_pages(), ids=lambda p: os.path.relpath(p, REPO))
def test_no_page_holds_history_or_a_commit_hash(path):
    with open(path) as f:
        assert history(f.read()) == []


def test_the_history_check_can_fail():
    for text in ["the curves of commit a267b57", "the setting of then", "measured 2026-11-24",
                 "earlier the same day", "before the batched pi_old change", "git show 8e19828:x",
                 "the curves predate the fix", "the runs are in git history"]:
        assert history(text), text
    assert history("slides/000_bf40b3ce09909946.txt, 1e-3, 2.0633e-5, deadbeef, 1000000") == []


def test_the_algorithm_pages_share_their_headings():
    for algo in ALGOS:
        with open(os.path.join(REPO, "algos", f"{algo}.md")) as f:
            assert re.findall(r"^## (.+)$", f.read(), re.M) == HEADINGS, algo


def test_every_test_a_page_names_exists():
    names = {}
    for root, _, files in os.walk(os.path.join(REPO, "tests")):
        for f in files:
            if f.startswith("test_") and f.endswith(".py"):
                with open(os.path.join(root, f)) as fh:
                    names[f] = set(re.findall(r"^def (test_\w+)", fh.read(), re.M))
    for path in doc_pages():
        with open(path) as f:
            text = f.read()
        for cell in re.findall(r"`(test_\w+\.py)::(\w+)`((?:, `::\w+`)*)", text):
            file, first, more = cell
            for name in [first, *re.findall(r"::(\w+)", more)]:
                assert file in names and (name in names[file] or name.endswith("_*")), f"{path}: {file}::{name}"


def test_the_readme_is_an_index_of_one_screen():
    with open(os.path.join(REPO, "README.md")) as f:
        lines = f.read().splitlines()
    assert len(lines) <= 150
    top = "\n".join(lines[:60])
    assert "pip install -r requirements.txt" in top and "python algos/ppo_clip.py --env-id CartPole-v1" in top
    assert re.search(r"^pytest$", top, re.M)
    for algo in ALGOS:
        assert f"(algos/{algo}.md)" in top, algo
