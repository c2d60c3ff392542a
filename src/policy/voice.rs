//! Which voice notes and audio files may be transcribed.
//!
//! Why it exists: a voice note costs a download and a request to the operator's transcription
//! server, both sized by the sender. Whether that happens is decided here, before any byte
//! moves: transcription must be configured (off by default), and Telegram's announced duration
//! and size must be within `MAX_VOICE_SECONDS` / `MAX_VOICE_BYTES`; the size is checked again
//! on the bytes received ([`check_bytes`]). A voice note is a prompt, not a file written into
//! the project, so any role that may prompt may send one.

/// Why a voice note was not transcribed. The messages are shown to the user;
/// [`VoiceRefusal::rule`] names the rule in the audit row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoiceRefusal {
    #[error("voice notes are off")]
    Off,
    #[error("it is {seconds} s long; at most {limit} s are transcribed (MAX_VOICE_SECONDS)")]
    TooLong { seconds: u64, limit: u64 },
    #[error("it is {size} bytes; at most {limit} bytes are transcribed (MAX_VOICE_BYTES)")]
    TooLarge { size: u64, limit: u64 },
}

impl VoiceRefusal {
    /// The rule's short name, as audited.
    pub fn rule(&self) -> &'static str {
        match self {
            VoiceRefusal::Off => "voice.off",
            VoiceRefusal::TooLong { .. } => "voice.duration",
            VoiceRefusal::TooLarge { .. } => "voice.size",
        }
    }
}

/// The limits a voice note is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoiceLimits {
    /// Whether a transcription server is configured.
    pub enabled: bool,
    pub max_seconds: u64,
    pub max_bytes: u64,
}

/// May a voice note Telegram describes as `seconds` long and `size` bytes be downloaded and
/// transcribed? Unknown values pass here; the size is enforced on the bytes in any case.
pub fn check_announced(
    seconds: Option<u64>,
    size: Option<u64>,
    limits: &VoiceLimits,
) -> Result<(), VoiceRefusal> {
    if !limits.enabled {
        return Err(VoiceRefusal::Off);
    }
    if let Some(seconds) = seconds.filter(|s| *s > limits.max_seconds) {
        return Err(VoiceRefusal::TooLong {
            seconds,
            limit: limits.max_seconds,
        });
    }
    match size {
        Some(size) => check_bytes(size, limits),
        None => Ok(()),
    }
}

/// Is `size` bytes (announced by `getFile`, or received) within `MAX_VOICE_BYTES`?
pub fn check_bytes(size: u64, limits: &VoiceLimits) -> Result<(), VoiceRefusal> {
    if size > limits.max_bytes {
        Err(VoiceRefusal::TooLarge {
            size,
            limit: limits.max_bytes,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ON: VoiceLimits = VoiceLimits {
        enabled: true,
        max_seconds: 600,
        max_bytes: 1000,
    };

    #[test]
    fn off_long_and_large_notes_are_refused_before_download() {
        let off = VoiceLimits {
            enabled: false,
            ..ON
        };
        assert_eq!(
            check_announced(Some(1), Some(1), &off),
            Err(VoiceRefusal::Off)
        );
        assert_eq!(
            check_announced(None, None, &off).unwrap_err().rule(),
            "voice.off"
        );
        assert_eq!(check_announced(Some(600), Some(1000), &ON), Ok(()));
        assert_eq!(check_announced(None, None, &ON), Ok(()));
        let long = check_announced(Some(601), Some(10), &ON).unwrap_err();
        assert_eq!(
            long,
            VoiceRefusal::TooLong {
                seconds: 601,
                limit: 600
            }
        );
        assert!(long.to_string().contains("MAX_VOICE_SECONDS"));
        let big = check_announced(Some(5), Some(1001), &ON).unwrap_err();
        assert_eq!(big.rule(), "voice.size");
        assert!(big.to_string().contains("MAX_VOICE_BYTES"));
        assert!(check_bytes(1001, &ON).is_err());
        assert!(check_bytes(1000, &ON).is_ok());
    }
}
