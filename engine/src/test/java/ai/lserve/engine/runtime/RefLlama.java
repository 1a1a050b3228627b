package ai.lserve.engine.runtime;

import ai.lserve.engine.model.Checkpoint;
import ai.lserve.engine.model.LayerWeights;
import ai.lserve.engine.model.LlamaConfig;
import ai.lserve.engine.model.LlamaWeights;
import ai.lserve.engine.model.RopeScaling;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A brute-force Llama in double precision for tests: one token at a time, every key and value kept
 * in plain lists, and which earlier keys a head sees decided by a predicate, so sparse attention
 * can be checked against its definition rather than against its implementation.
 */
final class RefLlama {
  /** Whether query head {@code head} of {@code layer} at {@code query} sees the key at {@code key} < query. */
  interface Visibility {
    boolean sees(int layer, int head, int query, int key, boolean decode);
  }

  /** Runs before each layer attends, with the token's post-RoPE queries and the layer's keys so far. */
  interface LayerHook {
    void beforeAttention(int layer, int tokens, double[] q, List<double[]> keys, boolean decode);
  }

  LayerHook hook = (layer, tokens, q, keys, decode) -> {};
  final LlamaConfig c;
  private final float[] embed, finalNorm, lmHead;
  private final float[][][] w; // per layer: attnNorm, wq, wk, wv, wo, ffnNorm, gate, up, down
  private final double[] invFreq;
  final List<List<double[]>> keys = new ArrayList<>(), values = new ArrayList<>(); // [layer][pos][kvDim]

  RefLlama(Path dir) {
    try (Checkpoint ck = Checkpoint.open(dir)) {
      c = ck.config();
      LlamaWeights lw = ck.weights();
      embed = lw.embedTokens().toFloatArray();
      finalNorm = lw.finalNorm().toFloatArray();
      lmHead = lw.lmHead().toFloatArray();
      w = new float[c.numLayers()][][];
      for (int l = 0; l < c.numLayers(); l++) {
        LayerWeights x = lw.layers().get(l);
        w[l] = new float[][] {x.attnNorm().toFloatArray(), x.wq().toFloatArray(), x.wk().toFloatArray(),
            x.wv().toFloatArray(), x.wo().toFloatArray(), x.ffnNorm().toFloatArray(), x.wGate().toFloatArray(),
            x.wUp().toFloatArray(), x.wDown().toFloatArray()};
        keys.add(new ArrayList<>());
        values.add(new ArrayList<>());
      }
    }
    invFreq = RopeScaling.inverseFrequencies(c.ropeScaling(), c.headDim(), c.ropeTheta());
  }

  private static double[] matvec(float[] m, double[] x, int rows) {
    int cols = x.length;
    double[] y = new double[rows];
    for (int r = 0; r < rows; r++) {
      double s = 0;
      for (int i = 0; i < cols; i++) s += m[r * cols + i] * x[i];
      y[r] = s;
    }
    return y;
  }

  private double[] norm(double[] x, float[] weight) {
    double ss = 0;
    for (double v : x) ss += v * v;
    double inv = 1 / Math.sqrt(ss / x.length + c.rmsNormEps());
    double[] y = new double[x.length];
    for (int i = 0; i < x.length; i++) y[i] = x[i] * inv * weight[i];
    return y;
  }

  private void rope(double[] x, int heads, int pos) {
    int d = c.headDim(), half = d / 2;
    for (int h = 0; h < heads; h++)
      for (int j = 0; j < half; j++) {
        double angle = (float) ((float) pos * (float) invFreq[j]);
        double a = x[h * d + j], b = x[h * d + j + half];
        x[h * d + j] = a * Math.cos(angle) - b * Math.sin(angle);
        x[h * d + j + half] = b * Math.cos(angle) + a * Math.sin(angle);
      }
  }

  /** Feeds the token at the next position; returns its logits. */
  double[] step(int token, Visibility vis, boolean decode) {
    int pos = keys.get(0).size(), d = c.headDim(), hidden = c.hiddenSize(), group = c.groupSize();
    double[] x = new double[hidden];
    for (int i = 0; i < hidden; i++) x[i] = embed[token * hidden + i];
    for (int l = 0; l < c.numLayers(); l++) {
      double[] h = norm(x, w[l][0]);
      double[] q = matvec(w[l][1], h, c.qDim()), k = matvec(w[l][2], h, c.kvDim()), v = matvec(w[l][3], h, c.kvDim());
      rope(q, c.numHeads(), pos);
      rope(k, c.numKvHeads(), pos);
      keys.get(l).add(k);
      values.get(l).add(v);
      hook.beforeAttention(l, pos + 1, q, keys.get(l), decode);
      double[] att = new double[c.qDim()];
      for (int head = 0; head < c.numHeads(); head++) {
        int kv = head / group;
        List<Integer> seen = new ArrayList<>();
        for (int j = 0; j < pos; j++) if (vis.sees(l, head, pos, j, decode)) seen.add(j);
        seen.add(pos);
        double[] s = new double[seen.size()];
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < s.length; i++) {
          double[] kj = keys.get(l).get(seen.get(i));
          double dot = 0;
          for (int ch = 0; ch < d; ch++) dot += q[head * d + ch] * kj[kv * d + ch];
          s[i] = dot / Math.sqrt(d);
          max = Math.max(max, s[i]);
        }
        double sum = 0;
        for (int i = 0; i < s.length; i++) sum += s[i] = Math.exp(s[i] - max);
        for (int i = 0; i < s.length; i++) {
          double[] vj = values.get(l).get(seen.get(i));
          for (int ch = 0; ch < d; ch++) att[head * d + ch] += s[i] / sum * vj[kv * d + ch];
        }
      }
      double[] o = matvec(w[l][4], att, hidden);
      for (int i = 0; i < hidden; i++) x[i] += o[i];
      h = norm(x, w[l][5]);
      double[] g = matvec(w[l][6], h, c.intermediateSize()), u = matvec(w[l][7], h, c.intermediateSize());
      for (int i = 0; i < g.length; i++) g[i] = g[i] / (1 + Math.exp(-g[i])) * u[i];
      double[] down = matvec(w[l][8], g, hidden);
      for (int i = 0; i < hidden; i++) x[i] += down[i];
    }
    return matvec(lmHead, norm(x, finalNorm), c.vocabSize());
  }
}
