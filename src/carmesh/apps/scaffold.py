"""``carmesh app new``: a new app's source directory, ready to test, sign and install.

The app it writes reads ``Vehicle.Speed`` and shows it in a ``pane`` template, updated on
every change. Its files come from ``scaffold_template/`` (``string.Template`` text): the
manifest, a package named after the id's last label with ``app.py`` (``main(car)``, using
the SDK) and ``view.py`` (what the pane shows, plain data without the SDK), ``tests/`` for
``view.py`` that pass with plain pytest, an icon, a README and a ``pyproject.toml`` that
only configures pytest.
"""

from __future__ import annotations

import contextlib
import json
import keyword
import os
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path
from string import Template

from carmesh.apps.manifest import Manifest, is_reverse_dns, platform_version, toml_string
from carmesh.errors import AlreadyExists, InvalidArgument, PackageRejected

#: Module names an app package must not take: they would shadow what the app imports.
_RESERVED = frozenset({"carmesh", "tests", "test", "conftest"})

#: Template file → path in the new app (``{module}`` is the package's name).
_FILES = {
    "carmesh-app.toml.tmpl": "carmesh-app.toml",
    "__init__.py.tmpl": "{module}/__init__.py",
    "app.py.tmpl": "{module}/app.py",
    "view.py.tmpl": "{module}/view.py",
    "test_app.py.tmpl": "tests/test_app.py",
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "icon.svg": "icon.svg",
}


def module_name(app_id: str) -> str:
    """The Python package name for *app_id*: its last label as a safe identifier.

    ``-`` becomes ``_``; a leading digit gets an ``app_`` prefix; a keyword, a standard
    library module or a name carmesh needs (``carmesh``, ``tests``) gets an ``_app`` suffix.
    """
    name = app_id.rsplit(".", 1)[-1].replace("-", "_")
    if not name.isidentifier():
        name = "app_" + name
    if keyword.iskeyword(name) or name in sys.stdlib_module_names or name in _RESERVED:
        name += "_app"
    return name


def default_publisher(app_id: str) -> str:
    """*app_id* without its last label (``org.example.hello`` → ``org.example``), or the id
    itself when that would leave a single label."""
    head = app_id.rsplit(".", 1)[0]
    return head if is_reverse_dns(head) else app_id


def new_app(
    app_id: str,
    directory: Path,
    *,
    publisher: str | None = None,
    name_en: str | None = None,
    name_zh: str | None = None,
) -> Path:
    """Create the source of a new app *app_id* in *directory*; returns *directory*.

    *publisher* defaults to :func:`default_publisher`; *name_en* to the id's last label in
    title case; *name_zh* to *name_en*. Raises :class:`InvalidArgument` for a bad id,
    publisher or name (the manifest's own rules), :class:`AlreadyExists` when *directory*
    exists and is not empty. The files appear all at once: they are written to a temporary
    sibling directory that is renamed into place.
    """
    if not is_reverse_dns(app_id):
        raise InvalidArgument(
            f"{app_id!r} is not an app id (reverse-DNS, e.g. org.example.hello: 2 or more "
            "dot-separated labels of a-z, 0-9, '_' and '-')"
        )
    publisher = publisher or default_publisher(app_id)
    if not is_reverse_dns(publisher):
        raise InvalidArgument(
            f"{publisher!r} is not a publisher id (reverse-DNS, e.g. org.example)"
        )
    last = app_id.rsplit(".", 1)[-1]
    name_en = name_en or last.replace("-", " ").replace("_", " ").title()
    name_zh = name_zh or name_en
    module = module_name(app_id)
    values = {
        "id": app_id,
        "publisher": publisher,
        "id_toml": toml_string(app_id),
        "publisher_toml": toml_string(publisher),
        "min_platform_toml": toml_string(platform_version()),
        "name_en_toml": toml_string(name_en),
        "name_zh_toml": toml_string(name_zh),
        "name_text": " ".join(name_en.split()),
        "title_en": json.dumps(name_en, ensure_ascii=False),  # a valid Python literal too
        "title_zh": json.dumps(name_zh, ensure_ascii=False),
        "module": module,
        "last": last,
        "directory": directory.name,
    }
    texts = {
        target.format(module=module): _render(template, values)
        for template, target in _FILES.items()
    }
    _check_manifest(texts["carmesh-app.toml"])
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise AlreadyExists(f"{directory} exists and is not empty; choose another directory")
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    try:
        for relative, text in texts.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, "utf-8")
        os.chmod(staging, 0o755)
        with contextlib.suppress(FileNotFoundError):
            directory.rmdir()  # empty, checked above
        staging.rename(directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def _render(template: str, values: dict[str, str]) -> str:
    source = resources.files("carmesh.apps").joinpath("scaffold_template", template)
    text = source.read_text("utf-8")
    if not template.endswith(".tmpl"):
        return text
    return Template(text).substitute(values)


def _check_manifest(text: str) -> None:
    """Refuse names the manifest would refuse, before anything is written."""
    try:
        Manifest.parse(text)
    except PackageRejected as exc:
        raise InvalidArgument(str(exc).replace("the manifest's ", "the app's ", 1)) from None
