"""``carmesh app …``: make, sign and manage in-car apps (``docs/apps.md``).

``keygen``, ``new`` and ``sign`` work on local files. The other commands manage the apps of a
running car through its HTTP API (``--car URL``, default: the ``http`` setting), so that the
car's supervisor, registry and screens stay the one authority.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.prompt import Confirm
from rich.table import Table

from carmesh.errors import (
    AlreadyExists,
    CarmeshError,
    ConfigError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PackageRejected,
    PermissionDenied,
    Unavailable,
)
from carmesh.settings import Settings

app_app = typer.Typer(
    help="Make, sign, install and manage in-car apps (docs/apps.md).", no_args_is_help=True
)
console = Console()

CarOpt = Annotated[
    str | None,
    typer.Option("--car", help="The running car's HMI URL (default: http://<http setting>)."),
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="TOML settings file (env CARMESH_CONFIG).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
AppIdArg = Annotated[str, typer.Argument(help="The app's id, e.g. org.example.hello.")]

#: What a user reads for each kind of permission when asked to grant it.
PERMISSION_WORDS = {
    "read": "read the vehicle signals {pattern}",
    "actuate": "change (actuate) {pattern}",
    "provide": "provide values for {pattern}",
    "notifications": "show notifications",
    "media": "play media through the car's audio system",
    "location": "read the car's location",
    "network": "use the network",
}

_ERRORS: dict[str, type[CarmeshError]] = {
    "not_found": NotFound,
    "invalid_argument": InvalidArgument,
    "invalid_value": InvalidArgument,
    "package_rejected": PackageRejected,
    "permission_denied": PermissionDenied,
    "already_exists": AlreadyExists,
    "failed_precondition": FailedPrecondition,
    "unavailable": Unavailable,
}


def describe_permission(permission: str) -> str:
    """A sentence fragment saying what *permission* lets an app do."""
    kind, _, pattern = permission.partition(":")
    words = PERMISSION_WORDS.get(kind)
    return words.format(pattern=pattern) if words else permission


class CarClient:
    """The running car's apps API over HTTP; errors come back as carmesh exceptions."""

    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    @classmethod
    def from_options(cls, car: str | None, config: Path | None) -> CarClient:
        if car is None:
            address = Settings.load(config).http
            if address.lower() == "off" or address.endswith(":0"):
                raise ConfigError("give the running car's HMI address with --car URL")
            car = f"http://{address}"
        if not car.startswith(("http://", "https://")):
            car = f"http://{car}"
        return cls(car)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        data: bytes | None = None,
        query: dict[str, str] | None = None,
    ) -> Any:
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/octet-stream"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            raise _error_from(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise Unavailable(
                f"cannot reach the car at {self.base_url} ({reason}); is `carmesh run` running?"
            ) from None
        return json.loads(payload) if payload else None


def _error_from(exc: urllib.error.HTTPError) -> CarmeshError:
    try:
        error = json.loads(exc.read())["error"]
        kind = _ERRORS.get(error.get("code"), CarmeshError)
        return kind(str(error.get("message")))
    except (ValueError, KeyError, TypeError):
        return CarmeshError(f"the car answered HTTP {exc.code}")


def _quote(app_id: str) -> str:
    return urllib.parse.quote(app_id, safe="")


def _print_app(app: dict[str, Any]) -> None:
    granted = [p["id"] for p in app["permissions"] if p["granted"]]
    console.print(
        f"{app['id']} {app['version']} — {app['state']}"
        + (f" (pid {app['pid']})" if app.get("pid") else ""),
        markup=False,
        highlight=False,
    )
    if granted:
        console.print("  granted: " + ", ".join(granted), markup=False, highlight=False)


# -- local commands -----------------------------------------------------------------------


@app_app.command("keygen")
def keygen(
    publisher: Annotated[str, typer.Option("--publisher", help="Your publisher id (reverse DNS).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Private key file to write.")] = Path(
        "publisher.key"
    ),
) -> None:
    """Create a publisher signing key (ed25519): OUT (private) and OUT.pub (give it to cars)."""
    from carmesh.apps.signing import PublisherKey

    if out.exists():
        raise ConfigError(f"{out} exists already; choose another file")
    public = PublisherKey.generate(publisher).save(out)
    console.print(f"wrote {out} and {public}", markup=False, highlight=False)


@app_app.command("new")
def new(
    app_id: AppIdArg,
    directory: Annotated[
        Path | None, typer.Argument(help="Where to create it (default: its last id label).")
    ] = None,
    publisher: Annotated[
        str | None, typer.Option("--publisher", help="Publisher id (default: the id's parent).")
    ] = None,
) -> None:
    """Scaffold a working app with a test."""
    from carmesh.apps.scaffold import new_app

    target = directory or Path(app_id.rsplit(".", 1)[-1].replace("-", "_"))
    created = new_app(app_id, target, publisher=publisher)
    console.print(
        f"created {created}; try: cd {created} && python -m pytest -q",
        markup=False,
        highlight=False,
    )


