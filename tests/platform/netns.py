"""Hosts that share nothing but a network, for multi-host tests: Linux network namespaces.

:func:`network` makes a bridge on this machine and one namespace per host,
each joined to the bridge by a veth pair, with its own address, loopback and
a default route to this machine. A :class:`Host` runs a command in its
namespace under its own host name (``[*host.prefix, *argv]``; a UTS
namespace too, so ``socket.gethostname()`` names the host). Everything is
removed afterwards, also when the set-up fails half-way. Needs root (CI
runs as root), iproute2 and util-linux.

Services of this machine that listen on 127.0.0.1 only (PostgreSQL, Redis)
are reached from the hosts through :func:`tcp_relay`, bound to the bridge
address.

Example:
    >>> with network(["worker-a", "worker-b"]) as lan, tcp_relay(lan.address, 5432):
    ...     subprocess.run([*lan.hosts[0].prefix, "pg_isready", "-h", lan.address])
"""

import asyncio
import ipaddress
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from itertools import count
from urllib.parse import urlsplit, urlunsplit

#: Seconds an ``ip`` command may take.
IP_TIMEOUT_S = 10.0
#: Bytes a relay copies per read.
RELAY_CHUNK_BYTES = 65536
#: Networks made by this process so far (names and subnets stay unique per process).
_serial = count()


def unavailable_reason() -> str | None:
    """Why namespaces cannot be made here (not root, no ``ip`` or ``unshare``); None if they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs as root)"
    for program in ("ip", "unshare"):
        if shutil.which(program) is None:
            return f"{program!r} is not installed (iproute2, util-linux)"
    try:
        ip("netns", "list")
    except RuntimeError as exc:
        return f"'ip netns' does not work here: {exc}"
    return None


def ip(*args: str) -> str:
    """Run ``ip ARGS``; its output.

    Raises:
        RuntimeError: ``ip`` failed; the message holds what it said.
    """
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT_S)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


@dataclass(frozen=True)
class Host:
    """One host: a network namespace with an address on the bridge, and a host name."""

    name: str
    namespace: str
    address: str

    @property
    def prefix(self) -> list[str]:
        """What runs a command inside this host: its namespace, and its name as host name.

        The programs exec one another, so the process started is the command's own.
        """
        set_name = 'hostname "$0" && exec "$@"'
        return [
            *("ip", "netns", "exec", self.namespace),
            *("unshare", "--uts", "sh", "-c", set_name, self.name),
        ]

    def pids(self) -> set[int]:
        """Process ids of every process in this host's namespace."""
        return {int(pid) for pid in ip("netns", "pids", self.namespace).split()}

    def kill(self) -> set[int]:
        """SIGKILL every process of this host at once, as a power cut would; their ids."""
        pids = self.pids()
        for pid in pids:
            with suppress(ProcessLookupError):  # it ended meanwhile
                os.kill(pid, signal.SIGKILL)
        return pids


@dataclass(frozen=True)
class Network:
    """A bridge on this machine at ``address`` (``/24``) and the hosts attached to it."""

    bridge: str
    address: str
    hosts: tuple[Host, ...]


def _free_subnet(serial: int) -> ipaddress.IPv4Network:
    """A /24 in 10.128.0.0/9 from this process id and ``serial``, unused by any route here."""
    index = (os.getpid() * 4 + serial) % 2**15
    subnet = ipaddress.IPv4Network(f"10.{128 + index // 256}.{index % 256}.0/24")
    for word in ip("-4", "route", "show", "table", "all").split():
        try:
            taken = ipaddress.IPv4Network(word, strict=False)
        except ValueError:
            continue
        if taken.prefixlen > 0 and taken.overlaps(subnet):
            raise RuntimeError(f"subnet {subnet} is in use here ({word}); run again")
    return subnet


