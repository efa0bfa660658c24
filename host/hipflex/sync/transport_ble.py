"""Bluetooth LE transport (bleak): Nordic UART Service.

Kept thin on purpose: line reassembly, replay and reconnect live in the
session (tested without a radio); this layer only finds the board, connects,
subscribes to TX notifications and writes RX in 20-byte pieces.

BlueZ note: bleak 2.x acquired notifications through ``AcquireNotify`` by
default, which some peripherals reject; from bleak 2.1 ``start_notify``
accepts ``bluez={"use_start_notify": True}`` to force the classic
``StartNotify`` path, so it is passed whenever the installed bleak supports it.
"""

import asyncio
import inspect
import re

from hipflex.core import protocol as P
from hipflex.errors import UserError
from hipflex.sync.session import LinkLost, Transport

NUS_SERVICE = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
NUS_RX = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"   # host writes commands here
NUS_TX = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"   # board notifies lines here
NAME_PREFIX = "hipflex-"
_ADDR = re.compile(r"^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f-]{36}$")


def notify_kwargs(start_notify=None):
    """Extra keyword arguments for ``BleakClient.start_notify`` on this bleak."""
    if start_notify is None:
        from bleak import BleakClient
        start_notify = BleakClient.start_notify
    try:
        params = inspect.signature(start_notify).parameters
    except (TypeError, ValueError):
        return {}
    if "bluez" in params:
        return {"bluez": {"use_start_notify": True}}
    return {}


def is_address(text):
    return bool(_ADDR.match(text or ""))


async def scan(timeout=5.0):
    """Nearby hipflex boards: list of (name, address, rssi), strongest first."""
    from bleak import BleakScanner
    try:
        found = await BleakScanner.discover(timeout=timeout, return_adv=True)
    except Exception as e:   # no adapter, BlueZ not running, permission...
        raise UserError("Bluetooth scan failed (is Bluetooth on and the adapter usable?): %s"
                        % _short(e))
    out = []
    for dev, adv in found.values():
        name = adv.local_name or dev.name or ""
        uuids = [u.lower() for u in (adv.service_uuids or [])]
        # Boards advertise as hipflex-XXXX unless renamed in settings.toml;
        # a renamed one is still recognised by the UART service it offers.
        if name.startswith(NAME_PREFIX) or NUS_SERVICE in uuids:
            out.append((name, dev.address, adv.rssi))
    out.sort(key=lambda x: -(x[2] if x[2] is not None else -999))
    return out


class BleTransport(Transport):
    def __init__(self, target, scan_timeout=8.0, write_size=P.NOTIFY_BYTES):
        self.target = target
        self.scan_timeout = scan_timeout
        self.write_size = write_size
        self.label = "ble:" + target
        self.client = None
        self._q = None
        self._device = None

    async def _find(self):
        from bleak import BleakScanner
        try:
            if is_address(self.target):
                dev = await BleakScanner.find_device_by_address(self.target,
                                                                timeout=self.scan_timeout)
            else:
                dev = await BleakScanner.find_device_by_name(self.target,
                                                             timeout=self.scan_timeout)
        except Exception as e:
            raise LinkLost("scan failed: %s" % _short(e))
        if dev is None:
            raise LinkLost("%s not found nearby" % self.target)
        return dev

    async def open(self):
        from bleak import BleakClient
        self._q = asyncio.Queue()
        q = self._q
        if self._device is None:
            self._device = await self._find()

        def lost(_client):
            q.put_nowait(LinkLost("disconnected"))

        def notified(_char, data):
            q.put_nowait(bytes(data))

        client = BleakClient(self._device, disconnected_callback=lost)
        try:
            await client.connect()
            await client.start_notify(NUS_TX, notified, **notify_kwargs(client.start_notify))
        except Exception as e:
            self._device = None     # scan again next time (address may rotate)
            try:
                await client.disconnect()
            except Exception:
                pass
            raise LinkLost("cannot connect to %s: %s" % (self.target, _short(e)))
        self.client = client

    async def read(self):
        item = await self._q.get()
        if isinstance(item, LinkLost):
            raise item
        return item

    async def write(self, data):
        if self.client is None:
            raise LinkLost("not connected")
        try:
            for piece in P.chunks(bytes(data), self.write_size):
                await self.client.write_gatt_char(NUS_RX, piece, response=False)
        except Exception as e:
            raise LinkLost("write failed: %s" % _short(e))

    async def close(self):
        c, self.client = self.client, None
        if c is not None:
            try:
                await c.disconnect()
            except Exception:
                pass


def _short(e):
    return str(e).splitlines()[0][:120] if str(e) else e.__class__.__name__
