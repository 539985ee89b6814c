"""Fuzz one target in this process under atheris: ``python -m fuzz.run_one NAME [libFuzzer args]``.

``fuzz/run.py`` starts one of these per target. MidStream's modules are
instrumented for coverage as the target imports them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

# numba compiles the kernels' bytecode: atheris's coverage hooks in it would not compile.
KERNELS = [f"midstream.operators.{path.stem}"
           for path in (Path(__file__).resolve().parent.parent / "operators").glob("_*kernels.py")]

with atheris.instrument_imports(include=["midstream"], exclude=KERNELS):
    from fuzz.targets import TARGETS


def main() -> None:
    """Run the target named by the first argument; the rest go to libFuzzer."""
    target = TARGETS[sys.argv[1]]
    # Import (and instrument) what the target uses before fuzzing starts.
    with atheris.instrument_imports(include=["midstream"], exclude=KERNELS):
        target.run(b"")
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target.run)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
