"""IR expression → Python expression text. Values may be None (a missing field); tests are always bool."""
from __future__ import annotations

import keyword

from policyengine.check.ir import IR
from policyengine.check.schema import ANY, TEXT
from policyengine.compiler.loop import EVENT_NUMBER
from policyengine.compiler.writer import Pool
from policyengine.runtime import matchers
from policyengine.runtime.matchers import SafeRegex, WordMatcher
from policyengine.runtime.periods import calendar
from policyengine.runtime.text import normalize

DERIVED = ("link_count", "mention_count", "caps_ratio", "emoji_ratio")   # computed once per event
INLINE_WORDS = 8      # up to this many words are tested inline; more share one Aho–Corasick automaton
WORD_SET_WORDS = 64   # where the C WordSet is built: 2 to this many words are one WordSet call


# Tests made only of these read nothing that a rule's actions change, so their value holds for
# the whole handler: a handler evaluates each at most once (see ExprEmitter.test).
PURE_OPS = frozenset({"and", "or", "not", "const", "cmp", "pred", "match", "field", "list", "call", "neg", "arith"})
WORTH_KEEPING = frozenset({"pred", "match", "call"})     # a test without these costs less than its memo


def memoizable(ir: IR) -> bool:
    nodes = list(ir.walk())
    if not all(n.op in PURE_OPS for n in nodes):
        return False
    if not any(n.op in WORTH_KEEPING for n in nodes):
        return False
    try:
        hash(ir)
    except TypeError:
        return False
    return True


_WORD_TESTS = ("contains", "starts with", "ends with", "contains any", "contains all")


def _word_test(ir: IR) -> bool:
    """A word test of a text field, or of its normalised form, against constant words: `text
    contains any ["a", "b"]`, `normalize(text) contains any ADS`."""
    if ir.op != "pred" or ir.value not in _WORD_TESTS:
        return False
    left, right = ir.args
    field = _normalized_field(left) or left
    return field.op == "field" and field.type == TEXT and tuple(field.value) != ("ts",) and \
        (right.op == "const" or (right.op == "list" and all(a.op == "const" for a in right.args)))


def _normalized_field(ir: IR) -> IR | None:
    """The text field of `normalize(field)`, or None for anything else."""
    if ir.op == "call" and ir.value == "normalize" and ir.args[0].op == "field" and ir.args[0].type == TEXT:
        return ir.args[0]
    return None


def _derived_number_test(ir: IR) -> bool:
    """`link_count(text) >= 1`: a text function's number, computed once per event (a number, or
    None for no text), compared with a constant number."""
    if ir.op != "cmp" or ir.value not in ("<", "<=", ">", ">=", "==", "!="):
        return False
    left, right = ir.args
    return (left.op == "call" and left.value in DERIVED and left.args[0].op == "field"
            and tuple(left.args[0].value) != ("ts",) and ANY not in (left.type, right.type)
            and right.op == "const" and type(right.value) in (int, float))


def never_raises(ir: IR) -> bool:
    """Whether a test's code cannot raise: word tests (the case-folded field is a str or None),
    a text function's number against a number, joined by and / or / not."""
    if ir.op in ("and", "or", "not"):
        return all(never_raises(a) for a in ir.args)
    return ir.op == "const" or _word_test(ir) or _derived_number_test(ir)


NORMALIZED = object()     # required_words: the path of a field's normalised text is (NORMALIZED, path)


def required_words(ir: IR | None) -> tuple[tuple, list[str]] | None:
    """(field path, words) when `ir` can hold only if the case-folded text field — or the
    normalised one, (NORMALIZED, path) — contains one of the words (a word test, or such a test
    among an `and`'s parts); otherwise None."""
    if ir is None:
        return None
    if ir.op == "and":
        for part in ir.args:
            found = required_words(part)
            if found is not None:
                return found
        return None
    if not _word_test(ir):
        return None
    left, right = ir.args
    field = _normalized_field(left)
    if field is not None:
        # The words as the test compares them (ExprEmitter.predicate): normalised, empty ones
        # dropped; the path marked as the normalised text's, which no field's path can be.
        words = [w for w in dict.fromkeys(normalize(str(x)) for x in ExprEmitter._const_items(right)) if w]
        return ((NORMALIZED, tuple(field.value)), words) if words else None
    words = ExprEmitter._const_words_of(right)
    if not words or "" in words:
        return None                    # `contains ""` holds for any text: nothing to skip on
    return tuple(left.value), words


