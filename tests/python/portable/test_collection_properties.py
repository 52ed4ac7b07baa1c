"""Property tests: random sequences of collection calls agree with a dict-of-documents model."""

from __future__ import annotations

from _hypothesis import examples
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import sheaf
from sheaf import Mode

# JSON objects with few distinct fields and values (ints and strings only, so that Python's
# equality and the library's JSON equality agree), and raw documents that are not JSON.
json_docs = st.fixed_dictionaries(
    {}, optional={"k": st.integers(0, 2), "s": st.sampled_from(["a", "b", "é"])}
)
raw_docs = st.binary(max_size=6).filter(lambda b: not b.lstrip(b" \t\r\n").startswith(b"{"))
docs = json_docs | raw_docs
filters = st.none() | st.fixed_dictionaries(
    {}, optional={"k": st.integers(0, 2), "s": st.sampled_from(["a", "b"])}
)


class CollectionModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = sheaf.open("mem://")
        self.coll = self.store.create_collection("model")
        self.model: dict = {}
        self.next_id = 0

    def teardown(self) -> None:
        self.store.close()

    def ids(self):
        # existing ids, free ids below next_id and a few beyond it
        return st.integers(0, self.next_id + 2)

    @rule(doc=docs)
    def store_one(self, doc):
        assert self.coll.store(doc) == self.next_id
        self.model[self.next_id] = doc
        self.next_id += 1

    @rule(batch=st.lists(docs, max_size=5))
    def store_multi(self, batch):
        expected = list(range(self.next_id, self.next_id + len(batch)))
        assert self.coll.store_multi(batch) == expected
        self.model.update(zip(expected, batch))
        self.next_id += len(batch)

    @rule(data=st.data())
    def load(self, data):
        i = data.draw(self.ids())
        try:
            got = self.coll.load(i)
        except sheaf.NoSuchDocumentError:
            got = None
        assert got == self.model.get(i)

    @rule(data=st.data())
    def load_multi(self, data):
        ids = data.draw(st.lists(self.ids(), max_size=5))
        assert self.coll.load_multi(ids) == [self.model.get(i) for i in ids]

    @rule(data=st.data(), create=st.booleans())
    def update_multi(self, data, create):
        ids = data.draw(st.lists(self.ids(), max_size=4))
        new = data.draw(st.lists(docs, min_size=len(ids), max_size=len(ids)))
        mode = Mode.UPDATE_NEW if create else Mode.DEFAULT
        if not create and any(i not in self.model for i in ids):
            try:
                self.coll.update_multi(ids, new, mode)
                raise AssertionError("updated a free id without UPDATE_NEW")
            except sheaf.NoSuchDocumentError:
                return
        self.coll.update_multi(ids, new, mode)
        for i, d in zip(ids, new):
            self.model[i] = d
            self.next_id = max(self.next_id, i + 1)

    @rule(data=st.data())
    def erase_multi(self, data):
        ids = data.draw(st.lists(self.ids(), max_size=3))
        if len(set(ids)) != len(ids) or any(i not in self.model for i in ids):
            try:
                self.coll.erase_multi(ids)
                raise AssertionError(f"erased {ids} with a free or repeated id")
            except sheaf.NoSuchDocumentError:
                return
        self.coll.erase_multi(ids)
        for i in ids:
            del self.model[i]

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def erase_one(self, data):
        i = data.draw(st.sampled_from(sorted(self.model)))
        self.coll.erase(i)
        del self.model[i]

    @rule(data=st.data(), count=st.none() | st.integers(0, 4), filt=filters)
    def list_docs(self, data, count, filt):
        start = data.draw(self.ids())
        expected = []
        for i in sorted(self.model):
            doc = self.model[i]
            if i < start:
                continue
            if filt and (
                not isinstance(doc, dict)
                or any(f not in doc or doc[f] != v for f, v in filt.items())
            ):
                continue
            expected.append((i, doc))
        if count is not None:
            expected = expected[:count]
        assert self.coll.list_docs(start, count, filt) == expected

    @rule(page_size=st.integers(1, 3))
    def iterate(self, page_size):
        assert list(self.coll.items(page_size=page_size)) == sorted(self.model.items())

    @invariant()
    def counters(self):
        assert self.coll.size() == len(self.model)
        assert self.coll.last_id() == self.next_id


CollectionModel.TestCase.settings = settings(
    max_examples=examples(60),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_collection_against_a_dict = CollectionModel.TestCase
