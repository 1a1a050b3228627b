package ai.lserve.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;

/**
 * RoPE frequency scaling from config.json ({@code rope_scaling}, or {@code rope_parameters} in
 * transformers 5). Only "llama3" and "linear" are supported; for "linear" the three llama3-only
 * fields are 0.
 */
public record RopeScaling(
    String type,
    double factor,
    double lowFreqFactor,
    double highFreqFactor,
    int originalMaxPositionEmbeddings) {

  /**
   * Reads a scaling object; null when the node is absent or names no scaling ("default"). Accepts
   * both the legacy {@code type} key and {@code rope_type}; {@code name} is the object's key in
   * config.json, for error messages.
   */
  static RopeScaling parse(JsonNode node, Path source, String name) {
    if (node == null || node.isNull()) {
      return null;
    }
    Fields f = new Fields(node, source, name + ".");
    String type = f.optionalText("rope_type", f.optionalText("type", "default"));
    switch (type) {
      case "default":
        return null;
      case "linear":
        return new RopeScaling(type, f.positiveNumber("factor"), 0, 0, 0);
      case "llama3":
        RopeScaling s =
            new RopeScaling(
                type,
                f.positiveNumber("factor"),
                f.positiveNumber("low_freq_factor"),
                f.positiveNumber("high_freq_factor"),
                f.positiveInt("original_max_position_embeddings"));
        if (s.highFreqFactor <= s.lowFreqFactor) {
          throw new CheckpointException(
              source, name + ".high_freq_factor must exceed " + name + ".low_freq_factor");
        }
        return s;
      default:
        throw new CheckpointException(
            source,
            String.format(
                "unsupported rope type '%s' in %s (supported: default, linear, llama3)",
                type, name));
    }
  }

  /** {@link #inverseFrequencies(int, double)} of the scaling, or the unscaled ones for null. */
  public static double[] inverseFrequencies(RopeScaling scalingOrNull, int headDim, double theta) {
    return scalingOrNull == null
        ? widen(baseInverseFrequencies(headDim, theta))
        : scalingOrNull.inverseFrequencies(headDim, theta);
  }

  /**
   * The {@code inv_freq} buffer of transformers' rotary embedding, length headDim/2. Transformers
   * keeps it in float32 and forms angles from it in float32, so every step here is float32
   * arithmetic in the order torch performs it; the results are those float32 values widened to
   * double. The one step Java cannot reproduce bit for bit is torch's vectorised powf, which may
   * differ from the correctly rounded power by an ulp.
   */
  public double[] inverseFrequencies(int headDim, double theta) {
    float[] inv = baseInverseFrequencies(headDim, theta);
    float s = (float) factor;
    switch (type) {
      case "linear":
        for (int j = 0; j < inv.length; j++) {
          inv[j] = inv[j] / s;
        }
        break;
      case "llama3":
        scaleLlama3(inv, s);
        break;
      default:
        throw new IllegalStateException("unsupported rope type " + type);
    }
    return widen(inv);
  }

  /**
   * transformers' _compute_llama3_parameters: keep short wavelengths, stretch long, blend between.
   */
  private void scaleLlama3(float[] inv, float s) {
    float oldContext = originalMaxPositionEmbeddings;
    float lowFreqWavelen = (float) (originalMaxPositionEmbeddings / lowFreqFactor);
    float highFreqWavelen = (float) (originalMaxPositionEmbeddings / highFreqFactor);
    float low = (float) lowFreqFactor;
    float span = (float) (highFreqFactor - lowFreqFactor);
    float twoPi = (float) (2 * Math.PI);
    for (int j = 0; j < inv.length; j++) {
      float wavelen = twoPi / inv[j];
      if (wavelen > lowFreqWavelen) {
        inv[j] = inv[j] / s;
      } else if (!(wavelen < highFreqWavelen)) {
        float smooth = (oldContext / wavelen - low) / span;
        inv[j] = (1f - smooth) * inv[j] / s + smooth * inv[j];
      }
    }
  }

  /** 1 / theta^(2j/d) as torch computes it: exponent and power in float32. */
  private static float[] baseInverseFrequencies(int headDim, double theta) {
    if (headDim <= 0 || headDim % 2 != 0) {
      throw new IllegalArgumentException("head dimension must be positive and even: " + headDim);
    }
    float base = (float) theta;
    float dim = headDim;
    float[] inv = new float[headDim / 2];
    for (int j = 0; j < inv.length; j++) {
      float exponent = (2f * j) / dim;
      inv[j] = 1f / (float) Math.pow(base, exponent);
    }
    return inv;
  }

  private static double[] widen(float[] values) {
    double[] out = new double[values.length];
    for (int i = 0; i < values.length; i++) {
      out[i] = values[i];
    }
    return out;
  }
}
