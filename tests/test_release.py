"""The release: `python -m build` makes a wheel (and an sdist) with the data files opsbot needs at run
time, and that wheel, installed in a fresh virtualenv and run from outside the checkout, answers
`opsbot --version`, `python -m opsbot` and `opsbot ask "kpi gmv yesterday"`, migrating its state
database from the migrations it ships."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
# what an installation reads from the package at run time, besides the code
DATA_FILES = (
    "bot/adapters/slack/manifest.yaml",
    "bot/state/migrations/env.py",
    "bot/state/migrations/script.py.mako",
    "bot/state/migrations/versions/0001_baseline.py",
    "metrics/charts/fonts/NotoSansCJKsc-opsbot-subset.otf",
    "metrics/charts/fonts/LICENSE-OFL.txt",
    "opsbot/__main__.py",
)

pytestmark = pytest.mark.release


def run(*args: str | Path, cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def source_tree(dest: Path) -> Path:
    """The checkout's files as git sees them (tracked or new, not ignored): no build/ or egg-info of
    an editable install leaks into the build, and the working tree is not written to."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file():  # a tracked file deleted in the working tree is not part of it
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """(the wheel, a fresh virtualenv with it installed, the environment to run it in)."""
    base = tmp_path_factory.mktemp("release")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["MPLCONFIGDIR"] = str(base / "mpl")
    tree = source_tree(base / "src")
    # no isolation: the build requirements are the test extra's, so this runs without a download
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", base / "dist", ".", cwd=tree, env=env)
    wheels = list((base / "dist").glob("opsbot-*.whl"))
    assert len(wheels) == 1 and list((base / "dist").glob("opsbot-*.tar.gz"))
    venv = base / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=base, env=env)
    python = venv / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                    cwd=base, env=env).stdout.strip())
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "--quiet",
        wheels[0], cwd=base, env=env)
    # the dependencies from this environment, not downloaded again: a plain path line, so the
    # editable install's finder (a .pth in that folder) is not run and the checkout stays out of reach
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return wheels[0], venv, env


def test_the_wheel_carries_the_data_files(installed: tuple[Path, Path, dict[str, str]]) -> None:
    wheel, _, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    assert [f for f in DATA_FILES if f not in names] == []
    assert not any(n.startswith(("tests/", "bench/")) for n in names)


def test_the_installed_wheel_runs_outside_the_checkout(installed: tuple[Path, Path, dict[str, str]],
                                                       tmp_path: Path) -> None:
    _, venv, env = installed
    opsbot, python = venv / "bin" / "opsbot", venv / "bin" / "python"
    where = run(python, "-c", "import bot, metrics, opsbot; print(bot.__file__, metrics.__file__, opsbot.__version__)",
                cwd=tmp_path, env=env).stdout.split()
    assert all(Path(p).is_relative_to(venv) for p in where[:2]), where
    assert where[2] == VERSION
    assert run(opsbot, "--version", cwd=tmp_path, env=env).stdout.strip() == f"opsbot, version {VERSION}"
    assert run(python, "-m", "opsbot", "--version", cwd=tmp_path, env=env).stdout.strip() == \
        f"opsbot, version {VERSION}"
    assert "- command: /ops" in run(opsbot, "slack-manifest", cwd=tmp_path, env=env).stdout

    # a small demo shop, and a state database the shipped migrations build
    config = tmp_path / "opsbot.toml"
    config.write_text("[demo]\ndays = 40\norders = 2000\nseed = 3\n", encoding="utf-8")
    answer = run(opsbot, "ask", "--config", config, "kpi gmv yesterday", cwd=tmp_path, env=env, timeout=600)
    assert "GMV" in answer.stdout, answer.stdout
    assert (tmp_path / "opsbot-state.db").exists()
    check = run(opsbot, "migrate", "--check", "--config", config, cwd=tmp_path, env=env)
    assert "up to date" in check.stdout
