#!/usr/bin/env bash
# The local Spark batch job (README's main job): builds the jars with Maven on first use, then runs
# ai.lserve.examples.LocalBatchJob on local[*] (CPU when no GPU). Arguments go to the job (--help).
# JVM options: LSERVE_JAVA_OPTS (default -Xmx6g).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
args="$root/examples/target/java-args"
stale() {
  [ ! -f "$args" ] || [ ! -f "$root/examples/target/lserve-examples-0.1.0-SNAPSHOT.jar" ] ||
    [ -n "$(find "$root"/{engine,kernels,connector,examples}/src "$root"/pom.xml "$root"/*/pom.xml -newer "$args" -print -quit 2>/dev/null)" ]
}
if stale; then
  echo "run-local: building the jars (mvn package -pl examples -am) ..." >&2
  (cd "$root" && mvn -q -B -Dstyle.color=never -DskipTests -pl examples -am package) >&2
  touch "$args" # Maven leaves an unchanged java-args as it was, which would rebuild on every run
fi
cd "$root"
exec java ${LSERVE_JAVA_OPTS:--Xmx6g} @"$args" ai.lserve.examples.LocalBatchJob "$@"
