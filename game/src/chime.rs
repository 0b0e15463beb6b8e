//! The desktop's chime when an agent starts waiting for a person: the same
//! two soft notes the browser plays with WebAudio, synthesised here as a WAV
//! so nothing is borrowed or loaded from disk. Off until the person turns it
//! on in the HUD's Alerts menu.

use crate::attention::{AttentionSettings, AttentionWanted};
use bevy::audio::{AudioPlayer, AudioSource, PlaybackSettings};
use bevy::prelude::*;

const SAMPLE_RATE: u32 = 44_100;
/// The notes (Hz) and when each starts (s): a fifth apart, like the browser's.
const NOTES: [(f32, f32); 2] = [(660.0, 0.0), (990.0, 0.16)];
/// Peak loudness of each note (of full scale): quiet.
const PEAK: f32 = 0.06;
const ATTACK: f32 = 0.02;
/// Each note fades to -80 dB over this long, then stops.
const FADE: f32 = 0.5;
const NOTE_LENGTH: f32 = 0.55;

pub fn plugin(app: &mut App) {
    app.add_systems(Startup, load_chime)
        .add_systems(Update, chime_on_questions);
}

#[derive(Resource)]
struct ChimeSound(Handle<AudioSource>);

fn load_chime(mut commands: Commands, sources: Option<ResMut<Assets<AudioSource>>>) {
    if let Some(mut sources) = sources {
        let sound = sources.add(AudioSource {
            bytes: chime_wav().into(),
        });
        commands.insert_resource(ChimeSound(sound));
    }
}

fn chime_on_questions(
    mut commands: Commands,
    mut wanted: MessageReader<AttentionWanted>,
    settings: Res<AttentionSettings>,
    sound: Option<Res<ChimeSound>>,
) {
    // One chime however many questions arrive in a frame.
    if wanted.read().count() > 0
        && settings.chime
        && let Some(sound) = sound
    {
        commands.spawn((AudioPlayer(sound.0.clone()), PlaybackSettings::DESPAWN));
    }
}

/// The chime's samples, -1..1.
fn chime_samples() -> Vec<f32> {
    let last = NOTES
        .iter()
        .map(|(_, at)| at + NOTE_LENGTH)
        .fold(0.0, f32::max);
    let len = (last * SAMPLE_RATE as f32).ceil() as usize;
    // exp(-k·FADE) = 1e-4 (WebAudio's exponential ramp to 0.0001).
    let decay = (1e4_f32).ln() / FADE;
    (0..len)
        .map(|i| {
            let t = i as f32 / SAMPLE_RATE as f32;
            NOTES
                .iter()
                .map(|&(hz, at)| {
                    let local = t - at;
                    if !(0.0..NOTE_LENGTH).contains(&local) {
                        return 0.0;
                    }
                    let envelope = if local < ATTACK {
                        local / ATTACK
                    } else {
                        (-decay * (local - ATTACK)).exp()
                    };
                    PEAK * envelope * (std::f32::consts::TAU * hz * local).sin()
                })
                .sum::<f32>()
        })
        .collect()
}

/// The chime as a 16-bit mono PCM WAV file.
pub fn chime_wav() -> Vec<u8> {
    let samples = chime_samples();
    let data_len = (samples.len() * 2) as u32;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    wav.extend_from_slice(&(SAMPLE_RATE * 2).to_le_bytes()); // bytes per second
    wav.extend_from_slice(&2u16.to_le_bytes()); // bytes per frame
    wav.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        let pcm = (s.clamp(-1.0, 1.0) * i16::MAX as f32).round() as i16;
        wav.extend_from_slice(&pcm.to_le_bytes());
    }
    wav
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chime_is_a_short_quiet_wav_that_starts_and_ends_in_silence() {
        let wav = chime_wav();
        assert_eq!(&wav[0..4], b"RIFF");
        assert_eq!(&wav[8..16], b"WAVEfmt ");
        let data_len = u32::from_le_bytes(wav[40..44].try_into().unwrap()) as usize;
        assert_eq!(wav.len(), 44 + data_len);
        let pcm: Vec<i16> = wav[44..]
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        let seconds = pcm.len() as f32 / SAMPLE_RATE as f32;
        assert!((0.6..1.0).contains(&seconds), "{seconds} s");
        let peak = pcm.iter().map(|s| s.unsigned_abs()).max().unwrap() as f32 / i16::MAX as f32;
        assert!(
            (0.04..=0.13).contains(&peak),
            "soft, never loud: peak {peak}"
        );
        // No click: it fades in from and out to silence.
        assert!(pcm[0].unsigned_abs() < 50 && pcm.last().unwrap().unsigned_abs() < 50);
        // Two notes: the second starts later, at 990 Hz.
        let second = (0.25 * SAMPLE_RATE as f32) as usize;
        let window = &pcm[second..second + SAMPLE_RATE as usize / 20];
        let crossings = window
            .windows(2)
            .filter(|w| (w[0] < 0) != (w[1] < 0))
            .count();
        // 990 Hz over 50 ms, plus the fading 660 Hz: mostly the newer note.
        assert!(crossings > 70, "{crossings} zero crossings in 50 ms");
    }
}
