"""Packaging: one wheel with only our import names, the console script, light imports."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_import_cozy_kernel_loads_nothing_heavy() -> None:
    code = (
        "import sys, cozy_kernel as cozy; cozy.frame; cozy.sync; "
        "heavy = {'pandas', 'numpy', 'pyarrow', 'adbc_driver_sqlite'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "[]"


def test_bare_import_does_not_even_touch_sqlite_or_click() -> None:
    code = "import sys, cozy_kernel; print(sorted({'sqlite3', 'click', 'json'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from the checkout, as `pip install .` builds it."""
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(ROOT), "-w", str(dist)],
        check=True,
        timeout=600,
    )
    (built,) = dist.glob("cozy_notebook-*.whl")
    return built


def test_the_wheel_installs_our_packages_and_works_outside_the_checkout(
    wheel: Path, tmp_path: Path
) -> None:
    names = zipfile.ZipFile(wheel).namelist()

    # Then only our import names land in site-packages
    top = {n.split("/")[0] for n in names}
    stem = wheel.name.split("-py3")[0]
    assert top == {"cozy_kernel", "cozy_connectors", "cozy_jupyterlab", f"{stem}.dist-info",
                   f"{stem}.data"}  # fmt: skip
    # The wheel enables the server extension itself
    assert f"{stem}.data/data/etc/jupyter/jupyter_server_config.d/cozy_jupyterlab.json" in names
    assert "cozy_jupyterlab/openapi.yaml" in names
    assert "cozy_kernel/documents/terms.fr.md" in names
    assert f"{stem}.data/data/share/cozy-notebook/templates/Welcome.ipynb" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "cozy = cozy_kernel.cli:main" in text
    assert "demo-bank = cozy_connectors.demo_bank:DemoBank" in text

    # And the installed copy runs the demo from anywhere
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
         str(target), str(wheel)],
        check=True,
    )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(target), "COZY_HOME": str(tmp_path / "home")}
    code = (
        "import cozy_kernel as cozy, cozy_connectors; "
        "assert cozy.__file__.startswith(sys.argv[1]), cozy.__file__; "
        "assert cozy_connectors.__file__.startswith(sys.argv[1]); "
        "cozy.accept_terms(); "
        "cozy.connect('demo-bank', grant=True, until='2026-06-30', months=2); "
        "cozy.sync('demo-bank'); "
        "print(len(cozy.frame('bank.accounts')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", "import sys; " + code, str(target)],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == "2"


def test_the_installed_wheel_enables_both_extensions(wheel: Path, tmp_path: Path) -> None:
    # (`python -m` the two list commands: the `jupyter` dispatcher looks for scripts on PATH)
    # Given an environment of its own that sees Jupyter but not the checkout's editable install
    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    (site,) = env_dir.glob("lib/python3*/site-packages")
    (site / "jupyter.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    python = str(env_dir / "bin" / "python")
    # When pip installs the wheel into it
    subprocess.run(
        # --ignore-installed: else pip uninstalls the checkout's editable install from this venv
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--ignore-installed",
         "--prefix", str(env_dir), str(wheel)],
        check=True,
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}

    def jupyter(module: str, *args: str) -> str:
        done = subprocess.run(
            [python, "-m", module, *args], capture_output=True, text=True, env=env,
            cwd=tmp_path, check=True,
        )  # fmt: skip
        return done.stdout + done.stderr

    # Then JupyterLab finds the prebuilt frontend there, enabled and OK, installed by pip
    labextensions = jupyter("jupyterlab.labextensions", "list")
    ours = labextensions.split(str(env_dir / "share" / "jupyter" / "labextensions"))[1]
    assert re.search(r"cozy-jupyterlab v0\.1\.0 .*enabled.*OK.*\(python, cozy-notebook\)", ours)
    # And the server extension is enabled by the wheel's own configuration file, and loads
    servers = jupyter("jupyter_server.extension.serverextension", "list")
    servers = servers.split(str(env_dir / "etc" / "jupyter"))[1]
    assert re.search(r"cozy_jupyterlab .*enabled", servers)
    assert re.search(r"cozy_jupyterlab .*OK", servers)
