"""Which summarizer a deployment uses: `local` (the default, `LocalSummarizer`) or another
implementation named `package.module:attribute` (a class or factory taking no arguments, or an
instance), e.g. one that calls a hosted model where one is reachable."""

from __future__ import annotations

import importlib

from pipelines.intake_summary._local import LocalSummarizer
from pipelines.intake_summary._model import IntakeSummarizer

DEFAULT = "local"


def summarizer(spec: str = DEFAULT) -> IntakeSummarizer:
    """The summarizer `spec` names; ValueError naming what is wrong otherwise (checked at
    start-up, so a bad setting stops the server instead of failing each request)."""
    spec = spec.strip() or DEFAULT
    if spec == DEFAULT:
        return LocalSummarizer()
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"intake summarizer {spec!r}: use 'local' or 'package.module:name'")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"intake summarizer {spec!r} not found: {exc}") from None
    made = found
    if isinstance(found, type) or (callable(found) and not hasattr(found, "summarize")):
        try:
            made = found()
        except TypeError as exc:
            raise ValueError(f"intake summarizer {spec!r} cannot be made: {exc}") from None
    if not callable(getattr(made, "summarize", None)):
        raise ValueError(f"intake summarizer {spec!r} has no summarize(form)")
    if not isinstance(getattr(made, "name", None), str):
        raise ValueError(f"intake summarizer {spec!r} has no name")
    chosen: IntakeSummarizer = made
    return chosen
