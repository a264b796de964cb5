"""Stand-in for BitBake's hash equivalence server package, which PyPI's
bitbake-setup does not ship. bb.siggen imports it at load time; parsing
never calls it."""
