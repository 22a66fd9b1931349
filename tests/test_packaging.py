"""Packaging: one wheel with only our import names, the console script, light imports."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

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


def test_the_wheel_installs_our_packages_and_works_outside_the_checkout(tmp_path: Path) -> None:
    # Given a wheel built from the checkout, as `pip install .` builds it
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(ROOT),
         "-w", str(tmp_path / "dist")],
        check=True,
        timeout=600,
    )  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("cozy_notebook-*.whl")
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
