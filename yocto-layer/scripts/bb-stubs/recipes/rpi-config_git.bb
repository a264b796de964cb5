# Stand-in for meta-raspberrypi's rpi-config (not cloned here), so that
# meta-hearth's rpi-config_%.bbappend is parsed the way BitBake applies it:
# appended to its recipe. Only the variables the append sets are read.
SUMMARY = "Stub of meta-raspberrypi's config.txt recipe"
LICENSE = "MIT"
ENABLE_UART ??= ""
ENABLE_I2C ??= ""
RPI_EXTRA_CONFIG ??= ""
