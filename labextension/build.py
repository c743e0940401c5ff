"""Build venice_nb's JupyterLab / Notebook 7 extension into ``venice_nb/labextension``, or check
that the committed build still matches its sources.

    python labextension/build.py            # rebuild (node and npm), then commit venice_nb/labextension
    python labextension/build.py --check    # no node needed: exit 1 if the build is stale

The built bundle is committed so that ``pip install .`` / ``pip install -e .`` from a clone install
a working extension with no node (see pyproject.toml). Its file names are content hashes and the
bytes are not reproducible across machines, so staleness is judged from the sources instead: the
build records the sha256 of every file it was made from (the modules ``lib/index.js`` reaches
through relative imports, among them ``venice_nb/notebook/*.js|css``, plus ``package.json`` and
``package-lock.json``) in ``venice_nb/labextension/sources.sha256``, and ``--check`` compares that
record with the files now.

Building needs node and npm (Debian's nodejs, or any node >= 18) and the ``jupyterlab`` Python
package, whose ``staging`` folder tells the builder which packages JupyterLab shares. It installs
the npm dependencies from ``package-lock.json`` (``npm ci``) the first time, then runs
``@jupyterlab/builder`` directly: ``jupyter labextension build`` in JupyterLab 4.6 wants to fetch
release metadata from the network, which this build does without.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT_NAME = Path("venice_nb") / "labextension"
STAMP = "sources.sha256"
"""The record of the sources a build was made from, inside the built bundle."""

REBUILD = (
    "Rebuild it with `python labextension/build.py` (needs node and npm) "
    "and commit venice_nb/labextension."
)

# Relative module references webpack follows: JS static / dynamic imports and re-exports, CSS
# @import and url(). Bare specifiers (@jupyterlab/...) come from package-lock.json.
_JS_IMPORT = re.compile(
    r"""(?:\bimport\s*(?:[\w*{}\s,$]+\s*from\s*)?|\bexport\s*[\w*{}\s,$]+\s*from\s*|\bimport\s*\(\s*)"""
    r"""["'](\.{1,2}/[^"']+)["']"""
)
_CSS_IMPORT = re.compile(r"""(?:@import\s+(?:url\()?|url\()\s*["']?(\.{1,2}/[^"')\s?#]+)""")


def source_files(root: Path = ROOT) -> list[Path]:
    """Every file the bundle is built from, relative to ``root``: ``lib/index.js`` and what it
    reaches through relative imports, ``package.json`` and ``package-lock.json``."""
    ext = root / "labextension"
    seen: set[Path] = set()
    pending = [ext / "lib" / "index.js"]
    while pending:
        path = pending.pop().resolve()
        if path in seen:
            continue
        if not path.is_file():
            raise FileNotFoundError(f"labextension/build.py: {path} is imported but missing")
        seen.add(path)
        pattern = _CSS_IMPORT if path.suffix == ".css" else _JS_IMPORT
        for ref in pattern.findall(path.read_text(encoding="utf-8")):
            pending.append(path.parent / ref)
    files = {p.relative_to(root.resolve()) for p in seen}
    files |= {Path("labextension/package.json"), Path("labextension/package-lock.json")}
    return sorted(files, key=lambda p: p.as_posix())


def _digest(path: Path) -> str:
    # Line endings normalised: a Windows checkout (autocrlf) is not a change.
    return hashlib.sha256(path.read_bytes().replace(b"\r\n", b"\n")).hexdigest()


def sources_record(root: Path = ROOT) -> dict[str, str]:
    """``{posix path: sha256}`` of the sources as they are now."""
    return {p.as_posix(): _digest(root / p) for p in source_files(root)}


def read_record(text: str) -> dict[str, str]:
    """Parse a ``sources.sha256`` (``<sha256>  <path>`` per line, as sha256sum writes)."""
    record = {}
    for line in text.splitlines():
        if line.strip():
            digest, _, name = line.partition("  ")
            record[name] = digest
    return record


def stale_reasons(root: Path = ROOT) -> list[str]:
    """Why the committed build in ``root/venice_nb/labextension`` does not match its sources
    (empty when it does). Needs no node."""
    out = root / OUT_NAME
    if not (out / "package.json").is_file() or not list(out.glob("static/remoteEntry.*.js")):
        return [f"{OUT_NAME.as_posix()} holds no built extension (package.json, remoteEntry)"]
    if not (out / STAMP).is_file():
        return [f"{OUT_NAME.as_posix()}/{STAMP} is missing: the build's sources are unknown"]
    built = read_record((out / STAMP).read_text(encoding="utf-8"))
    now = sources_record(root)
    reasons = [f"changed since the build: {n}" for n in now if n in built and built[n] != now[n]]
    reasons += [f"new source, not in the build: {n}" for n in now if n not in built]
    reasons += [f"no longer a source: {n}" for n in built if n not in now]
    return reasons


def build() -> int:
    npm = shutil.which("npm")
    if npm is None:
        print(
            "labextension/build.py: npm is not installed (apt-get install nodejs npm)",
            file=sys.stderr,
        )
        return 2
    try:
        import jupyterlab
    except ImportError:
        print("labextension/build.py: pip install jupyterlab first", file=sys.stderr)
        return 2
    staging = Path(jupyterlab.__file__).resolve().parent / "staging"
    if not (HERE / "node_modules" / ".bin" / "build-labextension").exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, check=True
        )
    record = sources_record()
    out = ROOT / OUT_NAME
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run(
        [
            str(HERE / "node_modules" / ".bin" / "build-labextension"),
            "--core-path",
            str(staging),
            ".",
        ],
        cwd=HERE,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (out / STAMP).write_text(
        "".join(f"{digest}  {name}\n" for name, digest in record.items()), encoding="utf-8"
    )
    print(f"built {OUT_NAME.as_posix()}: commit it (git add -A {OUT_NAME.as_posix()})")
    return 0


def check() -> int:
    reasons = stale_reasons()
    if not reasons:
        print(f"{OUT_NAME.as_posix()} matches its sources")
        return 0
    print(f"{OUT_NAME.as_posix()} is stale:", file=sys.stderr)
    for reason in reasons:
        print(f"  {reason}", file=sys.stderr)
    print(REBUILD, file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="only check the committed build against its sources"
    )
    return check() if parser.parse_args(argv).check else build()


if __name__ == "__main__":
    raise SystemExit(main())
