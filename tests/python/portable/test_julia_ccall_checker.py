"""The checker of the Julia example's ccalls (tests/julia/check_julia_ccalls.py): the example
passes, and each kind of mismatch — an unknown function, a wrong arity, a wrong type, a wrong
constant or struct layout — is reported. Standard library only; no Julia needed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, List

import pytest

REPO = Path(__file__).resolve().parents[3]
HEADER = REPO / "include" / "sheaf.h"
EXAMPLES = REPO / "examples" / "julia"


def _load_checker() -> ModuleType:
    path = REPO / "tests" / "julia" / "check_julia_ccalls.py"
    spec = importlib.util.spec_from_file_location("check_julia_ccalls", str(path))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_julia_ccalls"] = module
    spec.loader.exec_module(module)
    return module


checker = _load_checker()


@pytest.fixture(scope="module")
def header() -> Any:
    return checker.parse_header(HEADER.read_text(encoding="utf-8"))


def problems(source: str, header: Any, exported: Any = None) -> List[str]:
    return list(checker.check_julia_source(source, "t.jl", header, exported).problems)


def one_problem(source: str, header: Any, *fragments: str) -> str:
    found = problems(source, header)
    assert len(found) == 1, found
    for fragment in fragments:
        assert fragment in found[0], found[0]
    return str(found[0])


# ---- the header is read completely -----------------------------------------------------------


def test_header_functions_are_every_declared_sheaf_function(header: Any) -> None:
    import re

    code = checker.strip_c_comments(HEADER.read_text(encoding="utf-8"))
    declared = set(re.findall(r"\b(sheaf_[A-Za-z0-9_]+)\s*\(", code))
    assert set(header.functions) == declared
    assert header.functions["sheaf_debug_panic"].test_only
    assert not header.functions["sheaf_store_open"].test_only


def test_header_types_are_resolved(header: Any) -> None:
    CType = checker.CType
    fn = header.functions["sheaf_kv_get"]
    assert fn.ret == CType("int32_t", 0)  # SheafStatus
    assert [t for _, t in fn.params] == [
        CType("SheafKeySpace", 1),
        CType("uint8_t", 1),
        CType("size_t", 0),
        CType("uint32_t", 0),
        CType("uint64_t", 0),
        CType("SheafBytes", 1),
        CType("SheafError", 2),
    ]
    callback = header.functions["sheaf_log_set_callback"].params[0][1]
    assert callback.funcptr  # through the SheafLogCallback typedef
    assert header.functions["sheaf_version"].params == []
    assert header.constants["SHEAF_ERR_NO_SUCH_SYMBOL"] == 302
    assert header.constants["SHEAF_SIZE_NOT_FOUND"] == 2**64 - 1
    assert [name for name, _ in header.structs["ArrowArrayStream"]] == [
        "get_schema",
        "get_next",
        "get_last_error",
        "release",
        "private_data",
    ]
    assert "SheafStore" in header.opaque


# ---- the example passes ----------------------------------------------------------------------


def test_the_julia_example_matches_the_header(header: Any) -> None:
    files = sorted(EXAMPLES.glob("*.jl"))
    assert files
    for path in files:
        report = checker.check_julia_source(path.read_text(encoding="utf-8"), str(path), header)
        assert report.problems == []
        assert report.checked >= 30  # ccalls, constants and structs


def test_run_all_passes_on_the_examples(capsys: Any) -> None:
    checker.run_all(REPO)
    out = capsys.readouterr().out
    assert "0 problem(s)" in out
    assert " passed, 0 failed in " in out


def test_run_all_fails_on_a_bad_file(tmp_path: Path, capsys: Any) -> None:
    bad = tmp_path / "bad.jl"
    bad.write_text("ccall((:sheaf_store_free, libsheaf), Cvoid, (Ptr{Cvoid}, Int32), s, 1)\n")
    with pytest.raises(SystemExit):
        checker.run_all(REPO, files=[bad])
    assert "1 failed" in capsys.readouterr().out


# ---- each mismatch is reported ---------------------------------------------------------------


def test_good_calls_pass(header: Any) -> None:
    source = """
const Status = Cint
ccall((:sheaf_store_open, libsheaf), Status,
      (Cstring, Csize_t, Ref{Ptr{Cvoid}}, Ptr{Ptr{Cvoid}}), uri, sizeof(uri), out, err)
