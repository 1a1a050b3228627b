package ai.lserve.engine.sparse;

import java.util.Arrays;

/**
 * One sequence's page choice for one layer, reused for {@code reuse_interval} decode steps. Only
 * the ranked pages are cached: every page that was the newest at selection time or became newer
 * since is read live, so reuse never serves a stale newest page (LServe §4's boundary hazard).
 */
public final class PageSelection {
  private int[][] ranked; // per selector row (KV head or query head), ascending page ids
  private int selectedAt = -1; // tokens at selection time
  private int newestAtSelection;

  /** Whether the selection must be recomputed at {@code tokens} tokens. */
  public boolean stale(int tokens, int reuseInterval) {
    return selectedAt < 0 || tokens - selectedAt >= reuseInterval;
  }

  public void set(int[][] rankedPages, int tokens, int newestPage) {
    this.ranked = rankedPages;
    this.selectedAt = tokens;
    this.newestAtSelection = newestPage;
  }

  /** The pages selector row {@code row} reads when the newest page is {@code newestPage}, ascending. */
  public int[] pages(int row, int newestPage) {
    int[] r = ranked[row];
    int live = newestPage - newestAtSelection + 1;
    int[] out = Arrays.copyOf(r, r.length + live);
    for (int i = 0; i < live; i++) out[r.length + i] = newestAtSelection + i;
    return out;
  }
}
