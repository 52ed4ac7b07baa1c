#!/usr/bin/env python3
"""Checks the Julia bindings in examples/julia/*.jl against include/sheaf.h.

Julia cannot be installed on every test machine, so the examples are checked statically. For
every ``ccall((:sheaf_name, lib), RetType, (ArgType, …), args…)``:

- the function is declared in the header (and exported by ``libsheaf.so`` when a library is
  given: ``nm -D --defined-only``);
- the tuple of argument types has as many entries as the C declaration has parameters, and as
  many argument values follow;
- every Julia type is compatible with its C type, the return type too (:func:`compatible`):
  ``int32_t`` / ``SheafStatus`` ↔ ``Int32`` / ``Cint``; ``uint32_t`` ↔ ``UInt32`` / ``Cuint``;
  ``size_t`` ↔ ``Csize_t`` / ``UInt64`` / ``UInt``; ``int64_t`` ↔ ``Int64``; ``uint64_t`` ↔
  ``UInt64``; ``double`` ↔ ``Cdouble`` / ``Float64``; ``bool`` ↔ ``Bool`` / ``UInt8``; ``void``
  ↔ ``Cvoid``; ``char *`` ↔ ``Cstring`` / ``Ptr{UInt8}`` / ``Ptr{Cchar}``; other pointers ↔
  ``Ptr{T}`` / ``Ref{T}`` with ``T`` matching the pointee (``Ptr{Cvoid}`` matches any pointer,
  an opaque handle matches a Julia type of the same name), ``Ref`` never as a return type;
  function pointers ↔ ``Ptr{Cvoid}``.

``ccall``s of other libraries (a name not starting with ``sheaf_`` and a library expression
without "sheaf") and through function pointers (``ccall(fptr, …)``, e.g. an Arrow stream's
callbacks) are skipped; ``@ccall`` is reported, being a form this checker does not read. Also
checked: each ``const SHEAF_… = value`` / ``const ARROW_… = value`` against the header's
``#define`` (``Int32(302)``, ``302``, ``0xff…`` are understood), and each Julia ``struct`` named
like a header struct (``SheafBytes``, ``ArrowSchema``, …) field by field against it. Julia type
aliases (``const SheafStatus = Int32``) are followed.

Used by build.py (``run_all(repo, lib_dir)``) and as a script::

    python3 tests/julia/check_julia_ccalls.py \
        [--lib-dir target/x86_64-unknown-linux-gnu/release] [files.jl …]

Prints one line per problem and ends with ``Julia ccall check: N ccalls in F file(s), P
problem(s)`` and ``N passed, M failed in T s (Julia ccall check)`` (pytest's summary form,
which build.py's ``Totals.add`` counts; one test per checked ccall, constant and struct).
Raises ``SystemExit`` on a problem (exit status 1 as a script). Python 3.8+, standard library
only.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Set, Tuple

# ---- C side --------------------------------------------------------------------------------


class CType(NamedTuple):
    """A C type: its base (``int32_t``, ``char``, a struct name, …; qualifiers and ``struct``
    dropped, typedefs resolved), how many ``*``, and whether it is a function pointer."""

    base: str
    pointers: int
    funcptr: bool = False

    def pointee(self) -> CType:
        return CType(self.base, self.pointers - 1, self.funcptr)

    def __str__(self) -> str:
        if self.funcptr:
            return "function pointer"
        return self.base + " " + "*" * self.pointers if self.pointers else self.base


class CFunction(NamedTuple):
    name: str
    ret: CType
    params: List[Tuple[str, CType]]  # (name, type)
    test_only: bool  # inside #if defined(SHEAF_TEST_BUILD)


class Header(NamedTuple):
    functions: Dict[str, CFunction]
    structs: Dict[str, List[Tuple[str, CType]]]  # struct name -> fields
    opaque: Set[str]  # structs declared without a body (handles)
    constants: Dict[str, int]


# C scalar types and the Julia types (canonical names, after alias resolution) that match.
C_SCALARS: Dict[str, Tuple[str, ...]] = {
    "int8_t": ("Int8",),
    "uint8_t": ("UInt8",),
    "int16_t": ("Int16",),
    "uint16_t": ("UInt16",),
    "int32_t": ("Int32",),
    "uint32_t": ("UInt32",),
    "int64_t": ("Int64",),
    "uint64_t": ("UInt64",),
    "size_t": ("UInt64",),  # Csize_t, UInt64 and UInt are all UInt64 on a 64-bit machine
    "ssize_t": ("Int64",),
    "intptr_t": ("Int64",),
    "uintptr_t": ("UInt64",),
    "int": ("Int32",),
    "unsigned int": ("UInt32",),
    "unsigned": ("UInt32",),
    "char": ("Int8", "UInt8"),
    "float": ("Float32",),
    "double": ("Float64",),
    "bool": ("Bool", "UInt8"),
    "void": ("Nothing",),
}

# How the expected Julia types are named in messages (the first is the usual spelling).
SCALAR_HINTS: Dict[str, Tuple[str, ...]] = {
    "int32_t": ("Int32", "Cint"),
    "uint32_t": ("UInt32", "Cuint"),
    "size_t": ("Csize_t", "UInt64", "UInt"),
    "int64_t": ("Int64", "Clonglong"),
    "uint64_t": ("UInt64", "Culonglong"),
    "double": ("Cdouble", "Float64"),
    "bool": ("Bool", "UInt8"),
    "void": ("Cvoid",),
    "int": ("Cint", "Int32"),
}

# Julia's C type aliases (and Int / UInt), as on 64-bit Linux.
JULIA_ALIASES: Dict[str, str] = {
    "Cchar": "Int8",
    "Cuchar": "UInt8",
    "Cshort": "Int16",
    "Cushort": "UInt16",
    "Cint": "Int32",
    "Cuint": "UInt32",
    "Clong": "Int64",
    "Culong": "UInt64",
    "Clonglong": "Int64",
    "Culonglong": "UInt64",
    "Csize_t": "UInt64",
    "Cssize_t": "Int64",
    "Cptrdiff_t": "Int64",
    "Cintmax_t": "Int64",
    "Cuintmax_t": "UInt64",
    "Cwchar_t": "Int32",
    "Cfloat": "Float32",
    "Cdouble": "Float64",
    "Cvoid": "Nothing",
    "Int": "Int64",
    "UInt": "UInt64",
    "Core.Int32": "Int32",
    "Base.Cvoid": "Nothing",
}
JULIA_PRIMITIVES = {
    "Int8",
    "UInt8",
    "Int16",
    "UInt16",
    "Int32",
    "UInt32",
    "Int64",
    "UInt64",
    "Float32",
    "Float64",
    "Bool",
    "Nothing",
    "Cstring",
    "Any",
}

_C_INT = re.compile(r"^(0[xX][0-9A-Fa-f]+|\d+)[uUlL]*$")


def strip_c_comments(text: str) -> str:
    """``text`` without C/C++ comments (newlines kept, string literals intact)."""
    out: List[str] = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n - 2 if end < 0 else end
            out.append(" " + "\n" * text.count("\n", i, end))
            i = end + 2
        elif text[i] in "\"'":
            quote, j = text[i], i + 1
            while j < n and text[j] != quote:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _split_top(text: str, sep: str = ",") -> List[str]:
    """``text`` split at ``sep`` outside (), [] and {}."""
    parts: List[str] = []
    depth = 0
    start = 0
    for i, c in enumerate(text):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _parse_c_decl(text: str, typedefs: Dict[str, CType]) -> Tuple[str, CType]:
    """(name, type) of a parameter or field declaration such as ``const struct X **out`` or
    ``void (*release)(struct ArrowSchema*)``; the name may be empty."""
    text = " ".join(text.split())
    m = re.match(r"^(.*?)\(\s*\*\s*(\w*)\s*\)\s*\(.*\)$", text)
    if m:
        return m.group(2), CType("", 1, funcptr=True)
    pointers = text.count("*")
    words = [w for w in re.split(r"[\s*]+", text) if w and w not in ("const", "volatile")]
    words = [w for w in words if w not in ("struct", "enum", "union")]
    name = ""
    # The last word is the declared name unless the declaration is a bare type.
    if len(words) >= 2 and not (words[-2] == "unsigned" and words[-1] in ("int", "char")):
        name = words.pop()
    base = " ".join(words)
    return name, resolve_c(CType(base, pointers), typedefs)


def resolve_c(ctype: CType, typedefs: Dict[str, CType]) -> CType:
    """``ctype`` with typedefs of its base resolved (their pointers added)."""
    seen: Set[str] = set()
    while not ctype.funcptr and ctype.base in typedefs and ctype.base not in seen:
        seen.add(ctype.base)
        target = typedefs[ctype.base]
        if target.funcptr:
            return CType("", ctype.pointers + 1, funcptr=True)
        ctype = CType(target.base, ctype.pointers + target.pointers)
    return ctype


def _preprocess(header: str) -> List[Tuple[str, bool]]:
    """The header's lines outside ``#ifdef __cplusplus`` blocks, directives removed, each with
    whether it sits in a ``SHEAF_TEST_BUILD`` block."""
    lines: List[Tuple[str, bool]] = []
    # Per open #if: (C++ only: skipped, a SHEAF_TEST_BUILD block, its condition is on C++).
    stack: List[Tuple[bool, bool, bool]] = []
    for line in strip_c_comments(header).splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            directive = stripped[1:].strip()
            if re.match(r"if(n?def)?\b", directive):
                cpp = "__cplusplus" in directive
                negated = directive.startswith("ifndef") or "!" in directive
                test = "SHEAF_TEST_BUILD" in directive
                stack.append((cpp and not negated, test, cpp))
            elif directive.startswith("endif") and stack:
                stack.pop()
            elif directive.startswith(("else", "elif")) and stack:
                skipped, test, cpp = stack.pop()
                stack.append((cpp and not skipped, test, cpp))
            continue
        if any(skipped for skipped, _, _ in stack):
            continue
        lines.append((line, any(test for _, test, _ in stack)))
    return lines


def parse_header(header: str) -> Header:
    """The functions, structs, opaque types and integer constants of sheaf.h."""
    constants: Dict[str, int] = {}
    defines = strip_c_comments(header)
    for name, value in re.findall(r"^\s*#\s*define\s+(\w+)\s+(\S+)\s*$", defines, re.M):
        m = _C_INT.match(value)
        if m:
            constants[name] = int(m.group(1), 0)

    # Statements at brace depth 0, each with whether it is test-build only.
    statements: List[Tuple[str, bool]] = []
    current: List[str] = []
    current_test = False
    depth = 0
    for line, test in _preprocess(header):
        for c in line + "\n":
            if not current and c.isspace():
                continue
            if not current:
                current_test = test
            current.append(c)
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            elif c == ";" and depth == 0:
                statements.append(("".join(current[:-1]).strip(), current_test))
                current = []

    typedefs: Dict[str, CType] = {}
    structs: Dict[str, List[Tuple[str, CType]]] = {}
    bodies: Dict[str, str] = {}
    opaque: Set[str] = set()
    functions: Dict[str, CFunction] = {}
    for raw, _ in statements:
        text = " ".join(raw.split())
        m = re.match(r"^(?:typedef\s+)?struct\s+(\w+)\s*\{(.*)\}\s*(\w*)$", text)
        if m:
            bodies[m.group(1)] = m.group(2)
            if m.group(3) and m.group(3) != m.group(1):
                typedefs[m.group(3)] = CType(m.group(1), 0)
            continue
        m = re.match(r"^typedef\s+struct\s+(\w+)\s+(\w+)$", text)
        if m:
            opaque.add(m.group(1))
            if m.group(2) != m.group(1):
                typedefs[m.group(2)] = CType(m.group(1), 0)
            continue
        if text.startswith("typedef "):
            name, ctype = _parse_c_decl(text[len("typedef ") :], typedefs)
            if name:
                typedefs[name] = ctype
    for name, body in bodies.items():
        structs[name] = [
            _parse_c_decl(member, typedefs) for member in body.split(";") if member.strip()
        ]
        opaque.discard(name)
    for raw, test in statements:
        text = " ".join(raw.split())
        m = re.match(r"^(?P<ret>[\w\s\*]+?)\s*\b(?P<name>sheaf_\w+)\s*\((?P<params>.*)\)$", text)
        if not m or text.startswith("typedef"):
            continue
        _, ret = _parse_c_decl(m.group("ret") + " x", typedefs)
        params: List[Tuple[str, CType]] = []
        if m.group("params").strip() not in ("", "void"):
            params = [_parse_c_decl(p, typedefs) for p in _split_top(m.group("params"))]
        functions[m.group("name")] = CFunction(m.group("name"), ret, params, test)
    return Header(functions, structs, opaque, constants)


# ---- Julia side ------------------------------------------------------------------------------


class JType(NamedTuple):
    """A Julia type expression: ``Ptr{Ptr{Cvoid}}`` is JType("Ptr", (JType("Ptr", …),))."""

    name: str
    params: Tuple[JType, ...] = ()

    def __str__(self) -> str:
        if not self.params:
            return self.name
        return self.name + "{" + ", ".join(str(p) for p in self.params) + "}"


class Ccall(NamedTuple):
    path: str
    line: int
    name: str  # "" for a ccall through a function pointer
    library: str
    ret: str
    arg_types: Optional[List[str]]  # None: not a literal tuple
    n_values: int


class JuliaSource(NamedTuple):
    ccalls: List[Ccall]
    skipped: List[Ccall]  # other libraries, function pointers
    macro_calls: List[int]  # lines of @ccall
    aliases: Dict[str, JType]  # const Name = Type
    structs: Dict[str, List[Tuple[str, str]]]  # struct name -> [(field, type text)]
    constants: List[Tuple[int, str, str]]  # (line, name, value text) of const SHEAF_/ARROW_


def parse_jtype(text: str) -> Optional[JType]:
    """The type expression ``text`` (``Name``, ``Mod.Name``, ``Name{A, B}``), or None when it
    is something else (a call, a literal, …)."""
    tokens = re.findall(r"[A-Za-z_][\w.!]*|[{},]|\S", text.strip())
    pos = 0

    def parse() -> Optional[JType]:
        nonlocal pos
        if pos >= len(tokens) or not re.match(r"[A-Za-z_]", tokens[pos]):
            return None
        name = tokens[pos]
        pos += 1
        params: List[JType] = []
        if pos < len(tokens) and tokens[pos] == "{":
            pos += 1
            while True:
                inner = parse()
                if inner is None:
                    return None
                params.append(inner)
                if pos < len(tokens) and tokens[pos] == ",":
                    pos += 1
                    continue
                if pos < len(tokens) and tokens[pos] == "}":
                    pos += 1
                    break
                return None
        return JType(name, tuple(params))

    result = parse()
    return result if result is not None and pos == len(tokens) else None


def blank_julia(text: str) -> str:
    """``text`` with comments removed and string / character literal contents blanked
    (offsets and newlines kept), so that code structure can be matched by position."""
    out = list(text)
    i, n = 0, len(text)

    def blank(start: int, end: int) -> None:
        for k in range(start, min(end, n)):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if text.startswith("#=", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("#=", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("=#", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif c == "#":
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif c == '"':
            triple = text.startswith('"""', i)
            quote = '"""' if triple else '"'
            j = i + len(quote)
            while j < n and not text.startswith(quote, j):
                j += 2 if text[j] == "\\" else 1
            blank(i + len(quote), j)
            i = j + len(quote)
        elif c == "'":
            prev = text[i - 1] if i else " "
            if prev.isalnum() or prev in "_)]}'.":
                i += 1  # the adjoint operator
                continue
            j = i + 1
            while j < n and text[j] != "'" and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            blank(i + 1, j)
            i = j + 1
        else:
            i += 1
    return "".join(out)


