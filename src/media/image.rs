//! Images sent to Claude as image content blocks.
//!
//! Why it exists: the model only sees an image when it arrives as a base64 `image` block in the
//! user message; the media type it declares must be the real one, or the API rejects the
//! request (and a file named `x.png` may hold anything). The type is therefore sniffed from the
//! magic bytes, never taken from the name or Telegram's `mime_type`, and only the four formats
//! the Messages API accepts (PNG, JPEG, GIF, WebP) qualify.

use serde_json::{json, Value};

/// The image formats the Messages API accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    Png,
    Jpeg,
    Gif,
    Webp,
}

impl ImageType {
    pub fn media_type(self) -> &'static str {
        match self {
            ImageType::Png => "image/png",
            ImageType::Jpeg => "image/jpeg",
            ImageType::Gif => "image/gif",
            ImageType::Webp => "image/webp",
        }
    }
}

/// The image type of `bytes`, from their first bytes.
pub fn sniff(bytes: &[u8]) -> Option<ImageType> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageType::Png)
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some(ImageType::Jpeg)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(ImageType::Gif)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(ImageType::Webp)
    } else {
        None
    }
}

/// One image for a prompt: its type and its bytes, base64-encoded once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub kind: ImageType,
    pub base64: String,
}

impl Image {
    /// `None` when `bytes` are not one of the accepted formats.
    pub fn from_bytes(bytes: &[u8]) -> Option<Image> {
        let kind = sniff(bytes)?;
        Some(Image {
            kind,
            base64: data_encoding::BASE64.encode(bytes),
        })
    }

    /// The Messages API content block.
    /// The image's size in bytes (decoded).
    pub fn size(&self) -> u64 {
        (self.base64.len() as u64 / 4) * 3
    }

    pub fn block(&self) -> Value {
        json!({
            "type": "image",
            "source": {"type": "base64", "media_type": self.kind.media_type(), "data": self.base64},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffed_from_magic_bytes_not_names() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some(ImageType::Png));
        assert_eq!(
            sniff(&[0xff, 0xd8, 0xff, 0xe0, 0, 0]),
            Some(ImageType::Jpeg)
        );
        assert_eq!(sniff(b"GIF89a.."), Some(ImageType::Gif));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(ImageType::Webp));
        assert_eq!(sniff(b"<svg xmlns=..."), None);
        assert_eq!(sniff(b"MZ\x90\0"), None);
        assert_eq!(sniff(b""), None);
        let img = Image::from_bytes(b"GIF89a").unwrap();
        let b = img.block();
        assert_eq!(b["source"]["media_type"], "image/gif");
        assert_eq!(b["source"]["data"], "R0lGODlh");
    }
}
