#!/usr/bin/env bash
# Runs ClusterBatchJob on a GPU cluster with spark-submit: one executor per GPU, several tasks
# sharing it (their rows meet in the executor's one engine, which batches them), the model read
# from any Hadoop file system and copied once per node.
#
#   MASTER=spark://host:7077 MODEL=hdfs:///models/my-llama \
#     examples/spark-submit-gpu.sh --input hdfs:///docs --prompt-column body --output hdfs:///out
#
# The bundled model on the local job's documents (examples/run-local.sh --output DIR writes them to
# DIR/documents; copy the model and them to the cluster's file system), with their accuracy:
#
#   MODEL=hdfs:///models/lserve-needle-7m examples/spark-submit-gpu.sh --input hdfs:///lserve/documents \
#     --template '{document}{question}' --option max_new_tokens=11 --output hdfs:///lserve/results
#
# Environment: MASTER (default yarn), MODEL (required), EXECUTORS (default 2), CORES (tasks per
# executor and GPU, default 4), MEMORY (executor heap, default 16g), MODE (lserve|dense|auto).
# Arguments go to ai.lserve.examples.ClusterBatchJob (see its --help). Needs spark-submit on PATH.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${MODEL:?set MODEL to the model directory or URI}"
connector="$root/connector/target/lserve-connector-0.1.0-SNAPSHOT-all.jar"
examples="$root/examples/target/lserve-examples-0.1.0-SNAPSHOT.jar"
if [ ! -f "$connector" ] || [ ! -f "$examples" ]; then
  (cd "$root" && mvn -q -B -DskipTests -pl examples -am package) >&2
fi
cores=${CORES:-4}
exec spark-submit \
  --master "${MASTER:-yarn}" \
  --class ai.lserve.examples.ClusterBatchJob \
  --jars "$connector" \
  --num-executors "${EXECUTORS:-2}" \
  --executor-cores "$cores" \
  --executor-memory "${MEMORY:-16g}" \
  --conf spark.executor.memoryOverhead=4g \
  --conf spark.executor.resource.gpu.amount=1 \
  --conf spark.executor.resource.gpu.discoveryScript="$root/examples/gpu-discovery.sh" \
  --conf spark.task.resource.gpu.amount="$(awk "BEGIN { print 1 / $cores }")" \
  --conf spark.plugins=ai.lserve.spark.LServePlugin \
  --conf spark.kryo.registrator=ai.lserve.spark.LServeKryoRegistrator \
  --conf spark.lserve.model="$MODEL" \
  --conf spark.lserve.device=cuda \
  --conf spark.lserve.mode="${MODE:-auto}" \
  "$examples" "$@"
