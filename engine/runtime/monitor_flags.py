"""How the monitor's interpreter is started (shared by the launcher and the
monitor's own re-exec, without the launcher importing the monitor).
-E: PYTHON* variables do not apply (PYTHONDONTWRITEBYTECODE would make every
start compile the sources); -S: no site (the monitor needs only the standard
library)."""
FAST_FLAGS = ("-E", "-S")
