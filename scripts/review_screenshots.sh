#!/usr/bin/env bash
# The README's screenshots of the review site: split the demo sample (beside a broken file, so that
# the index shows a failure), write the site with `streamclip report`, and photograph its index and
# the sample's page with headless Chromium. Writes docs/review-index.png and docs/review-video.png.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

chromium="${STREAMCLIP_CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}"
if [ -z "$chromium" ]; then
  echo "review_screenshots: no Chromium (Debian: apt-get install chromium)" >&2
  exit 1
fi
sandbox=()
[ "$(id -u)" = 0 ] && sandbox=(--no-sandbox)  # Chromium will not run as root with its sandbox

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/in"
cp examples/sample.mp4 "$work/in/sample.mp4"
printf 'This is not a video.\n' > "$work/in/broken.mp4"
.venv/bin/streamclip split "$work/in" -o "$work/out" --no-progress || true  # exit 1: broken.mp4 failed
.venv/bin/streamclip report "$work/out" --no-progress

shoot() {  # URL, PNG, height
  "$chromium" --headless "${sandbox[@]}" --disable-gpu --hide-scrollbars --mute-audio \
    --user-data-dir="$work/profile" --window-size="1200,$3" --virtual-time-budget=4000 \
    --screenshot="$2" "$1" 2>/dev/null
  # 256 colours keep each PNG small; the pages are flat colours but for the thumbnails.
  ffmpeg -v error -y -i "$2" -vf "split[a][b];[a]palettegen=max_colors=256[p];[b][p]paletteuse=dither=none" \
    "$work/small.png"
  mv "$work/small.png" "$2"
}
mkdir -p docs
shoot "file://$work/out/report/index.html" docs/review-index.png 330
shoot "file://$(ls "$work"/out/report/videos/sample.mp4-*.html)" docs/review-video.png 1150
ls -l docs/review-index.png docs/review-video.png
