"""hipflex firmware application (CircuitPython). See firmware/README.md."""
