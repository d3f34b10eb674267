"""The servers a benchmark run compares: teamcal, Radicale, Xandikos and the floor.

Each runs as its own process on a free 127.0.0.1 port with its storage in a
fresh folder, is started and stopped by PID, and reports how long it took from
exec to its first HTTP answer and its peak memory (``VmHWM``). Servers also
know how to fill a calendar fast for the big sizes: teamcal through its
kernel's write pipeline in-process, the peers by writing files into their
storage as their own PUT would leave them.
"""

from __future__ import annotations

import base64
import http.client
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.shared import PROJECT

USER = "alice"
PASSWORD = "alice-bench-pw"
CALENDAR = "bench"
MKCALENDAR_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
    "<D:displayname>bench</D:displayname><C:supported-calendar-component-set>"
    '<C:comp name="VEVENT"/></C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>'
)
#: Seconds a server may take to answer its first request before the run gives up.
START_TIMEOUT = 60.0


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def first_answer(port: int, path: str, deadline: float) -> int:
    """Poll ``GET path`` every 5 ms until the server answers; its status (0 when the deadline passed)."""
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", path)
            return conn.getresponse().status
        except OSError:
            time.sleep(0.005)
        finally:
            conn.close()
    return 0


def peak_rss_mb(pid: int) -> float | None:
    """The peak resident memory of a process (VmHWM) in MB, None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Server:
    """One server under test: a subprocess with its own folder and port."""

    name = "server"
    #: The path polled to see the server is up.
    probe_path = "/"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.ready_seconds: float | None = None
        self.ready_status = 0

    # -- to be given by each server ---------------------------------------------------

    def command(self) -> list[str]:
        """The command line that runs the server."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Lay out the server's storage and configuration before the first start."""

    def calendar_path(self, name: str = CALENDAR) -> str:
        """The path of a calendar collection of the benchmark's user."""
        raise NotImplementedError

    @property
    def credentials(self) -> tuple[str, str] | None:
        """(user, password) for HTTP Basic, None when the server takes no authentication."""
        return (USER, PASSWORD)

    # -- lifecycle ----------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The environment the server runs in (the project importable, no stray config)."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT), env.get("PYTHONPATH", "")) if p)
        env.pop("TEAMCAL_CONFIG", None)
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # a deployment runs from compiled bytecode
        return env

    def start(self) -> None:
        """Start the server and wait (bounded) for its first answer, timing exec to answer."""
        started = time.monotonic()
        with open(self.folder / f"{self.name}.log", "ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                self.command(), cwd=self.folder, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.ready_status = first_answer(self.port, self.probe_path, started + START_TIMEOUT)
        if not self.ready_status:
            self.stop()
            tail = (self.folder / f"{self.name}.log").read_text(errors="replace")[-600:]
            raise RuntimeError(f"{self.name} did not answer within {START_TIMEOUT:.0f} s:\n{tail}")
        self.ready_seconds = time.monotonic() - started

    def stop(self) -> None:
        """Stop the server by its PID (SIGTERM, then SIGKILL after 15 s)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self.process.pid if self.process is not None else None

    def peak_rss_mb(self) -> float | None:
        """Peak resident memory of the running server in MB."""
        return peak_rss_mb(self.pid) if self.pid else None

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.port}"

    def calendar_url(self, name: str = CALENDAR) -> str:
        """The full URL of one of the benchmark's calendars."""
        return self.base_url + self.calendar_path(name)

    # -- HTTP helpers -----------------------------------------------------------------------

    def request(self, method: str, path: str, body: bytes | str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """One request to the server (with its credentials); (status, body)."""
        all_headers = dict(headers or {})
        if self.credentials:
            token = base64.b64encode(f"{self.credentials[0]}:{self.credentials[1]}".encode()).decode()
            all_headers["Authorization"] = f"Basic {token}"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request(method, path, body=body, headers=all_headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def make_calendar(self) -> None:
        """MKCALENDAR the benchmark's calendar (an existing one is fine)."""
        status, body = self.request("MKCALENDAR", self.calendar_path(), MKCALENDAR_BODY,
                                    {"Content-Type": "application/xml"})
        if status not in (200, 201, 405, 409) and not (status == 403 and b"resource-must-be-null" in body):
            raise RuntimeError(f"{self.name}: MKCALENDAR answered {status}: {body[:200]!r}")

    def seed_files(self, files: list[Path]) -> None:
        """Put these iCalendar files into the benchmark's calendar without HTTP PUTs."""
        raise NotImplementedError


class Teamcal(Server):
    """``teamcal serve`` on a temporary plugins.toml with the default plugins and one user."""

    name = "teamcal"
    probe_path = "/dav/"

    def __init__(
        self, folder: Path, kernel_lines: list[str] | None = None, *, database: str = "teamcal.sqlite3",
        name: str = "teamcal", plugins: tuple[str, ...] = (),
    ) -> None:
        super().__init__(folder)
        self.name = name
        #: Plugins enabled besides the default ones (e.g. web, to show it costs CalDAV nothing).
        self.plugins = ("caldav_server", "default_calendar", "limits", *plugins)
        self.config = folder / "plugins.toml"
        self.kernel_lines = list(kernel_lines or [])
        #: ``[kernel] database``: the SQLite file, or a PostgreSQL URL.
        self.database = database

    def prepare(self) -> None:
        """Write plugins.toml (limits raised for 100,000 events) and create the user."""
        from kernel.host import Host
        from kernel.passwords import hash_password

        self.config.write_text(
            "enabled = [" + ", ".join(f'"{name}"' for name in self.plugins) + "]\n\n"
            f'[kernel]\nhost = "127.0.0.1"\nport = {self.port}\ndatabase = "{self.database}"\n'
            'log_level = "warning"\n' + "".join(f"{line}\n" for line in self.kernel_lines) + "\n"
            "[limits]\nmax_events = 1000000\nmax_calendars = 1000\n",
            encoding="utf-8",
        )
        host = Host.from_config(self.config)
        try:
            with host.store.transaction():
                host.store.create_principal(USER, "user", password_hash=hash_password(PASSWORD))
        finally:
            host.close()

    def compile(self) -> None:
        """Import the kernel and the plugins once, so their bytecode is written as an install would."""
        code = "import kernel.cli, kernel.host, kernel.app, plugins.caldav_server, plugins.limits, plugins.default_calendar"
        subprocess.run([sys.executable, "-c", code], env=self.env(), check=True, timeout=120)

    def command(self) -> list[str]:
        """python -m kernel.cli --config plugins.toml serve."""
        return [sys.executable, "-m", "kernel.cli", "--config", str(self.config), "serve"]

    def calendar_path(self, name: str = CALENDAR) -> str:
        """/dav/cal/alice/NAME/."""
        return f"/dav/cal/{USER}/{name}/"

    def seed_files(self, files: list[Path]) -> None:
        """Through the kernel's write pipeline in-process, 500 objects per transaction."""
        from bench.seeding import seed_teamcal

        seed_teamcal(self.config, USER, CALENDAR, files)


class Radicale(Server):
    """Radicale (multifilesystem storage, plain htpasswd), as ../shared/conformance starts it."""

    name = "radicale"

    def prepare(self) -> None:
        """Write its config and users file."""
        (self.folder / "collections").mkdir(parents=True, exist_ok=True)
        (self.folder / "users").write_text(f"{USER}:{PASSWORD}\n")
        (self.folder / "config").write_text(
            f"[server]\nhosts = 127.0.0.1:{self.port}\n\n"
            f"[auth]\ntype = htpasswd\nhtpasswd_filename = {self.folder / 'users'}\n"
            "htpasswd_encryption = plain\ndelay = 0\n\n[rights]\ntype = owner_only\n\n"
            f"[storage]\ntype = multifilesystem\nfilesystem_folder = {self.folder / 'collections'}\n\n"
            "[logging]\nlevel = warning\n"
        )

    def command(self) -> list[str]:
        """python -m radicale -C config."""
        return [sys.executable, "-m", "radicale", "-C", str(self.folder / "config")]

    def start(self) -> None:
        """Start, then PROPFIND the principal once so that Radicale creates it."""
        super().start()
        self.request("PROPFIND", f"/{USER}/", headers={"Depth": "0"})

    def calendar_path(self, name: str = CALENDAR) -> str:
        """/alice/NAME/."""
        return f"/{USER}/{name}/"

    def seed_files(self, files: list[Path]) -> None:
        """MKCALENDAR, then the files copied into the collection's folder (Radicale builds its
        item cache on the first listing, which caldav_bench's warm-up does)."""
        self.make_calendar()
        target = self.folder / "collections" / "collection-root" / USER / CALENDAR
        if not (target / ".Radicale.props").is_file():
            raise RuntimeError(f"radicale: no collection folder at {target}")
        for path in files:
            shutil.copyfile(path, target / path.name)


class Xandikos(Server):
    """Xandikos with --defaults (no authentication: 0.4.10 only has it with TLS)."""

    name = "xandikos"
    probe_path = "/"

    @property
    def credentials(self) -> tuple[str, str] | None:
        """None: Xandikos ignores credentials."""
        return None

    def command(self) -> list[str]:
        """python -m xandikos serve --defaults ..."""
        return [
            sys.executable, "-m", "xandikos", "serve", "--defaults", "-d", str(self.folder / "data"),
            "-l", "127.0.0.1", "-p", str(self.port), "--current-user-principal", f"/{USER}/",
            "--state-dir", str(self.folder / "state"), "--no-detect-systemd",
        ]

    def calendar_path(self, name: str = CALENDAR) -> str:
        """/alice/calendars/NAME/."""
        return f"/{USER}/calendars/{name}/"

    def seed_files(self, files: list[Path]) -> None:
        """MKCALENDAR, then the files added to the collection's git work tree in one commit."""
        self.make_calendar()
        repo = self.folder / "data" / USER / "calendars" / CALENDAR
        if not (repo / ".git").exists():
            raise RuntimeError(f"xandikos: no git collection at {repo}")
        for path in files:
            shutil.copyfile(path, repo / path.name)
        git = ["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
        subprocess.run([*git, "add", "-A"], check=True, timeout=900)
        subprocess.run([*git, "commit", "-q", "-m", "bench seed"], check=True, timeout=900)


class Floor(Server):
    """The shared floor.py: Starlette + uvicorn (httptools, uvloop) and an indexed SQLite lookup."""

    name = "floor"
    probe_path = "/hello"

    def __init__(self, folder: Path, script: Path) -> None:
        super().__init__(folder)
        self.script = script

    @property
    def credentials(self) -> tuple[str, str] | None:
        """None."""
        return None

    def command(self) -> list[str]:
        """python floor.py --http httptools --loop uvloop."""
        return [
            sys.executable, str(self.script), "--port", str(self.port), "--http", "httptools",
            "--loop", "uvloop", "--db", str(self.folder / "floor.sqlite"),
        ]

    def calendar_path(self, name: str = CALENDAR) -> str:
        """The floor has no calendar: its 10-row lookup stands for one."""
        return "/rows/{i}"


class Replay(Server):
    """``bench.replay``: answers from memory, each upstream answer asked once (the client's ceiling)."""

    name = "replay"

    def __init__(self, folder: Path, upstream: Server, ics: Path) -> None:
        super().__init__(folder)
        self.upstream = upstream
        self.ics = ics

    def command(self) -> list[str]:
        """python -m bench.replay --port P --upstream URL --ics DIR."""
        return [
            sys.executable, "-m", "bench.replay", "--port", str(self.port), "--upstream", self.upstream.base_url,
            "--ics", str(self.ics),
        ]

    def calendar_path(self, name: str = CALENDAR) -> str:
        """The upstream's path: its answers are replayed under it."""
        return self.upstream.calendar_path(name)


PEERS = {"radicale": Radicale, "xandikos": Xandikos}


def peers_missing() -> list[str]:
    """The peer servers that are not installed (``pip install teamcal[bench]``)."""
    return [name for name in PEERS if importlib.util.find_spec(name) is None]