def _matching(text: str, open_at: int) -> int:
    """The index of the bracket closing the one at ``open_at`` (-1 if none)."""
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] in "([{":
            depth += 1
        elif text[i] in ")]}":
            depth -= 1
            if depth == 0:
                return i
    return -1


def scan_julia(text: str, path: str = "<julia>") -> JuliaSource:
    """The ccalls, type aliases, structs and SHEAF_/ARROW_ constants of Julia source."""
    code = blank_julia(text)

    def line_of(pos: int) -> int:
        return code.count("\n", 0, pos) + 1

    ccalls: List[Ccall] = []
    skipped: List[Ccall] = []
    for m in re.finditer(r"(?<![\w.@])ccall\s*\(", code):
        open_at = m.end() - 1
        close_at = _matching(code, open_at)
        # Argument texts from the original (string values matter for nothing checked here).
        args = [a.strip() for a in _split_top(code[open_at + 1 : close_at])] if close_at > 0 else []
        while args and not args[-1]:
            args.pop()  # a trailing comma
        if len(args) < 3:
            ccalls.append(Ccall(path, line_of(m.start()), "?", "", "", None, 0))
            continue
        target = re.match(r"^\(\s*:(\w+)\s*,\s*(.+?)\s*\)$", args[0], re.S)
        types_text = args[2]
        arg_types: Optional[List[str]] = None
        if types_text.startswith("(") and _matching(types_text, 0) == len(types_text) - 1:
            inner = types_text[1:-1]
            arg_types = [t.strip() for t in _split_top(inner)]
            if arg_types and not arg_types[-1]:
                arg_types.pop()  # (T,) — a one-element tuple
            if arg_types == [""]:
                arg_types = []
        elif re.match(r"^[A-Za-z_][\w.]*$", types_text):
            arg_types = None  # a variable: not checkable
        call = Ccall(
            path,
            line_of(m.start()),
            target.group(1) if target else "",
            target.group(2) if target else args[0],
            args[1],
            arg_types,
            len(args) - 3,
        )
        if target and (call.name.startswith("sheaf_") or "sheaf" in call.library.lower()):
            ccalls.append(call)
        else:
            skipped.append(call)

    macro_calls = [line_of(m.start()) for m in re.finditer(r"@ccall\b", code)]

    aliases: Dict[str, JType] = {}
    constants: List[Tuple[int, str, str]] = []
    for m in re.finditer(r"^[ \t]*const\s+(\w+)\s*=\s*([^\n]+)$", code, re.M):
        name, value = m.group(1), m.group(2).strip()
        if re.match(r"^(SHEAF|ARROW)_[A-Z0-9_]+$", name):
            constants.append((line_of(m.start()), name, value))
            continue
        jtype = parse_jtype(value)
        if jtype is not None and (
            canonical(jtype.name, aliases) in JULIA_PRIMITIVES or jtype.name in ("Ptr", "Ref")
        ):
            aliases[name] = jtype

    structs: Dict[str, List[Tuple[str, str]]] = {}
    lines = code.splitlines()
    for i, line in enumerate(lines):
        head = re.match(r"^\s*(?:mutable\s+)?struct\s+(\w+)(.*)$", line)
        if not head:
            continue
        fields: List[Tuple[str, str]] = []
        if not re.search(r"\bend\s*$", head.group(2)):  # not a one-line `struct X end`
            for body in lines[i + 1 :]:
                if re.match(r"^\s*end\b", body):
                    break
                field = re.match(r"^\s*(\w+)\s*::\s*(.+?)\s*$", body)
                if field:
                    fields.append((field.group(1), field.group(2)))
        structs[head.group(1)] = fields
    return JuliaSource(ccalls, skipped, macro_calls, aliases, structs, constants)


