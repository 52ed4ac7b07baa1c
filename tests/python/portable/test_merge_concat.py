"""merge_experimental, lazy batch reads and symbol concatenation through Python with numpy
only (ArcticDB's V2 calls of the same names). Each is one library call: the engine matches,
merges and concatenates."""

from __future__ import annotations

import numpy as np
import pytest

import sheaf
from sheaf import (
    LazyDataFrameAfterJoin,
    LazyDataFrameCollection,
    MergeAction,
    MergeStrategy,
    QueryBuilder,
    ReadRequest,
    VersionedItemWithJoin,
)

DAY = np.timedelta64(1, "D")
T0 = np.datetime64("2024-01-01T00:00:00", "ns")


def frame(days, v, k=None):
    out = {"ts": T0 + np.asarray(days) * DAY, "v": np.asarray(v, dtype=np.int64)}
    if k is not None:
        out["k"] = np.asarray(k, dtype=object)
    return out


def rows(item, *cols):
    data = item.data
    days = ((np.asarray(data["ts"]) - T0) // DAY).tolist()
    return list(zip(days, *(list(data[c]) for c in cols)))


@pytest.fixture
def mlib(store):
    lib = store.create_library("m", rows_per_segment=3)
    lib.write("s", frame(range(8), range(8), list("aabbaabb")), index="ts", metadata={"m": 0})
    return lib


# -- merge_experimental -----------------------------------------------------------------------


def test_merge_updates_matched_rows_and_inserts_the_rest_in_index_order(mlib):
    source = frame([1, 1, 5, 9], [10, 11, 50, 90], ["a", "z", "a", "q"])
    item = mlib.merge_experimental("s", source, on=["k"], metadata={"m": 1}, index="ts")
    assert item.version == 1 and item.metadata == {"m": 1}
    got = rows(mlib.read("s"), "v", "k")
    assert got == [
        (0, 0, "a"),
        (1, 10, "a"),  # (1, a) matched: takes v = 10
        (1, 11, "z"),  # (1, z) is new: after the stored row of day 1
        (2, 2, "b"),
        (3, 3, "b"),
        (4, 4, "a"),
        (5, 50, "a"),
        (6, 6, "b"),
        (7, 7, "b"),
        (9, 90, "q"),
    ]
    assert rows(mlib.read("s", as_of=0), "v")[1] == (1, 1)  # the old version is untouched


def test_merge_on_the_index_alone_and_strategies(mlib):
    update_only = MergeStrategy(not_matched_by_target=MergeAction.DO_NOTHING)
    mlib.merge_experimental("s", frame([2, 20], [200, 2000], ["x", "x"]), update_only, index="ts")
    got = rows(mlib.read("s"), "v", "k")
    assert len(got) == 8 and got[2] == (2, 200, "x")
    insert_only = MergeStrategy(matched="do_nothing", not_matched_by_target="insert")
    mlib.merge_experimental("s", frame([3, 30], [300, 3000], ["y", "y"]), insert_only, index="ts")
    got = rows(mlib.read("s"), "v")
    assert got[3] == (3, 3) and got[-1] == (30, 3000) and len(got) == 9


@pytest.mark.parametrize(
    "strategy",
    [
        MergeStrategy(MergeAction.DO_NOTHING, MergeAction.DO_NOTHING),
        MergeStrategy(MergeAction.INSERT, MergeAction.INSERT),
        MergeStrategy(MergeAction.UPDATE, MergeAction.UPDATE),
    ],
)
def test_merge_refuses_strategies_that_cannot_apply(mlib, strategy):
    with pytest.raises(sheaf.InvalidArgumentError):
        mlib.merge_experimental("s", frame([1], [1], ["a"]), strategy, index="ts")
    assert len(mlib.list_versions("s")) == 1


def test_merge_refusals_leave_no_version(mlib):
    with pytest.raises(sheaf.UnsortedIndexError):
        mlib.merge_experimental("s", frame([3, 1], [1, 2], ["a", "a"]), index="ts")
    with pytest.raises(sheaf.InvalidArgumentError, match="match only one"):
        mlib.merge_experimental("s", frame([1, 1], [1, 2], ["a", "a"]), index="ts")
    with pytest.raises(sheaf.SchemaError):
        mlib.merge_experimental("s", frame([1], [1]), index="ts")  # no column k
    with pytest.raises(sheaf.SchemaError):
        mlib.merge_experimental("s", frame([1], [1], ["a"]), on=["nope"], index="ts")
    with pytest.raises(sheaf.NoSuchSymbolError):
        mlib.merge_experimental("missing", frame([1], [1], ["a"]), index="ts")
    with pytest.raises(TypeError):
        mlib.merge_experimental("s", frame([1], [1], ["a"]), strategy="update", index="ts")
    with pytest.raises(TypeError):
        mlib.merge_experimental("s", frame([1], [1], ["a"]), on="k", index="ts")
    mlib.write("plain", {"v": np.arange(3)})
    with pytest.raises(sheaf.SchemaError, match="index"):
        mlib.merge_experimental("plain", {"v": np.arange(3)})
    assert len(mlib.list_versions("s")) == 1


# -- update(upsert=True) without an index ------------------------------------------------------


def test_upsert_without_an_index_writes_the_data_unindexed(lib):
    item = lib.update("fresh", {"v": np.arange(3)}, upsert=True)
    assert item.version == 0 and lib.get_description("fresh").index is None
    assert list(lib.read("fresh").data["v"]) == [0, 1, 2]
    with pytest.raises(sheaf.SchemaError, match="index"):
        lib.update("fresh", {"v": np.arange(2)})
    # Empty data makes a new version with the same rows, as on an indexed symbol.
    item = lib.update("fresh", {"v": np.arange(0)}, metadata={"k": 1})
    assert item.version == 1 and lib.read("fresh").metadata == {"k": 1}
    assert list(lib.read("fresh").data["v"]) == [0, 1, 2]
    with pytest.raises(sheaf.SchemaError):
        lib.update("fresh", {"v": np.arange(0)}, date_range=(0, 1))


# -- lazy batches and concat ------------------------------------------------------------------


@pytest.fixture
def clib(store):
    lib = store.create_library("c", rows_per_segment=2)
    lib.write("a", frame(range(4), [0, 1, 2, 3]), index="ts", metadata={"n": "a"})
    b = frame(range(10, 13), [10, 11, 12])
    b["w"] = np.array([1.5, 2.5, 3.5])
    lib.write("b", b, index="ts")
    return lib


def test_read_batch_lazy_applies_collection_clauses_to_every_symbol(clib):
    lazy = clib.read_batch(["a", ReadRequest("b", row_range=(1, None))], lazy=True)
    assert isinstance(lazy, LazyDataFrameCollection) and len(lazy) == 2
    lazy = lazy[lazy["v"].isin([1, 3, 11])]
    first, second = lazy.collect()
    assert list(first.data["v"]) == [1, 3] and first.metadata == {"n": "a"}
    assert list(second.data["v"]) == [11]
    one, two = lazy.split()
    assert one.symbol == "a" and list(one.collect().data["v"]) == [1, 3]
    assert list(two.head(0).collect().data["v"]) == []
    # A shared query_builder is each item's own plan, before the collection's clauses.
    shared = QueryBuilder()
    shared = shared[shared["v"] > 1]
    lazy = clib.read_batch(["a", "b"], query_builder=shared, lazy=True)
    assert [list(i.data["v"]) for i in lazy.collect()] == [[2, 3], [10, 11, 12]]


def test_concat_outer_and_inner(clib):
    joined = sheaf.concat(clib.read_batch(["a", "b"], lazy=True))
    assert isinstance(joined, LazyDataFrameAfterJoin) and joined.join == "outer"
    out = joined.collect()
    assert isinstance(out, VersionedItemWithJoin)
    assert [v.symbol for v in out.versions] == ["a", "b"]
    assert [v.version for v in out.versions] == [0, 0] and out.metadata == [{"n": "a"}, None]
    assert all(v.data is None for v in out.versions)
    assert list(out.data["v"]) == [0, 1, 2, 3, 10, 11, 12]
    w = out.data["w"]
    assert isinstance(w, np.ma.MaskedArray) and w.mask.tolist() == [True] * 4 + [False] * 3
    assert w[4:].tolist() == [1.5, 2.5, 3.5]
    inner = sheaf.concat([clib.read("a", lazy=True), clib.read("b", lazy=True)], "inner")
    assert list(inner.collect().data) == ["ts", "v"]


def test_concat_applies_clauses_before_and_after(clib):
    lazies = clib.read_batch(["a", "b"], lazy=True)
    lazies = lazies[lazies["v"] != 2]
    joined = lazies.concat()
    joined = joined[joined["v"] < 12]
    assert list(joined.collect().data["v"]) == [0, 1, 3, 10, 11]
    summed = sheaf.concat(lazies).resample("5D").agg({"v": "sum"}).collect()
    assert list(summed.data["v"]) == [4, 33]
    # A resample needs the concatenated index ascending: the other order goes back.
    backwards = sheaf.concat([clib.read("b", lazy=True), clib.read("a", lazy=True)])
    with pytest.raises(sheaf.SheafError, match="goes back"):
        backwards.resample("5D").agg({"v": "sum"}).collect()
    # Without such a clause the rows simply follow the item order.
    assert list(backwards.collect().data["v"]) == [10, 11, 12, 0, 1, 2, 3]


def test_concat_of_row_numbered_symbols_and_refusals(clib):
    clib.write("r1", {"v": np.arange(2)})
    clib.write("r2", {"v": np.arange(5, 8)})
    out = sheaf.concat([clib.read("r1", lazy=True), clib.read("r2", lazy=True)]).collect()
    assert list(out.data["v"]) == [0, 1, 5, 6, 7]
    with pytest.raises(sheaf.SchemaError, match="index"):
        sheaf.concat([clib.read("a", lazy=True), clib.read("r1", lazy=True)]).collect()
    clib.write(
        "strings", {"ts": T0 + np.arange(1) * DAY, "v": np.array(["x"], dtype=object)}, index="ts"
    )
    with pytest.raises(sheaf.SchemaError, match="'v'"):
        sheaf.concat([clib.read("a", lazy=True), clib.read("strings", lazy=True)]).collect()
    grouped = clib.read("a", lazy=True).groupby("v").agg({"n": ("v", "count")})
    with pytest.raises(sheaf.InvalidArgumentError, match="aggregate"):
        sheaf.concat([grouped, clib.read("b", lazy=True)]).collect()
    with pytest.raises(ValueError):
        sheaf.concat([])
    with pytest.raises(ValueError):
        sheaf.concat([clib.read("a", lazy=True)], join="left")
    with pytest.raises(TypeError):
        sheaf.concat(["a"])  # type: ignore[list-item]
    with pytest.raises(sheaf.NoSuchSymbolError):
        sheaf.concat([clib.read("a", lazy=True), clib.read("missing", lazy=True)]).collect()


def test_query_builder_concat_in_a_batch_read(clib):
    q = QueryBuilder()
    q = q[q["v"] != 1].concat("inner")
    q = q[q["v"] < 11]
    assert "concat('inner')" in repr(q)
    out = clib.read_batch(["a", "b"], query_builder=q)
    assert isinstance(out, VersionedItemWithJoin)
    assert list(out.data["v"]) == [0, 2, 3, 10] and list(out.data) == ["ts", "v"]
    # An item with its own plan skips the part before the concat.
    own = ReadRequest("a", query_builder=QueryBuilder().head(1))
    out = clib.read_batch([own, "b"], query_builder=q)
    assert list(out.data["v"]) == [0, 10]
    with pytest.raises(ValueError, match="once"):
        q.concat()
    with pytest.raises(ValueError):
        QueryBuilder().concat("left")
    with pytest.raises(ValueError, match="lazy"):
        clib.read_batch(["a"], query_builder=q, lazy=True)
    with pytest.raises(sheaf.InvalidArgumentError):
        clib.read("a", query_builder=QueryBuilder().concat())
