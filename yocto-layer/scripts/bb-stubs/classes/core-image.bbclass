# Stub of oe-core's core-image class, for parsing only.
IMAGE_FEATURES ??= ""