ccall((:sheaf_kv_put, "libsheaf"), Int32,
      (Ptr{Cvoid}, Ptr{UInt8}, UInt64, Ptr{UInt8}, UInt, Cuint, Ref{Ptr{Cvoid}}),
      kv, k, length(k), v, length(v), 0, err)
ccall((:sheaf_log_set_callback, libsheaf), Int32, (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}),
      cb, C_NULL, C_NULL)
ccall((:sheaf_library_open, libsheaf), Int32,
      (Ptr{Cvoid}, Ptr{Cchar}, Csize_t, UInt8, Ptr{UInt8}, Csize_t, Ref{Ptr{Cvoid}},
       Ref{Ptr{Cvoid}}), s, n, 3, 1, C_NULL, 0, out, err)
ccall((:sheaf_version, libsheaf), Ptr{UInt8}, ())
ccall((:sheaf_abi_version, libsheaf), Cuint, ())
ccall((:sheaf_error_free, libsheaf), Cvoid, (Ptr{Cvoid},), e,)
ccall((:sheaf_config_set_int, libsheaf), Int32, (Ptr{UInt8}, Csize_t, Int64, Ptr{Cvoid}),
      k, 3, 1, C_NULL)
"""
    assert problems(source, header) == []


def test_unknown_function(header: Any) -> None:
    one_problem(
        "ccall((:sheaf_no_such_call, libsheaf), Cvoid, ())",
        header,
        "sheaf_no_such_call",
        "not declared in include/sheaf.h",
    )


def test_unexported_function(header: Any) -> None:
    exported = set(header.functions) - {"sheaf_version"}
    found = problems("ccall((:sheaf_version, libsheaf), Cstring, ())", header, exported)
    assert len(found) == 1 and "not exported by libsheaf.so" in found[0]
    assert problems("ccall((:sheaf_abi_version, libsheaf), UInt32, ())", header, exported) == []


def test_wrong_arity(header: Any) -> None:
    one_problem(
        "ccall((:sheaf_store_close, libsheaf), Int32, (Ptr{Cvoid},), store)",
        header,
        "sheaf_store_close",
        "1 argument type(s), the header declares 2",
    )
    one_problem(
        "ccall((:sheaf_store_free, libsheaf), Cvoid, (Ptr{Cvoid},), store, extra)",
        header,
        "2 argument value(s) for 1 type(s)",
    )


def test_wrong_scalar_type(header: Any) -> None:
    one_problem(
        "ccall((:sheaf_kv_put, libsheaf), Int32,"
        " (Ptr{Cvoid}, Ptr{UInt8}, Int32, Ptr{UInt8}, Csize_t, UInt32, Ref{Ptr{Cvoid}}),"
        " kv, k, 1, v, 1, 0, err)",
        header,
        "argument 3 (key_len)",
        "does not match C size_t",
    )
    one_problem(
        "ccall((:sheaf_config_set_int, libsheaf), Int32,"
        " (Ptr{UInt8}, Csize_t, Float64, Ptr{Cvoid}), k, 3, 1.0, C_NULL)",
        header,
        "argument 3 (value)",
        "int64_t",
    )


def test_wrong_return_type(header: Any) -> None:
    one_problem("ccall((:sheaf_version, libsheaf), Int32, ())", header, "return type")
    one_problem("ccall((:sheaf_abi_version, libsheaf), Int64, ())", header, "return type")
    one_problem(
        "ccall((:sheaf_version, libsheaf), Ref{UInt8}, ())",
        header,
        "Ref cannot be a ccall return type",
    )
    one_problem(
        "ccall((:sheaf_error_free, libsheaf), Int32, (Ptr{Cvoid},), e)",
        header,
        "return type",
        "void",
    )


def test_pointer_and_scalar_confused(header: Any) -> None:
    one_problem(
        "ccall((:sheaf_store_free, libsheaf), Cvoid, (UInt64,), store)",
        header,
        "argument 1 (store)",
        "expects Ptr",
    )
    one_problem(
        "ccall((:sheaf_status_name, libsheaf), Cstring, (Ptr{Int32},), s)",
        header,
        "argument 1 (status)",
    )


def test_wrong_pointee(header: Any) -> None:
    one_problem(
        "ccall((:sheaf_kv_length, libsheaf), Int32,"
        " (Ptr{Cvoid}, Ptr{UInt8}, Csize_t, Ref{UInt32}, Ref{Ptr{Cvoid}}), kv, k, 1, n, err)",
        header,
        "argument 4 (out)",
        "uint64_t",
    )
    # A handle of another kind.
    one_problem(
        "ccall((:sheaf_store_free, libsheaf), Cvoid, (Ptr{SheafLibrary},), store)",
        header,
        "argument 1 (store)",
        "SheafStore",
    )
    # One level of indirection missing: `SheafError **` as Ref{SheafError}.
    one_problem(
        "ccall((:sheaf_store_close, libsheaf), Int32, (Ptr{Cvoid}, Ref{SheafError}), s, err)",
        header,
        "argument 2 (err)",
    )


def test_cstring_only_for_char_pointers(header: Any) -> None:
    one_problem(
        "ccall((:sheaf_kv_put, libsheaf), Int32,"
        " (Ptr{Cvoid}, Cstring, Csize_t, Ptr{UInt8}, Csize_t, UInt32, Ref{Ptr{Cvoid}}),"
        " kv, k, 1, v, 1, 0, err)",
        header,
        "argument 2 (key)",
        "only char *",
    )


def test_function_pointer_needs_ptr_cvoid(header: Any) -> None:
    one_problem(
        "ccall((:sheaf_log_set_callback, libsheaf), Int32, (Int64, Ptr{Cvoid}, Ptr{Cvoid}),"
        " cb, C_NULL, C_NULL)",
        header,
        "argument 1 (callback)",
        "function pointer",
    )


def test_aliases_are_followed(header: Any) -> None:
    source = (
        "const Status = UInt32\n"
        "ccall((:sheaf_library_close, lib), Status, (Ptr{Cvoid}, Ptr{Cvoid}), l, e)"
    )
    one_problem(source, header, "return type", "int32_t")


def test_constants_are_checked(header: Any) -> None:
    one_problem("const SHEAF_ERR_NO_SUCH_SYMBOL = Int32(303)", header, "303", "the header has 302")
    one_problem("const SHEAF_ERR_MADE_UP = 1", header, "not defined in include/sheaf.h")
    assert problems("const SHEAF_SIZE_NOT_FOUND = typemax(UInt64)", header) == []
    assert problems("const SHEAF_MODE_NEW_ONLY = 0x10", header) == []


def test_struct_layouts_are_checked(header: Any) -> None:
    one_problem(
        "struct SheafBytes\n    data::Ptr{UInt8}\n    len::Int32\nend\n",
        header,
        "struct SheafBytes",
        "field len",
    )
    one_problem(
        "struct SheafBytes\n    data::Ptr{UInt8}\nend\n",
        header,
        "1 field(s), the header's struct has 2",
    )
    one_problem(
        "struct ArrowArrayStream\n    get_schema::Ptr{Cvoid}\n    get_next::Ptr{Cvoid}\n"
        "    get_last_error::Ptr{Cvoid}\n    release::Int64\n    private_data::Ptr{Cvoid}\nend\n",
        header,
        "field release",
        "function pointer",
    )
    # An opaque one-liner is no layout, and does not swallow the struct after it.
    source = (
        "mutable struct SheafStore end\n"
        "struct SheafBytes\n    data::Ptr{UInt8}\n    len::Csize_t\nend\n"
    )
    assert problems(source, header) == []


def test_comments_strings_and_function_pointers_are_not_ccalls(header: Any) -> None:
    source = """
# ccall((:sheaf_nope, libsheaf), Cvoid, ())
#= ccall((:sheaf_nope, libsheaf), Cvoid, ()) =#
s = "ccall((:sheaf_nope, libsheaf), Cvoid, ())"
c = 'c'
ccall(stream[].get_next, Cint, (Ref{ArrowArrayStream}, Ref{ArrowArray}), stream, array)
ccall((:strlen, "libc"), Csize_t, (Cstring,), s)
"""
    report = checker.check_julia_source(source, "t.jl", header)
    assert report.problems == []
    assert report.skipped == 2


def test_at_ccall_is_reported(header: Any) -> None:
    one_problem("@ccall libsheaf.sheaf_version()::Cstring", header, "@ccall is not checked")
