"""mkdocs hooks: serve the notebooks from ../notebooks and fill generated tables into pages.

- The example notebooks live in ``notebooks/`` at the repository root (where Binder, GitHub and
  nbval find them); they are added to the site as ``notebooks/<name>.ipynb`` without copying, before
  mkdocs-jupyter turns ``.ipynb`` files into pages. Links between notebooks (``quickstart.ipynb``,
  which GitHub follows) are pointed at the rendered pages.
- ``<!-- venice:options MAGIC -->``, ``<!-- venice:settings -->`` and ``<!-- venice:voices -->`` in a
  page become tables generated from the code (the magics' argument parsers, the ``VeniceMagics``
  traits, the offline engine's voice plans), so the docs cannot drift from what the code accepts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
_PLACEHOLDER = re.compile(r"<!--\s*venice:(\w[\w-]*)(?:\s+([\w-]+))?\s*-->")
_NOTEBOOK_LINK = re.compile(r'href="([A-Za-z0-9_]+)\.ipynb(#[^"]*)?"')


@event_priority(100)  # before mkdocs-jupyter wraps .ipynb files as pages
def on_files(files: Files, config: MkDocsConfig) -> Files:
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        uri = f"notebooks/{path.name}"
        if files.get_file_from_path(uri) is None:
            files.append(
                File(
                    uri,
                    src_dir=str(REPO),
                    dest_dir=config.site_dir,
                    use_directory_urls=config.use_directory_urls,
                )
            )
    return files


def on_page_content(html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Point ``other.ipynb`` links inside a rendered notebook at that notebook's page."""
    if not page.file.src_uri.startswith("notebooks/") or not page.file.src_uri.endswith(".ipynb"):
        return html

    def relink(match: re.Match[str]) -> str:
        target = files.get_file_from_path(f"notebooks/{match.group(1)}.ipynb")
        if target is None:
            return match.group(0)
        return f'href="{target.url_relative_to(page.file)}{match.group(2) or ""}"'

    return _NOTEBOOK_LINK.sub(relink, html)


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    def fill(match: re.Match[str]) -> str:
        kind, arg = match.group(1), match.group(2)
        if kind == "options" and arg:
            return options_table(arg)
        if kind == "settings":
            return settings_table()
        if kind == "voices":
            return voices_table()
        raise ValueError(f"{page.file.src_uri}: unknown placeholder {match.group(0)!r}")

    return _PLACEHOLDER.sub(fill, markdown)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def options_table(magic: str) -> str:
    """The options of ``%magic`` as a markdown table, from its IPython argument parser."""
    from venice_nb.notebook.magics import VeniceMagics

    parser = getattr(VeniceMagics, magic).parser
    rows = ["| option | meaning |", "| --- | --- |"]
    for action in parser._actions:
        if action.dest == "help":
            continue
        if action.option_strings:
            names = ", ".join(f"`{o}`" for o in action.option_strings)
            if action.nargs != 0:
                names += f" `{action.dest.upper()}`"
        else:
            names = f"`{action.dest.upper()}`"
        parts = [action.help] if action.help else []
        if action.choices:
            parts.append(f"one of {', '.join(f'`{c}`' for c in action.choices)}")
        if action.default not in (None, False) and "default" not in (action.help or ""):
            parts.append(f"default `{action.default}`")
        meaning = "; ".join(parts)
        rows.append(f"| {names} | {_cell(meaning)} |")
    return "\n".join(rows)


def settings_table() -> str:
    """Every ``%config VeniceMagics.<name>`` setting with its default and help."""
    from venice_nb.notebook.settings import Settings

    rows = ["| setting | default | meaning |", "| --- | --- | --- |"]
    for name, trait in sorted(Settings.class_traits(config=True).items()):
        default = trait.default_value
        shown = "None" if default is None else repr(default)
        rows.append(f"| `{name}` | `{shown}` | {_cell(trait.help)} |")
    return "\n".join(rows)


def voices_table() -> str:
    """How the offline engine renders every catalog voice."""
    from venice_nb.local.catalog import load_catalog
    from venice_nb.local.voices import voice_table

    rows = [
        "| model | voice | gender | language | rendered offline with |",
        "| --- | --- | --- | --- | --- |",
    ]
    for model, voice, gender, language, how in voice_table(load_catalog(), "en_US-joe-medium"):
        how = re.sub(r"\s{2,}", ", ", how)
        rows.append(f"| {model} | `{voice}` | {gender} | {language} | {_cell(how)} |")
    return "\n".join(rows)
