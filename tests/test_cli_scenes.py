"""`personae scene ...` run as a real process on a fresh data folder: create, list, add,
import a SillyTavern group, and talk (one tapped reply from the bundled model)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import CARDS_DIR
from tests.test_cli import env, run

__all__ = ["env"]  # the fixture, shared with the CLI tests


def test_scene_commands(env: dict[str, str], tmp_path: Path) -> None:
    r = run(["scene", "list"], env)
    assert r.returncode == 1 and "personae users create" in r.stderr
    r = run(["users", "create", "root", "--password-stdin"], env, "longpassword\n")
    assert r.returncode == 0, r.stderr
    handles = []
    for card in ("default_Seraphina.png", "choral_Default-chan.png"):
        r = run(["import", str(CARDS_DIR / card)], env)
        assert r.returncode == 0, r.stderr
        handles.append(r.stdout.strip())
    assert "No scenes yet" in run(["scene", "list"], env).stdout

    # Errors say what to do next.
    r = run(["scene", "create", "Tea", "-c", "seraphina", "--mode", "shouting"], env)
    assert r.returncode == 2 and "natural" in r.stderr
    r = run(["scene", "create", "Tea"], env)
    assert r.returncode == 2 and "--character" in r.stderr
    r = run(["scene", "create", "Tea", "-c", "nobody_here"], env)
    assert r.returncode == 1 and "nobody_here" in r.stderr

    r = run(["scene", "create", "Tea", "-c", "seraphina", "--mode", "manual"], env)
    assert r.returncode == 0, r.stderr
    scene_id = r.stdout.strip().splitlines()[-1]
    assert len(scene_id) == 32 and "Seraphina" in r.stdout and "AI" in r.stdout
    r = run(["scene", "list"], env)
    assert r.returncode == 0 and scene_id in r.stdout and "manual" in r.stdout
    r = run(["scene", "add", "Tea", handles[1]], env)  # the scene named by its title
    assert r.returncode == 0 and "Added" in r.stdout, r.stderr
    r = run(["scene", "add", "No such scene", handles[1]], env)
    assert r.returncode == 1 and "personae scene list" in r.stderr

    # A SillyTavern group: members matched by name, the others named with advice.
    group = tmp_path / "group.json"
    group.write_text(
        json.dumps(
            {"name": "Crew", "members": ["Seraphina.png", "Ghost.png"], "activation_strategy": 1}
        )
    )
    r = run(["scene", "import", str(group)], env)
    assert r.returncode == 0, r.stderr
    assert "Crew" in r.stdout and "Ghost" in r.stdout and "personae scene add" in r.stdout
    r = run(["scene", "import", str(tmp_path / "missing.json")], env)
    assert r.returncode == 1 and "no such file" in r.stderr

    # Talk: a tap makes Seraphina speak; her reply is printed with her name and reason.
    r = run(["scene", "talk", scene_id], env, "/speak nobody\n/speak Seraphina\n/quit\n", 240)
    assert r.returncode == 0, r.stderr
    assert "no character 'nobody' here" in r.stdout
    assert "Seraphina AI (manual):" in r.stdout, r.stdout
