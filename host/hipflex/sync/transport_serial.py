"""USB serial transport (pyserial) for the board's data port."""

import asyncio
import os

from hipflex.errors import UserError
from hipflex.sync.session import LinkLost, Transport

ADAFRUIT_VID = 0x239A


def find_board_ports(comports=None):
    """Serial ports that look like a hipflex board's data port, best first.

    A CircuitPython board with ``usb_cdc.data`` enabled shows two CDC ports
    with the Adafruit vendor id; the data port is the second interface
    (its description names "CDC2" on most hosts), so it is preferred."""
    if comports is None:
        from serial.tools import list_ports
        comports = list_ports.comports()
    ours = [p for p in comports if getattr(p, "vid", None) == ADAFRUIT_VID]

    def rank(p):
        text = " ".join(str(getattr(p, k, "") or "") for k in ("interface", "description"))
        data_port = "CDC2" in text or "data" in text.lower()
        return (0 if data_port else 1, -_iface_no(p), p.device)

    return [p.device for p in sorted(ours, key=rank)]


def _iface_no(p):
    loc = str(getattr(p, "location", "") or "")
    try:
        return int(loc.rsplit(".", 1)[1]) if "." in loc else 0
    except ValueError:
        return 0


def auto_port():
    ports = find_board_ports()
    if not ports:
        raise UserError("no hipflex board found on USB (vendor id 0x239A); pass --serial PORT "
                        "or --device NAME for Bluetooth")
    return ports[0]


class SerialTransport(Transport):
    """Reads with the event loop watching the port's file descriptor (POSIX),
    or a polling thread elsewhere; writes go straight to the port."""

    def __init__(self, port, baudrate=115200):
        self.port = port
        self.baudrate = baudrate
        self.label = "serial:" + port
        self.ser = None
        self._q = None
        self._loop = None
        self._thread_stop = None

    async def open(self):
        import serial
        self._loop = asyncio.get_running_loop()
        self._q = asyncio.Queue()
        try:
            self.ser = serial.Serial(self.port, self.baudrate, timeout=0, write_timeout=2)
        except (serial.SerialException, OSError, ValueError) as e:
            self.ser = None
            raise LinkLost("cannot open %s: %s" % (self.port, _short(e)))
        fd = _fileno(self.ser)
        if fd is not None:
            self._loop.add_reader(fd, self._readable)
            self._fd = fd
        else:
            self._fd = None
            self._start_thread()

    def _readable(self):
        import serial
        try:
            n = self.ser.in_waiting
            data = self.ser.read(n or 1)
            if not data:
                raise serial.SerialException("port returned no data (disconnected?)")
        except (serial.SerialException, OSError, TypeError) as e:
            self._loop.remove_reader(self._fd)
            self._fd = None
            self._q.put_nowait(LinkLost("%s: %s" % (self.port, _short(e))))
            return
        self._q.put_nowait(data)

    def _start_thread(self):
        import threading
        import serial
        stop = threading.Event()
        self._thread_stop = stop
        ser, loop, q = self.ser, self._loop, self._q

        def run():
            ser.timeout = 0.05
            while not stop.is_set():
                try:
                    data = ser.read(max(1, ser.in_waiting))
                except (serial.SerialException, OSError, TypeError) as e:
                    loop.call_soon_threadsafe(q.put_nowait, LinkLost(_short(e)))
                    return
                if data:
                    loop.call_soon_threadsafe(q.put_nowait, data)

        threading.Thread(target=run, daemon=True).start()

    async def read(self):
        if self._q is None:
            raise LinkLost("not open")
        item = await self._q.get()
        if isinstance(item, LinkLost):
            raise item
        return item

    async def write(self, data):
        import serial
        if self.ser is None:
            raise LinkLost("not open")
        try:
            self.ser.write(data)
        except (serial.SerialException, OSError) as e:
            raise LinkLost("%s: %s" % (self.port, _short(e)))

    async def close(self):
        if self._fd is not None and self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._fd = None
        if self._thread_stop is not None:
            self._thread_stop.set()
            self._thread_stop = None
        if self.ser is not None:
            try:
                self.ser.close()
            except Exception:
                pass
            self.ser = None


def _fileno(ser):
    if os.name != "posix":
        return None
    try:
        return ser.fileno()
    except Exception:
        return None


def _short(e):
    return str(e).splitlines()[0][:120] if str(e) else e.__class__.__name__
