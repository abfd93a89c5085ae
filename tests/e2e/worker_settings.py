"""Settings for the e2e worker: the real ones, plus engine knobs the tests shorten from the environment.

config/settings.py does not read these from the environment (the engine falls back to its
defaults); the crash test needs a 1 s lease grace rather than 30 s.
"""

from config.settings import *  # noqa: F403
from config.settings import env_int

HOURGLASS_LEASE_GRACE_SECONDS = env_int("HOURGLASS_LEASE_GRACE_SECONDS", 30)
HOURGLASS_REPUBLISH_AFTER_SECONDS = env_int("HOURGLASS_REPUBLISH_AFTER_SECONDS", 30)