def canonical(name: str, aliases: Dict[str, JType]) -> str:
    """A Julia type name with C aliases (``Cint``) and the file's simple aliases followed."""
    seen: Set[str] = set()
    while name not in seen:
        seen.add(name)
        if name in JULIA_ALIASES:
            name = JULIA_ALIASES[name]
        elif name in aliases and not aliases[name].params:
            name = aliases[name].name
        else:
            break
    return name


def _expand(jtype: JType, aliases: Dict[str, JType]) -> JType:
    seen: Set[str] = set()
    while not jtype.params and jtype.name in aliases and jtype.name not in seen:
        seen.add(jtype.name)
        jtype = aliases[jtype.name]
    return JType(canonical(jtype.name, aliases), tuple(_expand(p, aliases) for p in jtype.params))


# ---- compatibility -------------------------------------------------------------------------


def compatible(
    jtype: JType, ctype: CType, header: Header, where: str = "argument"
) -> Optional[str]:
    """Why Julia type ``jtype`` (aliases expanded) cannot stand for C type ``ctype`` as a ccall
    ``where`` ("argument", "return" or "field"); None when it can."""
    name = jtype.name
    if name in ("Ptr", "Ref") and len(jtype.params) != 1:
        return f"{jtype} needs one type parameter"
    if ctype.pointers == 0 and not ctype.funcptr:
        allowed = C_SCALARS.get(ctype.base)
        if allowed is None:  # a struct by value
            if name == ctype.base:
                return None
            return f"{jtype} does not match struct {ctype.base} (by value)"
        if name in allowed:
            return None
        want = " or ".join(SCALAR_HINTS.get(ctype.base, allowed))
        return f"{jtype} does not match C {ctype.base} (expects {want})"
    # A pointer.
    if name == "Ref":
        if where == "return":
            return f"{jtype}: Ref cannot be a ccall return type (use Ptr)"
        if where == "field":
            return f"{jtype}: Ref is no C field type (use Ptr)"
    if ctype.funcptr and ctype.pointers == 1:
        if name == "Ptr" and jtype.params[0].name == "Nothing":
            return None
        return f"{jtype} does not match a function pointer (expects Ptr{{Cvoid}})"
    if name == "Cstring":
        if ctype.pointers == 1 and ctype.base == "char":
            return None
        return f"Cstring does not match C {ctype} (only char *)"
    if name not in ("Ptr", "Ref"):
        return f"{jtype} does not match C pointer {ctype} (expects Ptr{{…}} or Ref{{…}})"
    return _pointee_compatible(jtype.params[0], ctype.pointee(), header, jtype, ctype)


