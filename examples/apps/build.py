"""Build and sign every example app into ``examples/apps/dist/NAME.cmapp``; print the paths.

    python examples/apps/build.py [--key KEY] [--out DIR]

Every directory next to this script that holds a ``carmesh-app.toml`` is an app; each is
packaged and signed with :func:`carmesh.apps.package.build_package` (what ``carmesh app
sign`` does) using the development key ``dev-publisher.key``, which must never be trusted
in a production car (see README.md). The package of ``trip-computer/`` is
``dist/trip-computer.cmapp``, replaced on every build. Exits with status 1 and one sentence
when an app cannot be packaged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from carmesh.apps.manifest import MANIFEST_NAME
from carmesh.apps.package import PACKAGE_SUFFIX, build_package
from carmesh.apps.signing import PublisherKey
from carmesh.errors import CarmeshError

HERE = Path(__file__).resolve().parent
DEV_KEY = HERE / "dev-publisher.key"
DIST = HERE / "dist"


def app_sources(root: Path = HERE) -> list[Path]:
    """The app source directories under *root* (those with a manifest), sorted by name."""
    return sorted(path for path in root.iterdir() if (path / MANIFEST_NAME).is_file())


def build_all(key_path: Path = DEV_KEY, out: Path = DIST, root: Path = HERE) -> list[Path]:
    """Build and sign every app under *root* with the key at *key_path* into *out*;
    returns the package paths. Raises carmesh's errors (``PackageRejected`` …)."""
    key = PublisherKey.load(key_path)
    out.mkdir(parents=True, exist_ok=True)
    return [
        build_package(source, key, out / f"{source.name}{PACKAGE_SUFFIX}")
        for source in app_sources(root)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--key", type=Path, default=DEV_KEY, help="publisher's private key")
    parser.add_argument("--out", type=Path, default=DIST, help="directory for the packages")
    options = parser.parse_args(argv)
    try:
        packages = build_all(options.key, options.out)
    except CarmeshError as exc:
        print(f"build.py: {exc}", file=sys.stderr)
        return 1
    for package in packages:
        print(package)
    return 0


if __name__ == "__main__":
    sys.exit(main())
