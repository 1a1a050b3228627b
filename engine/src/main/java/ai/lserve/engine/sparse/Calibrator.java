package ai.lserve.engine.sparse;

import ai.lserve.engine.backend.cpu.AttentionProbe;
import ai.lserve.engine.backend.cpu.CpuBackend;
import ai.lserve.engine.model.LlamaConfig;
import ai.lserve.engine.runtime.Engine;
import ai.lserve.engine.runtime.EngineOptions;
import ai.lserve.engine.runtime.GenerationRequest;
import ai.lserve.engine.runtime.SamplingParams;
import java.nio.file.Path;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.atomic.LongAdder;

/**
 * Our own head calibration: runs the model densely (CPU, float32) over calibration text and
 * measures, per KV head, the attention mass that falls outside the streaming mask (beyond the sink
 * and the decode window), averaged over its query heads and over every query position where the
 * mask hides something. The gate written for a head is 1 - that mass: heads that need distant
 * tokens get gates near 1 and stay retrieval heads.
 */
public final class Calibrator implements AttentionProbe {
  private final int layers, kvHeads, group, sink, local;
  private final DoubleAdder[][] outside;
  private final LongAdder[][] queries;

  private Calibrator(int layers, int heads, int kvHeads, int sink, int local) {
    this.layers = layers;
    this.kvHeads = kvHeads;
    this.group = heads / kvHeads;
    this.sink = sink;
    this.local = local;
    outside = new DoubleAdder[layers][kvHeads];
    queries = new LongAdder[layers][kvHeads];
    for (int l = 0; l < layers; l++)
      for (int h = 0; h < kvHeads; h++) {
        outside[l][h] = new DoubleAdder();
        queries[l][h] = new LongAdder();
      }
  }

  @Override
  public void observe(int layer, int head, int query, int[] keys, float[] weights, int n) {
    if (query <= sink + local) return; // the mask hides nothing yet
    double mass = 0;
    for (int i = 0; i < n; i++) if (keys[i] >= sink && query - keys[i] > local) mass += weights[i];
    outside[layer][head / group].add(mass);
    queries[layer][head / group].increment();
  }

  private double[][] gates() {
    double[][] g = new double[layers][kvHeads];
    for (int l = 0; l < layers; l++)
      for (int h = 0; h < kvHeads; h++) {
        long q = queries[l][h].sum();
        if (q == 0) throw new IllegalArgumentException("calibration sequences are too short: they need more than "
            + (sink + local + 1) + " tokens (sink + local + 1) for the streaming mask to hide anything");
        g[l][h] = 1 - outside[l][h].sum() / q;
      }
    return g;
  }

  /**
   * Gates of every KV head, [layer][kv head], from calibration sequences (token ids), measured with
   * the decode mask of {@code sink} + {@code local} tokens.
   */
  public static double[][] measure(Path modelDir, int[][] sequences, int sink, int local, int threads) {
    EngineOptions options = EngineOptions.defaults().withDevice("cpu").withThreads(threads)
        .withSparse(SparseConfig.dense()).withMaxRunning(1);
    LlamaConfig c = LlamaConfig.load(modelDir.resolve("config.json"));
    Calibrator probe = new Calibrator(c.numLayers(), c.numHeads(), c.numKvHeads(), sink, local);
    try (Engine e = Engine.open(modelDir, options, new CpuBackend(threads, probe))) {
      for (int[] ids : sequences) e.generate(GenerationRequest.ids(ids, SamplingParams.greedy(0)));
    }
    return probe.gates();
  }
}
