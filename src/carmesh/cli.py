"""The ``carmesh`` command: a thin skin over the runtime and the catalog."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from carmesh import __version__
from carmesh.errors import CarmeshError, ConfigError
from carmesh.settings import Settings
from carmesh.vss import Catalog, Node

app = typer.Typer(
    name="carmesh",
    help="carmesh: an open in-vehicle software platform around a COVESA VSS signal broker.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="TOML settings file (env CARMESH_CONFIG).")
]
VssOpt = Annotated[
    str | None,
    typer.Option("--vss", help="Packaged VSS release (6.0, 4.0) or a VSS JSON file."),
]
OverlayOpt = Annotated[
    list[Path] | None,
    typer.Option("--overlay", help="Overlay file (JSON/YAML) changing the catalog; repeatable."),
]

TimeScaleOpt = Annotated[
    float | None,
    typer.Option("--time-scale", help="Simulated seconds per real second (default 1)."),
]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Make the simulated drive repeatable.")]
ScenarioOpt = Annotated[
    Path | None,
    typer.Option("--scenario", help="Scenario file (YAML/TOML) the simulated car follows."),
]
CanDbcOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--can-dbc", help="CAN database (DBC, KCD, ARXML) for the CAN provider; repeatable."
    ),
]
CanMappingOpt = Annotated[
    Path | None,
    typer.Option("--can-mapping", help="dbc2vss/vss2dbc mapping file (docs/can-mapping.md)."),
]
CanInterfaceOpt = Annotated[
    str | None,
    typer.Option("--can-interface", help="python-can interface (socketcan, virtual, pcan…)."),
]
CanChannelOpt = Annotated[
    str | None, typer.Option("--can-channel", help="CAN channel (default can0).")
]
CanBitrateOpt = Annotated[
    int | None, typer.Option("--can-bitrate", help="Bitrate, where the interface sets it.")
]
CanReplayOpt = Annotated[
    Path | None,
    typer.Option("--can-replay", help="Replay a candump/ASC log instead of reading a bus."),
]
CanReplaySpeedOpt = Annotated[
    float | None,
    typer.Option("--can-replay-speed", help="Replay speed, 1 = recorded pace, 0 = flat out."),
]
CanReplayLoopOpt = Annotated[
    bool | None, typer.Option("--can-replay-loop", help="Replay the log again and again.")
]

VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log debug output.")]


def _fail(message: str) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(1)


def _version(value: bool) -> None:
    if value:
        console.print(f"carmesh {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """carmesh: an open in-vehicle software platform around a COVESA VSS signal broker."""


@app.command()
def run(
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="State directory (default: a per-user data directory)."),
    ] = None,
    vss: VssOpt = None,
    overlay: OverlayOpt = None,
    config: ConfigOpt = None,
    grpc: Annotated[
        str | None,
        typer.Option(
            "--grpc",
            help="KUKSA/Velocitas gRPC address HOST:PORT (default 127.0.0.1:55555; 'off').",
        ),
    ] = None,
    http: Annotated[
        str | None,
        typer.Option(
            "--http",
            help="HMI pages, JSON API and WebSocket HOST:PORT (default 127.0.0.1:8080; 'off').",
        ),
    ] = None,
    jwt_public_key: Annotated[
        Path | None,
        typer.Option("--jwt-public-key", help="PEM public key verifying bearer tokens."),
    ] = None,
    insecure: Annotated[
        bool | None,
        typer.Option(
            "--insecure", help="Allow non-loopback addresses: gRPC without tokens, and the HMI."
        ),
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="TLS server certificate (PEM).")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="TLS server key (PEM).")] = None,
    tls_client_ca: Annotated[
        Path | None,
        typer.Option("--tls-client-ca", help="Require client certificates signed by this CA."),
    ] = None,
    vehicle: Annotated[
        str | None,
        typer.Option(
            "--vehicle", help="Vehicle provider: sim (a simulated EV, the default), can, none."
        ),
    ] = None,
    time_scale: TimeScaleOpt = None,
    seed: SeedOpt = None,
    scenario: ScenarioOpt = None,
    can_dbc: CanDbcOpt = None,
    can_mapping: CanMappingOpt = None,
    can_interface: CanInterfaceOpt = None,
    can_channel: CanChannelOpt = None,
    can_bitrate: CanBitrateOpt = None,
    can_replay: CanReplayOpt = None,
    can_replay_speed: CanReplaySpeedOpt = None,
    can_replay_loop: CanReplayLoopOpt = None,
    apps: Annotated[
        bool | None,
        typer.Option("--apps/--no-apps", help="Run installed apps (default: yes)."),
    ] = None,
    mqtt: Annotated[
        str | None,
        typer.Option(
            "--mqtt", help="Start Mosquitto for Velocitas apps on HOST:PORT (default 'off')."
        ),
    ] = None,
    velocitas_venv: Annotated[
        Path | None,
        typer.Option("--velocitas-venv", help="Virtualenv with velocitas-sdk for Velocitas apps."),
    ] = None,
    media: Annotated[
        bool | None,
        typer.Option(
            "--media/--no-media",
            help="Run the media service: music library, radio, podcasts, app media (default: yes).",
        ),
    ] = None,
    audio_out: Annotated[
        str | None,
        typer.Option(
            "--audio-out",
            help="Driver zone audio: auto (default), null, wav:PATH, alsa[:DEVICE], pulse.",
        ),
    ] = None,
    audio_out_rear: Annotated[
        str | None,
        typer.Option(
            "--audio-out-rear", help="Rear-seat zone audio, as --audio-out (default 'off')."
        ),
    ] = None,
    media_library: Annotated[
        list[Path] | None,
        typer.Option(
            "--media-library", help="Folder of music files to scan (default ~/Music); repeatable."
        ),
    ] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Start the car: the signal broker, its gRPC API, the vehicle and the HMI. Ctrl-C stops it."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from carmesh.runtime import Runtime

    settings = Settings.load(
        config,
        data_dir=data_dir,
        vss=vss,
        overlays=overlay,
        grpc=grpc,
        http=http,
        jwt_public_key=jwt_public_key,
        insecure=insecure,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_client_ca=tls_client_ca,
        vehicle=vehicle,
        time_scale=time_scale,
        seed=seed,
        scenario=scenario,
        can_dbc=can_dbc,
        can_mapping=can_mapping,
        can_interface=can_interface,
        can_channel=can_channel,
        can_bitrate=can_bitrate,
        can_replay=can_replay,
        can_replay_speed=can_replay_speed,
        can_replay_loop=can_replay_loop,
        apps=apps,
        mqtt=mqtt,
        velocitas_venv=velocitas_venv,
        media=media,
        audio_out=audio_out,
        audio_out_rear=audio_out_rear,
        media_library=media_library,
    )
    runtime = Runtime(settings)

    def ready(rt: Runtime) -> None:
        counts = rt.catalog.counts()
        leaves = len(rt.catalog.leaves)
        lines = [
            f"carmesh {__version__} — the car is running",
            f"  catalog   {rt.catalog.name}: {leaves} signals "
            f"({counts['sensor']} sensors, {counts['actuator']} actuators, "
            f"{counts['attribute']} attributes)",
            f"  data      {settings.data_dir}",
            "  broker    in-process, ready",
        ]
        if rt.grpc is not None:
            security = "tokens required" if rt.grpc.auth.enabled else "open, no tokens"
            transport = "TLS" if rt.grpc.tls else "plaintext"
            lines.append(
                f"  grpc      {rt.grpc.address} (kuksa.val.v2, kuksa.val.v1, sdv.databroker.v1; "
                f"{transport}, {security})"
            )
        if rt.hmi is not None:
            lines.append(f"  http      {rt.hmi.url}")
        if rt.mqtt is not None:
            lines.append(f"  mqtt      {rt.mqtt.address} (Mosquitto, for Velocitas apps)")
        if rt.apps is not None:
            apps = rt.apps.platform.list()
            running = sum(1 for a in apps if a["state"] == "running")
            lines.append(
                f"  apps      {len(apps)} installed, {running} running "
                f"(apps socket unix:{rt.apps.platform.socket_path})"
            )
        if rt.media is not None:
            lines.append(f"  media     {rt.media.describe()}")
        vehicle_line = rt.vehicle.description if rt.vehicle is not None else "none"
        lines += [
            f"  vehicle   {vehicle_line}",
            "Press Ctrl-C to stop.",
        ]
        for line in lines:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        sys.stdout.flush()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, runtime.stop)
        await runtime.run(on_ready=ready)

    asyncio.run(main())
    console.print("carmesh stopped.")


def _node_row(node: Node) -> dict[str, Any]:
    row: dict[str, Any] = {"path": node.path, "type": node.type.value, "id": node.id}
    for key in ("datatype", "unit", "min", "max", "allowed", "default", "deprecation"):
        value = getattr(node, key)
        if value is not None:
            row[key] = value.value if key == "datatype" and value else value
    row["description"] = node.description
    return row


def _span(node: Node) -> str:
    low = "" if node.min is None else node.min
    high = "" if node.max is None else node.max
    return f"{low}..{high}"


def _label(node: Node) -> str:
    if not node.is_leaf:
        return f"[bold]{escape(node.name)}[/]"
    parts = [node.type.value, node.datatype.value if node.datatype else ""]
    if node.unit:
        parts.append(escape(node.unit))
    if node.min is not None or node.max is not None:
        parts.append(_span(node))
    colour = {"sensor": "green", "actuator": "yellow", "attribute": "cyan"}[node.type.value]
    return f"[{colour}]{escape(node.name)}[/] [dim]{' '.join(parts)}[/]"


@app.command()
def signals(
    pattern: Annotated[
        str,
        typer.Argument(help="Path or KUKSA pattern: Vehicle.Cabin.Seat.**, **.IsOpen"),
    ] = "Vehicle",
    table: Annotated[bool, typer.Option("--table", help="A flat table instead of a tree.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, one per signal.")] = False,
    vss: VssOpt = None,
    overlay: OverlayOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Browse the signal catalog with its metadata."""
    settings = Settings.load(config, vss=vss, overlays=overlay)
    catalog = Catalog.load(settings.vss, settings.overlays)
    nodes = catalog.resolve(pattern)
    if as_json:
        for node in nodes:
            print(json.dumps(_node_row(node), ensure_ascii=False))
        return
    if table or len(nodes) == 1:
        grid = Table(title=Text(f"{catalog.name}: {len(nodes)} signals matching {pattern or '*'}"))
        for column in ("path", "type", "datatype", "unit", "range / allowed", "description"):
            grid.add_column(column, overflow="fold")
        for node in nodes:
            span = ""
            if node.allowed is not None:
                span = ", ".join(map(str, node.allowed))
            elif node.min is not None or node.max is not None:
                span = _span(node)
            grid.add_row(
                *(
                    Text(cell)
                    for cell in (
                        node.path,
                        node.type.value,
                        node.datatype.value if node.datatype else "",
                        node.unit or "",
                        span,
                        node.description,
                    )
                )
            )
        console.print(grid)
        return
    root = Tree(Text(f"{catalog.name}: {len(nodes)} signals matching {pattern or '*'}"))
    branches: dict[str, Tree] = {}
    for node in nodes:
        parent = root
        parts = node.path.split(".")
        for depth in range(1, len(parts)):
            prefix = ".".join(parts[:depth])
            if prefix not in branches:
                branches[prefix] = parent.add(_label(catalog[prefix]))
            parent = branches[prefix]
        parent.add(_label(node))
    console.print(root)


