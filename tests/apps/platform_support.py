"""A running car with the apps platform, a trusted development key, and helpers to build,
install and watch apps over the car's real HTTP API."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from carmesh.apps.package import build_package
from carmesh.apps.signing import PublisherKey
from tests.apps.support import dev_key, make_app_source
from tests.support.car import RunningCar, running_car

PUBLISHER = "org.example"
#: Fast restarts and a small crash budget so that the crash-loop tests finish quickly.
FAST_SUPERVISION = """\
app_backoff = 0.2
app_backoff_max = 0.5
app_crash_limit = 3
app_crash_window = 30
"""


@dataclass
class AppCar:
    """A running car, its HTTP client and the development key it trusts."""

    car: RunningCar
    http: httpx.Client
    key: PublisherKey
    workdir: Path

    def build(
        self,
        app_id: str,
        code: str,
        *,
        version: str = "1.0.0",
        permissions: dict[str, Any] | None = None,
        templates: tuple[str, ...] = ("pane", "list", "message"),
        key: PublisherKey | None = None,
    ) -> bytes:
        """A signed package of an app whose module is *code*."""
        source = self.workdir / f"{app_id}-{version}-src"
        make_app_source(
            source,
            app_id,
            version=version,
            permissions=permissions,
            code=code,
            templates=templates,
        )
        path = build_package(source, key or self.key, self.workdir / f"{app_id}-{version}.cmapp")
        return path.read_bytes()

    def install(self, package: bytes, grant: str = "all") -> dict[str, Any]:
        response = self.http.post("/api/apps", params={"grant": grant}, content=package)
        assert response.status_code == 201, response.text
        app: dict[str, Any] = response.json()
        return app

    def start(self, app_id: str) -> dict[str, Any]:
        response = self.http.post(f"/api/apps/{app_id}/start")
        assert response.status_code == 200, response.text
        app: dict[str, Any] = response.json()
        return app

    def app(self, app_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/apps/{app_id}")
        assert response.status_code == 200, response.text
        app: dict[str, Any] = response.json()
        return app

    def template(self, app_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/apps/{app_id}/template")
        assert response.status_code == 200, response.text
        shown: dict[str, Any] = response.json()
        return shown

    def logs(self, app_id: str) -> str:
        return "\n".join(self.http.get(f"/api/apps/{app_id}/logs").json()["lines"])

    def wait_for(
        self,
        what: str,
        check: Callable[[], Any],
        timeout: float = 15.0,
        app_id: str | None = None,
    ) -> Any:
        """Poll *check* until it returns something truthy; fail with the app's log."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                log = self.logs(app_id) if app_id else ""
                raise AssertionError(f"timed out waiting for {what}\napp log:\n{log}")
            time.sleep(0.05)

    def wait_template(
        self, app_id: str, check: Callable[[dict[str, Any]], bool], timeout: float = 15.0
    ) -> dict[str, Any]:
        def shown() -> dict[str, Any] | None:
            current = self.template(app_id)
            template = current["template"]
            return current if template is not None and check(template) else None

        result: dict[str, Any] = self.wait_for("the template", shown, timeout, app_id)
        return result


def pub_file(key: PublisherKey, directory: Path) -> Path:
    """Save *key* in *directory*; the path of its public file."""
    return key.save(directory / f"{key.publisher}.key")


@contextmanager
def app_car(
    tmp_path: Path, *args: str, settings: str = FAST_SUPERVISION, data: Path | None = None
) -> Iterator[AppCar]:
    """``carmesh run`` with the apps platform, trusting a development key of PUBLISHER."""
    key = dev_key(tmp_path, PUBLISHER)
    public = pub_file(key, tmp_path)
    config = tmp_path / "car.toml"
    config.write_text(settings + f'app_trusted_keys = ["{public}"]\n')
    with (
        running_car(data or tmp_path / "data", "--config", str(config), *args) as car,
        httpx.Client(base_url=car.http_url, timeout=30.0) as http,
    ):
        yield AppCar(car, http, key, tmp_path)


def rows(template: dict[str, Any]) -> dict[str, str]:
    """A pane template's rows as label → value."""
    return {row["label"]: row["value"] for row in template.get("rows", [])}