def _pointee_compatible(
    inner: JType, pointee: CType, header: Header, outer: JType, ctype: CType
) -> Optional[str]:
    mismatch = f"{outer} does not match C {ctype}"
    if inner.name == "Nothing":
        return None  # Ptr{Cvoid}: any pointer
    if pointee.funcptr and pointee.pointers == 1:
        return None if inner.name == "Nothing" else mismatch + " (function pointer: Cvoid)"
    if pointee.pointers > 0:
        if inner.name == "Cstring" and pointee.pointers == 1 and pointee.base == "char":
            return None
        if inner.name != "Ptr" or len(inner.params) != 1:
            return mismatch
        return _pointee_compatible(inner.params[0], pointee.pointee(), header, outer, ctype)
    if pointee.base == "void":
        return None  # void *: a pointer to anything
    allowed = C_SCALARS.get(pointee.base)
    if allowed is not None:
        if pointee.base == "uint8_t":
            allowed = ("UInt8", "Int8")
        return None if inner.name in allowed else mismatch
    # A struct: the Julia type of the same name (an opaque handle's too).
    if inner.name == pointee.base:
        return None
    return mismatch + f" (expects {pointee.base} or Cvoid as the pointee)"


# ---- checking ------------------------------------------------------------------------------


class Report(NamedTuple):
    problems: List[str]
    checked: int  # ccalls, constants and structs checked
    failed: int  # how many of them had a problem
    skipped: int  # ccalls not checked (other libraries, function pointers)


