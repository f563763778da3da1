#!/usr/bin/env bash
# Regenerates every WAV in this directory (IVR and meeting prompts, spoken numbers, the record tone, hold music, join and leave chimes) from nothing but
# espeak-ng and sox, so the audio can be reviewed as text and rebuilt byte-for-byte on any Debian 12
# box. Outputs are 8000 Hz, mono, 16-bit signed PCM WAV (what the media path and `hound` expect).
#
# Determinism: sox runs with -R (fixed seeds) and -D (no dither), nothing uses noise, and all
# level maths is done with awk under LC_ALL=C. The same espeak-ng/sox versions give identical bytes
# (tested with espeak-ng 1.51 and SoX 14.4.2); other versions may differ slightly in the samples.
#
# Usage: assets/generate.sh   (writes next to this script; takes a few seconds)
set -euo pipefail
export LC_ALL=C

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

for tool in espeak-ng sox awk; do
  command -v "$tool" >/dev/null || { echo "generate.sh: $tool not found (apt-get install espeak-ng sox)" >&2; exit 1; }
done

# The committed files were made with these versions; others still work but may change bytes.
[[ "$(espeak-ng --version)" == *"1.51"* && "$(sox --version)" == *"v14.4.2"* ]] ||
  echo "generate.sh: note: not espeak-ng 1.51 / SoX 14.4.2, output may differ from the committed WAVs" >&2

# -V2 keeps warnings (e.g. "clipped samples") visible, which would mean a level bug here.
SOX=(sox -R -D -V2)
OUT_FMT=(-t wav -e signed-integer -b 16 -r 8000 -c 1)
# Intermediates stay 32-bit so that only the final write quantises to 16 bits.
WORK_FMT=(-t wav -e signed-integer -b 32)
SYNTH_RATE=48000 # synthesise far above 8 kHz so the final high-quality resampler removes aliases

# sox_stat FILE "Pk lev dB"|"RMS lev dB" -> number (dBFS) from sox's stats effect.
sox_stat() {
  sox -V1 "$1" -n stats 2>&1 | awk -v key="$2" 'index($0, key) == 1 { print $NF }'
}

# level_gain FILE TARGET_RMS_DB MAX_PEAK_DB -> gain (dB) reaching the RMS target, lowered if the
# peak would exceed its ceiling. Music and speech keep their dynamics; the ceiling always wins.
level_gain() {
  local rms pk
  rms="$(sox_stat "$1" "RMS lev dB")"
  pk="$(sox_stat "$1" "Pk lev dB")"
  awk -v r="$rms" -v p="$pk" -v t="$2" -v m="$3" \
    'BEGIN { g = t - r; if (p + g > m) g = m - p; printf "%.2f\n", g }'
}

# hz SEMITONES_FROM_A4 [CENTS] -> frequency in Hz (equal temperament, A4 = 440 Hz).
hz() {
  awk -v n="$1" -v c="${2:-0}" 'BEGIN { printf "%.4f\n", 440 * 2 ^ ((n + c / 100) / 12) }'
}

###############################################################################################
# Prompts: espeak-ng, trimmed to ~100 ms of silence each side, telephone band, -16 dBFS RMS.
###############################################################################################
VOICE="en-us+f3" # female US English variant: a little brighter and clearer through G.711
SPEED=150        # words per minute; slow enough for numbers-and-keys instructions

mkdir -p "$here/prompts"
while IFS='|' read -r name text; do
  [[ -z "$name" ]] && continue
  espeak-ng -v "$VOICE" -s "$SPEED" -w "$tmp/$name.raw.wav" "$text"
  # Trim the synthesiser's own leading/trailing silence, drop rumble below the telephone band,
  # resample with the very-high-quality filter. Then a gentle 2:1 compressor (fast attack, 2 ms
  # look-ahead) above 6 dB over the speech level tames the plosive peaks, which lets every
  # prompt reach -16 dBFS RMS under a -1 dBFS peak instead of the loudest consonant deciding.
  "${SOX[@]}" "$tmp/$name.raw.wav" "${WORK_FMT[@]}" -r 8000 -c 1 "$tmp/$name.trim.wav" \
    silence 1 0.005 -45d reverse silence 1 0.005 -45d reverse highpass 250 rate -v 8000
  # sox clips at 0 dBFS inside an effects chain, so compress at -22 dBFS RMS and lift afterwards.
  g="$(level_gain "$tmp/$name.trim.wav" -22 -1)"
  "${SOX[@]}" "$tmp/$name.trim.wav" "${WORK_FMT[@]}" "$tmp/$name.lim.wav" \
    gain "$g" compand 0.0003,0.08 3:-90,-90,-16,-16,0,-8 0 -90 0.002
  # The level is set on the speech alone (not the padding) so short and long prompts sound alike.
  g="$(level_gain "$tmp/$name.lim.wav" -16 -1)"
  "${SOX[@]}" "$tmp/$name.lim.wav" "${OUT_FMT[@]}" "$here/prompts/$name.wav" gain "$g" pad 0.1 0.1
