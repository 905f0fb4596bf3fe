"""The instance: the registry of ref types that modules are resolved against.

Ref types are registered process-wide (``vm/ref.py``), since a Python class is one type
wherever it is used; an :class:`Instance` is the handle through which an embedding
registers its own types and creates contexts, as IREE's ``iree_vm_instance_t`` is.
"""

from __future__ import annotations

from pyree.vm import ref as vmref


class Instance:
    def register_ref_type(self, name: str, cls: type) -> vmref.RefType:
        """Register ``cls`` as the ref type ``name`` (e.g. ``"myapp.tensor"``)."""
        return vmref.register_ref_type(name, cls)

    def lookup_ref_type(self, name: str) -> vmref.RefType | None:
        return vmref.lookup_ref_type(name)

    def context(self, modules=(), **kwargs):
        from pyree.vm.context import Context

        return Context(modules, instance=self, **kwargs)
