"""The commands the documentation shows still run. Every ``python scripts/X.py ...`` in README.md, docs/*.md,
competitions/*/README.md and the scripts' own ``--help`` texts names a script that exists, and its parser accepts
the flags as written (a synopsis such as ``[--size small|medium|full]`` or ``(A | B)`` with its first choice,
placeholders such as COMPETITION or RUN_DIR with real values; parsed only, nothing trained). The cheap ones run
for real: ``--help``, ``--list``, a tiny demo built into a temporary folder and scored with score.py. Every
command block says to activate the environment first, and every notebook lists all of its competition's
recipes (generated from ``RECIPES`` by ``scripts/docs.py``)."""
from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

sys.path.insert(0, str(ROOT / "scripts"))
import docs  # noqa: E402

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "competitions" / "README.md",
         *sorted((ROOT / "competitions").glob("*/README.md"))]
SCRIPTS = sorted((ROOT / "scripts").glob("*.py"))
COMMAND = re.compile(r"(?:\.venv/bin/)?python\s+scripts/([a-z_0-9]+)\.py\b")  # scripts/NAME.py: no command
# What a placeholder stands for when a command is parsed (an argument's type sees a real value).
PLACEHOLDERS = {"COMPETITION": "house_prices", "NAME": "gbm", "K": "5", "S": "42", "SEC": "60", "N": "2",
                "M": "rmsle", "COL": "Id", "COLS": "Id", "MSG": "a message", "HEAD": "10.0.0.5", "DIR": "data/x",
                "DEMO": "data/x", "FILE": "data/x/file.csv", "SUBMISSION": "submission.csv", "YOUR_NAME": "me"}
RUN_FOLDER = re.compile(r"\b(RUN\w*|PART_\w+)\b")  # RUN, RUN_DIR, RUN_GBM, PART_A ...: a run folder


