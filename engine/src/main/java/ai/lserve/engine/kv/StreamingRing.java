package ai.lserve.engine.kv;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A streaming head's pages for one sequence: the sink pages, then a ring of pages for the recent
 * window. Logical page i lives in slot i below the sink, else in slot sink + (i - sink) mod ring.
 */
public final class StreamingRing {
  private final int sinkPages;
  private int[] slots;

  public StreamingRing(int sinkPages, int[] pages) {
    if (pages.length <= sinkPages) throw new IllegalArgumentException("a streaming ring needs at least one ring page");
    this.sinkPages = sinkPages;
    this.slots = pages;
  }

  public int ringPages() {
    return slots.length - sinkPages;
  }

  public int[] pages() {
    return slots;
  }

  /** The page holding token {@code position}. */
  public int page(int position) {
    int logical = position / KvLayout.PAGE_TOKENS;
    return logical < sinkPages ? slots[logical] : slots[sinkPages + (logical - sinkPages) % ringPages()];
  }

  /**
   * Shrinks the ring to {@code ringPages} pages once prefill is over, keeping the pages that hold
   * tokens [next - window, next] (the window the next decode step reads, and its own token): their
   * ids move to the slots the smaller ring maps them to, so no data moves. Returns the freed pages.
   */
  public int[] shrink(int next, int window, int ringPages) {
    if (ringPages >= ringPages()) return new int[0];
    int[] small = new int[sinkPages + ringPages];
    Arrays.fill(small, -1);
    System.arraycopy(slots, 0, small, 0, sinkPages);
    boolean[] kept = new boolean[slots.length];
    int first = Math.max(sinkPages, Math.max(0, next - window) / KvLayout.PAGE_TOKENS);
    for (int logical = first; logical <= next / KvLayout.PAGE_TOKENS; logical++) {
      int from = sinkPages + (logical - sinkPages) % ringPages();
      int to = sinkPages + (logical - sinkPages) % ringPages;
      small[to] = slots[from];
      kept[from] = true;
    }
    List<Integer> spare = new ArrayList<>();
    for (int s = sinkPages; s < slots.length; s++) if (!kept[s]) spare.add(slots[s]);
    int used = 0;
    for (int s = sinkPages; s < small.length; s++) if (small[s] < 0) small[s] = spare.get(used++);
    int[] freed = new int[spare.size() - used];
    for (int i = 0; i < freed.length; i++) freed[i] = spare.get(used + i);
    slots = small;
    return freed;
  }
}
