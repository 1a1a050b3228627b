package ai.lserve.engine.runtime;

import ai.lserve.engine.model.LlamaConfig;
import ai.lserve.engine.model.RopeScaling;

/**
 * Rotary position embedding as Hugging Face Llama applies it: channel j pairs with j + d/2, the
 * angle is position * inv_freq[j] formed in float32, and cos/sin are taken in float32.
 */
public final class Rope {
  private final int headDim;
  private final float[] invFreq;

  public Rope(LlamaConfig config) {
    this.headDim = config.headDim();
    double[] f = RopeScaling.inverseFrequencies(config.ropeScaling(), headDim, config.ropeTheta());
    this.invFreq = new float[f.length];
    for (int j = 0; j < f.length; j++) invFreq[j] = (float) f[j];
  }

  public int headDim() {
    return headDim;
  }

  /** The per-pair inverse frequencies (float32), length headDim / 2. */
  public float[] inverseFrequencies() {
    return invFreq.clone();
  }

  /** Rotates one head vector x[off .. off + headDim) for the given position. */
  public void rotate(float[] x, int off, int position) {
    int half = headDim / 2;
    for (int j = 0; j < half; j++) {
      float angle = (float) position * invFreq[j];
      float cos = (float) Math.cos(angle);
      float sin = (float) Math.sin(angle);
      float a = x[off + j];
      float b = x[off + j + half];
      x[off + j] = a * cos - b * sin;
      x[off + j + half] = b * cos + a * sin;
    }
  }
}
