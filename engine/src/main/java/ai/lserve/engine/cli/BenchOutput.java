package ai.lserve.engine.cli;

import ai.lserve.engine.bench.BenchReport;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Where bench and bench-report write, and what they merge in (a picocli mixin of both commands). */
final class BenchOutput {
  @Option(names = "--out", required = true, description = "directory for bench.json, bench.md, prefill.png, decode.png")
  Path out;

  @Option(names = "--peers", description = "JSON of scripts/bench_peers.py, merged under \"peers\"")
  Path peers;

  @Option(names = "--kernels", description = "JSON list of kernel figures, merged under \"kernels\"")
  Path kernels;

  void merge(BenchReport report) {
    if (peers != null) report.mergePeers(peers);
    if (kernels != null) report.mergeKernels(kernels);
  }
}
