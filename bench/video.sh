#!/usr/bin/env bash
# Speed and memory of `visage watch`, one command that prints a table (docs/video.md, "Speed").
#
# Builds the scenes with FFmpeg from ../shared/data/video-nuaa-train (A, then B, then A: 640x480 at
# 10 frames/s, raised to a 30 frames/s camera by frame blending, and the same at 1080p and 15 frames/s),
# enrols A from antispoof-nuaa-dev session 2 in a temporary gallery, and reports:
#   - frames/s at the default settings (--detect-every auto) and at --detect-every 1: 640x480 at 30
#     frames/s pinned to one core, 1080p at 15 frames/s on two cores (taskset), decoding included;
#   - the delay from each appearance's first frame to its first decision (video time);
#   - resident memory (RSS) of a watch over HOURS (default 1) of video time (the 10 frames/s scene
#     looped), processed at full speed with --detect-every 3 under `nice -n 19`, sampled every 2 s.
#
# Usage:  bench/video.sh                 (VISAGE=path/to/visage, DATA=../shared/data, HOURS=1)
# Needs ffmpeg, ffprobe, jq, taskset. Models install into $VISAGE_HOME as for any visage command.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
VISAGE=${VISAGE:-visage}
DATA=${DATA:-$here/../../shared/data}
HOURS=${HOURS:-1}
videos=$DATA/video-nuaa-train
[ -f "$videos/real-0001-s1.mp4" ] || { echo "no $videos: set DATA to the shared data folder" >&2; exit 2; }
for tool in ffmpeg ffprobe jq taskset; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install ffmpeg jq util-linux)" >&2; exit 2; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export VISAGE_DATA_DIR=$work/gallery

ff() { ffmpeg -loglevel error -nostdin -y "$@"; }
frames() { ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$1"; }

a=$videos/real-0001-s1.mp4
b=$videos/real-0005-s2.mp4
ff -i "$a" -i "$b" -i "$a" -filter_complex "[0:v][1:v][2:v]concat=n=3:v=1:a=0[v]" -map "[v]" \
   -c:v libx264 -preset veryfast -pix_fmt yuv420p "$work/aba.mp4"
# A 30 frames/s camera: the 10 frames/s scene with two blended frames between each pair.
ff -i "$work/aba.mp4" -vf "minterpolate=fps=30:mi_mode=blend" -c:v libx264 -preset veryfast \
   -pix_fmt yuv420p "$work/aba30.mp4"
ff -i "$work/aba30.mp4" -vf "fps=15,scale=1440:1080,pad=1920:1080:240:0" -c:v libx264 -preset veryfast \
   -pix_fmt yuv420p "$work/aba1080.mp4"
na=$(frames "$a")
nb=$(frames "$b")
total=$((2 * na + nb))

# A from session 2 (the videos are session 1): three frames spread over the session.
mapfile -t photos < <(awk -F, '$2=="real" && $4=="0001" && $7=="02" {print $1}' \
  "$DATA/antispoof-nuaa-dev/labels.csv" | sort | awk 'NR % 14 == 1' | head -3)
"$VISAGE" enroll --subject A --purpose bench --evidence bench --min-face-size 100 \
  "${photos[@]/#/$DATA/antispoof-nuaa-dev/}" >/dev/null

# One watch: frames/s from the summary line, and the delay of each appearance's first decision
# (event times are video time; the appearances start at 0, na/10 and (na+nb)/10 s).
watch() { # cores scene detect_every label
  taskset -c "$1" "$VISAGE" watch "$2" --json --detect-every "$3" >"$work/events.jsonl" 2>"$work/summary.txt"
  fps=$(grep -o '([0-9.]* frames/s)' "$work/summary.txt" | tr -d '(' | cut -d' ' -f1)
  every=$(grep -o 'detector runs (every [^)]*)' "$work/summary.txt" | sed 's/detector runs (every \(.*\))/\1/')
  delays=$(jq -r 'select(.event == "identified" or .event == "unknown") | select(.bbox[2] - .bbox[0] >= 100) | .t' \
    "$work/events.jsonl" | awk -v a="$(awk -v n="$na" 'BEGIN { print n / 10 }')" -v b="$(awk -v n=$((na + nb)) 'BEGIN { print n / 10 }')" '
      { seg = ($1 < a) ? 0 : ($1 < b) ? 1 : 2; start = (seg == 0) ? 0 : (seg == 1) ? a : b
        if (!(seg in d)) d[seg] = sprintf("%.1f", $1 - start) }
      END { printf "%s / %s / %s s", (0 in d) ? d[0] : "-", (1 in d) ? d[1] : "-", (2 in d) ? d[2] : "-" }')
  printf '| %s | %s (every %s) | %s | %s | %s |\n' "$4" "$3" "$every" "$fps" "$delays" \
    "$(sed 's/.*reconnects, //' "$work/summary.txt" | sed 's/ (every [^)]*)//' | head -1)"
}

cores=$(nproc)
two=$([ "$cores" -ge 2 ] && echo 0,1 || echo 0)
echo "visage watch benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg), $cores cores"
echo "scene: A, B, A from video-nuaa-train ($(awk -v n="$total" 'BEGIN { printf "%.1f", n / 10 }') s); delays: A / B / A again, video time"
echo
echo "| scene | --detect-every | frames/s | first decision after | detector runs, faces embedded, tracks |"
echo "|---|---|---|---|---|"
watch 0 "$work/aba30.mp4" auto "640x480 at 30 frames/s, one core"
watch 0 "$work/aba30.mp4" 1 "640x480 at 30 frames/s, one core"
watch "$two" "$work/aba1080.mp4" auto "1920x1080 at 15 frames/s, two cores"
watch "$two" "$work/aba1080.mp4" 1 "1920x1080 at 15 frames/s, two cores"

# Memory over HOURS of video time: the scene looped, at full speed, sampled every 2 s.
loops=$(awk -v h="$HOURS" -v n="$total" 'BEGIN { l = int(h * 36000 / n); print (l < 1) ? 1 : l }')
ff -stream_loop $((loops - 1)) -i "$work/aba.mp4" -c copy "$work/long.mp4"
nice -n 19 "$VISAGE" watch "$work/long.mp4" --json --detect-every 3 >/dev/null 2>"$work/long.txt" &
pid=$!
started=$(date +%s)
: >"$work/rss.txt"
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  [ -n "$rss" ] && echo "$(($(date +%s) - started)) $rss" >>"$work/rss.txt"
  sleep 2
done
wait "$pid"
echo
echo "memory: $((loops * total)) frames ($(awk -v f=$((loops * total)) 'BEGIN { printf "%.2f", f / 36000 }') h of video at 10 frames/s), --detect-every 3, nice -n 19:"
echo "  $(cut -d, -f1 "$work/long.txt" | head -1)"
awk '{ t[NR] = $1; r[NR] = $2; if ($2 > peak) peak = $2 }
  END { if (NR == 0) { print "  no RSS samples"; exit }
        s = (NR >= 10) ? int(NR / 10) : 1; m = int(NR / 2); if (m < 1) m = 1
        printf "  RSS at %ds %.0f MB, at %ds %.0f MB (middle), at %ds %.0f MB (end); peak %.0f MB; %d samples\n",
          t[s], r[s] / 1024, t[m], r[m] / 1024, t[NR], r[NR] / 1024, peak / 1024, NR }' "$work/rss.txt"
