"""HAL resource tracking: what retention costs (benchmarks/README.md, "HAL resource tracking").

Prints:

* bytes retained per tracked resource: N distinct buffers inserted into a ResourceSet
  (chunk storage per entry, and tracemalloc's view of the whole set per entry);
* 10,000 repeated bindings of one buffer recorded into a command buffer (``fill_buffer``):
  time per command and entries / bytes retained with the MRU cache (the real ResourceSet)
  and without it (a set whose insert always appends), next to UNRETAINED and inline
  command buffers, which track nothing;
* the raw insert loop (10,000 inserts of one object) with and without the MRU cache;
* queue round trips: a small command buffer submitted and waited for on each driver.

    python benchmarks/hal_bench.py [--count 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

from pyree.modules.hal.device import create_device
from pyree.modules.hal.fence import HalFence
from pyree.modules.hal.resource_set import CHUNK_CAPACITY, ResourceSet

ANY = 3
INLINE = 0x11
UNRETAINED = 0x40


class NoMruSet(ResourceSet):
    """A ResourceSet without its MRU cache: every insert retains (appends) again."""

    __slots__ = ()

    def insert(self, resource) -> None:
        if resource is None:
            return
        chunk = self._chunk
        if len(chunk) >= CHUNK_CAPACITY:
            chunk = self._chunk = []
            self._chunks.append(chunk)
        chunk.append(resource)


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bytes_per_resource(device, count: int) -> tuple[float, float]:
    buffers = [device.allocator.allocate(0x30, 0xC03, 16) for _ in range(count)]
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    resources = ResourceSet()
    for b in buffers:
        resources.insert(b)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    traced = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert resources.retained_count == count
    return resources.nbytes / count, traced / count


def repeated_bindings(device, count: int, repeat: int) -> list[tuple]:
    b = device.allocator.allocate(0x30, 0xC03, 64)
    rows = []
    for label, mode, swap in (("retained, MRU cache", 0, None),
                              ("retained, no MRU cache", 0, NoMruSet),
                              ("UNRETAINED (no tracking)", UNRETAINED, None),
                              ("inline, local-sync (no tracking)", INLINE, None)):
        state = {}

        def record(mode=mode, swap=swap, state=state):
            cb = device.create_command_buffer(mode, ANY)
            if swap is not None:
                cb.resources = swap()
            fill = cb.fill_buffer
            for _ in range(count):
                fill(b, 0, 4, 0, 1, 1, 0)
            state["cb"] = cb

        seconds = best(record, repeat)
        resources = state["cb"].resources
        entries = 0 if resources is None else resources.retained_count
        nbytes = 0 if resources is None else resources.nbytes
        rows.append((label, seconds / count * 1e6, entries, nbytes))
    return rows


def raw_inserts(count: int, repeat: int) -> list[tuple]:
    obj = object()
    rows = []
    for label, cls in (("ResourceSet.insert (MRU cache)", ResourceSet),
                       ("insert without MRU cache", NoMruSet)):
        def run(cls=cls):
            s = cls()
            insert = s.insert
            for _ in range(count):
                insert(obj)
        rows.append((label, best(run, repeat) / count * 1e9))
    return rows


def round_trips(count: int, repeat: int) -> list[tuple]:
    rows = []
    for driver in ("local-sync", "local-task"):
        device = create_device(driver)
        b = device.allocator.allocate(0x30, 0xC03, 64)
        cb = device.create_command_buffer(0, ANY)
        cb.fill_buffer(b, 0, 64, 0, 1, 1, 0)
        cb.finalize()

        def run(device=device, cb=cb):
            for _ in range(count):
                signal = HalFence.create()
                device.queue_execute(-1, None, signal, cb, None, 0)
                signal.wait(10)

        rows.append((driver, best(run, repeat) / count * 1e6))
        device.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    device = create_device("local-sync")

    chunk, traced = bytes_per_resource(device, args.count)
    print(f"bytes retained per tracked resource ({args.count} distinct buffers): "
          f"{chunk:.1f} B of chunk storage, {traced:.1f} B traced for the whole set")
    print()
    print(f"{args.count} bindings of one buffer (fill_buffer), best of {args.repeat}:")
    print("| command buffer | us per command | entries retained | bytes of entries |")
    print("|---|---:|---:|---:|")
    for label, us, entries, nbytes in repeated_bindings(device, args.count, args.repeat):
        print(f"| {label} | {us:.2f} | {entries} | {nbytes} |")
    print()
    print("| raw insert loop | ns per insert |")
    print("|---|---:|")
    for label, ns in raw_inserts(args.count * 10, args.repeat):
        print(f"| {label} | {ns:.1f} |")
    print()
    print("| queue round trip (execute a 1-command buffer, wait) | us |")
    print("|---|---:|")
    for label, us in round_trips(max(args.count // 10, 10), args.repeat):
        print(f"| {label} | {us:.1f} |")


if __name__ == "__main__":
    main()
