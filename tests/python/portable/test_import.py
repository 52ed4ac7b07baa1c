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
    assert sheaf.ABI_VERSION == int(_lib.lib.sheaf_abi_version()) == 6
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

    new, n = re.subn(r"SHEAF_ABI_VERSION',\s*6\b", "SHEAF_ABI_VERSION', 99", text)
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


def _package_imports():
    """Every import inside the installed package between its own modules, as a graph: module
    -> the package modules it imports anywhere (top level, inside functions, under
    ``TYPE_CHECKING``, through ``importlib.import_module``)."""
    import ast

    root = os.path.dirname(sheaf.__file__)
    modules = {}
    for name in sorted(os.listdir(root)):
        if name.endswith(".py"):
            mod = "sheaf" if name == "__init__.py" else "sheaf." + name[:-3]
            modules[mod] = os.path.join(root, name)

    def target(dotted):
        # "sheaf.x.y" -> the package module "sheaf.x" (None for sheaf._native, not ours).
        parts = dotted.split(".")
        if len(parts) == 1:
            return "sheaf"
        return ".".join(parts[:2]) if ".".join(parts[:2]) in modules else None

    graph = {}
    for mod, path in modules.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        package = "sheaf"  # every module is directly inside the package
        edges = set()
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.rsplit(".", node.level - 1)[0]
                    base = base + "." + node.module if node.module else base
                else:
                    base = node.module or ""
                # "from .x import y": the module x.y if there is one, else x (a name in it).
                names = [
                    base + "." + a.name if (base + "." + a.name) in modules else base
                    for a in node.names
                ]
            elif (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                text = node.args[0].value
                names = ["sheaf" + text] if text.startswith(".") else [text]
            for n in names:
                if n.split(".")[0] != "sheaf":
                    continue
                t = target(n)
                if t is not None and t != mod:
                    edges.add(t)
        graph[mod] = edges
    return graph


def test_package_modules_import_each_other_without_circles():
    graph = _package_imports()
    assert "sheaf.errors" in graph and graph["sheaf"], graph  # the package really was read
    # Depth-first search for a back edge; report the circle found.
    state = {}
    stack = []

    def visit(mod):
        state[mod] = "open"
        stack.append(mod)
        for dep in sorted(graph[mod]):
            if state.get(dep) == "open":
                circle = [*stack[stack.index(dep) :], dep]
                raise AssertionError("import circle: " + " -> ".join(circle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[mod] = "done"

    for mod in sorted(graph):
        if mod not in state:
            visit(mod)


def test_errors_is_a_leaf():
    # Every module may raise Sheaf's exceptions, so errors.py imports nothing of the package.
    assert _package_imports()["sheaf.errors"] == set()
