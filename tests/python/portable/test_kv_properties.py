"""Property tests: random sequences of key-space calls agree with a Python dict model."""

from __future__ import annotations

from _hypothesis import examples
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import sheaf
from sheaf import Mode

# Few distinct bytes, short keys: collisions, shared prefixes and suffixes, NULs and 0xff.
keys = st.lists(st.sampled_from(b"ab\x00\xff"), max_size=3).map(bytes)
values = st.binary(max_size=4)
put_modes = st.sampled_from(
    [
        Mode.DEFAULT,
        Mode.NEW_ONLY,
        Mode.EXIST_ONLY,
        Mode.APPEND,
        Mode.APPEND | Mode.NEW_ONLY,
        Mode.APPEND | Mode.EXIST_ONLY,
        Mode.NOTIFY,
    ]
)
get_modes = st.sampled_from([Mode.DEFAULT, Mode.CONSUME])
list_flags = st.sets(st.sampled_from([Mode.INCLUSIVE, Mode.NO_PREFIX, Mode.CONSUME])).map(
    lambda flags: sum(flags, Mode.DEFAULT)
)


class KeySpaceModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = sheaf.open("mem://")
        self.kv = self.store.kv("model")
        self.model: dict = {}

    def teardown(self) -> None:
        self.store.close()

    # -- the model's semantics ---------------------------------------------------------------
    def _put(self, key, value, mode) -> bool:
        present = key in self.model
        if mode & Mode.NEW_ONLY and present:
            return False
        if mode & Mode.EXIST_ONLY and not present:
            return False
        if mode & Mode.APPEND and present:
            self.model[key] = self.model[key] + value
        else:
            self.model[key] = value
        return True

    def _listing(self, from_key, filt, suffix, count, mode):
        out = []
        for k in sorted(self.model):
            if count is not None and len(out) == count:
                break
            if suffix and not k.endswith(filt):
                continue
            if not suffix and not k.startswith(filt):
                continue
            # an empty from_key means "from the start"
            if from_key and (k < from_key or (k == from_key and not mode & Mode.INCLUSIVE)):
                continue
            out.append(k)
        pairs = [(k, self.model[k]) for k in out]
        if mode & Mode.CONSUME:
            for k in out:
                del self.model[k]
        if mode & Mode.NO_PREFIX:
            n = len(filt)
            pairs = [((k[: len(k) - n] if suffix else k[n:]), v) for k, v in pairs]
        return pairs

    # -- rules -------------------------------------------------------------------------------
    @rule(key=keys, value=values, mode=put_modes)
    def put(self, key, value, mode):
        expected = self._put(key, value, mode)
        try:
            self.kv.put(key, value, mode)
            stored = True
        except sheaf.KeyExistsError:
            assert mode & Mode.NEW_ONLY
            stored = False
        except sheaf.NoSuchKeyError:
            assert mode & Mode.EXIST_ONLY
            stored = False
        assert stored == expected

    @rule(pairs=st.lists(st.tuples(keys, values), max_size=6), mode=put_modes)
    def put_multi(self, pairs, mode):
        expected = [self._put(k, v, mode) for k, v in pairs]
        got = self.kv.put_multi([k for k, _ in pairs], [v for _, v in pairs], mode)
        assert got == expected

    @rule(key=keys, mode=get_modes)
    def get(self, key, mode):
        expected = self.model.get(key)
        if mode & Mode.CONSUME:
            self.model.pop(key, None)
        try:
            got = self.kv.get(key, mode)
        except sheaf.NoSuchKeyError:
            got = None
        assert got == expected

    @rule(key=keys, size=st.integers(0, 8), mode=get_modes)
    def get_into(self, key, size, mode):
        expected = self.model.get(key)
        buf = bytearray(size)
        try:
            n = self.kv.get_into(key, buf, mode)
            assert expected is not None and n == len(expected) <= size
            assert bytes(buf[:n]) == expected
            if mode & Mode.CONSUME:
                del self.model[key]
        except sheaf.BufferTooSmallError as exc:
            assert expected is not None and exc.needed == len(expected) > size
        except sheaf.NoSuchKeyError:
            assert expected is None

    @rule(ks=st.lists(keys, max_size=6), mode=get_modes)
    def get_multi(self, ks, mode):
        expected = []
        for k in ks:
            expected.append(self.model.get(k))
            if mode & Mode.CONSUME:
                self.model.pop(k, None)
        assert self.kv.get_multi(ks, mode) == expected

    @rule(ks=st.lists(keys, max_size=6))
    def exists_and_length_multi(self, ks):
        assert self.kv.exists_multi(ks) == [k in self.model for k in ks]
        assert self.kv.length_multi(ks) == [
            len(self.model[k]) if k in self.model else None for k in ks
        ]

    @rule(key=keys)
    def erase(self, key):
        assert self.kv.erase(key) == (self.model.pop(key, None) is not None)

    @rule(ks=st.lists(keys, max_size=6))
    def erase_multi(self, ks):
        expected = [self.model.pop(k, None) is not None for k in ks]
        assert self.kv.erase_multi(ks) == expected

    @rule(prefix=keys)
    def erase_range(self, prefix):
        gone = [k for k in self.model if k.startswith(prefix)]
        for k in gone:
            del self.model[k]
        assert self.kv.erase_range(prefix) == len(gone)

    @rule(
        from_key=st.none() | keys,
        filt=keys,
        suffix=st.booleans(),
        count=st.none() | st.integers(0, 5),
        mode=list_flags,
        with_values=st.booleans(),
    )
    def listing(self, from_key, filt, suffix, count, mode, with_values):
        expected = self._listing(from_key, filt, suffix, count, mode)
        if suffix:
            mode |= Mode.SUFFIX
        if with_values:
            got = self.kv.list_keyvals(from_key, filt, count, mode)
            assert got == expected
        else:
            assert self.kv.list_keys(from_key, filt, count, mode) == [k for k, _ in expected]

    @rule(prefix=keys, page_size=st.integers(1, 4))
    def iterate(self, prefix, page_size):
        expected = sorted((k, v) for k, v in self.model.items() if k.startswith(prefix))
        assert list(self.kv.items(prefix, page_size=page_size)) == expected

    @invariant()
    def count_matches(self):
        assert self.kv.count() == len(self.model)


KeySpaceModel.TestCase.settings = settings(
    max_examples=examples(60),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_key_space_against_a_dict = KeySpaceModel.TestCase
