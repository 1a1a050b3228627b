package ai.lserve.engine.model;

import static ai.lserve.engine.model.Rejections.assertRejected;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class RopeScalingTest {
  private static final Path CONFIG = Path.of("config.json");
  private static final RopeScaling LLAMA31 = new RopeScaling("llama3", 8, 1, 4, 8192);

  @Test
  void plainFrequenciesFollowTheFormula() {
    for (int headDim : new int[] {64, 96, 128}) {
      for (double theta : new double[] {10000, 500000}) {
        double[] inv = RopeScaling.inverseFrequencies(null, headDim, theta);
        assertEquals(headDim / 2, inv.length);
        for (int j = 0; j < inv.length; j++) {
          // float32 exponent and power: up to ~1e-6 off the exact value for head_dim 96
          assertClose(Math.pow(theta, -2.0 * j / headDim), inv[j], 2e-6);
        }
        assertFloat32(inv);
      }
    }
  }

  @Test
  void llama3FrequenciesMatchAStraightDoubleImplementation() {
    double[] inv = LLAMA31.inverseFrequencies(128, 500000);
    double[] expected = llama3Reference(128, 500000, 8, 1, 4, 8192);
    for (int j = 0; j < inv.length; j++) {
      assertClose(expected[j], inv[j], 1e-6);
    }
    assertFloat32(inv);
    assertEquals(1.0, inv[0]); // high frequency: unchanged
    assertClose(Math.pow(500000, -126 / 128.0) / 8, inv[63], 1e-6); // low frequency: divided by 8
  }

  @Test
  void llama3FrequenciesAreTheFloat32ValuesTransformersComputes() {
    // From a numpy float32 transcription of transformers' _compute_llama3_parameters.
    int[][] golden = {
      {1, 0x3f508ac1}, {10, 0x3e03c6a0}, {28, 0x3b527720}, {29, 0x3b0dfd06}, {30, 0x3ab3d11d},
      {31, 0x3a60979e}, {32, 0x3a0995d2}, {33, 0x39a3f108}, {34, 0x393b2dd2}, {35, 0x38c86886},
      {63, 0x34a4c2ff}
    };
    double[] inv = LLAMA31.inverseFrequencies(128, 500000);
    for (int[] g : golden) {
      assertEquals(
          Integer.toHexString(g[1]),
          Integer.toHexString(Float.floatToRawIntBits((float) inv[g[0]])),
          "j=" + g[0]);
    }
  }

  @Test
  void linearDividesEveryFrequency() {
    double[] plain = RopeScaling.inverseFrequencies(null, 64, 10000);
    double[] linear =
        RopeScaling.inverseFrequencies(new RopeScaling("linear", 4, 0, 0, 0), 64, 10000);
    for (int j = 0; j < plain.length; j++) {
      assertEquals((float) plain[j] / 4f, (float) linear[j]);
    }
  }

  @Test
  void parsesBothTypeKeysAndDefault() throws Exception {
    assertEquals(
        LLAMA31,
        parse(
            "{\"rope_type\":\"llama3\",\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
                + "\"original_max_position_embeddings\":8192}"));
    assertEquals(
        new RopeScaling("linear", 2, 0, 0, 0), parse("{\"type\":\"linear\",\"factor\":2.0}"));
    assertNull(parse("{\"rope_type\":\"default\",\"rope_theta\":10000.0}"));
    assertNull(parse("{\"rope_theta\":10000.0}"));
    assertNull(parse("null"));
  }

  @Test
  void rejectsUnsupportedTypesAndBadFields() {
    for (String type : new String[] {"dynamic", "yarn", "longrope"}) {
      assertRejected(
          CONFIG,
          "unsupported rope type '" + type + "'",
          () -> parse("{\"rope_type\":\"" + type + "\",\"factor\":2.0}"));
    }
    assertRejected(
        CONFIG,
        "missing required field rope_scaling.low_freq_factor",
        () ->
            parse(
                "{\"rope_type\":\"llama3\",\"factor\":8.0,\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8192}"));
    assertRejected(
        CONFIG,
        "field rope_scaling.factor must be a positive number",
        () -> parse("{\"type\":\"linear\",\"factor\":0}"));
    assertRejected(
        CONFIG,
        "rope_scaling.high_freq_factor must exceed rope_scaling.low_freq_factor",
        () ->
            parse(
                "{\"rope_type\":\"llama3\",\"factor\":8.0,\"low_freq_factor\":4.0,\"high_freq_factor\":1.0,"
                    + "\"original_max_position_embeddings\":8192}"));
  }

  @Test
  void nullScalingIsPlain() {
    assertArrayEquals(
        RopeScaling.inverseFrequencies(null, 128, 500000),
        new RopeScaling("linear", 1, 0, 0, 0).inverseFrequencies(128, 500000));
  }

  private static RopeScaling parse(String json) throws Exception {
    JsonNode node = new ObjectMapper().readTree(json);
    return RopeScaling.parse(node, CONFIG, "rope_scaling");
  }

  /** transformers' llama3 rule written out in double precision. */
  private static double[] llama3Reference(
      int d, double theta, double factor, double low, double high, double original) {
    double[] out = new double[d / 2];
    for (int j = 0; j < out.length; j++) {
      double inv = 1 / Math.pow(theta, 2.0 * j / d);
      double wavelen = 2 * Math.PI / inv;
      if (wavelen < original / high) {
        out[j] = inv;
      } else if (wavelen > original / low) {
        out[j] = inv / factor;
      } else {
        double smooth = (original / wavelen - low) / (high - low);
        out[j] = (1 - smooth) * inv / factor + smooth * inv;
      }
    }
    return out;
  }

  private static void assertClose(double expected, double actual, double relative) {
    assertEquals(expected, actual, Math.abs(expected) * relative, () -> expected + " vs " + actual);
  }

  private static void assertFloat32(double[] values) {
    for (double v : values) {
      assertEquals(v, (double) (float) v, "not a float32 value: " + v);
    }
  }
}