done <<'PROMPTS'
welcome|Welcome to the meeting bridge.
enter-conference-id|Please enter your conference ID, followed by the pound key.
conference-not-found|Sorry, that conference ID was not recognized.
organizer-question|If you are the organizer, press star. Otherwise, press pound, or stay on the line.
enter-pin|Please enter your organizer PIN, followed by the pound key.
wrong-pin|That PIN is not correct.
too-many-attempts|Too many attempts.
lobby-wait|The meeting has not started yet. It will start when the organizer joins. Please stay on the line.
joining|You are now joining the meeting.
goodbye|Goodbye.
service-unavailable|The meeting bridge is not available right now. Please call again later.
reconnecting|One moment please. Reconnecting you to the meeting.
keypad-help|Meeting keys. Star six mutes or unmutes you. Star five raises or lowers your hand. Star zero tells how many people are in the meeting. Star one repeats this help.
keypad-help-organizer|Meeting keys. Star six mutes or unmutes you. Star five raises or lowers your hand. Star zero tells how many people are in the meeting. For the organizer: star two two mutes everyone else. Star two three turns join and leave tones on or off. Star two one lets in everyone waiting. Star two four goes through them one at a time. Star two five sends everyone waiting away. Star seven locks or unlocks the meeting. Star one repeats this help.
muted|You are muted.
unmuted|You are unmuted.
muted-by-organizer|The organizer muted everyone. Press star six to unmute.
all-muted|Everyone else is muted.
hand-raised|Your hand is raised.
hand-lowered|Your hand is lowered.
a-hand-is-raised|A participant raised their hand.
announcements-on|Join and leave tones are on.
announcements-off|Join and leave tones are off.
meeting-locked|The meeting is now locked. New callers will wait until you let them in.
meeting-unlocked|The meeting is now unlocked.
locked-wait|This meeting is locked. Please wait. The organizer will let you in.
callers-admitted|Everyone waiting has been let in.
callers-sent-away|Everyone waiting has been sent away.
nobody-waiting|Nobody is waiting.
organizer-only|That key is for the organizer.
participants-in-meeting|participants in the meeting.
one-participant|You are the only participant in the meeting.
n-0|zero
n-1|one
n-2|two
n-3|three
n-4|four
n-5|five
n-6|six
n-7|seven
n-8|eight
n-9|nine
n-10|ten
n-11|eleven
n-12|twelve
n-13|thirteen
n-14|fourteen
n-15|fifteen
n-16|sixteen
n-17|seventeen
n-18|eighteen
n-19|nineteen
n-20|twenty
n-30|thirty
n-40|forty
n-50|fifty
n-60|sixty
n-70|seventy
n-80|eighty
n-90|ninety
n-hundred|hundred
lobby-timeout|The meeting has not started, and the waiting time is over. Please call again later. Goodbye.
enter-new-pin|To change your PIN, enter the new PIN, followed by the pound key.
enter-new-pin-again|Enter the new PIN again, followed by the pound key.
pins-do-not-match|The two PINs are not the same. Your PIN was not changed.
pin-too-easy|That PIN is too easy to guess. Your PIN was not changed.
pin-must-have|The PIN must have
digits-not-changed|digits. Your PIN was not changed.
pin-changed|Your PIN has been changed.
pin-not-changed|Your PIN was not changed.
say-your-name|After the tone, say your name, then press pound.
has-joined|has joined.
has-left|has left.
callers-waiting|callers are waiting.
caller-waiting|caller is waiting.
lobby-choices|Press star two one to let everyone in, or star two four to hear them one at a time.
callers-joined-from-lobby|callers joined from the lobby.
caller-joined-from-lobby|caller joined from the lobby.
caller|Caller
admit-choices|Press one to let them in, two to send them away, three to skip to the next, or pound to stop.
let-in|Let in.
sent-away|Sent away.
no-more-waiting|No more callers are waiting.
not-let-in|The organizer did not let you in. Goodbye.
removed|You have been removed from the meeting.
meeting-ended|The meeting has ended.
PROMPTS

