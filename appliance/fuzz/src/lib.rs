//! Helpers shared by the fuzz targets.

/// Text decoders take UTF-8; other bytes are not an input they can be given
/// (the file readers refuse them before parsing).
pub fn as_text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}