def normalized_text(text: IR) -> IR:
    """What a `repeats` window compares: the text as `normalize` leaves it."""
    return IR("call", "text", args=(text,), value="normalize")


def numbered(names: dict, key, prefix: str) -> str:
    """The local or binding named for `key` in `names`: `prefix` and the number of keys met before
    it, given the first time it is asked for."""
    name = names.get(key)
    if name is None:
        name = names[key] = f"{prefix}{len(names)}"
    return name


class HandlerLocals:
    """Event fields (and their case-folded forms) read once at the top of a handler.

    `repeated`: tests this handler evaluates more than once, found by a first counting pass
    (`uses`); each gets a memo local, evaluated on first use (`let AD = …` used by a count's
    filter and by two rules is one search of the text, not three: 0.24 µs a message).

    `eager`: repeated tests every event of the type evaluates anyway (the filter of a count no
    guard skips) and that cannot raise: computed in the prologue, so each use reads a plain local
    instead of testing the memo first (4 bytecodes a use, 18 a message on the reference policies).
    `unguarded_filters` collects the candidates during the first pass."""

    def __init__(self, repeated: frozenset = frozenset(), eager: frozenset = frozenset()) -> None:
        self.repeated = repeated
        self.eager = eager
        self.eager_code: dict[str, str] = {}    # memo name → the test the prologue evaluates
        self.unguarded_filters: set = set()
        # (table, key, value read or None) → the local an aggregate's update left what the rules
        # read of it in: updated with no filter before the rules, at the same time (codegen).
        self.read_at_add: dict[tuple, str] = {}
        self.uses: dict = {}
        # Inside a guarded run (compiler/guards.py) uses are not counted: a memo is reset on every
        # event, and a guard skips its run on most (100 one-word rules: 1.5 µs of resets a message).
        self.guarded = False
        self.rules_phase = False                # aggregate reads are kept only once the rules run
        # A handler's body reads the event's number as loop.EVENT_NUMBER, which its function binds
        # in the prologue where it is read (codegen) and the record loop holds itself.
        self.in_handler = False
        self.reads_event_number = False
        self.memo: dict = {}
        self.guards: dict = {}                  # (field path, words) → the local holding their guard's answer
        self.fields: dict[tuple, str] = {}
        self.folded: dict[tuple, str] = {}
        self.normal: dict[tuple, str] = {}      # normalize(field), also computed once
        self.calls: dict[tuple, str] = {}       # (text function, field path) → local
        self.temps = 0

    def temp(self) -> str:
        self.temps += 1
        return f"t{self.temps}"

    def field(self, path: tuple) -> str:
        return numbered(self.fields, path, "f")

    def fold(self, path: tuple) -> str:
        self.field(path)
        return numbered(self.folded, path, "cf")

    def normalized(self, path: tuple) -> str:
        self.field(path)
        return numbered(self.normal, path, "nf")

    def memo_name(self, ir: IR) -> str:
        return numbered(self.memo, ir, "m")

    def memo_use(self, ir: IR, code: str) -> str:
        """A memo's use: the first written computes it without testing it — the handler's code
        runs in the order it is written, with no loop, so no use before it can have set it (it is
        still None: 4 bytecodes saved a memo an event); each later one reuses it when set."""
        first = ir not in self.memo              # a repeated test is named where its first use is written
        name = self.memo_name(ir)
        if first:
            return f"({name} := {code})"
        return f"({name} if {name} is not None else ({name} := {code}))"

    def derived(self, function: str, path: tuple) -> str:
        """A text function of a field (`link_count(text)`), computed once per event however often used."""
        self.field(path)
        return numbered(self.calls, (function, path), "d")


