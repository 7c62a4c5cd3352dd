"""Run a Python script or `policyengine` with the package's C extension modules hidden: the
pure-Python fallbacks a machine without a C compiler runs (setup.py builds them optionally).

    python tests/without_c.py -m policyengine eval …
    python tests/without_c.py -c "import policyengine…"
    python tests/without_c.py script.py …
"""
import importlib.abc
import importlib.machinery
import runpy
import sys


class HideExtensions(importlib.abc.MetaPathFinder):
    """Refuses `policyengine.*._name` where the module found would be a compiled extension."""

    def find_spec(self, name, path, target=None):
        last = name.rpartition(".")[2]
        if not name.startswith("policyengine.") or not last.startswith("_") or last.startswith("__"):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
                    raise ImportError(f"{name}: hidden (tests/without_c.py)")
                return None
        return None


if __name__ == "__main__":
    sys.meta_path.insert(0, HideExtensions())
    if sys.argv[1] == "-m":
        module, sys.argv = sys.argv[2], [sys.argv[2], *sys.argv[3:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    elif sys.argv[1] == "-c":
        code, sys.argv = sys.argv[2], ["-c", *sys.argv[3:]]
        exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
    else:
        path, sys.argv = sys.argv[1], sys.argv[1:]
        runpy.run_path(path, run_name="__main__")
