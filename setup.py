"""The parts of the build pyproject.toml cannot say: the C modules and where the grammar goes."""
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithGrammar(build_py):
    """The grammar lives at the top level (`grammar/`) and ships inside the package, where
    policyengine.syntax.grammar looks for it first."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "policyengine" / "grammar"
        target.mkdir(parents=True, exist_ok=True)
        self.copy_file(str(ROOT / "grammar" / "policy.lark"), str(target / "policy.lark"))


setup(
    cmdclass={"build_py": BuildWithGrammar},
    # Per-line checks of `eval`, log lines read into records, member-keyed columns, sliding windows, awards of points, calendar days, short word lists, the state's encoding, the writing and counting of decisions and the report's counts in C (docs/performance.md). Optional: where it cannot be built,
    # the same answers come from Python, more slowly. -O3 (Python's own flags): 2.6 % fewer instructions an event
    # than -O2 on the community pack, ~1 % less time (seventeenth session).
    ext_modules=[Extension(f"policyengine.events.{name}", [f"policyengine/events/{name}.c"],
                           depends=["policyengine/events/_text.h", "policyengine/events/_json_scan.h", "policyengine/events/_normalize_table.h", "policyengine/events/_format.h",
                                    "policyengine/events/_clock.h", "policyengine/events/_clock_state.h", "policyengine/events/_split.h",
                                    "policyengine/events/_noted.h", "policyengine/events/_route_split.h",
                                    "policyengine/runtime/_columns.h"], extra_compile_args=["-O3"], optional=True)
                 for name in ("_lines", "_records", "_route")] +
                [Extension(f"policyengine.runtime.{name}", [f"policyengine/runtime/{name}.c"], extra_compile_args=["-O3"],
                           depends=["policyengine/runtime/_columns.h", "policyengine/runtime/_ints.h", "policyengine/runtime/_times.h",
                                    "policyengine/runtime/_huge.h", "policyengine/output/_decisions.h"], optional=True)
                 for name in ("_columns", "_windows", "_points", "_periods", "_words", "_codec")] +
                [Extension("policyengine.output._decisions", ["policyengine/output/_decisions.c"],
                           depends=["policyengine/output/_decisions.h", "policyengine/output/_record.h",
                                    "policyengine/output/_tally.h", "policyengine/events/_format.h", "policyengine/runtime/_ints.h"], extra_compile_args=["-O3"], optional=True),
                 # The report's counts of events, read from the lines (report/counts.py).
                 Extension("policyengine.report._observe", ["policyengine/report/_observe.c"],
                           depends=["policyengine/events/_json_scan.h", "policyengine/events/_text.h",
                                    "policyengine/events/_noted.h", "policyengine/runtime/_huge.h"],
                           extra_compile_args=["-O3"], optional=True),
                 # The command line's small-object arenas on transparent huge pages (cli/allocator.py).
                 Extension("policyengine.cli._arenas", ["policyengine/cli/_arenas.c"], extra_compile_args=["-O3"], optional=True),
                 # diff's decisions equal in both versions, set aside unparsed (cli/unchanged.py).
                 Extension("policyengine.cli._unchanged", ["policyengine/cli/_unchanged.c"], extra_compile_args=["-O3"], optional=True)],
)