token_app = typer.Typer(help="Development tokens (KUKSA-compatible JWT).", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("keygen")
def token_keygen(
    directory: Annotated[Path, typer.Argument(help="Where to write jwt.key and jwt.key.pub.")],
) -> None:
    """Create an RSA key pair for signing (jwt.key) and verifying (jwt.key.pub) tokens."""
    from carmesh.api.tokens import generate_key_pair

    private, public = generate_key_pair()
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / "jwt.key"
    if key.exists():
        _fail(f"{key} exists already; remove it or choose another directory")
    key.touch(mode=0o600)
    key.write_bytes(private)
    (directory / "jwt.key.pub").write_bytes(public)
    console.print(f"wrote {key} and {key}.pub", markup=False, highlight=False)


@token_app.command("create")
def token_create(
    scope: Annotated[
        str, typer.Option("--scope", help="KUKSA scopes, e.g. 'read:Vehicle.Speed provide'.")
    ],
    key: Annotated[Path, typer.Option("--key", help="PEM private key that signs the token.")],
    subject: Annotated[str, typer.Option("--subject", help="Who the token is for.")] = (
        "carmesh development"
    ),
    expires_in: Annotated[
        float, typer.Option("--expires-in", help="Lifetime in seconds.", min=1)
    ] = 365 * 24 * 3600,
) -> None:
    """Mint a signed token for development and tests; prints it on stdout."""
    from carmesh.api.tokens import create_token

    try:
        pem = key.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the private key {key}: {exc.strerror}") from None
    print(create_token(pem, scope, subject=subject, expires_in=expires_in))


from carmesh.cli_apps import app_app  # noqa: E402  (after the shared options it reuses)

app.add_typer(app_app, name="app")

fault_app = typer.Typer(
    help="Inject faults into the simulated car of a running `carmesh run`.", no_args_is_help=True
)
app.add_typer(fault_app, name="fault")

FaultKind = Annotated[str, typer.Argument(help="tyre-pressure, 12v-low or dtc.")]
WheelOpt = Annotated[str, typer.Option("--wheel", help="Tyre: FL, FR, RL or RR.")]
CodeOpt = Annotated[str, typer.Option("--code", help="Diagnostic trouble code, e.g. P0A80.")]
BrokerOpt = Annotated[
    str | None,
    typer.Option("--broker", help="The car's gRPC address HOST:PORT (default: the grpc setting)."),
]
TokenOpt = Annotated[
    str | None, typer.Option("--token", help="Bearer token, when the car requires one.")
]


def _fault_address(broker: str | None, config: Path | None) -> str:
    address = broker or Settings.load(config).grpc
    if address.lower() == "off" or address.endswith(":0"):
        raise ConfigError("give the running car's gRPC address with --broker HOST:PORT")
    return address


@fault_app.command("inject")
def fault_inject(
    kind: FaultKind,
    wheel: WheelOpt = "FL",
    code: CodeOpt = "",
    broker: BrokerOpt = None,
    token: TokenOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Inject a fault: tyre pressure loss (--wheel), a low 12 V battery, a DTC (--code)."""
    from carmesh.vehicle.sim.remote import FaultClient

    client = FaultClient(_fault_address(broker, config), token)
    active = asyncio.run(client.inject(kind, wheel=wheel, code=code))
    console.print(f"injected: {active}", markup=False, highlight=False)


@fault_app.command("clear")
def fault_clear(
    kind: Annotated[str, typer.Argument(help="tyre-pressure, 12v-low, dtc or all.")] = "all",
    wheel: WheelOpt = "",
    code: CodeOpt = "",
    broker: BrokerOpt = None,
    token: TokenOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Clear faults: one kind (one --wheel or --code of it) or all."""
    from carmesh.vehicle.sim.remote import FaultClient

    client = FaultClient(_fault_address(broker, config), token)
    done = asyncio.run(client.clear(kind, wheel=wheel, code=code))
    console.print(done, markup=False, highlight=False)


provider_app = typer.Typer(
    help="Run the simulated car or a CAN bus as a provider of a running broker "
    "(kuksa.val.v2 provider stream).",
    no_args_is_help=True,
)
app.add_typer(provider_app, name="provider")

ProviderBrokerOpt = Annotated[
    str | None,
    typer.Option(
        "--broker", help="The broker's gRPC address HOST:PORT (default: the grpc setting)."
    ),
]
TokenFileOpt = Annotated[
    Path | None, typer.Option("--token-file", help="File holding the bearer token.")
]
TlsCaOpt = Annotated[
    Path | None,
    typer.Option("--tls-ca", help="Root certificate (PEM) that signed the broker's TLS one."),
]


def _provide(
    kind: str,
    broker: str | None,
    token: str | None,
    token_file: Path | None,
    tls_ca: Path | None,
    config: Path | None,
    verbose: bool,
    **options: Any,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from carmesh.vehicle.remote_run import RemoteVehicle, broker_address, read_token

    settings = Settings.load(config, vehicle=kind, **options)
    remote = RemoteVehicle(
        settings,
        broker_address(broker, settings),
        token=read_token(token, token_file),
        tls_ca=tls_ca,
    )

    def ready(provider: RemoteVehicle) -> None:
        assert provider.vehicle is not None
        for line in (
            f"carmesh {__version__} — providing to the broker at {provider.address}",
            f"  vehicle   {provider.vehicle.description}",
            "Press Ctrl-C to stop.",
        ):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        sys.stdout.flush()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await remote.run(stop, ready)

    asyncio.run(main())
    console.print("carmesh provider stopped.")


@provider_app.command("sim")
def provider_sim(
    broker: ProviderBrokerOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
    tls_ca: TlsCaOpt = None,
    time_scale: TimeScaleOpt = None,
    seed: SeedOpt = None,
    scenario: ScenarioOpt = None,
    config: ConfigOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Drive the simulated car as a provider of the broker at --broker. Ctrl-C stops it."""
    _provide(
        "sim",
        broker,
        token,
        token_file,
        tls_ca,
        config,
        verbose,
        time_scale=time_scale,
        seed=seed,
        scenario=scenario,
    )


@provider_app.command("can")
def provider_can(
    broker: ProviderBrokerOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
    tls_ca: TlsCaOpt = None,
    can_dbc: CanDbcOpt = None,
    can_mapping: CanMappingOpt = None,
    can_interface: CanInterfaceOpt = None,
    can_channel: CanChannelOpt = None,
    can_bitrate: CanBitrateOpt = None,
    can_replay: CanReplayOpt = None,
    can_replay_speed: CanReplaySpeedOpt = None,
    can_replay_loop: CanReplayLoopOpt = None,
    config: ConfigOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Feed a CAN bus (or a log replay) to the broker at --broker. Ctrl-C stops it."""
    _provide(
        "can",
        broker,
        token,
        token_file,
        tls_ca,
        config,
        verbose,
        can_dbc=can_dbc,
        can_mapping=can_mapping,
        can_interface=can_interface,
        can_channel=can_channel,
        can_bitrate=can_bitrate,
        can_replay=can_replay,
        can_replay_speed=can_replay_speed,
        can_replay_loop=can_replay_loop,
    )


def main() -> None:
    """Entry point: run the app, turning carmesh errors into one clear line."""
    try:
        app()
    except CarmeshError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        raise SystemExit(130) from None
