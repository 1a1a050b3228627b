package ai.lserve.engine.sparse;

import ai.lserve.engine.kv.KvLayout;
import java.util.Arrays;

/**
 * Hierarchical page selection (LServe §3.3-3.4): logical pages of 16 tokens are scored with the
 * Quest bound, a physical page scores the max of its 4 logical pages, and decode reads the best
 * pages within the token budget plus, always, the newest page.
 */
public final class PageSelector {
  private PageSelector() {}

  /**
   * Upper bound of q·k over the keys of a logical page: sum over channels of
   * max(q_c · kmax_c, q_c · kmin_c).
   */
  public static float logicalScore(float[] q, int qOff, float[] kmax, float[] kmin, int statsOff, int headDim) {
    float s = 0;
    for (int c = 0; c < headDim; c++) {
      float qc = q[qOff + c];
      s += Math.max(qc * kmax[statsOff + c], qc * kmin[statsOff + c]);
    }
    return s;
  }

  /** Pages a selection keeps for {@code tokens} tokens (the current one included) and this budget. */
  public static int pagesToKeep(int tokens, int budget) {
    int n = KvLayout.pagesFor(tokens);
    return Math.min(Math.max(3, budget / KvLayout.PAGE_TOKENS), n);
  }

  /**
   * The best pages among the complete pages 0 .. scores.length - 1 (the newest page is not ranked:
   * it is read live), {@code keep - 1} of them, ascending; the first page is always kept when
   * {@code pinFirst}. Ties go to the lower page.
   */
  public static int[] top(float[] scores, int keep, boolean pinFirst) {
    int n = scores.length;
    int want = Math.min(keep - 1, n);
    if (want <= 0) return new int[0];
    Integer[] order = new Integer[n];
    for (int i = 0; i < n; i++) order[i] = i;
    Arrays.sort(order, (a, b) -> {
      if (pinFirst && (a == 0 || b == 0)) return a == 0 ? (b == 0 ? 0 : -1) : 1;
      int c = Float.compare(scores[b], scores[a]);
      return c != 0 ? c : Integer.compare(a, b);
    });
    int[] chosen = new int[want];
    for (int i = 0; i < want; i++) chosen[i] = order[i];
    Arrays.sort(chosen);
    return chosen;
  }
}