class ExprEmitter:
    def __init__(self, pool: Pool, tables: "TableNames", local: HandlerLocals):
        self.pool, self.tables, self.local = pool, tables, local

    def event_number(self) -> str:
        """The code of the store's count of events, the event's number: in a handler's body the
        name the record loop keeps it in (a getattr an award or a silence spared), elsewhere the
        store's attribute."""
        if not self.local.in_handler:
            return "STORE.events_seen"
        self.local.reads_event_number = True
        return EVENT_NUMBER

    # ---- values ----------------------------------------------------------
    def value(self, ir: IR) -> str:
        op = ir.op
        if op == "field":
            if tuple(ir.value) == ("ts",):
                return "ts"                 # the event time in µs, already parsed
            return self.local.field(tuple(ir.value))
        if op == "offense_n":
            return "n"                      # inside a ladder or score step: the count or the score
        if op == "member_key":
            return "member"                 # inside a role check: the member being measured
        if op == "random":
            return f"seeded_random({self.value(ir.args[0])}, {self.value(ir.args[1])}, ev, {ir.value})"
        if op == "date":
            return f"{self.pool.add(calendar(ir.value), ('calendar', ir.value))}.date_text({self.value(ir.args[0])})"
        if op == "balance":
            return f"REW.balance({self.pool.add(ir.value)}, {self.value(ir.args[0])}, ts)"
        if op == "member":
            return self.member(ir)
        if op == "const":
            if isinstance(ir.value, tuple):
                return self.pool.add(ir.value)
            return self.pool.add(ir.value) if isinstance(ir.value, str) else repr(ir.value)
        if op == "list":
            if all(a.op == "const" for a in ir.args):
                return self.pool.add(tuple(a.value for a in ir.args))
            return "[" + ", ".join(self.value(a) for a in ir.args) + "]"
        if op == "neg":
            return f"arith('-', ('number', 'number'), 0, {self.value(ir.args[0])})"
        if op == "arith":
            sym, left, right = ir.value
            return f"arith({sym!r}, ({left!r}, {right!r}), {self.value(ir.args[0])}, {self.value(ir.args[1])})"
        if op == "call":
            if ir.value == "normalize" and ir.args[0].op == "field" and ir.args[0].value != ("ts",):
                return self.local.normalized(tuple(ir.args[0].value))
            if ir.value in DERIVED and ir.args[0].op == "field" and ir.args[0].value != ("ts",):
                return self.local.derived(ir.value, tuple(ir.args[0].value))
            if ir.value == "len" and ir.args[0].op == "field":
                v = self.value(ir.args[0])
                return f"(len({v}) if {v} is not None else None)"
            return f"call({ir.value!r}, {', '.join(self.value(a) for a in ir.args)})"
        if op == "labels":
            return f"active_labels(LABELS, {self.value(ir.args[0])}, ts)"
        if op == "agg":
            return self.aggregate_read(ir)
        return f"({self.test(ir)})"        # a condition used as a value

    def aggregate_read(self, ir: IR) -> str:
        """An aggregate's value. In a handler's rules, where no count changes any more (counts are
        updated first; no action writes one), a value read more than once — a rule's condition, the
        next rule's, `{count}` in a reason — is read once and kept in a memo."""
        local = self.local
        spec = ir.value
        if local.read_at_add:
            fn = spec.function
            key = self.key(ir.args[:-1] if fn in ("repeats", "similar") else ir.args)
            wanted = self.value(normalized_text(ir.args[-1])) if fn == "repeats" else None
            added = local.read_at_add.get((self.tables.aggregate(spec.fingerprint), key, wanted))
            if added is not None:       # this event's update read it already: no memo needed
                return f"({added} * {60_000_000 / spec.window_us!r})" if spec.function == "rate" else added
        if ir in local.repeated:
            return local.memo_use(ir, self.aggregate(ir))
        if local.rules_phase and not local.guarded:
            local.uses[ir] = local.uses.get(ir, 0) + 1
        return self.aggregate(ir)

    def aggregate(self, ir: IR) -> str:
        spec = ir.value
        fn, width = spec.function, spec.window_us
        key_args = ir.args[:-1] if fn in ("repeats", "similar") else ir.args
        key = self.key(key_args)
        table = self.tables.aggregate(spec.fingerprint)
        if fn == "count":
            return f"{table}.get({key}, 0)" if width is None else f"window_count({table}, {key}, ts, {width})"
        if fn == "rate":       # events per minute over the window
            return f"(window_count({table}, {key}, ts, {width}) * {60_000_000 / width!r})"
        if fn == "sum":
            return f"{table}.get({key}, 0)" if width is None else f"window_sum({table}, {key}, ts, {width})"
        if fn == "distinct":
            return f"all_time_distinct({table}, {key})" if width is None else f"window_distinct({table}, {key}, ts, {width})"
        if fn == "repeats":
            return f"window_repeats({table}, {key}, ts, {width}, {self.value(normalized_text(ir.args[-1]))})"
        if fn == "similar":
            return f"window_similar({table}, {key}, ts, {width}, {self.value(ir.args[-1])}, {spec.threshold!r})"
        if fn in ("streak", "best_streak", "active_days"):
            period, extra = self.period_now(spec)
            if fn == "streak":
                return f"streak_now({table}, {key}, {period}, {extra})"
            if fn == "best_streak":
                return f"streak_best({table}, {key})"
            return f"active_days_now({table}, {key}, {period}, {extra})"
        return f"elapsed({table}, {key}, ts, {self.event_number()})"

    def period_of(self, spec) -> tuple[str, object]:
        """A streak's or active days' aggregate: the code of its calendar's function from a time
        to a day (or week) number, and the aggregate's extra number (a streak's grace, active
        days' span)."""
        cadence, tz, extra = spec.period
        cal = self.pool.add(calendar(tz), ("calendar", tz))
        return f"{cal}.{'week' if cadence == 'weekly' else 'day'}", extra

    def period_now(self, spec) -> tuple[str, object]:
        """period_of's function called: the code of the event's day (or week) number."""
        fn, extra = self.period_of(spec)
        return f"{fn}(ts)", extra

    def member(self, ir: IR) -> str:
        who = self.value(ir.args[0])
        attr = ir.value
        if attr == "muted":
            return f"RT.muted({who}, ts)"
        if attr == "banned":
            return f"RT.banned({who}, ts)"
        if attr == "account_age":
            # Seconds since the member joined (the tracker's joined_at), written out: the community
            # pack's referral rule reads it on every message of an invited member.
            record = self.local.temp()
            return f"(None if ({record} := MEMBERS.get({who})) is None else (ts - {record}[1]) / 1000000)"
        if attr == "first_message":
            return f"first_message(MEMBERS, {who}, ev)"
        if attr == "invited_by":
            return f"INVITERS.get({who})"
        if attr == "points":
            return f"REW.balance({self.pool.add('points')}, {who}, ts)"
        if attr == "level":
            return f"REW.level_name_of({who}, ts)"
        if attr == "badges":
            return f"REW.badges_of({who})"
        if attr == "title":
            return f"REW.title_of({who})"
        return f"member_time(MEMBERS, {who}, {0 if attr == 'first_seen' else 1})"

    def key(self, parts) -> str:
        if not parts:
            return "()"
        if len(parts) == 1:
            return self.value(parts[0])
        return "(" + ", ".join(self.value(p) for p in parts) + ")"

    # ---- tests -----------------------------------------------------------
    def test(self, ir: IR) -> str:
        local = self.local
        if ir.op in WORTH_KEEPING or ir.op in ("and", "or", "not", "cmp"):
            if ir in local.eager:         # never_raises: word tests, whose code gives a bool
                name = local.memo_name(ir)
                if name not in local.eager_code:
                    # Its parts are evaluated here once: memos of their own would only cost.
                    repeated, local.repeated = local.repeated, frozenset()
                    local.eager_code[name] = self._test(ir)
                    local.repeated = repeated
                return name
            if ir in local.repeated:
                # Memo set only when the test completes: one that raises does so again for the
                # next rule, which is skipped and named just as without the memo.
                return local.memo_use(ir, f"True if ({self._test(ir)}) else False")
            if not local.guarded and memoizable(ir):
                local.uses[ir] = local.uses.get(ir, 0) + 1
        return self._test(ir)

    def _test(self, ir: IR) -> str:
        op = ir.op
        if op == "and":
            return " and ".join(f"({self.test(a)})" for a in ir.args)
        if op == "or":
            prefixes = self._prefixes(ir.args)
            if prefixes is not None:
                # `text starts with "a" or text starts with "b"`: one startswith over a tuple.
                field, words = prefixes
                return self._folded_starts_with_any(field, words)
            return " or ".join(f"({self.test(a)})" for a in ir.args)
        if op == "not":
            return f"not ({self.test(ir.args[0])})"
        if op == "const":
            return repr(bool(ir.value))
        if op == "cmp":
            return self.compare(ir)
        if op == "pred":
            return self.predicate(ir)
        if op == "match":
            return self.match(ir)
        if op == "has_label":
            return f"has_label(LABELS, {self.value(ir.args[0])}, {self.value(ir.args[1])}, ts)"
        if op == "field":
            return f"{self.value(ir)} is True"
        return f"{self.value(ir)} is True"

    def compare(self, ir: IR) -> str:
        sym = ir.value
        left, right = ir.args
        if ANY in (left.type, right.type):
            return f"compare({sym!r}, {self.value(left)}, {self.value(right)})"
        # Checked types cannot raise here; only a missing value needs a guard. Values that
        # may be missing and are not plain names are bound once with `:=`.
        guards, sides = [], []
        for node in (left, right):
            text = self.value(node)
            if node.op == "const" or (node.op == "agg" and node.value.function != "elapsed"):
                sides.append(text)          # never missing
            elif node.op == "field" or (text.isidentifier() and not keyword.iskeyword(text)):
                # A field or a local (a memo, a derived value): read twice rather than bound to a
                # temporary, two bytecodes fewer.
                guards.append(f"{text} is not None")
                sides.append(text)
            elif node.op == "call" and node.value == "len" and node.args[0].op == "field":
                # `len(text) > 3000`: the field guarded, its length taken once it is there.
                field = self.value(node.args[0])
                guards.append(f"{field} is not None")
                sides.append(f"len({field})")
            else:
                temp = self.local.temp()
                guards.append(f"({temp} := {text}) is not None")
                sides.append(temp)
        return " and ".join(guards + [f"{sides[0]} {sym} {sides[1]}"])

    def predicate(self, ir: IR) -> str:
        sym = ir.value
        left, right = ir.args
        const_right = right.op == "const" or (right.op == "list" and all(a.op == "const" for a in right.args))
        normalized = (left.op == "call" and left.value == "normalize" and left.args[0].op == "field"
                      and left.args[0].type == TEXT)
        if sym in ("contains", "starts with", "ends with", "contains any", "contains all") \
                and ((left.op == "field" and left.type == TEXT) or normalized) and const_right:
            if normalized:
                cf = self.local.normalized(tuple(left.args[0].value))
                words = [w for w in dict.fromkeys(normalize(str(x)) for x in self._const_items(right)) if w]
            else:
                words = self._const_words_of(right)
                if sym == "starts with" and words:
                    return self._folded_starts_with_any(self.local.field(tuple(left.value)), words)
                cf = self.local.fold(tuple(left.value))
            if sym == "contains":
                return f"{cf} is not None and {self.pool.add(words[0])} in {cf}"
            if sym == "starts with" and words:
                return self._starts_with_any(cf, words)
            if sym == "ends with":
                return f"{cf} is not None and {cf}.endswith({self.pool.add(words[0])})"
            if not words:
                return "False" if sym == "contains any" else f"{cf} is not None"
            if sym == "contains all" and len(words) > INLINE_WORDS:
                matcher = self.pool.made(("words",) + tuple(words), lambda: WordMatcher(words))
                return f"{cf} is not None and {matcher}.all({cf})"
            if sym == "contains all":
                return f"{cf} is not None and " + " and ".join(f"{self.pool.add(w)} in {cf}" for w in words)
            return self._any_of(cf, words)
        if sym in ("in", "not in") and const_right and left.type != ANY:
            members = self.pool.add(frozenset(self._const_items(right)), ("set",) + tuple(sorted(map(repr, self._const_items(right)))))
            v = self.value(left)
            return f"{v} in {members}" if sym == "in" else f"{v} is not None and {v} not in {members}"
        if sym in ("has any", "has all") and const_right:
            items = self.pool.add(frozenset(self._const_items(right)), ("set",) + tuple(sorted(map(repr, self._const_items(right)))))
            v = self.value(left)
            test = f"{sym.replace(' ', '_')}({v}, {items})"
            # Most events carry no roles: a missing list has none of them, without the helper's frame.
            return f"({v} is not None and {test})" if v.isidentifier() else test
        helper = {"contains": "contains", "starts with": "starts_with", "ends with": "ends_with",
                  "contains any": "contains_any", "contains all": "contains_all", "in": "is_in",
                  "has": "has", "has any": "has_any", "has all": "has_all"}
        if sym == "not in":
            v = self.value(left)
            return f"{v} is not None and not is_in({v}, {self.value(right)})"
        return f"{helper[sym]}({self.value(left)}, {self.value(right)})"

    def _starts_with_any(self, text: str, prefixes: list[str]) -> str:
        """A normalised text local starting with one of constant prefixes, in one C call."""
        return f"starts_with_any({text}, {self.pool.add(tuple(prefixes), ('prefixes', *prefixes))})"

    def _folded_starts_with_any(self, field: str, prefixes: list[str]) -> str:
        """A text field whose case-folded form starts with one of the (folded) prefixes, in one C
        call that folds only the text's start: no folded copy of the text is made for it."""
        return f"folded_starts_with_any({field}, {self.pool.add(tuple(prefixes), ('prefixes', *prefixes))})"

    def _prefixes(self, tests) -> tuple[str, list[str]] | None:
        """(the text field, the folded prefixes) when every test is `FIELD starts with "constant"` on one
        text field; else None."""
        path, words = None, []
        for t in tests:
            if not (t.op == "pred" and t.value == "starts with" and t.args[0].op == "field"
                    and t.args[0].type == TEXT and t.args[1].op == "const"):
                return None
            found = self._const_words_of(t.args[1])
            if len(found) != 1 or (path is not None and tuple(t.args[0].value) != path):
                return None
            path = tuple(t.args[0].value)
            words += found
        return (self.local.field(path), words) if path is not None else None

    def match(self, ir: IR) -> str:
        pattern, flags = ir.value
        rx = self.pool.add(SafeRegex(pattern, flags), ("regex", pattern, flags))
        subject = ir.args[0]
        if subject.op == "field":
            v = self.value(subject)
            return f"{v}.__class__ is str and {rx}.search({v})"
        return f"isinstance(_s := {self.value(subject)}, str) and {rx}.search(_s)"

    @staticmethod
    def _const_items(ir: IR) -> list:
        if ir.op == "list":
            return [a.value for a in ir.args]
        return list(ir.value) if isinstance(ir.value, tuple) else [ir.value]

    @staticmethod
    def _const_words_of(ir: IR) -> list[str]:
        return list(dict.fromkeys(str(w).casefold() for w in ExprEmitter._const_items(ir)))

    def any_word(self, path: tuple, words: list[str]) -> str:
        """A test: the case-folded text field at `path` (its normalised text at (NORMALIZED, path))
        contains at least one of `words`. For the top level of a handler only: a second guard on
        the same words reads the first one's answer (the counts' guard and the rules' guard are
        often the same), which always ran before it."""
        key = (path, tuple(words))
        name = self.local.guards.get(key)
        if name is not None:
            return name
        name = self.local.guards[key] = f"g{len(self.local.guards)}"
        return f"({name} := {self.word_test(path, words)})"

    def word_test(self, path: tuple, words: list[str]) -> str:
        """The test of `any_word`, unnamed: for a guard inside a guarded run, which does not always
        run, so that no later guard may read its answer."""
        text = self.local.normalized(path[1]) if path[0] is NORMALIZED else self.local.fold(path)
        return self._any_of(text, words)

    def _any_of(self, cf: str, words: list[str]) -> str:
        """The case-folded text in local `cf` holds one of `words`: one `in`, one pass of the C
        WordSet (a short list; a long one with its Aho–Corasick matcher for the texts the pass
        would cost more), a few `in`s (without it), or one Aho–Corasick pass (a long list)."""
        if len(words) >= 2 and matchers.WordSet is not matchers.PythonWordSet:
            long = len(words) > WORD_SET_WORDS
            word_set = self.pool.made(("word set",) + (("matcher",) if long else ()) + tuple(words),
                                      lambda: matchers.WordSet(words, WordMatcher(words).any if long else None))
            return f"{cf} is not None and {word_set}({cf})"
        if len(words) <= INLINE_WORDS:
            return f"{cf} is not None and (" + " or ".join(f"{self.pool.add(w)} in {cf}" for w in words) + ")"
        matcher = self.pool.made(("words",) + tuple(words), lambda: WordMatcher(words))
        return f"{cf} is not None and next({matcher}.scan({cf}), None) is not None"