def _parse_value(text: str) -> Optional[int]:
    text = text.strip()
    m = re.match(r"^(?:(?:U?Int(?:8|16|32|64)|Cu?int|Csize_t)\s*\((.+)\))$", text)
    if m:
        text = m.group(1).strip()
    if re.match(r"^typemax\(\s*(UInt64|Culonglong|Csize_t)\s*\)$", text):
        return 2**64 - 1
    if re.match(r"^-?(0x[0-9a-fA-F_]+|0b[01_]+|0o[0-7_]+|\d[\d_]*)$", text):
        return int(text.replace("_", ""), 0)
    return None


def check_julia_source(
    text: str, path: str, header: Header, exported: Optional[Set[str]] = None
) -> Report:
    """Every problem of one Julia source against the header (and the library's exports)."""
    src = scan_julia(text, path)
    problems: List[str] = []
    failed = 0
    for call in src.ccalls:
        where = f"{path}:{call.line}: ccall {call.name or '?'}"
        mine: List[str] = []
        function = header.functions.get(call.name)
        if call.name == "?":
            mine.append("cannot read this ccall (fewer than 3 arguments)")
        elif function is None:
            mine.append("not declared in include/sheaf.h")
        elif exported is not None and call.name not in exported and not function.test_only:
            mine.append("declared in the header but not exported by libsheaf.so")
        if function is not None:
            if call.arg_types is None:
                mine.append("the argument types are not a literal tuple")
            else:
                n_c = len(function.params)
                if len(call.arg_types) != n_c:
                    mine.append(
                        f"{len(call.arg_types)} argument type(s), the header declares {n_c}"
                    )
                if call.n_values != len(call.arg_types):
                    mine.append(
                        f"{call.n_values} argument value(s) for {len(call.arg_types)} type(s)"
                    )
                for i, (type_text, (pname, ctype)) in enumerate(
                    zip(call.arg_types, function.params), 1
                ):
                    jtype = parse_jtype(type_text)
                    if jtype is None:
                        mine.append(f"argument {i} ({pname}): cannot read type {type_text!r}")
                        continue
                    why = compatible(_expand(jtype, src.aliases), ctype, header)
                    if why:
                        mine.append(f"argument {i} ({pname}): {why}")
            ret = parse_jtype(call.ret)
            if ret is None:
                mine.append(f"cannot read return type {call.ret!r}")
            else:
                why = compatible(_expand(ret, src.aliases), function.ret, header, "return")
                if why:
                    mine.append(f"return type: {why}")
        problems += [f"{where}: {p}" for p in mine]
        failed += bool(mine)
    for line in src.macro_calls:
        problems.append(f"{path}:{line}: @ccall is not checked; write ccall((:name, lib), …)")
        failed += 1

    checked_constants = 0
    for line, name, value_text in src.constants:
        checked_constants += 1
        value = _parse_value(value_text)
        if name not in header.constants:
            problems.append(f"{path}:{line}: const {name}: not defined in include/sheaf.h")
            failed += 1
        elif value is None:
            problems.append(f"{path}:{line}: const {name}: cannot read value {value_text!r}")
            failed += 1
        elif value != header.constants[name]:
            problems.append(
                f"{path}:{line}: const {name} = {value}, the header has {header.constants[name]}"
            )
            failed += 1

    checked_structs = 0
    for struct, fields in src.structs.items():
        if struct not in header.structs:
            continue
        checked_structs += 1
        c_fields = header.structs[struct]
        mine = []
        if len(fields) != len(c_fields):
            mine.append(f"{len(fields)} field(s), the header's struct has {len(c_fields)}")
        for (jname, jtext), (cname, ctype) in zip(fields, c_fields):
            jtype = parse_jtype(jtext)
            if jtype is None:
                mine.append(f"field {jname}: cannot read type {jtext!r}")
                continue
            why = compatible(_expand(jtype, src.aliases), ctype, header, "field")
            if why:
                mine.append(f"field {jname} (C {cname}): {why}")
        problems += [f"{path}: struct {struct}: {p}" for p in mine]
        failed += bool(mine)
    return Report(
        problems,
        len(src.ccalls) + len(src.macro_calls) + checked_constants + checked_structs,
        failed,
        len(src.skipped),
    )


