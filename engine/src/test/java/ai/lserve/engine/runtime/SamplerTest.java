package ai.lserve.engine.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.lserve.engine.model.GenerationConfig;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class SamplerTest {
  private static final GenerationConfig NONE = GenerationConfig.none();
  // Probabilities 1/7, 2/7, 4/7 at temperature 1; a fourth token far below.
  private static final float[] LOGITS = {0f, (float) Math.log(2), (float) Math.log(4), -30f};

  private static double[] frequencies(SamplingParams p, int draws) {
    SamplingParams.Resolved r = p.withSeed(7L).resolve(NONE);
    SplittableRandom rng = new SplittableRandom(r.seed());
    double[] f = new double[LOGITS.length];
    for (int i = 0; i < draws; i++) f[Sampler.sample(LOGITS, 0, LOGITS.length, r, rng)] += 1.0 / draws;
    return f;
  }

  @Test
  void greedyTakesTheFirstMaximum() {
    SamplingParams.Resolved r = SamplingParams.greedy(1).resolve(NONE);
    float[] l = {1f, 5f, 5f, 2f};
    assertEquals(1, Sampler.sample(l, 0, 4, r, new SplittableRandom(1)));
    assertEquals(2, Sampler.sample(new float[] {9f, 0f, 3f, 7f}, 1, 3, r, new SplittableRandom(1)));
  }

  @Test
  void temperatureOneFollowsSoftmax() {
    double[] f = frequencies(SamplingParams.defaults().withTemperature(1.0), 70_000);
    assertEquals(1 / 7.0, f[0], 0.01);
    assertEquals(2 / 7.0, f[1], 0.01);
    assertEquals(4 / 7.0, f[2], 0.01);
    assertEquals(0, f[3], 1e-9);
  }

  @Test
  void lowerTemperatureSharpens() {
    double[] f = frequencies(SamplingParams.defaults().withTemperature(0.5), 70_000);
    assertEquals(1 / 21.0, f[0], 0.01);
    assertEquals(4 / 21.0, f[1], 0.01);
    assertEquals(16 / 21.0, f[2], 0.01);
  }

  @Test
  void topKAndTopPCutTheTail() {
    double[] k2 = frequencies(SamplingParams.defaults().withTemperature(1.0).withTopK(2), 60_000);
    assertEquals(0, k2[0], 1e-9);
    assertEquals(1 / 3.0, k2[1], 0.01);
    double[] p08 = frequencies(SamplingParams.defaults().withTemperature(1.0).withTopP(0.8), 60_000);
    assertEquals(0, p08[0], 1e-9);
    assertEquals(2 / 3.0, p08[2], 0.01);
    double[] p05 = frequencies(SamplingParams.defaults().withTemperature(1.0).withTopP(0.5), 1_000);
    assertEquals(1.0, p05[2], 1e-9);
    double[] k1 = frequencies(SamplingParams.defaults().withTemperature(2.0).withTopK(1), 1_000);
    assertEquals(1.0, k1[2], 1e-9);
  }

  @Test
  void sameSeedSameTokens() {
    SamplingParams.Resolved r = SamplingParams.defaults().withTemperature(1.0).withSeed(42L).resolve(NONE);
    SplittableRandom a = new SplittableRandom(r.seed()), b = new SplittableRandom(r.seed());
    for (int i = 0; i < 200; i++)
      assertEquals(Sampler.sample(LOGITS, 0, 4, r, a), Sampler.sample(LOGITS, 0, 4, r, b));
  }

  @Test
  void generationConfigFillsUnsetFieldsOnly() {
    GenerationConfig gc = new GenerationConfig(0.7, 0.9, 20, 64, true, new int[] {1}, 0);
    SamplingParams.Resolved r = SamplingParams.defaults().resolve(gc);
    assertEquals(0.7, r.temperature());
    assertEquals(0.9, r.topP());
    assertEquals(20, r.topK());
    assertEquals(64, r.maxNewTokens());
    SamplingParams.Resolved greedy = SamplingParams.defaults().withTemperature(0.0).resolve(gc);
    assertEquals(0.0, greedy.temperature());
    assertEquals(SamplingParams.DEFAULT_MAX_NEW_TOKENS, SamplingParams.defaults().resolve(NONE).maxNewTokens());
    assertEquals(0.0, SamplingParams.defaults().resolve(NONE).temperature());
  }

  @Test
  void badValuesAreNamed() {
    assertEquals("temperature must be >= 0, got -1.0",
        assertThrows(IllegalArgumentException.class,
            () -> SamplingParams.defaults().withTemperature(-1.0).resolve(NONE)).getMessage());
    assertThrows(IllegalArgumentException.class, () -> SamplingParams.defaults().withTopP(0.0).resolve(NONE));
    assertThrows(IllegalArgumentException.class, () -> SamplingParams.defaults().withTopK(-2).resolve(NONE));
    assertThrows(IllegalArgumentException.class, () -> SamplingParams.defaults().withMaxNewTokens(-1).resolve(NONE));
    assertThrows(IllegalArgumentException.class,
        () -> SamplingParams.defaults().withStop(List.of("")).resolve(NONE));
  }
}
