"""The README stays true: its two opening commands, every setting with its default, and every
`flashsale` command it names exist."""
from __future__ import annotations

import os
import re
import subprocess
from datetime import time
from pathlib import Path

import typer

from app.cli import cli
from core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def first_code_block(text: str) -> list[str]:
    block = re.search(r"```(?:sh|bash)?\n(.*?)```", text, re.S)
    assert block, "the README opens with a code block"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.split("#")[0].strip()]


def test_readme_opens_with_the_run_and_test_commands() -> None:
    assert first_code_block(README) == ["make run", "make test"]
    assert README.index("```") < README.index("\n## ")  # before anything else is explained


def test_makefile_has_the_documented_targets() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    assert {"run", "test", "lint", "typecheck", "loadtest", "bench", "venv", "install"} <= targets
    assert "flashsale serve" in makefile and "-m pytest" in makefile
    ci = ROOT / ".ci" / "run"
    assert os.access(ci, os.X_OK) and "make test" in ci.read_text(encoding="utf-8")


def test_make_help_lists_every_target_with_a_description() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    phony = set(re.search(r"^\.PHONY: (.*)$", makefile, re.M).group(1).split())  # type: ignore[union-attr]
    shown = subprocess.run(["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True,
                           check=True, timeout=30).stdout
    described = {line.split()[0]: line.split(None, 1)[1] for line in shown.splitlines() if line.strip()}
    assert set(described) == phony, "every target gets a '## description' on its line"
    assert all(text.strip() for text in described.values())
    assert "make help" in README


def documented_settings() -> dict[str, str]:
    """FLASHSALE_X -> its default cell, from the configuration table."""
    rows = re.findall(r"^\| `(FLASHSALE_[A-Z0-9_]+)` \| ([^|]*) \|", README, re.M)
    return {name: default.strip() for name, default in rows}


def shown(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, time):
        return value.isoformat()
    return str(value)


def test_every_setting_is_documented_with_its_default() -> None:
    documented = documented_settings()
    fields = {f"FLASHSALE_{name.upper()}": field for name, field in Settings.model_fields.items()}
    assert set(fields) - set(documented) == set(), "add these to the README's configuration table"
    assert set(documented) - set(fields) == set(), "the README documents settings that do not exist"
    for name, field in fields.items():
        default = field.default
        if "SECRET" in name or default in ("", None):
            continue
        assert f"`{shown(default)}`" in documented[name], (name, default, documented[name])


def test_every_flashsale_command_in_the_readme_exists() -> None:
    commands: dict[str, object] = typer.main.get_command(cli).commands  # type: ignore[attr-defined]
    named = set(re.findall(r"flashsale ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", README))
    assert named, "the README names commands"
    for command, sub in named:
        assert command in commands, f"`flashsale {command}` is in the README but not in app/cli.py"
        subcommands = getattr(commands[command], "commands", None)
        if subcommands is not None and sub:
            assert sub in subcommands, f"`flashsale {command} {sub}` is in the README but not in app/cli.py"


def test_readme_links_the_contract() -> None:
    assert "../shared/API.md" in README
    assert "## Load testing and benchmarks" in README


def test_the_first_run_sample_lists_every_demo_drop(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from app.demo.seed import demo_drops

    sample = README[README.index("Demo store seeded"):README.index("Sign in at http://127.0.0.1:8000/login")]
    listed = re.findall(r"drop #\d+  (.+?)  CN¥", sample)
    seeded = [body.name for body, _ in demo_drops(Settings(var_dir=tmp_path), datetime.now(UTC))]
    assert listed == seeded
    assert "F-code early access from" in sample.splitlines()[-2]  # the one in early access on day one
