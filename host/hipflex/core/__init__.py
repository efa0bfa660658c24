"""Detection core shared by the board (CircuitPython) and the host: attitude
filter, detector, exercise profiles, protocol. MicroPython-safe: ``math`` only."""
