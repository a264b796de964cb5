# Stub of oe-core's cargo-update-recipe-crates class, for parsing only.
