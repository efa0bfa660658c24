# hipflex: thigh-worn hip-flexion rep counter. Settings: settings.toml.
from hipflex_app.app import App
from hipflex_app.hardware import build

App(**build()).run()