@contextmanager
def network(names: Sequence[str]) -> Iterator[Network]:
    """A bridge and one namespace per host name in ``names``; all removed on exit.

    Leaving the block SIGKILLs whatever still runs in the namespaces, then
    deletes them (which deletes their veth pairs) and the bridge.

    Raises:
        RuntimeError: an ``ip`` command failed (nothing is left behind), or the chosen
            subnet is in use on this machine.
    """
    serial = next(_serial)
    stem = f"nm{os.getpid()}x{serial}"  # interface names have 15 characters at most
    subnet = _free_subnet(serial)
    gateway, *addresses = (str(a) for a in subnet.hosts())
    with ExitStack() as cleanup:
        bridge = f"{stem}br"
        ip("link", "add", bridge, "type", "bridge")
        cleanup.callback(ip, "link", "del", bridge)
        ip("addr", "add", f"{gateway}/{subnet.prefixlen}", "dev", bridge)
        ip("link", "set", bridge, "up")
        hosts = []
        for number, name in enumerate(names):
            host = Host(name, f"nanomark-{stem}-{number}", addresses[number])
            ip("netns", "add", host.namespace)
            cleanup.callback(_remove_namespace, host)
            _attach(host, bridge, f"{stem}v{number}", subnet.prefixlen, gateway)
            hosts.append(host)
        yield Network(bridge, gateway, tuple(hosts))


def _attach(host: Host, bridge: str, veth: str, prefixlen: int, gateway: str) -> None:
    """Join ``host`` to ``bridge`` by a veth pair; inside, ``eth0`` at its address, and ``lo``."""
    ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", host.namespace)
    ip("link", "set", veth, "master", bridge, "up")
    ip("-n", host.namespace, "addr", "add", f"{host.address}/{prefixlen}", "dev", "eth0")
    for link in ("lo", "eth0"):
        ip("-n", host.namespace, "link", "set", link, "up")
    ip("-n", host.namespace, "route", "add", "default", "via", gateway)


def _remove_namespace(host: Host) -> None:
    """Kill what runs in ``host`` (a namespace lives on while a process uses it), delete it."""
    for _ in range(50):
        if not host.kill():
            break
        time.sleep(0.1)
    ip("netns", "del", host.namespace)


def url_at(url: str, address: str) -> str:
    """``url`` with its host replaced by ``address`` (port, user, path and query kept)."""
    parts = urlsplit(url)
    userinfo, _, _ = parts.netloc.rpartition("@")
    netloc = f"{userinfo}@{address}" if userinfo else address
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


@contextmanager
def tcp_relay(address: str, port: int, target: tuple[str, int] | None = None) -> Iterator[None]:
    """Relay TCP connections to ``address:port`` to ``target`` (default ``127.0.0.1:port``).

    The relay runs in a thread of this process (an asyncio loop) until the
    block ends; open connections are then cut.

    Raises:
        OSError: ``address:port`` cannot be bound.
    """
    target = target or ("127.0.0.1", port)
    started: Future = Future()
    thread = threading.Thread(
        target=asyncio.run,
        args=(_serve(address, port, target, started),),
        name=f"tcp-relay-{address}:{port}",
        daemon=True,
    )
    thread.start()
    loop, stop = started.result(timeout=IP_TIMEOUT_S)
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=IP_TIMEOUT_S)


async def _serve(address: str, port: int, target: tuple[str, int], started: Future) -> None:
    try:
        server = await asyncio.start_server(partial(_relay, target=target), address, port)
    except OSError as exc:
        started.set_exception(exc)
        return
    stop = asyncio.Event()
    started.set_result((asyncio.get_running_loop(), stop))
    await stop.wait()
    server.close()  # asyncio.run then cancels the connections' tasks


async def _relay(reader, writer, target: tuple[str, int]) -> None:
    """One connection: copy both ways until both ends closed or the relay stops."""
    try:
        target_reader, target_writer = await asyncio.open_connection(*target)
    except OSError:
        writer.close()
        return
    try:
        await asyncio.gather(_copy(reader, target_writer), _copy(target_reader, writer))
    except asyncio.CancelledError:
        # The relay stops. Ending normally: asyncio logs a cancelled connection handler as an error.
        writer.close()
        target_writer.close()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of stream or a broken connection, then close ``writer``."""
    try:
        while data := await reader.read(RELAY_CHUNK_BYTES):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass  # the other side went away; closing ours ends the pair
    finally:
        writer.close()
