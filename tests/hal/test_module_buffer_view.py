"""``hal`` exports of buffer views (``hal-abi.md`` 3.3)."""

from __future__ import annotations

import numpy as np
import pytest

from pyree import status
from pyree.modules.hal.buffer_view import HalBufferView

from .modhelpers import (DENSE, F32, I32, HalHarness, fails, hal, ref_is_null,  # noqa: F401
                         ref_mismatch, sync_hal, text)

SI32 = 0x11000020
UI32 = 0x12000020
BOOL8 = 0x13000008
I8 = 0x10000008
OPAQUE32 = 0x00000020


def test_create_and_queries(hal):
    buffer = hal.buffer(24)
    view = hal("buffer_view.create", buffer, 0, 24, F32, DENSE, [2, 3])
    assert type(view) is HalBufferView
    assert hal("buffer_view.buffer", view) is buffer
    assert hal("buffer_view.element_type", view) == F32
    assert hal("buffer_view.encoding_type", view) == DENSE
    assert hal("buffer_view.rank", view) == 2
    assert [hal("buffer_view.dim", view, i) for i in range(4)] == [2, 3, 0, 0]
    assert hal("buffer_view.dim", view, -1) == 0


def test_create_subspans_first(sync_hal):
    buffer = sync_hal.buffer(32)
    buffer.write(bytes(range(32)))
    view = sync_hal("buffer_view.create", buffer, 8, 16, I32, DENSE, [4])
    sub = sync_hal("buffer_view.buffer", view)
    assert sub is not buffer and sub.read() == bytes(range(8, 24))
    whole = sync_hal("buffer_view.create", buffer, 0, -1, I32, DENSE,
                     [8])
    assert sync_hal("buffer.length", sync_hal("buffer_view.buffer", whole)) == 32
    with fails(status.OutOfRangeError) as info:
        sync_hal("buffer_view.create", buffer, 24, 16, I32, DENSE, [4])
    assert any("invalid subspan" in a for a in info.value.annotations)


def test_create_stores_dims_and_types_as_given(sync_hal):
    view = sync_hal("buffer_view.create", sync_hal.buffer(4), 0, 4, 0x7F000099, 7,
                    [1000, 1 << 40, -1])
    assert sync_hal("buffer_view.element_type", view) == 0x7F000099
    assert sync_hal("buffer_view.encoding_type", view) == 7
    assert sync_hal("buffer_view.dim", view, 1) == 1 << 40
    assert sync_hal("buffer_view.dim", view, 2) == -1      # u64 max read as an I result


def test_rank_limit(sync_hal):
    buffer = sync_hal.buffer(4)
    sync_hal("buffer_view.create", buffer, 0, 4, F32, DENSE, [1] * 128)
    with fails(status.OutOfRangeError, "count 129 > 128"):
        sync_hal("buffer_view.create", buffer, 0, 4, F32, DENSE, [1] * 129)
    # the rank is checked before the range
    with fails(status.OutOfRangeError, "count 129 > 128"):
        sync_hal("buffer_view.create", buffer, 8, 4, F32, DENSE, [1] * 129)


def test_rank_zero(sync_hal):
    view = sync_hal("buffer_view.create", sync_hal.buffer(4), 0, 4, F32, DENSE, [])
    assert sync_hal("buffer_view.rank", view) == 0
    assert sync_hal("buffer_view.dim", view, 0) == 0


def _view(h, element_type=F32, shape=(2, 3), encoding=DENSE):
    return h("buffer_view.create", h.buffer(24), 0, 24, element_type, encoding, list(shape))


@pytest.mark.parametrize("actual, expected, ok", [
    (F32, F32, True),
    (I32, SI32, True), (SI32, UI32, True), (UI32, I32, True),   # integer class, same width
    (BOOL8, I8, True), (I8, BOOL8, True),
    (OPAQUE32, F32, True),                                      # opaque matches anything
    (I32, F32, False), (F32, I32, False), (I32, 0x10000040, False), (F32, OPAQUE32, False),
])
def test_assert_element_types(sync_hal, actual, expected, ok):
    view = _view(sync_hal, actual)
    call = ("buffer_view.assert", view, text("input 0"), expected, DENSE, [2, 3])
    if ok:
        sync_hal(*call)
        return
    with fails(status.InvalidArgumentError, contains="input 0 element type mismatch; "
               "expected "):
        sync_hal(*call)


def test_assert_messages_in_order(sync_hal):
    view = _view(sync_hal)
    msg = text("arg")
    with fails(status.InvalidArgumentError,
               "arg encoding mismatch; expected 00000002 but have 00000001"):
        sync_hal("buffer_view.assert", view, msg, I32, 2, [9])
    with fails(status.InvalidArgumentError, "arg element type mismatch; expected i32 "
               "(10000020) but have f32 (21000020)"):
        sync_hal("buffer_view.assert", view, msg, I32, DENSE, [9])
    with fails(status.InvalidArgumentError,
               "arg shape rank mismatch; expected 1 but have 2"):
        sync_hal("buffer_view.assert", view, msg, F32, DENSE, [9])
    with fails(status.InvalidArgumentError,
               "arg shape rank mismatch; expected 0 (scalar) but have 2"):
        sync_hal("buffer_view.assert", view, msg, F32, DENSE, [])
    with fails(status.InvalidArgumentError,
               "arg shape dimension 1 mismatch; expected 4 but have 3"):
        sync_hal("buffer_view.assert", view, msg, F32, DENSE, [2, 4])
    sync_hal("buffer_view.assert", view, msg, F32, DENSE, [2, 3])


