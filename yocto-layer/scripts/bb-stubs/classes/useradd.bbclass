# Stub of oe-core's useradd class, for parsing only.
USERADD_PACKAGES ??= ""
