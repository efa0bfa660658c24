# Second USB serial port (usb_cdc.data) for the hipflex protocol; the first
# stays the REPL/console. Takes effect after a hard reset.
import usb_cdc

usb_cdc.enable(console=True, data=True)
