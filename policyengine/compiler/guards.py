"""Word guards: a run of consecutive rules or counts whose conditions each need a word of the same
text field is written under one test of all their words, so that most events skip the run."""
from __future__ import annotations

from policyengine.compiler.expressions import ExprEmitter, required_words
from policyengine.compiler.writer import CodeWriter, Pool


GUARD_AT_LEAST = 2      # consecutive steps needing words of one field before one guard serves them


def guarded(w: CodeWriter, steps: list, emit: ExprEmitter, pool: Pool, lap: str | None = None) -> None:
    """Write `steps` — (condition, writer) in order — putting each run of GUARD_AT_LEAST or more
    consecutive steps whose conditions each need a word in the same text field under one test:
    does the field hold any of their words at all? One Aho–Corasick pass (or a few `in`s) then
    skips the whole run on most events, where 100 rules would each test their own word. Exact:
    a step whose condition cannot hold does nothing, and the run keeps its order. `lap`: a line
    written before each test (the profile's)."""
    i = 0
    while i < len(steps):
        need = required_words(steps[i][0])
        j = i + 1
        if need is not None:
            words = list(need[1])
            while j < len(steps):
                more = required_words(steps[j][0])
                if more is None or more[0] != need[0]:
                    break
                words += more[1]
                j += 1
        if need is None or j - i < GUARD_AT_LEAST:
            for _, write in steps[i:j]:
                write(w)
            i = j
            continue
        inner = CodeWriter()
        inner.depth = 1
        emit.local.guarded = True
        grouped(inner, steps[i:j], need[0], set(words), emit, lap)
        emit.local.guarded = False
        if lap:
            w.line(lap)
        w.line(f"if {emit.any_word(need[0], sorted(set(words)))}:")
        w.nested(inner)
        i = j


GROUP_AT_LEAST = 24     # a guarded run this long is guarded again, GROUP steps at a time, inside
GROUP = 8


def grouped(w: CodeWriter, steps: list, field: tuple, run_words: set, emit: ExprEmitter,
            lap: str | None = None) -> None:
    """A guarded run's steps, each GROUP of a long run under its own words' test (but where they
    are all the run's words, which its guard has just found): a text that holds one of the run's
    words (an ad's, where one of 100 rules is about ads) would otherwise test every step's word —
    100 `in`s and their rules — where a group's pass skips eight. On the rule_scaling log a text
    that passes a run's guard cost 4.0 µs with 100 rules, 2.0 µs grouped."""
    groups = [steps[k:k + GROUP] for k in range(0, len(steps), GROUP)] if len(steps) >= GROUP_AT_LEAST else [steps]
    for group in groups:
        words = sorted({word for condition, _ in group for word in required_words(condition)[1]})
        if len(group) < GUARD_AT_LEAST or set(words) == run_words:     # nothing a test of its own would skip
            for _, write in group:
                write(w)
            continue
        inner = CodeWriter()
        inner.depth = w.depth
        for _, write in group:
            write(inner)
        if lap:
            w.line(lap)
        w.line(f"if {emit.word_test(field, words)}:")
        w.nested(inner)
