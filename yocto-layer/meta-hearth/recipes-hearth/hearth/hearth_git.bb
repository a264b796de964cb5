SUMMARY = "Hearth: Bitcoin hashboards as smart, modulating electric heaters"
DESCRIPTION = "The hearth daemon drives attached BM13xx hashboards as heaters \
for a room, a pool or a greenhouse, holding temperature setpoints and mining \
with the heat. It serves a local web page and API on port 80."
HOMEPAGE = "https://example.invalid/hearth"
BUGTRACKER = "https://example.invalid/hearth/issues"
SECTION = "utils"
LICENSE = "GPL-3.0-or-later"
LIC_FILES_CHKSUM = "file://Cargo.toml;beginline=34;endline=34;md5=c8b33124d6b4f3627fd9d18a052058b4"

PV = "0.1.0+git"

SRC_URI = "git://example.invalid/hearth.git;protocol=https;branch=main"
# A release pins the commit it was tested at; bump with the crates include.
SRCREV = "172dfd27d9cc7b5cdfbcee3237bff6efc0a88b07"

S = "${UNPACKDIR}/git"

require ${BPN}-crates.inc

inherit cargo cargo-update-recipe-crates systemd useradd

# The Pi's build, as the image's `pi` profile: cargo's release profile with
# whole-program LTO in one codegen unit (~3 % fewer instructions validating
# a sharechain window; docs/sharechain.md, round 7).
export CARGO_PROFILE_RELEASE_LTO = "fat"
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS = "1"

# The same unit, tmpfiles, udev rules and default config as the Debian image
# (image-build/rootfs), so both images behave alike: config and database on
# the DATA partition mounted at /data, read-only root.
HEARTH_ROOTFS = "${S}/image-build/rootfs"

do_install:append() {
    install -d ${D}${systemd_system_unitdir} ${D}${datadir}/hearth \
        ${D}${nonarch_libdir}/tmpfiles.d ${D}${nonarch_base_libdir}/udev/rules.d \
        ${D}${sysconfdir}/systemd/journald.conf.d ${D}${sysconfdir}/avahi/services
    install -m 0644 ${HEARTH_ROOTFS}/usr/lib/systemd/system/hearth.service ${D}${systemd_system_unitdir}/
    install -m 0644 ${HEARTH_ROOTFS}/usr/share/hearth/hearth.toml ${D}${datadir}/hearth/
    install -m 0644 ${HEARTH_ROOTFS}/usr/lib/tmpfiles.d/hearth.conf ${D}${nonarch_libdir}/tmpfiles.d/
    install -m 0644 ${HEARTH_ROOTFS}/usr/lib/udev/rules.d/60-hearth-devices.rules ${D}${nonarch_base_libdir}/udev/rules.d/
    install -m 0644 ${HEARTH_ROOTFS}/etc/systemd/journald.conf.d/hearth.conf ${D}${sysconfdir}/systemd/journald.conf.d/
    install -m 0644 ${HEARTH_ROOTFS}/etc/avahi/services/hearth.service ${D}${sysconfdir}/avahi/services/
}

USERADD_PACKAGES = "${PN}"
GROUPADD_PARAM:${PN} = "--system gpio; --system i2c"
USERADD_PARAM:${PN} = "--system --home-dir /data/hearth --no-create-home \
    --shell /sbin/nologin --user-group --groups dialout,i2c,gpio hearth"

SYSTEMD_SERVICE:${PN} = "hearth.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"

FILES:${PN} += "${nonarch_libdir}/tmpfiles.d ${nonarch_base_libdir}/udev/rules.d \
    ${sysconfdir}/systemd/journald.conf.d ${sysconfdir}/avahi/services"
CONFFILES:${PN} = "${sysconfdir}/systemd/journald.conf.d/hearth.conf ${sysconfdir}/avahi/services/hearth.service"
RDEPENDS:${PN} = "avahi-daemon"
