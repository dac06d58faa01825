#!/usr/bin/python3
"""A Colibri2 focus (colibri2_focus.Colibri2Focus) in a process of its own, so that a test can
SIGKILL it as a crashed Jicofo dies: the kernel closes its TCP connection and it sends nothing
more, no stream close, no MUC leave.

    FocusProcess()            the driver side (the test process): start(), await call(...),
                              kill(), stop()
    focus_process.py          the child: reads pickled requests on stdin, answers pickled results
                              on stdout (anything else it prints goes to stderr)

Requests (FocusProcess.call(method, *args, **kwargs)):
    connect(jid, password, host, port, room, bridge, iq_timeout=10, wait_bridge=20)
        a new Colibri2Focus (the old one, if any, is aborted): session, brewery join,
        and, with wait_bridge > 0, the bridge's presence with stats. Retries the session (bounded
        by `retry_s`) while the server is not up yet.
    last_presence(nick): (arrival time, type, has stats) of the last presence of room/nick.
    wait_bridge_after(t, timeout): the first bridge presence with stats that arrived at
        time.monotonic() >= t (CLOCK_MONOTONIC is system-wide on Linux); returns its arrival time.
    retry_allocate(until_s, interval_s, *args, **kwargs): Colibri2Focus.allocate() again and
        again until one gets a result; returns (arrival monotonic time, attempts, errors seen).
    any Colibri2Focus method (allocate, update_transport, update_sources, expire, healthcheck,
    ...): called with the given arguments; a BridgeTransport or PresenceInfo comes back without
    its XML, an element as its text.
Errors come back raised as FocusCallError(kind, message, condition).
"""
from __future__ import annotations

import asyncio
import dataclasses
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from typing import Dict, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"


class FocusCallError(Exception):
    def __init__(self, kind: str, message: str, condition: Optional[str] = None):
        super().__init__(f"{kind}: {message}")
        self.kind, self.message, self.condition = kind, message, condition


# -- driver side --------------------------------------------------------------------------

