//! The bridge's audio assets (IVR prompts, hold music), decoded once at start-up and
//! pre-encoded to G.711 frames so the media path only copies bytes.

use std::path::{Path, PathBuf};

use crate::ivr::prompt::Prompt;
use crate::media::codec::{Law, SAMPLES_PER_FRAME};
use crate::media::g711;
use crate::media::prefetch;

/// One G.711 frame (20 ms at 8 kHz).
pub type Frame = [u8; SAMPLES_PER_FRAME];

/// A recording as ready-to-send frames for each G.711 law, and as linear frames for the
/// stateful G.722 encoder of a wideband caller.
#[derive(Debug, Clone)]
pub struct EncodedAudio {
    pcmu: Vec<Frame>,
    pcma: Vec<Frame>,
    pcm: Vec<[i16; SAMPLES_PER_FRAME]>,
}

impl EncodedAudio {
    /// Encodes linear 8 kHz PCM; the last partial frame is padded with silence.
    pub fn from_pcm(samples: &[i16]) -> Self {
        let mut pcmu = Vec::with_capacity(samples.len().div_ceil(SAMPLES_PER_FRAME));
        let mut pcma = Vec::with_capacity(pcmu.capacity());
        let mut linear = Vec::with_capacity(pcmu.capacity());
        for chunk in samples.chunks(SAMPLES_PER_FRAME) {
            let mut pcm = [0i16; SAMPLES_PER_FRAME];
            pcm[..chunk.len()].copy_from_slice(chunk);
            let mut u = [0u8; SAMPLES_PER_FRAME];
            let mut a = [0u8; SAMPLES_PER_FRAME];
            g711::encode(Law::Mu, &pcm, &mut u);
            g711::encode(Law::A, &pcm, &mut a);
            pcmu.push(u);
            pcma.push(a);
            linear.push(pcm);
        }
        EncodedAudio {
            pcmu,
            pcma,
            pcm: linear,
        }
    }

    /// The frames for one G.711 law.
    pub fn frames(&self, law: Law) -> &[Frame] {
        match law {
            Law::Mu => &self.pcmu,
            Law::A => &self.pcma,
        }
    }

    /// The linear 8 kHz frames, for codecs that must encode per caller.
    pub fn pcm_frames(&self) -> &[[i16; SAMPLES_PER_FRAME]] {
        &self.pcm
    }

    /// Length in frames.
    pub fn len(&self) -> usize {
        self.pcmu.len()
    }

    /// True for a recording without a single frame.
    pub fn is_empty(&self) -> bool {
        self.pcmu.is_empty()
    }

    /// Starts loading frame `index` in the form a caller needs (a G.711 law, or linear for
    /// a codec that encodes per caller): held callers play the music from different places,
    /// so each one's frame is a cache miss unless asked for ahead.
    pub fn prefetch_frame(&self, index: usize, law: Option<Law>) {
        match law {
            Some(law) => {
                if let Some(frame) = self.frames(law).get(index) {
                    prefetch::lines(std::slice::from_ref(frame));
                }
            }
            None => {
                if let Some(frame) = self.pcm.get(index) {
                    prefetch::lines(std::slice::from_ref(frame));
                }
            }
        }
    }
}

/// Why the assets could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    /// The file could not be read.
    #[error("cannot read audio asset {path}: {source}")]
    Read {
        /// Which file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a WAV hound can decode.
    #[error("audio asset {name} is not a readable WAV file: {source}")]
    Wav {
        /// Which asset.
        name: String,
        /// The decoder's complaint.
        source: hound::Error,
    },
    /// The WAV has a format the bridge does not convert.
    #[error(
        "audio asset {name} is {channels} channel(s), {rate} Hz, {bits}-bit {kind}; \
         it must be mono 16-bit PCM at 8000 or 16000 Hz (see assets/generate.sh)"
    )]
    Format {
        /// Which asset.
        name: String,
        /// Channels found.
        channels: u16,
        /// Sample rate found.
        rate: u32,
        /// Bits per sample found.
        bits: u16,
        /// Integer or float.
        kind: &'static str,
    },
    /// The hold music is shorter than one frame.
    #[error("audio asset {name} holds no audio")]
    Empty {
        /// Which asset.
        name: String,
    },
}

/// Decodes a WAV (mono 16-bit PCM, 8 kHz, or 16 kHz which is decimated) to 8 kHz samples.
pub fn decode_wav(name: &str, bytes: &[u8]) -> Result<Vec<i16>, AssetError> {
    let reader =
        hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(|source| AssetError::Wav {
            name: name.to_string(),
            source,
        })?;
    let spec = reader.spec();
    let ok_format = spec.channels == 1
        && spec.bits_per_sample == 16
        && spec.sample_format == hound::SampleFormat::Int
        && (spec.sample_rate == 8000 || spec.sample_rate == 16000);
    if !ok_format {
        return Err(AssetError::Format {
            name: name.to_string(),
            channels: spec.channels,
            rate: spec.sample_rate,
            bits: spec.bits_per_sample,
            kind: match spec.sample_format {
                hound::SampleFormat::Int => "integer",
                hound::SampleFormat::Float => "float",
            },
        });
    }
    let samples: Vec<i16> = reader
        .into_samples::<i16>()
        .collect::<Result<_, _>>()
        .map_err(|source| AssetError::Wav {
            name: name.to_string(),
            source,
        })?;
    if spec.sample_rate == 16000 {
        // Averaging pairs is a crude low-pass, enough for speech prompts recorded wideband.
        Ok(samples
            .chunks(2)
            .map(|p| ((p.iter().map(|&s| i32::from(s)).sum::<i32>()) / p.len() as i32) as i16)
            .collect())
    } else {
        Ok(samples)
    }
}

