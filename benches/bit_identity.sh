#!/usr/bin/env bash
# Bit identity of a refactor: run every stylizing command on small inputs and hash what it writes.
#
#   benches/bit_identity.sh OUT_BEFORE   # on the old commit
#   benches/bit_identity.sh OUT_AFTER    # on the new one
#   diff OUT_BEFORE/hashes.txt OUT_AFTER/hashes.txt   (eval.json/rerun.json differ only by the OUT path)
#   diff OUT_BEFORE/pixels.txt OUT_AFTER/pixels.txt   (decoded pictures: same even where a record changed)
#
# Inputs: two photos and two paintings from ../shared/data (or $STYLIZE_BITCHECK_DATA), a
# generated mask and 12-frame clip. Outputs: images, videos, loss plots, intermediates, the eval
# report, a skip rerun's report and every --help. Run from the repository root, in its venv.
set -u
out=$(realpath -m "$1"); data=${STYLIZE_BITCHECK_DATA:-../shared/data}
rm -rf "$out"; mkdir -p "$out/in/photos" "$out/in/styles"; in=$out/in
cp "$data/content/chelsea_cat.png" "$data/content/coffee.png" "$in/photos/"
cp "$data/style/starry_night.jpg" "$data/style/great_wave.jpg" "$in/styles/"
cp "$data/edge/rgba_transparent.png" "$in/"
python - "$in" <<'PY'
import sys
import av
import numpy as np
from PIL import Image, ImageDraw

folder = sys.argv[1]
mask = Image.new("L", (300, 200), 0)
ImageDraw.Draw(mask).rectangle([0, 0, 150, 200], fill=255)
mask.save(f"{folder}/mask.png")
with av.open(f"{folder}/clip.mp4", "w") as container:
    stream = container.add_stream("libx264", rate=8)
    stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
    for t in range(12):
        frame = np.zeros((64, 96, 3), np.uint8)
        frame[:, :, 0] = np.linspace(0, 255, 96)[None, :]
        frame[10:30, 5 + t * 4 : 25 + t * 4] = [20, 200, 60]
        container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
    container.mux(stream.encode())
PY
export STYLIZE_HOME=$out/home
r() { echo "== $*" >> "$out/log.txt"; "$@" >> "$out/log.txt" 2>&1; echo "rc=$? $*" >> "$out/rcs.txt"; }
s=(--size 96)
r stylize adain "$in/photos" -s "$in/styles" -o "$out/adain" "${s[@]}"
r stylize adain "$in/photos/coffee.png" -s "$in/styles" --style-weights 0.7,0.3 -o "$out/adain_blend.png" "${s[@]}"
r stylize adain "$in/photos/coffee.png" -s "$in/styles/starry_night.jpg" -s "$in/styles/great_wave.jpg" --mask "$in/mask.png" -o "$out/adain_mask.png" "${s[@]}"
r stylize adain "$in/photos/coffee.png" -s "$in/styles/starry_night.jpg" --color match --alpha 0.8 -o "$out/adain_match.png" "${s[@]}"
r stylize adain "$in/photos/coffee.png" -s "$in/styles/starry_night.jpg" --color luminance --crop -o "$out/adain_lum.png" "${s[@]}"
r stylize adain "$in/photos/coffee.png" -s "$in/styles/starry_night.jpg" --transform efdm --tile 64 -o "$out/adain_efdm.png" --size 160
r stylize adain "$in/rgba_transparent.png" -s "$in/styles/great_wave.jpg" -o "$out/adain_rgba.png" "${s[@]}"
r stylize adain "$in/clip.mp4" -s "$in/styles/starry_night.jpg" -o "$out/adain_clip.mp4" --temporal 0.5
r stylize adain "$in/clip.mp4" -s "$in/styles/starry_night.jpg" -o "$out/adain_clip_match.mp4" --color match
r stylize fast "$in/photos" -o "$out/fast" "${s[@]}"
r stylize fast "$in/photos/coffee.png" -m great-wave -m starry-night --color luminance -o "$out/fast2" "${s[@]}"
r stylize fast "$in/photos/coffee.png" --color match --tile 128 --tile-overlap 32 -o "$out/fast_tile.png" --size 300
r stylize fast "$in/clip.mp4" -o "$out/fast_clip.mp4"
r stylize optimize "$in/photos/coffee.png" -s "$in/styles/starry_night.jpg" -o "$out/opt.png" --size 48 --iterations 3 --plot --save-every 2
r stylize optimize "$in/photos/coffee.png" -s "$in/styles" --style-weights 0.5,0.5 -o "$out/opt_blend.png" --size 48 --iterations 3 --color luminance
r stylize optimize "$in/clip.mp4" -s "$in/styles/starry_night.jpg" -o "$out/opt_clip.mp4" --size 32 --iterations 2 --duration 0.4
r stylize gan-sample -n 8 --grid -o "$out/gan.png"
stylize eval "$out/adain" -c "$in/photos" -s "$in/styles" --json > "$out/eval.json" 2>> "$out/log.txt"
stylize adain "$in/photos" -s "$in/styles" -o "$out/adain" "${s[@]}" --json > "$out/rerun.json" 2>> "$out/log.txt"
for c in "" adain fast optimize eval gan-sample weights train-fast train-adain train-gan info; do
    stylize $c --help > "$out/help_${c:-top}.txt" 2>&1
done
(cd "$out" && find . \( -path ./home -o -path ./in \) -prune -o -type f ! -name log.txt ! -name rcs.txt ! -name hashes.txt ! -name pixels.txt -print | sort | xargs sha256sum > hashes.txt)
# Decoded pixels too: a change of the record a file carries (settings renamed, a new version) changes its
# bytes but not its pictures; pixels.txt tells the two apart.
python - "$out" <<'PY' > "$out/pixels.txt"
import hashlib
import sys
from pathlib import Path

import av
from PIL import Image

root = Path(sys.argv[1])
for path in sorted(p for p in root.rglob("*") if p.is_file() and not {"home", "in"} & set(p.relative_to(root).parts)):
    digest = hashlib.sha256()
    if path.suffix in (".png", ".jpg"):
        with Image.open(path) as img:
            digest.update(img.convert("RGB").tobytes())
    elif path.suffix == ".mp4":
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                digest.update(frame.to_ndarray(format="rgb24").tobytes())
    else:
        continue
    print(digest.hexdigest(), path.relative_to(root))
PY
grep -v "^rc=0" "$out/rcs.txt" || echo "every command exited 0; hashes in $out/hashes.txt"
