# Stub of oe-core's systemd class, for parsing only.
SYSTEMD_PACKAGES ??= "${PN}"
SYSTEMD_AUTO_ENABLE ??= "enable"
