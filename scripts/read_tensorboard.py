#!/usr/bin/env python3
"""Read a nabla run's TensorBoard event file back with TensorBoard's own event reader.

usage: python scripts/read_tensorboard.py RUN_DIR [--all]

Loads RUN_DIR (trained with `[train] tensorboard = true` or `nabla train --tensorboard`) with
tensorboard.backend.event_processing.event_accumulator.EventAccumulator, then prints every
scalar tag with its number of points and its first and last (step, value), and every
histogram tag with its number of steps and the last one's count, min and max (`--all`:
every scalar point). Exits 1 when the file holds no scalars or no histograms.
Needs: tensorboard (pip install tensorboard). Run by hand; not part of the tests.
"""
import argparse
import sys

from tensorboard.backend.event_processing import event_accumulator

ap = argparse.ArgumentParser()
ap.add_argument("run_dir")
ap.add_argument("--all", action="store_true", help="print every scalar point")
args = ap.parse_args()

# size_guidance 0: keep every event (the defaults sample 10,000 scalars, 1 histogram)
acc = event_accumulator.EventAccumulator(
    args.run_dir,
    size_guidance={event_accumulator.SCALARS: 0, event_accumulator.HISTOGRAMS: 0},
)
acc.Reload()
tags = acc.Tags()
print(f"file version: {acc.file_version}")
scalars = sorted(tags.get("scalars", []))
hists = sorted(tags.get("histograms", []))
print(f"{len(scalars)} scalar tags")
for t in scalars:
    ev = acc.Scalars(t)
    a, b = ev[0], ev[-1]
    print(f"  {t:<28} {len(ev):>4} points  first step {a.step}: {a.value:.6g}  last step {b.step}: {b.value:.6g}")
    if args.all:
        for e in ev:
            print(f"      {e.step}: {e.value:.6g}")
print(f"{len(hists)} histogram tags")
for t in hists:
    ev = acc.Histograms(t)
    h = ev[-1].histogram_value
    print(f"  {t:<28} {len(ev):>4} steps   last step {ev[-1].step}: num {h.num:.0f}  min {h.min:.4g}  max {h.max:.4g}  buckets {len(h.bucket)}")
if not scalars or not hists:
    sys.exit(1)
