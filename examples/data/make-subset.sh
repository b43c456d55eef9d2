#!/usr/bin/env bash
# Regenerates examples/data/fashion-mnist-subset from Debian's full Fashion-MNIST
# (apt-get install dataset-fashion-mnist). Arguments go to `dropkit data make-subset`
# (--source, --out, --train-per-class, --test-per-class, --seed); see examples/data/README.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
exec ./dropkit data make-subset "$@"