def exported_functions(library: Path) -> Set[str]:
    """The sheaf_* functions ``library`` exports (``nm -D --defined-only``)."""
    proc = subprocess.run(
        ["nm", "-D", "--defined-only", str(library)],
        check=False,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    if proc.returncode != 0:
        raise SystemExit(f"nm failed on {library}:\n" + proc.stdout.decode(errors="replace"))
    names: Set[str] = set()
    for line in proc.stdout.decode(errors="replace").splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] in ("T", "t", "W", "i") and parts[2].startswith("sheaf_"):
            names.add(parts[2].split("@")[0])
    return names


def check_files(
    files: Iterable[Path], header_path: Path, library: Optional[Path] = None
) -> Tuple[Report, int]:
    """All problems of ``files`` (and how many files were read)."""
    header = parse_header(header_path.read_text(encoding="utf-8"))
    exported = exported_functions(library) if library is not None else None
    problems: List[str] = []
    checked = failed = skipped = n_files = 0
    for path in files:
        n_files += 1
        report = check_julia_source(path.read_text(encoding="utf-8"), str(path), header, exported)
        problems += report.problems
        checked += report.checked
        failed += report.failed
        skipped += report.skipped
    return Report(problems, checked, failed, skipped), n_files


def run_all(
    root: Path, lib_dir: Optional[Path] = None, files: Optional[Sequence[Path]] = None
) -> None:
    """Checks ``files`` (default: examples/julia/*.jl) against include/sheaf.h and, when
    ``lib_dir`` holds libsheaf.so, its exports; raises SystemExit on any problem."""
    started = time.monotonic()
    root = Path(root).resolve()
    paths = list(files) if files else sorted((root / "examples" / "julia").glob("*.jl"))
    library = None
    if lib_dir is not None and (Path(lib_dir) / "libsheaf.so").is_file():
        library = Path(lib_dir).resolve() / "libsheaf.so"
    if not paths:
        raise SystemExit("no Julia files to check (examples/julia/*.jl)")
    report, n_files = check_files(paths, root / "include" / "sheaf.h", library)
    for problem in report.problems:
        print(f"  {problem}")
    n_ccalls = report.checked
    seconds = time.monotonic() - started
    against = "include/sheaf.h" + (f" and {library.name} exports" if library else "")
    print(
        f"Julia ccall check: {n_ccalls} ccalls/constants/structs in {n_files} file(s) against "
        f"{against}, {len(report.problems)} problem(s), {report.skipped} ccall(s) skipped "
        "(function pointers, other libraries)",
        flush=True,
    )
    passed = report.checked - report.failed
    print(f"{passed} passed, {report.failed} failed in {seconds:.2f}s (Julia ccall check)")
    if report.problems:
        raise SystemExit(f"the Julia ccalls do not match include/sheaf.h: {len(report.problems)}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    repo = Path(__file__).resolve().parents[2]
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--lib-dir",
        type=Path,
        default=None,
        help="directory holding libsheaf.so: also check that each function is exported",
    )
    parser.add_argument("files", nargs="*", type=Path, help="Julia files (default: examples)")
    args = parser.parse_args(argv)
    try:
        run_all(repo, args.lib_dir, args.files or None)
    except SystemExit as e:
        if e.code not in (None, 0):
            print(f"error: {e.code}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
