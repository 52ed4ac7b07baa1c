#!/usr/bin/env python3
"""Builds Sheaf's ``py3-none-<platform>`` wheel from a prebuilt ``libsheaf.so``.

Needs only the standard library and cffi (at build time). The wheel holds the pure-Python
package ``sheaf``, the cffi out-of-line ABI-mode module ``sheaf/_native/_sheaf_cffi.py``
generated from ``python/sheaf/_cdef.h``, and the library next to it.

Usage as a script::

    python3 python/build_wheel.py \
        --lib target/x86_64-unknown-linux-gnu/release/libsheaf.so --out dist --version 0.1.0
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import io
import shutil
import stat
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path
from typing import List, Optional, Tuple

HERE = Path(__file__).resolve().parent
PACKAGE_DIR = HERE / "sheaf"
CDEF = PACKAGE_DIR / "_cdef.h"
CFFI_MODULE = "sheaf._native._sheaf_cffi"
# A fixed timestamp keeps the wheel reproducible (zip cannot store dates before 1980).
ZIP_DATE = (1980, 1, 1, 0, 0, 0)

METADATA = """\
Metadata-Version: 2.1
Name: sheaf
Version: {version}
Summary: Embedded, versioned data store for Arrow tables, with one stable C ABI
License: Apache-2.0
Requires-Python: >=3.8
Requires-Dist: cffi>=1.15; platform_python_implementation != "PyPy"
Provides-Extra: numpy
Requires-Dist: numpy>=1.21; extra == "numpy"
Provides-Extra: pyarrow
Requires-Dist: numpy>=1.21; extra == "pyarrow"
Requires-Dist: pyarrow>=14; extra == "pyarrow"
Provides-Extra: pandas
Requires-Dist: numpy>=1.21; extra == "pandas"
Requires-Dist: pyarrow>=14; extra == "pandas"
Requires-Dist: pandas>=2.0; extra == "pandas"
Provides-Extra: polars
Requires-Dist: pyarrow>=14; extra == "polars"
Requires-Dist: polars>=1.0; extra == "polars"
Provides-Extra: all
Requires-Dist: numpy>=1.21; extra == "all"
Requires-Dist: pyarrow>=14; extra == "all"
Requires-Dist: pandas>=2.0; extra == "all"
Requires-Dist: polars>=1.0; extra == "all"
Description-Content-Type: text/markdown

Sheaf keeps versioned Arrow tables (pandas, polars, pyarrow, numpy) in an embedded store
(LMDB on disk or in memory) behind one stable C ABI. This package is pure Python (cffi, ABI
mode): one wheel serves CPython 3.8+ and PyPy.
"""

#: The console scripts pip installs with the wheel (``sheaf``: the command line, sheaf/cli.py).
ENTRY_POINTS = """\
[console_scripts]
sheaf = sheaf.cli:main
"""

WHEEL = """\
Wheel-Version: 1.0
Generator: sheaf build_wheel.py
Root-Is-Purelib: false
{tags}"""


def default_platform_tag() -> str:
    """``linux_x86_64`` on this machine: the interpreter's platform with ``-``/``.`` as ``_``."""
    return sysconfig.get_platform().replace("-", "_").replace(".", "_")


def generate_cffi_module(cdef_path: Path, out_path: Path) -> None:
    """Writes the out-of-line ABI-mode cffi module for ``cdef_path`` to ``out_path``."""
    import cffi  # build-time dependency only

    ffi = cffi.FFI()
    ffi.cdef(cdef_path.read_text(encoding="utf-8"))
    ffi.set_source(CFFI_MODULE, None)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(io.StringIO()):  # cffi prints "generating ..."
        ffi.emit_python_code(str(out_path))


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _stage(stage: Path, lib_path: Path) -> None:
    shutil.copytree(
        PACKAGE_DIR,
        stage / "sheaf",
        ignore=shutil.ignore_patterns(
            "__pycache__", "*.pyc", "*.so", "_native", ".mypy_cache", ".ruff_cache"
        ),
    )
    native = stage / "sheaf" / "_native"
    native.mkdir(parents=True, exist_ok=True)
    (native / "__init__.py").write_text(
        '"""Generated when the wheel was built: the cffi ABI-mode module and libsheaf.so."""\n'
    )
    generate_cffi_module(CDEF, native / "_sheaf_cffi.py")
    target = native / "libsheaf.so"
    shutil.copyfile(lib_path, target)
    target.chmod(0o755)