# The record tone before a caller says their name: 1400 Hz (ITU-T E.180's record tone) for
# 250 ms with 5 ms fades (synthesised 6 dB under full scale, so resampling cannot clip), at the
# prompts' level; 100 ms of silence before it, none after, so the recording starts as it ends.
"${SOX[@]}" -r "$SYNTH_RATE" -c 1 -n "${WORK_FMT[@]}" "$tmp/beep.synth.wav" \
  synth 0.25 sine 1400 fade t 0.005 0.25 0.005 gain -6
"${SOX[@]}" "$tmp/beep.synth.wav" "${WORK_FMT[@]}" -r 8000 "$tmp/beep.wav" rate -v 8000
g="$(level_gain "$tmp/beep.wav" -16 -1)"
"${SOX[@]}" "$tmp/beep.wav" "${OUT_FMT[@]}" "$here/prompts/beep.wav" gain "$g" pad 0.1 0

###############################################################################################
# Hold music: 8 chords x 4 s = 32 s in E major, soft detuned sine/triangle pads plus a quiet
# bell-like melody. Every chord and note starts and ends at zero amplitude and lives inside its
# own 4 s slot, so the seam at the end of the file (B7 -> Emaj7, the progression's own
# resolution) is exactly like every other chord change: the file loops without gap or click.
###############################################################################################
CHORD_LEN=4
# Voicings in semitones from A4, kept at or above ~277 Hz so nearly all energy is in the
# 300-3400 Hz telephone band (inversions instead of low roots, which a phone would drop anyway).
CHORDS=(
  "-5 -1 2 6"  # Emaj7  E4 G#4 B4 D#5
  "-8 -5 -1 2" # C#m7   C#4 E4 G#4 B4
  "-5 -1 0 4"  # Amaj7  E4 G#4 A4 C#5
  "-5 -3 0 2"  # B7sus4 E4 F#4 A4 B4
  "-5 -1 2 6"  # Emaj7
  "-6 -3 -1 2" # G#m7   D#4 F#4 G#4 B4
  "-3 0 4 7"   # F#m7   F#4 A4 C#5 E5
  "-6 -3 0 2"  # B7     D#4 F#4 A4 B4 (leads back to Emaj7 at the loop)
)
# Melody, one line per chord: "semitones:seconds" pairs (r = rest), each line summing to 4 s.
MELODY=(
  "14:2 11:1 9:1"   # B5 G#5 F#5
  "7:2 11:2"        # E5 G#5
  "16:2 14:1 12:1"  # C#6 B5 A5
  "9:3 r:1"         # F#5
  "11:2 14:2"       # G#5 B5
  "18:1 16:1 14:2"  # D#6 C#6 B5
  "12:2 9:1 12:1"   # A5 F#5 A5
  "9:2 6:1 r:1"     # F#5 D#5
)

pad_parts=()
for i in "${!CHORDS[@]}"; do
  specs=()
  mix=""
  ch=0
  for n in ${CHORDS[$i]}; do
    # A main sine, a slightly sharp sine (slow, shallow chorus beating) and a slightly flat soft
    # triangle for warmth; the weights add up to 0.225 per note, so four notes stay under 0 dBFS.
    specs+=(sine "$(hz "$n")" sine "$(hz "$n" 4)" triangle "$(hz "$n" -3)")
    mix+="${mix:+,}$((ch + 1))v0.14,$((ch + 2))v0.045,$((ch + 3))v0.04"
    ch=$((ch + 3))
  done
  # Quarter-sine fades: they leave zero quickly, so the dip between chords stays ~20 ms long.
  "${SOX[@]}" -r "$SYNTH_RATE" -c "$ch" -n "${WORK_FMT[@]}" "$tmp/chord$i.wav" \
    synth "$CHORD_LEN" "${specs[@]}" remix "$mix" fade q 0.3 "$CHORD_LEN" 1.2
  pad_parts+=("$tmp/chord$i.wav")
