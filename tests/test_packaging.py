"""The wheel installs one name, ``midstream``, and works outside the checkout beside a decoy.

The folders ``operators/``, ``flows/``, ``connectors/`` and ``grafana/`` live at
the repository root; the wheel must carry them as ``midstream.*`` and nothing
else at the top level, must leave out the development stack and the test
doubles, and must keep working where a user's own ``operators`` package sits
in the current directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERED = ("cli", "core", "operators", "flows", "connectors", "grafana")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the project's wheel (no dependencies, no build isolation) into a temp dir."""
    out = tmp_path_factory.mktemp("wheel")
    # Build from a copy (links kept as links), so the build leaves nothing in the checkout.
    source = tmp_path_factory.mktemp("source") / "midstream"
    shutil.copytree(REPO, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".stack", "build", "*.egg-info", "__pycache__", "lib"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(source)],
        check=True, cwd=out, timeout=300)
    (built,) = out.glob("midstream-*.whl")
    return built


def wheel_files(wheel: Path) -> list[str]:
    """Every file name in the wheel."""
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_wheel_installs_only_the_midstream_name(wheel: Path) -> None:
    files = wheel_files(wheel)
    top = {name.split("/")[0] for name in files if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"midstream"}
    with zipfile.ZipFile(wheel) as archive:
        (top_level,) = [n for n in files if n.endswith(".dist-info/top_level.txt")]
        assert archive.read(top_level).decode().split() == ["midstream"]


def test_the_wheel_carries_every_layer_and_its_data(wheel: Path) -> None:
    files = set(wheel_files(wheel))
    for package in LAYERED:
        assert f"midstream/{package}/__init__.py" in files, package
    for needed in ("midstream/py.typed", "midstream/core/data/rules.toml",
                   "midstream/core/data/shapes.toml", "midstream/cli/data/sample_streams.jsonl",
                   "midstream/connectors/webrtc/static/index.html",
                   "midstream/operators/dtw.py", "midstream/flows/llm_stream.py"):
        assert needed in files, needed
    # Every source file of the layered folders is in the wheel, under midstream/.
    for package in LAYERED:
        folder = REPO / package if package not in {"cli", "core"} else REPO / "midstream" / package
        for source in folder.rglob("*.py"):
            name = "midstream/" + package + "/" + source.relative_to(folder).as_posix()
            assert name in files, name


def test_the_wheel_leaves_out_what_is_not_the_product(wheel: Path) -> None:
    files = wheel_files(wheel)
    assert not [n for n in files if n.startswith("midstream/stack/")]
    assert not [n for n in files if "standin" in n or "doubles" in n or n.startswith("tests/")]
    assert not [n for n in files if n.startswith(("bench/", "deploy/"))]


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A fresh venv outside the checkout with the wheel in it, and a directory with a decoy.

    The wheel goes in without dependencies; the venv reaches the dependencies
    through a path entry to this environment's site-packages, added as a plain
    directory (so the editable install's import hook there is not loaded).
    """
    root = tmp_path_factory.mktemp("user")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    ours = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    Path(site, "zz_dependencies.pth").write_text("\n".join(ours) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                    "-q", str(wheel)], check=True, timeout=300)
    project = root / "someone-elses-project"
    decoy = project / "operators"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("DECOY = True\n")
    (decoy / "text_rules.py").write_text("DECOY = True\n")  # no Rule: our code must not see it
    (project / "flows.py").write_text("DECOY = True\n")
    yield env_dir, project


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_installed_command_runs_beside_a_decoy_package(installed: tuple[Path, Path]) -> None:
    env_dir, project = installed
    done = _run([str(env_dir / "bin" / "midstream"), "demo", "--help"], project)
    assert done.returncode == 0, done.stderr
    assert "usage: midstream demo" in done.stdout


def test_every_public_module_imports_from_the_wheel_beside_a_decoy(
        installed: tuple[Path, Path], wheel: Path) -> None:
    env_dir, project = installed
    modules = sorted(
        name[:-3].replace("/", ".").removesuffix(".__init__") for name in wheel_files(wheel)
        if name.endswith(".py") and not name.endswith("__main__.py"))
    script = textwrap.dedent(f"""
        import importlib, sys
        for name in {modules!r}:
            module = importlib.import_module(name)
            assert "{REPO}" not in (module.__file__ or ""), (name, module.__file__)
        import operators  # the user's own package is still theirs
        assert operators.DECOY and "someone-elses-project" in operators.__file__
        print(len({modules!r}))
    """)
    done = _run([str(env_dir / "bin" / "python"), "-c", script], project)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-1] == str(len(modules))


def test_the_installed_stack_command_says_it_needs_a_checkout(installed: tuple[Path, Path]) -> None:
    env_dir, project = installed
    done = _run([str(env_dir / "bin" / "midstream"), "stack", "status"], project)
    assert done.returncode == 2
    assert "runs from a clone of the repository" in done.stderr
