SUMMARY = "Hearth appliance image: read-only root, data partition, the hearth daemon"
DESCRIPTION = "A minimal systemd image for the Raspberry Pi 4 (raspberrypi4-64) \
and Pi 5 (raspberrypi5) that runs hearth as a Type=notify service with a \
watchdog, advertises its web page over mDNS, keeps the journal in RAM and \
mounts config and database from a separate DATA partition."
LICENSE = "MIT"

inherit core-image

COMPATIBLE_MACHINE = "^(raspberrypi4-64|raspberrypi5)$"

IMAGE_FEATURES += "read-only-rootfs"
IMAGE_INSTALL:append = " hearth avahi-daemon i2c-tools kernel-module-w1-gpio"

IMAGE_FSTYPES = "wic.bz2 wic.bmap"
WKS_FILE = "hearth-rpi.wks"
IMAGE_ROOTFS_EXTRA_SPACE = "65536"
