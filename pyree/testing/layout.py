"""Register layout of a generated function: which slots hold which kind of value.

The i32 bank is untyped at the ISA level, but a generator that reads any slot as any type
turns most float results into integer noise (and NaN payloads, which the ISA leaves
unspecified, into integer results). So each generated function gives every slot a *role*
(``i32``, ``f32``, ``i64``, ``f64``; 64-bit roles own an even pair) and instructions read
and write slots of the role their field's bank names. Aliasing is still exercised: with a
small probability a read takes any slot of the right width (:data:`ALIAS_CHANCE`), and
memory, lists, globals and bitcasts move bits between roles.

Slots, in order: the arguments (placed as ``vm-runtime.md`` 2.3 says, each taking the role
of its cconv character), then the value pools, the scratch slots that hold operands
materialised just before their use (offsets, lengths, indices), one control slot for loop
conditions, and the loop counters (one per nesting level; nothing else writes them, which
is what makes every generated loop terminate). Ref registers: the ref arguments, then a
pool of buffers, a pool of lists and a pool of untyped refs.
"""

from __future__ import annotations

import attrs

from pyree.bytecode import cconv as cc

#: Chance (out of 16) that a register read ignores roles and takes any slot of its width.
ALIAS_CHANCE = 1

#: Pool sizes: values per role, scratch per bank, refs per role.
POOL = {"i32": 4, "f32": 3, "i64": 3, "f64": 2}
SCRATCH = {"i32": 2, "i64": 3}
REF_POOL = {"buffer": 2, "list": 2, "any": 2}
_CHAR_ROLE = {"i": "i32", "f": "f32", "I": "i64", "F": "f64"}


@attrs.frozen
class Layout:
    """Roles of the registers of one generated function."""

    cconv: str
    #: role -> slots (64-bit roles: the even first slot of each pair); arguments included.
    values: dict
    #: bank -> scratch slots for materialised operands (i64: even first slots).
    scratch: dict
    control: int
    counters: tuple
    #: ref role -> ref indices ("any" includes the ref arguments).
    refs: dict
    i32_count: int
    ref_count: int

    @classmethod
    def build(cls, cconv: str, max_depth: int) -> Layout:
        sig = cc.parse(cconv)
        ordinals, slot, nrefs = cc.register_placement(sig.arg_chars)
        values: dict = {role: [] for role in POOL}
        arg_refs = []
        for c, o in zip(sig.arg_chars, ordinals):
            if c == "r":
                arg_refs.append(o & 0x3FFF)
            else:
                values[_CHAR_ROLE[c]].append(o)
        slot += slot & 1
        for role in ("i64", "f64"):
            for _ in range(POOL[role]):
                values[role].append(slot)
                slot += 2
        scratch: dict = {"i64": [], "i32": []}
        for _ in range(SCRATCH["i64"]):
            scratch["i64"].append(slot)
            slot += 2
        for role in ("i32", "f32"):
            for _ in range(POOL[role]):
                values[role].append(slot)
                slot += 1
        for _ in range(SCRATCH["i32"]):
            scratch["i32"].append(slot)
            slot += 1
        control = slot
        counters = tuple(range(slot + 1, slot + 1 + max(1, max_depth)))
        refs: dict = {}
        r = nrefs
        for role in ("buffer", "list", "any"):
            refs[role] = list(range(r, r + REF_POOL[role]))
            r += REF_POOL[role]
        refs["any"] = arg_refs + refs["any"]
        return cls(cconv=cconv, values={k: tuple(v) for k, v in values.items()},
                   scratch={k: tuple(v) for k, v in scratch.items()}, control=control,
                   counters=counters, refs={k: tuple(v) for k, v in refs.items()},
                   i32_count=counters[-1] + 1, ref_count=r)

    def all_refs(self) -> tuple:
        return tuple(sorted({r for v in self.refs.values() for r in v}))

    def any_slot(self, wide: bool) -> tuple:
        """Every slot a read may alias: pools and scratch (never the counters)."""
        top = self.control
        return tuple(range(0, top - 1, 2)) if wide else tuple(range(top))