@app_app.command("sign")
def sign(
    source: Annotated[
        Path, typer.Argument(help="The app's source directory (with carmesh-app.toml) or a .cmapp.")
    ],
    key: Annotated[Path, typer.Option("--key", help="The publisher's private key.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="The .cmapp to write.")] = None,
) -> None:
    """Package and sign an app (or re-sign a .cmapp in place)."""
    from carmesh.apps.package import build_package, sign_package
    from carmesh.apps.signing import PublisherKey

    publisher_key = PublisherKey.load(key)
    if source.is_dir():
        path = build_package(source, publisher_key, out)
    elif source.is_file():
        path = sign_package(source, publisher_key)
    else:
        raise ConfigError(f"{source} is neither an app directory nor a .cmapp file")
    console.print(f"signed {path}", markup=False, highlight=False)


# -- commands talking to the car ----------------------------------------------------------


@app_app.command("trust")
def trust(
    public_key: Annotated[Path, typer.Argument(help="A publisher's .pub file (app keygen).")],
    car: CarOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Make the car trust a publisher's key for installing and updating apps."""
    from carmesh.apps.signing import read_public_key

    try:
        text = public_key.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {public_key}: {exc.strerror}") from None
    publisher, _ = read_public_key(text)
    if publisher is None:
        raise ConfigError(
            f"{public_key} does not name its publisher; use the .pub file keygen wrote"
        )
    client = CarClient.from_options(car, config)
    try:
        entry = client.request(
            "POST", "/api/apps/publishers", {"publisher": publisher, "public_key_pem": text}
        )
    except AlreadyExists:
        console.print(f"{publisher}'s key is trusted already", markup=False, highlight=False)
        return
    console.print(
        f"trusted {entry['publisher']} ({entry['fingerprint']})", markup=False, highlight=False
    )


def _decide(client: CarClient, app: dict[str, Any], grant: str | None, yes: bool) -> dict[str, Any]:
    """Ask the user about each undecided permission (or apply --grant); returns the app."""
    undecided = [p["id"] for p in app["permissions"] if p["granted"] is None]
    if not undecided:
        return app
    decisions: dict[str, bool] = {}
    if grant in ("all", "none") or yes:
        decisions = {p: grant != "none" for p in undecided}
    elif not sys.stdin.isatty():
        raise FailedPrecondition(
            f"{app['id']} asks for {len(undecided)} permission(s) and there is no terminal to "
            "ask: pass --grant all or --grant none, or decide in the car's screen"
        )
    else:
        console.print(f"{app['names'].get('en', app['id'])} ({app['id']}) asks to:")
        for permission in undecided:
            decisions[permission] = Confirm.ask(f"  {describe_permission(permission)}?")
    result: dict[str, Any] = client.request(
        "PUT", f"/api/apps/{_quote(app['id'])}/grants", {"grants": decisions}
    )
    return result


@app_app.command("install")
def install(
    packages: Annotated[list[Path], typer.Argument(help="The .cmapp file(s) to install.")],
    grant: Annotated[
        str | None,
        typer.Option("--grant", help="all or none: decide every permission without asking."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Grant everything asked.")] = False,
    start: Annotated[bool, typer.Option("--start/--no-start", help="Start it afterwards.")] = True,
    car: CarOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Install apps into the running car, asking for their permissions."""
    if grant not in (None, "all", "none"):
        raise InvalidArgument("--grant takes all or none")
    client = CarClient.from_options(car, config)
    from carmesh.apps.package import Package

    for package in packages:
        data = _read_package(package)
        manifest = Package.read_unverified(data).manifest
        try:
            app = client.request("POST", "/api/apps", data=data, query={"grant": "ask"})
            console.print(f"installed {app['id']} {app['version']}", markup=False, highlight=False)
        except AlreadyExists:
            # As package managers do: installing a newer version of an installed app updates it.
            app = client.request("GET", f"/api/apps/{_quote(manifest.id)}")
            if app["version"] == manifest.version:
                console.print(
                    f"{app['id']} {app['version']} is installed already",
                    markup=False,
                    highlight=False,
                )
            else:
                app = client.request("POST", f"/api/apps/{_quote(manifest.id)}/update", data=data)
                console.print(
                    f"updated {app['id']} to {app['version']}", markup=False, highlight=False
                )
        app = _decide(client, app, grant, yes)
        if start:
            app = client.request("POST", f"/api/apps/{_quote(app['id'])}/start")
        _print_app(app)


def _read_package(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


@app_app.command("update")
def update(
    package: Annotated[Path, typer.Argument(help="The new version's .cmapp file.")],
    grant: Annotated[
        str | None, typer.Option("--grant", help="all or none for new permissions.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Grant new permissions.")] = False,
    car: CarOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Update an installed app; the previous version is kept for rollback."""
    from carmesh.apps.package import Package

    data = _read_package(package)
    app_id = Package.read_unverified(data).manifest.id
    client = CarClient.from_options(car, config)
    app = client.request("POST", f"/api/apps/{_quote(app_id)}/update", data=data)
    app = _decide(client, app, grant, yes)
    if app["enabled"] and app["state"] in ("stopped", "exited"):
        app = client.request("POST", f"/api/apps/{_quote(app_id)}/start")
    _print_app(app)


@app_app.command("rollback")
def rollback(app_id: AppIdArg, car: CarOpt = None, config: ConfigOpt = None) -> None:
    """Go back to the version installed before the last update."""
    client = CarClient.from_options(car, config)
    _print_app(client.request("POST", f"/api/apps/{_quote(app_id)}/rollback"))


@app_app.command("remove")
def remove(
    app_id: AppIdArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    car: CarOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Remove an app with its data."""
    if not yes and sys.stdin.isatty() and not Confirm.ask(f"Remove {app_id} and its data?"):
        raise typer.Exit(1)
    client = CarClient.from_options(car, config)
    client.request("DELETE", f"/api/apps/{_quote(app_id)}")
    console.print(f"removed {app_id}", markup=False, highlight=False)


@app_app.command("start")
def start_app(app_id: AppIdArg, car: CarOpt = None, config: ConfigOpt = None) -> None:
    """Start an app (and lift its quarantine); it then starts with the car."""
    client = CarClient.from_options(car, config)
    _print_app(client.request("POST", f"/api/apps/{_quote(app_id)}/start"))


@app_app.command("stop")
def stop_app(app_id: AppIdArg, car: CarOpt = None, config: ConfigOpt = None) -> None:
    """Stop an app; it no longer starts with the car."""
    client = CarClient.from_options(car, config)
    _print_app(client.request("POST", f"/api/apps/{_quote(app_id)}/stop"))


def _set_grants(
    app_id: str, permissions: list[str], value: bool, car: str | None, config: Path | None
) -> None:
    client = CarClient.from_options(car, config)
    app = client.request(
        "PUT", f"/api/apps/{_quote(app_id)}/grants", {"grants": dict.fromkeys(permissions, value)}
    )
    _print_app(app)


@app_app.command("grant")
def grant_permissions(
    app_id: AppIdArg,
    permissions: Annotated[list[str], typer.Argument(help="Permission ids, e.g. notifications.")],
    car: CarOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Grant permissions an app declares."""
    _set_grants(app_id, permissions, True, car, config)


@app_app.command("revoke")
def revoke_permissions(
    app_id: AppIdArg,
    permissions: Annotated[list[str], typer.Argument(help="Permission ids to revoke.")],
    car: CarOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Revoke permissions; a running app restarts without them at once."""
    _set_grants(app_id, permissions, False, car, config)


@app_app.command("list")
def list_apps(json_out: JsonOpt = False, car: CarOpt = None, config: ConfigOpt = None) -> None:
    """The installed apps with their state, version and permissions."""
    client = CarClient.from_options(car, config)
    apps = client.request("GET", "/api/apps")["apps"]
    if json_out:
        print(json.dumps(apps, ensure_ascii=False, indent=2))
        return
    if not apps:
        console.print("no apps installed")
        return
    table = Table(box=None, header_style="bold")
    for column in ("app", "version", "state", "restarts", "isolation", "permissions"):
        table.add_column(column)
    for item in apps:
        undecided = sum(1 for p in item["permissions"] if p["granted"] is None)
        granted = sum(1 for p in item["permissions"] if p["granted"])
        state = item["state"] + (
            " (quarantined)" if item["quarantined"] and item["state"] != "quarantined" else ""
        )
        table.add_row(
            f"{item['id']}\n{item['names'].get('en', '')}",
            item["version"]
            + (f" (was {item['previous_version']})" if item["previous_version"] else ""),
            state,
            str(item["restarts"]),
            item["isolation"] or "-",
            f"{granted}/{len(item['permissions'])} granted"
            + (f", {undecided} undecided" if undecided else ""),
        )
    console.print(table)


@app_app.command("logs")
def logs(
    app_id: AppIdArg,
    lines: Annotated[int, typer.Option("--lines", "-n", help="How many lines.", min=1)] = 50,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines.")
    ] = False,
    car: CarOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Print an app's captured stdout/stderr and the car's notes about it."""
    client = CarClient.from_options(car, config)
    path = f"/api/apps/{_quote(app_id)}/logs"
    seen = client.request("GET", path, query={"lines": str(lines)})["lines"]
    for line in seen:
        print(line)
    while follow:
        time.sleep(1.0)
        latest = client.request("GET", path, query={"lines": "500"})["lines"]
        new_lines = _after(seen, latest)
        for line in new_lines:
            print(line, flush=True)
        seen = latest


def _after(seen: list[str], latest: list[str]) -> list[str]:
    """The lines of *latest* that follow the end of *seen*."""
    if not seen:
        return latest
    last = seen[-1]
    for index in range(len(latest) - 1, -1, -1):
        if latest[index] == last:
            return latest[index + 1 :]
    return latest
