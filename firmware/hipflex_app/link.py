"""Line transports: USB CDC data port and BLE Nordic UART Service.

Both speak the protocol in hipflex.core.protocol: incoming bytes are
reassembled into lines, outgoing lines are written in chunks no larger than
one USB packet / one BLE notification. Each link keeps its own
authentication nonce, replay cursor and raw-stream setting.
"""

from hipflex.core import protocol

USB_CHUNK = 64


class Link:
    """Base class. Subclasses implement ``_connected()``, ``_read()``
    (bytes available now, or None) and ``_write(chunk)``."""

    chunk = USB_CHUNK
    name = "link"

    def __init__(self):
        self.rx = protocol.LineReassembler()
        self.auth = None
        self.replay_next = None     # seq of the next event to replay, or None
        self.replay_sent = 0
        self.raw_div = 0            # 0 = raw streaming off
        self.raw_count = 0
        self.was_connected = False
        self.bytes_out = 0
        self.write_errors = 0

    @property
    def connected(self):
        return self._connected()

    def service(self, now_ms):
        """Call every loop: notices (dis)connection, keeps advertising.
        Returns True when a host has just connected."""
        c = self._connected()
        if c != self.was_connected:
            self.was_connected = c
            self.rx.reset()
            self.replay_next = None
            self.raw_div = 0
            return c
        return False

    def poll_lines(self):
        """Complete lines received since the last call."""
        if not self._connected():
            return ()
        data = self._read()
        if not data:
            return ()
        return self.rx.feed(data)

    def write_line(self, line):
        """Send one line (``str`` ending in newline) if a host is connected."""
        if not self._connected():
            return False
        data = line.encode()
        n = len(data)
        i = 0
        c = self.chunk
        try:
            while i < n:
                self._write(data[i:i + c])
                i += c
        except Exception:  # link dropped mid-line (OSError, ConnectionError)
            self.write_errors += 1
            return False
        self.bytes_out += n
        return True


class StreamLink(Link):
    """A usb_cdc.Serial-like stream (``in_waiting``, ``read``, ``write``,
    ``connected``)."""

    name = "usb"

    def __init__(self, stream, chunk=USB_CHUNK):
        Link.__init__(self)
        self.stream = stream
        self.chunk = chunk

    def _connected(self):
        return bool(getattr(self.stream, "connected", True))

    def _read(self):
        n = self.stream.in_waiting
        if n:
            return self.stream.read(n)
        return None

    def _write(self, chunk):
        self.stream.write(chunk)


class BLELink(Link):
    """adafruit_ble BLERadio + UARTService, advertising ``advertisement``
    whenever nobody is connected. Writes one notification (20 bytes) at a
    time."""

    name = "ble"

    def __init__(self, radio, uart, advertisement, chunk=protocol.NOTIFY_BYTES):
        Link.__init__(self)
        self.radio = radio
        self.uart = uart
        self.advertisement = advertisement
        self.chunk = chunk
        self.advertise_errors = 0

    def _connected(self):
        return bool(self.radio.connected)

    def service(self, now_ms):
        c = Link.service(self, now_ms)
        if not self.radio.connected and not self.radio.advertising:
            try:
                self.radio.start_advertising(self.advertisement)
            except Exception:  # radio busy; retried next loop
                self.advertise_errors += 1
        return c

    def _read(self):
        n = self.uart.in_waiting
        if n:
            return self.uart.read(n)
        return None

    def _write(self, chunk):
        self.uart.write(chunk)
