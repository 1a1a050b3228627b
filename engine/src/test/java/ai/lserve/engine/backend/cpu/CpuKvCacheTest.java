package ai.lserve.engine.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.lserve.engine.kv.Fp16;
import ai.lserve.engine.kv.KvFormat;
import ai.lserve.engine.kv.KvLayout;
import ai.lserve.engine.kv.Quantizer;
import ai.lserve.engine.sparse.AttentionPolicy;
import ai.lserve.engine.sparse.HeadPattern;
import ai.lserve.engine.sparse.SparseConfig;
import java.util.Random;
import org.junit.jupiter.api.Test;

class CpuKvCacheTest {
  static final int D = 16;

  static CpuKvCache cache(KvFormat f) {
    KvLayout layout = new KvLayout(1, 2, D, f, HeadPattern.allRetrieval(1, 2), true);
    return new CpuKvCache(layout, AttentionPolicy.of(SparseConfig.defaults(), true), 8, 0);
  }

  @Test
  void statisticsRestartOnEveryLogicalPageEvenOnRecycledPages() {
    CpuKvCache c = cache(KvFormat.F32);
    Random r = new Random(3);
    int[] pages = {5, 2, 7, 1};
    // A previous owner leaves large keys in the same pages.
    for (int p : pages) for (int slot = 0; slot < 64; slot++) {
      float[] junk = new float[D];
      java.util.Arrays.fill(junk, 1000f);
      c.updateStats(0, p, 1, slot, junk, 0);
    }
    int tokens = 200; // ends inside the 13th logical page
    float[][] keys = new float[tokens][D];
    for (int t = 0; t < tokens; t++) {
      for (int ch = 0; ch < D; ch++) keys[t][ch] = (float) (r.nextGaussian() * (1 + ch));
      c.updateStats(0, pages[t / 64], 1, t % 64, keys[t], 0);
    }
    float[] max = new float[D], min = new float[D];
    for (int logical = 0; logical * 16 < tokens; logical++) {
      c.readStats(0, pages[logical / 4], 1, logical % 4, max, min);
      for (int ch = 0; ch < D; ch++) {
        float mx = Float.NEGATIVE_INFINITY, mn = Float.POSITIVE_INFINITY;
        for (int t = logical * 16; t < Math.min(tokens, logical * 16 + 16); t++) {
          mx = Math.max(mx, Fp16.round(keys[t][ch]));
          mn = Math.min(mn, Fp16.round(keys[t][ch]));
        }
        assertEquals(mx, max[ch], "max, logical page " + logical);
        assertEquals(mn, min[ch], "min, logical page " + logical);
      }
    }
  }

  @Test
  void pagesStoreWhatTheFormatKeeps() {
    Random r = new Random(4);
    for (KvFormat f : KvFormat.values()) {
      CpuKvCache c = cache(f);
      float[] x = new float[D], back = new float[D];
      for (int i = 0; i < D; i++) x[i] = (float) r.nextGaussian();
      c.keys[0].write(3, 1, 17, x, 0);
      c.keys[0].read(3, 1, 17, back, 0);
      float min = Float.POSITIVE_INFINITY, max = Float.NEGATIVE_INFINITY;
      for (float v : x) {
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
      for (int i = 0; i < D; i++) {
        float err = Math.abs(back[i] - x[i]);
        switch (f) {
          case F32 -> assertEquals(x[i], back[i]);
          case BF16 -> assertEquals(Fp16.bf16Round(x[i]), back[i]);
          default -> assertTrue(err <= Quantizer.errorBound(min, max, f.bits), f + " channel " + i + " error " + err);
        }
      }
      assertEquals(2L * 8 * 2 * 64 * f.bytesPerHeadToken(D) + 2L * 8 * 2 * 4 * D * 2, c.allocatedBytes());
    }
  }
}
