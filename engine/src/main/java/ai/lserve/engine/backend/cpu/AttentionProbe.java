package ai.lserve.engine.backend.cpu;

/**
 * Sees the attention weights the CPU backend computes, for head calibration: for query position
 * {@code query} of query head {@code head}, {@code weights[i]} is the softmax weight of earlier
 * position {@code keys[i]} (i < n) and {@code weights[n]} that of the query's own token.
 * Called from several threads at once.
 */
public interface AttentionProbe {
  void observe(int layer, int head, int query, int[] keys, float[] weights, int n);
}
