# Stub of oe-core's cargo class, for parsing only.
CARGO_SRC_DIR ??= ""
CARGO_BUILD_FLAGS ??= ""
