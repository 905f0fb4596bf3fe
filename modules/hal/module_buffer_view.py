"""``hal`` module exports: buffer views (``hal-abi.md`` 3.3).

``buffer_view.create`` checks the rank (at most 128, OUT_OF_RANGE "count N > 128") before it
subspans the buffer, as IREE's variadic argument cast does; ``buffer_view.trace`` is a no-op
unless the host installed a trace sink (``HalModule(trace_sink=fn)``), which then receives
the key text and the views.
"""

from __future__ import annotations

from pyree.status import OutOfRangeError, ResourceExhaustedError
from pyree.vm.buffer import VmBuffer
from pyree.vm.native import export

from .buffer import HalBuffer
from .buffer_view import MAX_RANK, HalBufferView, _HalBufferViewSlots
from .module_args import deref, ref_error, text

_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF

MAX_TRACE_OPERANDS = 128


def _rank(shape) -> None:
    if len(shape) > MAX_RANK:
        raise OutOfRangeError(f"count {len(shape)} > {MAX_RANK}")


class BufferViewExports:
    """``buffer_view.*`` exports (mixed into :class:`~.module.HalModule`)."""

    @export("0rIIiiCID_r", name="buffer_view.create")
    def buffer_view_create(self, state, buffer, source_offset, source_length, element_type,
                           encoding_type, shape):
        if type(buffer) is not HalBuffer:
            raise ref_error(buffer, HalBuffer)
        if len(shape) == 1 and source_offset == 0 and source_offset.__class__ is int and \
                source_length == buffer.byte_length and source_length.__class__ is int and \
                element_type.__class__ is int and 0 <= element_type <= _U32 and \
                encoding_type.__class__ is int and 0 <= encoding_type <= _U32 and \
                (d := shape[0]).__class__ is int and 0 <= d <= _U64:
            # HalBufferView.create's whole-buffer rank-1 case in this frame (what compiled
            # code returns): the view is built as HalBufferView._of builds it
            view = _HalBufferViewSlots()
            view.buffer = buffer
            view.shape = (d,)
            view.element_type = element_type
            view.encoding_type = encoding_type
            view.__class__ = HalBufferView
            return view
        if len(shape) > MAX_RANK:
            _rank(shape)
        return HalBufferView.create(buffer, shape, element_type, encoding_type,
                                    source_offset, source_length)

    @export("0rriiCID_v", name="buffer_view.assert")
    def buffer_view_assert(self, state, buffer_view, message, element_type, encoding_type,
                           shape):
        if type(buffer_view) is not HalBufferView:
            raise ref_error(buffer_view, HalBufferView)
        if type(message) is not VmBuffer:
            raise ref_error(message, VmBuffer)
        if len(shape) == 1:     # matches() of rank 1 in this frame (plain int dims)
            actual = buffer_view.encoding_type
            mine = buffer_view.shape
            if (actual == 0 or actual == encoding_type & _U32) and \
                    buffer_view.element_type == element_type & _U32 and len(mine) == 1 and \
                    (d := shape[0]) == mine[0] and d.__class__ is int:
                return
        elif len(shape) > MAX_RANK:
            _rank(shape)
        if buffer_view.matches(element_type & _U32, encoding_type & _U32, shape):
            return      # the message is only text for the error
        buffer_view.assert_matches(text(message), element_type, encoding_type, shape)

    @export("0r_r", name="buffer_view.buffer")
    def buffer_view_buffer(self, state, buffer_view):
        if type(buffer_view) is not HalBufferView:
            raise ref_error(buffer_view, HalBufferView)
        return buffer_view.buffer

    @export("0r_i", name="buffer_view.element_type")
    def buffer_view_element_type(self, state, buffer_view):
        return deref(buffer_view, HalBufferView).element_type

    @export("0r_i", name="buffer_view.encoding_type")
    def buffer_view_encoding_type(self, state, buffer_view):
        return deref(buffer_view, HalBufferView).encoding_type

    @export("0r_i", name="buffer_view.rank")
    def buffer_view_rank(self, state, buffer_view):
        return len(deref(buffer_view, HalBufferView).shape)

    @export("0ri_I", name="buffer_view.dim")
    def buffer_view_dim(self, state, buffer_view, index):
        if type(buffer_view) is not HalBufferView:
            raise ref_error(buffer_view, HalBufferView)
        return buffer_view.dim(index)

    @export("0rCrD_v", name="buffer_view.trace")
    def buffer_view_trace(self, state, key, operands):
        sink = state.trace_sink
        if sink is None:
            return
        key = text(key)
        if len(operands) > MAX_TRACE_OPERANDS:
            raise ResourceExhaustedError(
                f"buffer_view.trace of {len(operands)} operands exceeds the limit of "
                f"{MAX_TRACE_OPERANDS}")
        sink(key, [deref(view, HalBufferView) for view in operands])