/// Every prompt and the hold music, ready to send.
#[derive(Debug)]
pub struct Assets {
    prompts: Vec<EncodedAudio>,
    hold_music: EncodedAudio,
    /// The join and leave chimes, as PCM frames: they are mixed into a meeting's audio.
    chimes: [Vec<[i16; SAMPLES_PER_FRAME]>; 2],
}

/// The short sounds a meeting hears when someone joins or leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chime {
    /// Rising: someone joined.
    Join,
    /// Falling: someone left.
    Leave,
}

const BUNDLED_CHIMES: [(&str, &[u8]); 2] = [
    (
        "tone-join.wav",
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/tone-join.wav")).as_slice(),
    ),
    (
        "tone-leave.wav",
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/tone-leave.wav"
        ))
        .as_slice(),
    ),
];

fn chime_frames(name: &str, bytes: &[u8]) -> Result<Vec<[i16; SAMPLES_PER_FRAME]>, AssetError> {
    let pcm = decode_wav(name, bytes)?;
    Ok(pcm
        .chunks(SAMPLES_PER_FRAME)
        .map(|c| {
            let mut f = [0i16; SAMPLES_PER_FRAME];
            f[..c.len()].copy_from_slice(c);
            f
        })
        .collect())
}

fn bundled_chimes() -> Result<[Vec<[i16; SAMPLES_PER_FRAME]>; 2], AssetError> {
    let [(jn, jb), (ln, lb)] = BUNDLED_CHIMES;
    Ok([chime_frames(jn, jb)?, chime_frames(ln, lb)?])
}

const BUNDLED_HOLD_MUSIC: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/hold-music.wav"
));

impl Assets {
    /// The assets compiled into the binary.
    pub fn bundled() -> Result<Assets, AssetError> {
        let mut prompts = Vec::with_capacity(Prompt::ALL.len());
        for p in Prompt::ALL {
            let bytes = crate::ivr::prompt::BUNDLED
                .iter()
                .find(|(name, _)| *name == p.file_name())
                .map(|(_, b)| *b)
                .unwrap_or_default();
            prompts.push(EncodedAudio::from_pcm(&decode_wav(p.file_name(), bytes)?));
        }
        Ok(Assets {
            prompts,
            hold_music: Self::hold_music_from("hold-music.wav", BUNDLED_HOLD_MUSIC)?,
            chimes: bundled_chimes()?,
        })
    }

    /// Loads `prompts/*.wav` and `hold-music.wav` from a directory laid out like `assets/`.
    pub fn from_dir(dir: &Path) -> Result<Assets, AssetError> {
        let read = |path: PathBuf| {
            std::fs::read(&path).map_err(|source| AssetError::Read { path, source })
        };
        let mut prompts = Vec::with_capacity(Prompt::ALL.len());
        for p in Prompt::ALL {
            let bytes = read(dir.join("prompts").join(p.file_name()))?;
            prompts.push(EncodedAudio::from_pcm(&decode_wav(p.file_name(), &bytes)?));
        }
        let hold = read(dir.join("hold-music.wav"))?;
        // Chimes are optional in a custom directory: the bundled ones are used otherwise.
        let mut chimes = bundled_chimes()?;
        for (slot, name) in ["tone-join.wav", "tone-leave.wav"].into_iter().enumerate() {
            let path = dir.join(name);
            if path.exists()
                && let Some(c) = chimes.get_mut(slot)
            {
                *c = chime_frames(name, &read(path)?)?;
            }
        }
        Ok(Assets {
            prompts,
            hold_music: Self::hold_music_from("hold-music.wav", &hold)?,
            chimes,
        })
    }

    fn hold_music_from(name: &str, bytes: &[u8]) -> Result<EncodedAudio, AssetError> {
        let mut pcm = decode_wav(name, bytes)?;
        // Looping must not insert padding: keep whole frames only (assets are cut to 20 ms).
        pcm.truncate(pcm.len() - pcm.len() % SAMPLES_PER_FRAME);
        if pcm.is_empty() {
            return Err(AssetError::Empty {
                name: name.to_string(),
            });
        }
        Ok(EncodedAudio::from_pcm(&pcm))
    }

    /// A prompt's frames.
    pub fn prompt(&self, prompt: Prompt) -> &EncodedAudio {
        // `prompts` is built from `Prompt::ALL` in index order, so every index exists.
        &self.prompts[prompt.index()]
    }

    /// A chime's PCM frames, to mix into a meeting.
    pub fn chime(&self, chime: Chime) -> &[[i16; SAMPLES_PER_FRAME]] {
        match chime {
            Chime::Join => &self.chimes[0],
            Chime::Leave => &self.chimes[1],
        }
    }

    /// The hold music's frames (looped by the player).
    pub fn hold_music(&self) -> &EncodedAudio {
        &self.hold_music
    }
}
