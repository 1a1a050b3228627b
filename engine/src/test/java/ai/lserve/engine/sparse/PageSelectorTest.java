package ai.lserve.engine.sparse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Comparator;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class PageSelectorTest {
  @Test
  void logicalScoreIsTheQuestBoundOfEveryKeyInThePage() {
    Random r = new Random(1);
    int d = 32;
    for (int trial = 0; trial < 200; trial++) {
      float[] q = new float[d], max = new float[d], min = new float[d];
      float[][] keys = new float[16][d];
      for (int c = 0; c < d; c++) {
        q[c] = (float) r.nextGaussian();
        max[c] = Float.NEGATIVE_INFINITY;
        min[c] = Float.POSITIVE_INFINITY;
        for (float[] k : keys) {
          k[c] = (float) (r.nextGaussian() * 2 + 0.5);
          max[c] = Math.max(max[c], k[c]);
          min[c] = Math.min(min[c], k[c]);
        }
      }
      double brute = 0, bestDot = Double.NEGATIVE_INFINITY;
      for (int c = 0; c < d; c++) brute += Math.max(q[c] * max[c], q[c] * min[c]);
      for (float[] k : keys) {
        double dot = 0;
        for (int c = 0; c < d; c++) dot += q[c] * k[c];
        bestDot = Math.max(bestDot, dot);
      }
      float score = PageSelector.logicalScore(q, 0, max, min, 0, d);
      assertEquals(brute, score, 1e-4);
      assertTrue(score >= bestDot - 1e-4, "the score bounds q·k from above");
    }
  }

  @Test
  void topKeepsTheBestPagesAscendingAndLeavesRoomForTheNewest() {
    Random r = new Random(2);
    for (int trial = 0; trial < 300; trial++) {
      int n = 1 + r.nextInt(60), keep = 3 + r.nextInt(20);
      float[] s = new float[n];
      for (int i = 0; i < n; i++) s[i] = r.nextInt(8); // many ties
      int[] got = PageSelector.top(s, keep, false);
      int[] want = IntStream.range(0, n).boxed()
          .sorted(Comparator.<Integer>comparingDouble(i -> -s[i]).thenComparingInt(i -> i))
          .limit(keep - 1).mapToInt(Integer::intValue).sorted().toArray();
      assertArrayEquals(want, got);
      int[] pinned = PageSelector.top(s, keep, true);
      assertEquals(0, pinned[0]);
      assertEquals(Math.min(keep - 1, n), pinned.length);
    }
  }

  @Test
  void pagesToKeepFollowsTheBudget() {
    assertEquals(64, PageSelector.pagesToKeep(131072, 4096));
    assertEquals(3, PageSelector.pagesToKeep(10_000, 128)); // never fewer than 3
    assertEquals(2, PageSelector.pagesToKeep(100, 4096)); // never more than the pages there are
  }

  @Test
  void reuseKeepsRankedPagesAndReadsEveryNewerPageLive() {
    PageSelection sel = new PageSelection();
    assertTrue(sel.stale(300, 4));
    sel.set(new int[][] {{0, 2}, {1, 2}}, 255, 3); // selected at 255 tokens: pages 0..2 complete, 3 newest
    assertFalse(sel.stale(256, 4));
    assertFalse(sel.stale(258, 4));
    assertTrue(sel.stale(259, 4));
    assertArrayEquals(new int[] {0, 2, 3}, sel.pages(0, 3));
    // Tokens 256.. open page 4: the page that was newest at selection stays, the new one joins.
    assertArrayEquals(new int[] {0, 2, 3, 4}, sel.pages(0, 4));
    assertArrayEquals(new int[] {1, 2, 3, 4}, sel.pages(1, 4));
  }

  @Test
  void streamingMaskIsLambdaShaped() {
    AttentionPolicy p = AttentionPolicy.of(SparseConfig.defaults().withSink(128).withLocal(256).withPrefillLocal(1000), true);
    assertTrue(p.streamingSees(5000, 127, true));
    assertFalse(p.streamingSees(5000, 128, true));
    assertTrue(p.streamingSees(5000, 4744, true)); // 256 back: still in the decode window
    assertFalse(p.streamingSees(5000, 4743, true));
    assertTrue(p.streamingSees(5000, 4001, false)); // prefill window of 1000 includes the query
    assertFalse(p.streamingSees(5000, 4000, false));
  }
}
