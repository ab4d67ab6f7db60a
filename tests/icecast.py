"""A real Icecast 2 server for tests: Debian's icecast2 (installed with apt-get when missing,
one test process at a time), with its own config on a free loopback port."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.station import end_process, http

PASSWORD = "icecast-test-password"
ADMIN_PASSWORD = "icecast-admin-password"
STARTUP_SECONDS = 30.0

CONFIG = """<icecast>
  <location>test</location>
  <admin>test@localhost</admin>
  <limits>
    <clients>100</clients>
    <sources>10</sources>
    <queue-size>524288</queue-size>
    <client-timeout>30</client-timeout>
    <header-timeout>15</header-timeout>
    <source-timeout>10</source-timeout>
    <burst-on-connect>1</burst-on-connect>
    <burst-size>65536</burst-size>
  </limits>
  <authentication>
    <source-password>{password}</source-password>
    <relay-password>{password}</relay-password>
    <admin-user>admin</admin-user>
    <admin-password>{admin_password}</admin-password>
  </authentication>
  <hostname>127.0.0.1</hostname>
  <listen-socket>
    <port>{port}</port>
    <bind-address>127.0.0.1</bind-address>
  </listen-socket>
  {relays}
  <fileserve>1</fileserve>
  <paths>
    <basedir>/usr/share/icecast2</basedir>
    <logdir>{logdir}</logdir>
    <webroot>/usr/share/icecast2/web</webroot>
    <adminroot>/usr/share/icecast2/admin</adminroot>
  </paths>
  <logging>
    <accesslog>access.log</accesslog>
    <errorlog>error.log</errorlog>
    <loglevel>3</loglevel>
  </logging>
  <security>
    <chroot>0</chroot>
    {changeowner}
  </security>
</icecast>
"""


# Test processes (xdist workers) that find icecast2 missing install it one at a time: apt
# holds the dpkg lock (a second apt-get fails at once), and the install's `init.d stop` ends
# every icecast2 running, a test's too. The check is made under the lock, so no worker uses
# the binary before the install that unpacked it is done.
INSTALL_LOCK = Path(tempfile.gettempdir()) / "radio-tests-icecast2-install.lock"


def icecast_binary() -> str:
    """The icecast2 binary, installed from Debian's package first if it is missing (`make
    test` does it before the suite: `make icecast2`)."""
    with INSTALL_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = shutil.which("icecast2")
        if found:
            return found
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        # Its package asks whether to set up the system service: no (we never use it).
        subprocess.run([*sudo, "debconf-set-selections"], input=b"icecast2 icecast2/icecast-"
                       b"setup boolean false\n", check=False, env=env)  # fmt: skip
        subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends",
                        "icecast2"], check=True, env=env)  # fmt: skip
        subprocess.run([*sudo, "/etc/init.d/icecast2", "stop"], check=False,
                       capture_output=True)  # fmt: skip
        found = shutil.which("icecast2")
        assert found, "apt-get installed icecast2, but it is not on PATH"
        return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Icecast:
    """icecast2 on 127.0.0.1:`port`; `relays` are <relay> blocks for its config."""

    root: Path
    relays: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def source_url(self, mount: str, password: str = PASSWORD) -> str:
        return f"http://source:{password}@127.0.0.1:{self.port}{mount}"

    def start(self) -> Icecast:
        binary = icecast_binary()
        # Its log folder outside the test's (0700) tree: Icecast refuses to run as root and
        # drops to nobody (<changeowner>), who must write there.
        self.logdir = Path(tempfile.mkdtemp(prefix="icecast-log-"))
        self.logdir.chmod(0o777)
        changeowner = ""
        if os.geteuid() == 0:
            changeowner = "<changeowner><user>nobody</user><group>nogroup</group></changeowner>"
        config = self.root / f"icecast-{self.port}.xml"
        config.write_text(CONFIG.format(password=PASSWORD, admin_password=ADMIN_PASSWORD,
                                        port=self.port, logdir=self.logdir,
                                        relays="\n".join(self.relays),
                                        changeowner=changeowner))  # fmt: skip
        self.out = self.root / f"icecast-{self.port}.out"
        with self.out.open("ab") as out:
            self.process = subprocess.Popen([binary, "-c", str(config)], stdout=out, stderr=out,
                                            stdin=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert self.process.poll() is None, f"icecast2 exited: {self.log()}"
            try:
                if http().get(self.url + "/status-json.xsl", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"icecast2 not up: {self.log()}"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            end_process(self.process)
        self.process = None
        shutil.rmtree(getattr(self, "logdir", ""), ignore_errors=True)

    def log(self) -> str:
        text = self.out.read_text(errors="replace") if hasattr(self, "out") else ""
        error_log = getattr(self, "logdir", Path("/nonexistent")) / "error.log"
        if error_log.exists():
            text += error_log.read_text(errors="replace")[-4000:]
        return text

    def sources(self) -> list[dict[str, Any]]:
        """The mounts with a source now, from Icecast's status-json.xsl."""
        text = httpx.get(self.url + "/status-json.xsl", timeout=5).text
        try:
            stats = json.loads(text)
        except ValueError:  # seen once in Icecast 2.4.4 under load: a page cut short
            return []
        sources = stats.get("icestats", {}).get("source") or []
        return sources if isinstance(sources, list) else [sources]

    def source(self, mount: str) -> dict[str, Any] | None:
        for source in self.sources():
            if source.get("listenurl", "").endswith(mount):
                return source
        return None


def pull_relay(station_port: int, mount: str, local_mount: str) -> str:
    """A <relay> block: Icecast pulls the station's `mount`, with its ICY titles, at
    `local_mount`, all the time (not on demand)."""
    return f"""<relay>
    <server>127.0.0.1</server>
    <port>{station_port}</port>
    <mount>{mount}</mount>
    <local-mount>{local_mount}</local-mount>
    <on-demand>0</on-demand>
    <relay-shoutcast-metadata>1</relay-shoutcast-metadata>
  </relay>"""