class FocusProcess:
    def __init__(self, name: str = "focus"):
        self.name = name
        self.proc: Optional[subprocess.Popen] = None
        self.stderr: list = []
        self._pending: Dict[int, asyncio.Future] = {}
        self._next = 0
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.proc = subprocess.Popen([PY, os.path.abspath(__file__)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        threading.Thread(target=self._read_results, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_results(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            try:
                rid, ok, payload = pickle.load(self.proc.stdout)
            except Exception:  # pylint: disable=broad-except  (EOF: the child died)
                break
            self._loop.call_soon_threadsafe(self._resolve, rid, ok, payload)
        self._loop.call_soon_threadsafe(self._fail_all)

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.decode(errors="replace").rstrip())

    def _resolve(self, rid, ok, payload) -> None:
        fut = self._pending.pop(rid, None)
        if fut is None or fut.done():
            return
        if ok:
            fut.set_result(payload)
        else:
            fut.set_exception(FocusCallError(*payload))

    def _fail_all(self) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(FocusCallError("exited", f"{self.name} process ended"))
        self._pending.clear()

    async def call(self, method: str, *args, timeout: float = 30.0, **kwargs):
        if self.proc is None or self.proc.poll() is not None:
            raise FocusCallError("exited", f"{self.name} process is not running")
        self._next += 1
        rid = self._next
        fut = self._loop.create_future()
        self._pending[rid] = fut
        data = pickle.dumps((rid, method, args, kwargs))
        with self._lock:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        try:
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            self._pending.pop(rid, None)
            raise FocusCallError("timeout", f"{self.name}: no answer to {method} within {timeout:g} s") from None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                self.kill()


# -- child side ----------------------------------------------------------------------------

def _plain(value):
    """What can cross the pipe: dataclasses without their XML, elements as text."""
    if isinstance(value, ET.Element):
        return ET.tostring(value, encoding="unicode")
    if dataclasses.is_dataclass(value) and hasattr(value, "xml"):
        return dataclasses.replace(value, xml=None)
    if isinstance(getattr(value, "xml", None), ET.Element):  # a slixmpp stanza
        return ET.tostring(value.xml, encoding="unicode")
    return value


async def _child() -> None:
    sys.path.insert(0, HERE)
    from colibri2_focus import Colibri2Focus  # noqa: E402  (slixmpp: imported in the child only)

    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print must not corrupt the result stream
    inp = sys.stdin.buffer
    state = {"focus": None}

    def reply(rid, ok, payload) -> None:
        out.write(pickle.dumps((rid, ok, payload)))
        out.flush()

    async def connect(jid, password, host, port, room, bridge, iq_timeout=10.0, wait_bridge=20.0,
                      retry_s=15.0):
        old = state["focus"]
        if old is not None:  # its server went away: stop it reconnecting on its own
            try:
                old.abort()
            except Exception:  # pylint: disable=broad-except
                pass
        deadline = time.monotonic() + retry_s
        while True:
            f = Colibri2Focus(jid, password, host, port, room, bridge=bridge, iq_timeout=iq_timeout)
            try:
                await asyncio.wait_for(f.start_session(), 10)
                f.join()
                await f.wait_joined(timeout=10)
                break
            except Exception:  # pylint: disable=broad-except
                try:
                    await asyncio.wait_for(f.close(), 3)
                except Exception:  # pylint: disable=broad-except
                    pass
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(0.3)
        state["focus"] = f
        if wait_bridge > 0:
            p = await f.wait_bridge(bridge, timeout=wait_bridge)
            return p.at
        return None

    async def wait_bridge_after(t, timeout):
        f = state["focus"]
        p = await f.wait_bridge(f.bridge_nick, lambda p: p.at >= t, "after the fault", timeout=timeout)
        return p.at

    async def retry_allocate(until_s, interval_s, *args, **kwargs):
        f = state["focus"]
        deadline = time.monotonic() + until_s
        attempts, errors = 0, {}
        while True:
            attempts += 1
            try:
                await f.allocate(*args, **kwargs)
                return time.monotonic(), attempts, errors
            except Exception as e:  # pylint: disable=broad-except
                key = getattr(e, "condition", type(e).__name__)
                errors[key] = errors.get(key, 0) + 1
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no allocation within {until_s} s ({attempts} attempts: {errors})")
            await asyncio.sleep(interval_s)

    def last_presence(nick):
        f = state["focus"]
        occupant = f"{f.room}/{nick}"
        mine = [p for p in f.presences if p.frm == occupant]
        return (mine[-1].at, mine[-1].type, mine[-1].stats is not None) if mine else None

    special = {"last_presence": last_presence, "connect": connect, "wait_bridge_after": wait_bridge_after, "retry_allocate": retry_allocate}

    async def handle(rid, method, args, kwargs):
        try:
            if method in special:
                result = special[method](*args, **kwargs)
                if asyncio.iscoroutine(result):
                    result = await result
            else:
                fn = getattr(state["focus"], method)
                result = fn(*args, **kwargs)
                if asyncio.iscoroutine(result):
                    result = await result
            reply(rid, True, _plain(result))
        except Exception as e:  # pylint: disable=broad-except
            reply(rid, False, (type(e).__name__, str(e), getattr(e, "condition", None)))

    tasks = set()
    while True:
        try:
            rid, method, args, kwargs = await asyncio.to_thread(pickle.load, inp)
        except (EOFError, pickle.UnpicklingError):
            break
        t = asyncio.ensure_future(handle(rid, method, args, kwargs))
        tasks.add(t)
        t.add_done_callback(tasks.discard)
    if state["focus"] is not None:
        try:
            await asyncio.wait_for(state["focus"].close(), 5)
        except Exception:  # pylint: disable=broad-except
            pass


if __name__ == "__main__":
    # Bounded like every test process: gone after 10 minutes whatever happens.
    threading.Timer(600, lambda: os._exit(3)).start()
    asyncio.run(_child())
    os._exit(0)
