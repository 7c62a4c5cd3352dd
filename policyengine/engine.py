"""The embedding entry point: load policies, feed events, get decisions."""
from __future__ import annotations

from policyengine.compiler import compile_program
from policyengine.diagnostics import Diagnostic, render_text
from policyengine.events.decode import EventDecoder
from policyengine.loader import LoadResult, load_paths, load_text
from policyengine.runtime.evaluator import Evaluator
from policyengine.runtime.store import MemoryStore


class PolicyError(Exception):
    """Policies did not check; `diagnostics` holds every error, `str()` renders them."""

    def __init__(self, diagnostics: list[Diagnostic], sources: dict[str, str]):
        self.diagnostics = diagnostics
        super().__init__(render_text(diagnostics, sources))


class Engine:
    def __init__(self, loaded: LoadResult, store: MemoryStore | None = None):
        if loaded.program is None:
            raise PolicyError(loaded.diagnostics, loaded.sources)
        self.warnings = [d for d in loaded.diagnostics if not d.is_error]
        self.compiled = compile_program(loaded.program)
        self.evaluator = Evaluator(self.compiled, store)
        self.decoder = EventDecoder(self.compiled.plan.field_types)

    @classmethod
    def load(cls, *paths: str, store: MemoryStore | None = None) -> "Engine":
        return cls(load_paths(list(paths)), store)

    @classmethod
    def from_text(cls, text: str, name: str = "inline.policy", store: MemoryStore | None = None) -> "Engine":
        return cls(load_text([(name, text)]), store)

    def process(self, event: dict) -> list[dict]:
        """Decisions for one event (a dict in the event contract); raises BadEvent if it is not valid."""
        ts = self.decoder.validate(event)
        return self.evaluator.process(event, ts)

    def process_many(self, events) -> list[dict]:
        out: list[dict] = []
        for event in events:
            out.extend(self.process(event))
        return out

    @property
    def issues(self):
        """Run-time errors so far: rules skipped on an event because they raised."""
        return self.evaluator.issues
