#!/usr/bin/env bash
# Spark GPU discovery script (spark.{worker,executor,driver}.resource.gpu.discoveryScript): prints
# the GPUs of this host as Spark expects, e.g. {"name": "gpu", "addresses": ["0","1"]}.
set -euo pipefail
ids=$(nvidia-smi --query-gpu=index --format=csv,noheader | sed -e 's/ //g' | paste -sd ',' -)
echo "{\"name\": \"gpu\", \"addresses\": [\"${ids//,/\",\"}\"]}"