class TableNames:
    """Names of the state tables a generated module binds, and how the module is generated."""

    def __init__(self, explain: bool = False, profile: bool = False) -> None:
        self.aggregates: dict[str, str] = {}
        self.explain = explain               # decisions carry `explain` (see codegen._explanation)
        self.profile = profile               # each rule starts with LAP(its index) (runtime/profile.py)
        self.laps: dict[tuple[str, str], int] = {}   # with `profile`: each lapped row's number (plan.lapped_sections)
        self.event_fields: set[str] = set()  # top-level event fields any generated function reads
        self.record = None                   # the decoded-record layout handlers also take (codegen.generate)
        self.givers: dict[tuple, str] = {}   # (currency, source, policy and rule names, named) → GIVEn
        self.updates: dict[str, str] = {}    # a handler's batched updates (their steps' code) → Un

    def batch(self, steps: str) -> str:
        """The name of the runtime/updates.Updates holding these steps, bound by build()."""
        return numbered(self.updates, steps, "U")

    def giver(self, currency: str, source: str, names: str, named: bool) -> str:
        """The name of the function awarding `currency` for one rule (Rewards.giver), bound by build()."""
        return numbered(self.givers, (currency, source, names, named), "GIVE")

    def aggregate(self, fingerprint: str) -> str:
        return numbered(self.aggregates, fingerprint, "A")