def fenced_and_prose(text: str) -> tuple[list[str], str]:
    """The lines of a page's ``` blocks (continuation lines joined) and the rest of its text."""
    blocks, prose, inside = [], [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            inside = not inside
            continue
        (blocks if inside else prose).append(line)
    return "\n".join(blocks).replace("\\\n", " ").splitlines(), "\n".join(prose)


def snippets(path: Path) -> list[str]:
    """The places a page shows commands: each line of its code blocks and each inline `code` span."""
    lines, prose = fenced_and_prose(path.read_text(encoding="utf-8"))
    spans = [" ".join(s.split()) for s in re.findall(r"`([^`]+)`", prose)]
    return [s for s in lines + spans if COMMAND.search(s)]


def script_usage(path: Path) -> list[str]:
    """The command lines a script's docstring (its ``--help``) shows."""
    source = path.read_text(encoding="utf-8")
    doc = re.match(r'(?:#![^\n]*\n)?\s*"""(.*?)"""', source, re.S)
    lines = re.sub(r"\\{1,2}\n", " ", doc.group(1)).splitlines() if doc else []  # "\\" in the source
    return [line for line in lines if COMMAND.search(line)]


def commands(snippet: str) -> list[tuple[str, str]]:
    """(script, its argument text) of each command in a snippet, as far as a pipe, ``;``, ``&&``, a comment or the
    end of a ``$( )`` that holds it; a ``$( )`` or ``$var`` inside an argument stands for a run folder."""
    found = []
    for match in COMMAND.finditer(snippet):
        rest, depth, end = snippet[match.end():], 0, None
        for i, ch in enumerate(rest):
            if ch in "[(":  # an optional part, a choice or a $( )
                depth += 1
            elif ch in "])":
                if depth == 0:
                    end = i
                    break
                depth -= 1
            elif depth == 0 and (rest.startswith(" | ", i) or rest.startswith(" #", i) or ch in ";&"):
                end = i
                break
        text = rest[:end]
        text = re.sub(r"\$\((?:[^()]|\([^()]*\))*\)|\$\w+", "RUN_DIR", text)
        found.append((match.group(1), text))
    return found


def words(text: str) -> list[str]:
    """A synopsis as one command line: optional ``[...]`` parts taken, of ``a | b`` and ``a|b`` the first, ``X...``
    as X, placeholders replaced."""
    tokens = []
    for word in shlex.split(text):
        if not word:  # '' as written: an empty argument
            tokens.append(word)
            continue
        while word[:1] in ("[", "(") and word not in ("[", "("):
            tokens.append(word[0])
            word = word[1:]
        tail = []
        while word[-1:] in ("]", ")") and word.count(word[-1]) > word.count("[" if word[-1] == "]" else "("):
            tail.insert(0, word[-1])
            word = word[:-1]
        tokens += ([word] if word else []) + tail
    chosen, skipping = [], []  # skipping: per open group, whether an alternative after the first is being read
    for token in tokens:
        if token in ("[", "("):
            skipping.append(bool(skipping) and skipping[-1])
        elif token in ("]", ")"):
            skipping.pop()
        elif token == "|" and skipping:
            skipping[-1] = True
        elif not (skipping and skipping[-1]) and (token == "" or token.strip(".")):
            word = token.rstrip(".") if token.endswith("..") else token
            chosen.append(word.split("|")[0])
    return [RUN_FOLDER.sub("runs/house_prices/gbm-x", re.sub(
        r"\b[A-Z][A-Z_]*\b", lambda m: PLACEHOLDERS.get(m.group(0), m.group(0)), w)) for w in chosen]


DOCUMENTED = sorted({(f"{path.relative_to(ROOT)}", script, text)
                     for path in PAGES for snippet in snippets(path) for script, text in commands(snippet)}
                    | {(f"{path.relative_to(ROOT)} --help", script, text)
                       for path in SCRIPTS for snippet in script_usage(path) for script, text in commands(snippet)})


class Parsed(Exception):
    """Raised in place of running a script once its parser has read the arguments."""


def load(script: str):
    """The script as a module, and the function its command line runs."""
    import importlib.util

    name = f"script_{script}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{script}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    module = sys.modules[name]
    entry = re.search(r"sys\.exit\(main\((\w*)\)\)", (ROOT / "scripts" / f"{script}.py").read_text())
    return module, getattr(module, entry.group(1) or "main")


def parse_only(script: str, argv: list[str], monkeypatch) -> argparse.Namespace:
    """The namespace ``scripts/<script>.py ARGV`` parses to, the script stopped right after parsing."""
    parse = argparse.ArgumentParser.parse_args

    def stop(self, args=None, namespace=None):
        raise Parsed(parse(self, args, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", stop)
    monkeypatch.setattr(sys, "argv", [f"scripts/{script}.py", *argv])
    module, entry = load(script)
    with pytest.raises(Parsed) as parsed:
        entry(argv) if entry.__code__.co_argcount else entry()
    return parsed.value.args[0]


@pytest.mark.parametrize("where, script, text", DOCUMENTED, ids=[f"{w}: {s} {t}"[:90] for w, s, t in DOCUMENTED])
def test_a_documented_command_parses(where, script, text, monkeypatch):
    assert (ROOT / "scripts" / f"{script}.py").is_file(), f"{where} names scripts/{script}.py, which does not exist"
    from shared.errors import UserError

    argv = words(text)
    try:
        parse_only(script, argv, monkeypatch)
    except UserError as exc:
        pytest.fail(f"{where}: `python scripts/{script}.py {text.strip()}` (as {argv}) no longer parses: {exc}")


def test_a_command_that_no_longer_parses_is_caught(monkeypatch):
    """What the check sees when a page keeps a flag the script has dropped, or a value its parser refuses."""
    from shared.errors import UserError

    assert parse_only("run", words(" COMPETITION --recipe NAME --folds K"), monkeypatch).folds == 5
    with pytest.raises(UserError, match="--n-folds"):
        parse_only("run", words(" COMPETITION --n-folds K"), monkeypatch)
    with pytest.raises(UserError, match="--method"):
        parse_only("ensemble", words(" RUN_DIR RUN_DIR --method blend"), monkeypatch)


def test_the_synopsis_reader():
    assert words(" COMPETITION [--size small|medium|full] [--out DIR]") == ["house_prices", "--size", "small",
                                                                          "--out", "data/x"]
    assert words(" SUB --solution FILE (--competition NAME | --metric M) [--sample FILE]") == [
        "SUB", "--solution", "data/x/file.csv", "--competition", "gbm", "--sample", "data/x/file.csv"]
    assert words(" RUN_DIR RUN_DIR... [--method mean|rank]") == ["runs/house_prices/gbm-x"] * 2 + ["--method", "mean"]
    assert words(" tabular ... --set members=[gbm,catboost] -m 'a b'") == ["tabular", "--set", "members=[gbm,catboost]",
                                                                         "-m", "a b"]
    assert commands("a=$(python scripts/run.py x --recipe linear | tail -1)") == [("run", " x --recipe linear")]
    assert commands("python scripts/ensemble.py $(python scripts/run.py x | tail -1) y") == [
        ("ensemble", " RUN_DIR y"), ("run", " x")]


def test_every_script_a_page_names_is_checked():
    named = {m.group(1) for path in PAGES for s in snippets(path) for m in COMMAND.finditer(s)}
    assert named <= {s for _, s, _ in DOCUMENTED}
    assert {"run", "make_demo", "score", "compare", "ensemble", "submit"} <= named


# ------------------------------------------------------------------------------------------ the cheap ones run
@pytest.mark.parametrize("script", sorted({s for _, s, _ in DOCUMENTED}))
def test_help_runs(script, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [f"scripts/{script}.py", "--help"])
    _, entry = load(script)
    with pytest.raises(SystemExit) as done:
        entry(["--help"]) if entry.__code__.co_argcount else entry()
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("usage:")


LISTS = sorted({tuple(words(text)) for _, script, text in DOCUMENTED if script == "run" and "--list" in text})


@pytest.mark.parametrize("argv", LISTS, ids=[" ".join(a) for a in LISTS])
def test_a_documented_list_runs(argv):
    rc, out, err = run_cli("run", *argv)
    assert rc == 0, err
    assert out.startswith(f"{argv[0]}: ") and "recipes (--recipe NAME; * the default):" in out
    if "--recipe" in argv:
        assert f"recipe {argv[argv.index('--recipe') + 1]} (--set KEY=VALUE):" in out


def test_a_demo_is_built_and_scored_as_documented(tmp_path):
    """competitions/README.md's block: make_demo.py contraception ... --out /tmp/c6, then score.py against the
    demo's solution.csv (the sample submission stands in for a run's submission)."""
    block = [c for s in snippets(ROOT / "competitions" / "README.md") for c in commands(s)]
    make = next(words(t) for s, t in block if s == "make_demo")
    score = next(words(t) for s, t in block if s == "score")
    folder = tmp_path / "c6"
    make = [str(folder) if w == "/tmp/c6" else w for w in make]
    make[make.index("--size") + 1] = "tiny"
    rc, out, err = run_cli("make_demo", *make)
    assert rc == 0, err
    assert Path(out.strip()) == folder and (folder / "solution.csv").is_file()
    score = [str(folder / "sample_submission.csv") if w.endswith("submission.csv") else
             w.replace("/tmp/c6", str(folder)) for w in score]
    rc, out, err = run_cli("score", *score)
    assert rc == 0, err
    assert "gini" in (out + err).lower()


def test_make_demo_says_what_each_default_demo_costs(capsys):
    """make_demo.py --help names every competition's default demo and what its default recipe costs there, dated."""
    import inspect

    import competitions

    module, entry = load("make_demo")
    assert sorted(module.DEFAULT_DEMOS) == competitions.names()
    for name, (size, _, recipe, cost) in module.DEFAULT_DEMOS.items():
        spec = competitions.get(name)
        assert size == inspect.signature(spec.make_demo).parameters["size"].default, name
        assert recipe == spec.default_recipe and re.search(r"\(20\d\d-\d\d-\d\d", cost), name
    with pytest.raises(SystemExit):
        entry(["--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "about a minute" not in shown and "2-core CPU" in shown
    for name, (size, what, recipe, cost) in module.DEFAULT_DEMOS.items():
        assert f"{name} {size}: {what} {recipe}: {cost}" in shown


# ------------------------------------------------------------------------------------------ the environment
def test_every_command_block_activates_the_environment_first():
    """The system Python lacks pandas: a page's first command says `source .venv/bin/activate` before it, and a code
    block that runs python says it on its first line (or calls .venv/bin/python)."""
    for path in PAGES:
        text = path.read_text(encoding="utf-8")
        first = re.search(r"(?<![./\w])python(?:3)? (?:scripts/|-m (?!venv))", text)
        if first:
            assert "source .venv/bin/activate" in text[:first.start()], \
                f"{path.relative_to(ROOT)}: `source .venv/bin/activate` must come before its first python command"
        for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
            runs = re.findall(r"(?<![./\w])python(?:3)? (?:scripts/|-m (?!venv))", block)
            if runs:
                assert block.lstrip().startswith("source .venv/bin/activate"), \
                    f"{path.relative_to(ROOT)}: a code block runs python without `source .venv/bin/activate` " \
                    f"first:\n{block}"


# ------------------------------------------------------------------------------------------ the notebooks
@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb")))
def test_a_notebook_lists_every_recipe(name):
    import competitions

    spec = competitions.get(name)
    intro = "".join(json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())["cells"][0]["source"])
    assert docs.recipe_table(spec) in intro, f"notebooks/{name}.ipynb: run `python scripts/docs.py` to list " \
                                             "every recipe"
    assert intro.count("\n| `") == len(spec.recipes)


def test_the_readme_lists_every_recipe():
    import competitions

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in competitions.names():
        row = next(line for line in readme.splitlines() if line.startswith(f"| [`{name}`]"))
        listed = re.findall(r"`(\w+)`", row.split("|")[3])
        assert sorted(listed) == sorted(competitions.get(name).recipes), name
        assert f"**`{competitions.get(name).default_recipe}`**" in row, name
    from shared.tabular import generic

    row = next(line for line in readme.splitlines() if line.startswith("| `tabular`"))
    assert sorted(re.findall(r"`(\w+)`", row.split("|")[3])) == sorted(generic.RECIPES)
    assert f"**`{generic.DEFAULT_RECIPE}`**" in row


def test_the_readme_figures_are_the_generated_ones():
    """A competition whose README has a generated Results block: the README's figure for its default recipe is
    that block's OOF CV and local holdout, so the two cannot drift apart."""
    import competitions

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    checked = 0
    for name in competitions.names():
        page = (ROOT / "competitions" / name / "README.md").read_text(encoding="utf-8")
        block = re.search(rf"<!-- results:{name} -->\n(.*?)<!-- /results:{name} -->", page, re.S)
        if block is None:
            continue
        default = competitions.get(name).default_recipe
        header = next(line for line in block.group(1).splitlines() if line.startswith("| recipe"))
        row = next(line for line in block.group(1).splitlines() if line.startswith(f"| {default} |"))
        cells = dict(zip([c.strip() for c in header.split("|")], [c.strip() for c in row.split("|")]))
        oof = next(v for k, v in cells.items() if k.startswith("OOF"))
        holdout = next(v for k, v in cells.items() if k.startswith("local holdout"))
        top = next(line for line in readme.splitlines() if line.startswith(f"| [`{name}`]"))
        assert f"`{default}` {oof} / {holdout} " in top, (name, oof, holdout, top)
        checked += 1
    assert checked >= 2