def test_assert_opaque_encoding_matches_any(sync_hal):
    view = _view(sync_hal, encoding=0)
    sync_hal("buffer_view.assert", view, text("x"), F32, 5, [2, 3])


def test_refs(sync_hal):
    view = _view(sync_hal)
    with ref_is_null():
        sync_hal("buffer_view.create", None, 0, 0, F32, DENSE, [])
    with ref_mismatch("hal.buffer"):
        sync_hal("buffer_view.create", view, 0, 0, F32, DENSE, [])
    for name in ("buffer_view.buffer", "buffer_view.element_type",
                 "buffer_view.encoding_type", "buffer_view.rank"):
        with ref_is_null():
            sync_hal(name, None)
        with ref_mismatch("hal.buffer_view"):
            sync_hal(name, sync_hal.buffer(4))
    with ref_is_null():
        sync_hal("buffer_view.dim", None, 0)
    with ref_is_null():
        sync_hal("buffer_view.assert", view, None, F32, DENSE, [2, 3])
    with ref_mismatch("vm.buffer"):
        sync_hal("buffer_view.assert", view, view, F32, DENSE, [2, 3])


def test_trace_is_a_noop_without_a_sink(sync_hal):
    sync_hal("buffer_view.trace", None, [None])   # nothing is even checked


def test_trace_sink_receives_the_views():
    seen = []
    h = HalHarness("local-sync", trace_sink=lambda key, views: seen.append((key, views)))
    view = h.f32_view([1.0, 2.0])
    h("buffer_view.trace", text("after dispatch"), [view, view])
    assert seen == [("after dispatch", [view, view])]
    np.testing.assert_array_equal(np.asarray(seen[0][1][0]), [1.0, 2.0])
    with fails(status.ResourceExhaustedError):
        h("buffer_view.trace", text("k"), [view] * 129)
    with ref_is_null():
        h("buffer_view.trace", text("k"), [None])
    with ref_is_null():
        h("buffer_view.trace", None, [view])
    h.close()


# The rank-1 whole-buffer create and the rank-1 assert run in the export's own frame; these
# compare them with HalBufferView.create / assert_matches over edge values.

_OFFSETS = [0, 4, 8, 24, -1]
_ELEMENT_TYPES = [F32, I32, SI32, 0x7F000099, 0xFFFFFFFF, -1]
_DIMS = [0, 1, 6, 7, 1 << 40, -1, (1 << 64) - 1]


@pytest.mark.parametrize("offset", _OFFSETS)
@pytest.mark.parametrize("length", [24, 16, 0, -1])
@pytest.mark.parametrize("element_type", _ELEMENT_TYPES)
def test_rank_one_create_is_create(sync_hal, offset, length, element_type):
    buffer = sync_hal.buffer(24)
    for encoding in (DENSE, 0, 7):
        for dim in _DIMS:
            try:
                expected = HalBufferView.create(buffer, [dim], element_type, encoding, offset,
                                                length)
            except status.PyreeError as e:
                with pytest.raises(type(e)):
                    sync_hal("buffer_view.create", buffer, offset, length, element_type,
                             encoding, [dim])
                continue
            got = sync_hal("buffer_view.create", buffer, offset, length, element_type,
                           encoding, [dim])
            assert type(got) is HalBufferView and type(got.shape) is tuple
            assert (got.shape, got.element_type, got.encoding_type) == \
                (expected.shape, expected.element_type, expected.encoding_type)
            sub, want = got.buffer, expected.buffer
            assert (sub.byte_offset, sub.byte_length) == (want.byte_offset, want.byte_length)
            assert (sub is buffer) == (want is buffer)
            with pytest.raises(AttributeError):
                got.shape = (3,)                    # frozen, as any view


@pytest.mark.parametrize("have", [F32, I32, 0x7F000099])
@pytest.mark.parametrize("encoding", [DENSE, 0, 7])
def test_rank_one_assert_is_assert_matches(sync_hal, have, encoding):
    for dim in (0, 6, 1 << 40):
        view = sync_hal("buffer_view.create", sync_hal.buffer(24), 0, 24, have, encoding,
                        [dim])
        for element_type in _ELEMENT_TYPES + [UI32]:
            for expected_encoding in (DENSE, 0, 7, -1):
                for shape in ([dim], [dim + 1], [], [dim, 1], [-1]):
                    try:
                        view.assert_matches("m", element_type, expected_encoding, shape)
                    except status.PyreeError as e:
                        with pytest.raises(type(e)) as info:
                            sync_hal("buffer_view.assert", view, text("m"), element_type,
                                     expected_encoding, shape)
                        assert info.value.message == e.message
                        continue
                    sync_hal("buffer_view.assert", view, text("m"), element_type,
                             expected_encoding, shape)
