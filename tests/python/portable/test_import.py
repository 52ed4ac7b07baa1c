"""The package loads from the installed wheel, in ABI mode, with the right library."""

from __future__ import annotations

import os
import subprocess
import sys

import sheaf
from sheaf import _lib


def test_imported_from_installed_wheel_not_source_tree():
    here = os.path.abspath(os.path.dirname(__file__))
    repo = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    assert not os.path.abspath(sheaf.__file__).startswith(os.path.join(repo, "python"))
    assert os.path.isfile(_lib.LIB_PATH)
    assert os.path.isabs(_lib.LIB_PATH)
    assert os.path.dirname(_lib.LIB_PATH) == os.path.join(
        os.path.dirname(sheaf.__file__), "_native"
    )


def test_cffi_module_is_out_of_line_abi_mode():
    from sheaf._native import _sheaf_cffi

    assert _sheaf_cffi.__file__.endswith(".py")  # generated Python, no compiled extension
    with open(_sheaf_cffi.__file__) as f:
        source = f.read()
    assert "_cffi_backend" in source and "FFI(" in source


def test_import_needs_no_pycparser():
    code = (
        "import sys; sys.modules['pycparser'] = None\nimport sheaf; print(sheaf.library_version())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == sheaf.library_version()


def test_versions():
    assert sheaf.ABI_VERSION == int(_lib.lib.sheaf_abi_version()) == 1
    parts = sheaf.__version__.split(".")
    assert [int(p) for p in parts] == [
        int(_lib.lib.SHEAF_VERSION_MAJOR),
        int(_lib.lib.SHEAF_VERSION_MINOR),
        int(_lib.lib.SHEAF_VERSION_PATCH),
    ]


def test_abi_mismatch_is_a_clear_import_error(tmp_path):
    # A copy of the package whose generated module claims another ABI version.
    import shutil

    pkg = os.path.dirname(sheaf.__file__)
    dst = tmp_path / "sheaf"
    shutil.copytree(pkg, str(dst), ignore=shutil.ignore_patterns("__pycache__"))
    cffi_mod = dst / "_native" / "_sheaf_cffi.py"
    text = cffi_mod.read_text()
    assert "SHEAF_ABI_VERSION" in text
    import re

    new, n = re.subn(r"SHEAF_ABI_VERSION',\s*1\b", "SHEAF_ABI_VERSION', 99", text)
    if n == 0:  # the constant's encoding differs between cffi versions: patch the loader instead
        loader = dst / "_lib.py"
        loader.write_text(loader.read_text().replace("int(lib.SHEAF_ABI_VERSION)", "99"))
    else:
        cffi_mod.write_text(new)
    code = "import sheaf"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=str(tmp_path), check=False
    )
    assert out.returncode != 0
    assert "ImportError" in out.stderr
    assert "ABI version" in out.stderr and "99" in out.stderr
