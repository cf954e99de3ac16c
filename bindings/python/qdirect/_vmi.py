"""qdirect.Vmi: a KubeVirt VirtualMachineInstance spec, decoded and defaulted."""

from __future__ import annotations

import copy
import json
import os
from typing import Any, Dict, List, Optional, Union

from . import _qdirect

Source = Union[str, bytes, "os.PathLike[str]", Dict[str, Any]]


class Vmi:
    """One decoded VirtualMachineInstance (or a VirtualMachine's template).

    Decoding applies KubeVirt's defaults. ``name`` and ``namespace`` may be
    changed (e.g. to run the same spec twice side by side).
    """

    __slots__ = ("_handle",)

    def __init__(self, handle: "_qdirect.Vmi") -> None:
        self._handle = handle

    @classmethod
    def load(cls, source: Source, *, validate: bool = True,
             name: Optional[str] = None) -> "Vmi":
        """Decodes a VMI from a file path (``str`` naming an existing file or
        any ``os.PathLike``), YAML/JSON text (``str`` or ``bytes``) or a
        ``dict`` (the manifest as JSON data).

        ``name`` picks one of several VMs/VMIs in a multi-document stream.
        Raises :class:`qdirect.SpecError` (with ``.errors``) when the text does
        not decode, holds no or several VMIs, or -- with ``validate`` -- the
        VMI is invalid. With ``validate=False`` validation findings are left
        to :meth:`validate`.
        """
        if isinstance(source, dict):
            text = json.dumps(source)
        elif isinstance(source, bytes):
            text = source.decode("utf-8")
        elif isinstance(source, os.PathLike) or (
                isinstance(source, str) and "\n" not in source
                and os.path.isfile(source)):
            with open(source, "r", encoding="utf-8") as f:
                text = f.read()
        elif isinstance(source, str):
            text = source
        else:
            raise TypeError(
                f"Vmi.load: expected a path, text or dict, got {type(source).__name__}")
        return cls(_qdirect.Vmi._load(text, validate, name))

    def validate(self, *, raise_on_error: bool = True) -> List[str]:
        """Every finding as ``field.path: message``; an empty list when valid.

        Raises :class:`qdirect.SpecError` listing them (``.errors``) unless
        ``raise_on_error`` is false.
        """
        return self._handle.validate(raise_on_error)

    def render(self, *, accel: Optional[str] = None,
               runtime_root: Optional[str] = None) -> List[str]:
        """The QEMU argv for this VMI, as ``vmctl render --json`` prints it
        (argv[0] is the QEMU binary). Probes QEMU (cached) and resolves
        volumes against the image store ($QDIRECT_IMAGE_DIR). ``accel``:
        "tcg" or "kvm" (default $QDIRECT_ACCEL, else kvm when usable)."""
        return self._handle.render(accel, runtime_root)

    @property
    def name(self) -> str:
        """metadata.name"""
        return self._handle.name

    @name.setter
    def name(self, value: str) -> None:
        self._handle.name = value

    @property
    def namespace(self) -> str:
        """metadata.namespace ("default" unless set)"""
        return self._handle.namespace

    @namespace.setter
    def namespace(self, value: str) -> None:
        self._handle.namespace = value

    @property
    def warnings(self) -> List[str]:
        """Unknown or misplaced fields found while decoding."""
        return list(self._handle.warnings)

    def copy(self, *, name: Optional[str] = None) -> "Vmi":
        """An independent copy, optionally renamed."""
        other = Vmi(copy.copy(self._handle))
        if name is not None:
            other.name = name
        return other

    def __repr__(self) -> str:
        return f"<qdirect.Vmi {self.namespace}/{self.name}>"