done
"${SOX[@]}" "${pad_parts[@]}" "${WORK_FMT[@]}" "$tmp/pads.wav"

mel_parts=()
k=0
for line in "${MELODY[@]}"; do
  for note in $line; do
    n="${note%%:*}"
    len="${note##*:}"
    out="$tmp/mel$k.wav"
    if [[ "$n" == r ]]; then
      "${SOX[@]}" -r "$SYNTH_RATE" -c 1 -n "${WORK_FMT[@]}" "$out" trim 0 "$len"
    else
      f="$(hz "$n")"
      # Fundamental plus weak 2nd/3rd harmonics: a soft bell. Linear 30 ms attack, then a
      # linear decay to exactly zero at the note's end.
      "${SOX[@]}" -r "$SYNTH_RATE" -c 3 -n "${WORK_FMT[@]}" "$out" \
        synth "$len" sine "$f" sine "$(awk -v f="$f" 'BEGIN{print 2*f}')" \
        sine "$(awk -v f="$f" 'BEGIN{print 3*f}')" \
        remix 1v0.5,2v0.1,3v0.03 fade t 0.03 "$len" "$(awk -v l="$len" 'BEGIN{print l-0.03}')"
    fi
    mel_parts+=("$out")
    k=$((k + 1))
  done
done
"${SOX[@]}" "${mel_parts[@]}" "${WORK_FMT[@]}" "$tmp/melody.wav"

"${SOX[@]}" -m -v 0.7 "$tmp/pads.wav" -v 0.3 "$tmp/melody.wav" "${WORK_FMT[@]}" -r 8000 \
  "$tmp/hold.wav" rate -v 8000
g="$(level_gain "$tmp/hold.wav" -18 -3)"
"${SOX[@]}" "$tmp/hold.wav" "${OUT_FMT[@]}" "$here/hold-music.wav" gain "$g"

###############################################################################################
# Join chime: E5 then A5 (a rising fourth), bell-like, 300 ms, ending at zero.
###############################################################################################
chime_note() { # OUT SEMITONES DELAY_S LENGTH_S
  local f
  f="$(hz "$2")"
  "${SOX[@]}" -r "$SYNTH_RATE" -c 3 -n "${WORK_FMT[@]}" "$1" \
    synth "$4" sine "$f" sine "$(awk -v f="$f" 'BEGIN{print 2*f}')" \
    sine "$(awk -v f="$f" 'BEGIN{print 3*f}')" \
    remix 1v0.5,2v0.15,3v0.05 fade t 0.004 "$4" "$(awk -v l="$4" 'BEGIN{printf "%.4f\n", l-0.004}')" \
    pad "$3" "$(awk -v d="$3" -v l="$4" 'BEGIN{printf "%.4f\n", 0.3-d-l}')"
}
chime_note "$tmp/chime1.wav" 7 0 0.3
chime_note "$tmp/chime2.wav" 12 0.11 0.19
"${SOX[@]}" -m -v 0.5 "$tmp/chime1.wav" -v 0.6 "$tmp/chime2.wav" "${WORK_FMT[@]}" -r 8000 \
  "$tmp/chime.wav" rate -v 8000
g="$(level_gain "$tmp/chime.wav" -18 -3)"
"${SOX[@]}" "$tmp/chime.wav" "${OUT_FMT[@]}" "$here/tone-join.wav" gain "$g"

# Leave chime: the same two notes falling (A5 then E5), so joins and leaves are told apart.
chime_note "$tmp/leave1.wav" 12 0 0.3
chime_note "$tmp/leave2.wav" 7 0.11 0.19
"${SOX[@]}" -m -v 0.6 "$tmp/leave1.wav" -v 0.5 "$tmp/leave2.wav" "${WORK_FMT[@]}" -r 8000 \
  "$tmp/leave.wav" rate -v 8000
g="$(level_gain "$tmp/leave.wav" -18 -3)"
"${SOX[@]}" "$tmp/leave.wav" "${OUT_FMT[@]}" "$here/tone-leave.wav" gain "$g"