def build_wheel(
    lib_path: Path, out_dir: Path, version: str, platform_tag: Optional[str] = None
) -> Path:
    """Builds the wheel and returns its path.

    Args:
        lib_path: the prebuilt shared library
            (``target/x86_64-unknown-linux-gnu/release/libsheaf.so``).
        out_dir: where to write the wheel (created if missing).
        version: the package version, e.g. ``"0.1.0"`` (Cargo.toml's ``[package] version``).
        platform_tag: the wheel's platform tag (``build.py`` passes
            ``manylinux_2_17_x86_64.manylinux2014_x86_64``); ``linux_x86_64`` here by default.
    """
    lib_path = Path(lib_path).resolve()
    out_dir = Path(out_dir)
    if not lib_path.is_file():
        raise FileNotFoundError(f"no library at {lib_path}")
    platform_tag = platform_tag or default_platform_tag()
    tag = f"py3-none-{platform_tag}"
    dist_info = f"sheaf-{version}.dist-info"
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel_path = out_dir / f"sheaf-{version}-{tag}.whl"

    with tempfile.TemporaryDirectory(prefix="sheaf-wheel-") as tmp:
        stage = Path(tmp)
        _stage(stage, lib_path)
        files: List[Tuple[str, bytes, int]] = []
        for path in sorted(p for p in (stage / "sheaf").rglob("*") if p.is_file()):
            mode = path.stat().st_mode
            files.append((path.relative_to(stage).as_posix(), path.read_bytes(), mode))
        meta = {
            f"{dist_info}/METADATA": METADATA.format(version=version),
            # A compressed tag set (manylinux_2_17_x86_64.manylinux2014_x86_64) is one Tag
            # line per platform: older pips know only the manylinux2014 spelling.
            f"{dist_info}/WHEEL": WHEEL.format(
                tags="".join(f"Tag: py3-none-{p}\n" for p in platform_tag.split("."))
            ),
            f"{dist_info}/top_level.txt": "sheaf\n",
            f"{dist_info}/entry_points.txt": ENTRY_POINTS,
        }
        for name, text in meta.items():
            files.append((name, text.encode("utf-8"), 0o644))
        record_lines = [f"{name},{_record_hash(data)},{len(data)}" for name, data, _ in files]
        record_lines.append(f"{dist_info}/RECORD,,")
        files.append((f"{dist_info}/RECORD", ("\n".join(record_lines) + "\n").encode(), 0o644))

        tmp_wheel = stage / wheel_path.name
        with zipfile.ZipFile(tmp_wheel, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, data, mode in files:
                info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                perm = 0o755 if mode & stat.S_IXUSR else 0o644
                info.external_attr = (stat.S_IFREG | perm) << 16
                zf.writestr(info, data)
        shutil.move(str(tmp_wheel), str(wheel_path))
    return wheel_path


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", required=True, type=Path, help="path to libsheaf.so")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--version", default=None, help="package version, e.g. 0.1.0")
    parser.add_argument("--platform", default=None, help="platform tag (default: this machine)")
    parser.add_argument(
        "--stage-only",
        action="store_true",
        help="only write the importable package (sheaf/ with _native/) into --out, no wheel "
        "(mutation testing imports it from there)",
    )
    args = parser.parse_args(argv)
    if args.stage_only:
        target = args.out / "sheaf"
        if target.exists():
            shutil.rmtree(target)
        args.out.mkdir(parents=True, exist_ok=True)
        _stage(args.out, args.lib)
        print(target)
        return 0
    if args.version is None:
        parser.error("--version is required to build a wheel")
    path = build_wheel(args.lib, args.out, args.version, args.platform)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
