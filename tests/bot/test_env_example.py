"""``.env.example`` names every setting the code reads, says what each is, and shows its defaults.

The settings' names come from the one place the environment is read, ``bot.settings.Settings``:
a setting added there and not here fails, and so does a name here that nothing reads.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / ".env.example"
#: ``NAME=value`` or ``# NAME=value``: a setting, set or left at its default.
_SETTING = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")


def _env_names() -> dict[str, str]:
    """Each environment variable the settings read, and the field it fills."""
    names = {}
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names[alias if isinstance(alias, str) else field_name.upper()] = field_name
    return names


def _lines() -> list[str]:
    return EXAMPLE.read_text(encoding="utf-8").splitlines()


def _shown() -> dict[str, str]:
    """The settings in the example, with the value each shows."""
    found = {}
    for line in _lines():
        match = _SETTING.match(line)
        if match:  # quoted as a shell would read it (README: set -a; . ./.env; set +a)
            found[match.group(2)] = "".join(shlex.split(match.group(3)))
    return found


def test_every_setting_the_code_reads_is_in_the_example_and_nothing_else() -> None:
    read, shown = set(_env_names()), set(_shown())
    assert read - shown == set(), "settings missing from .env.example"
    assert shown - read == set(), "names in .env.example that no code reads"


def test_every_setting_is_explained() -> None:
    """Each setting sits in a paragraph with at least one line of prose about it."""
    paragraph: list[str] = []
    for line in [*_lines(), ""]:
        if line.strip():
            paragraph.append(line)
            continue
        settings = [p for p in paragraph if _SETTING.match(p)]
        prose = [p for p in paragraph if p.startswith("#") and not _SETTING.match(p)]
        assert not settings or prose, f"no comment explains {settings}"
        paragraph = []


def test_the_defaults_shown_are_the_codes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    names = _env_names()
    defaults = Settings.model_fields
    shown = {
        name: value
        for name, value in _shown().items()
        if value and defaults[names[name]].default is not None
    }
    assert "PORT" in shown and "REDIS_URL" in shown
    for name in names:
        monkeypatch.delenv(name, raising=False)
    for name, value in shown.items():
        monkeypatch.setenv(name, value)
    read = Settings(_env_file=None)  # type: ignore[call-arg]
    for name in shown:
        field = names[name]
        assert getattr(read, field) == defaults[field].default, name


def test_the_example_copied_to_env_configures_nothing_by_itself(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Copied as is, the empty tokens are unset: no Socket Mode with an empty app token."""
    for name in _env_names():
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    read = Settings()
    assert read.slack_bot_token is None and read.slack_app_token is None
    assert read.model_dump() == Settings(_env_file=None).model_dump()  # type: ignore[call-arg]
