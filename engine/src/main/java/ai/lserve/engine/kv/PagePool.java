package ai.lserve.engine.kv;

import java.util.ArrayDeque;

/**
 * The free list of physical KV pages. Sequences reserve all the pages they can ever need when they
 * are admitted, so a running sequence never waits for memory, and give them back when they end.
 */
public final class PagePool {
  private final int total;
  private final ArrayDeque<Integer> free = new ArrayDeque<>();

  public PagePool(int total) {
    if (total <= 0) throw new IllegalArgumentException("a KV page pool needs at least one page");
    this.total = total;
    for (int i = 0; i < total; i++) free.add(i);
  }

  public int total() {
    return total;
  }

  public synchronized int free() {
    return free.size();
  }

  /** Takes {@code n} pages, or returns null (taking none) when fewer are free. */
  public synchronized int[] take(int n) {
    if (n > free.size()) return null;
    int[] pages = new int[n];
    for (int i = 0; i < n; i++) pages[i] = free.poll();
    return pages;
  }

  public synchronized void give(int[] pages) {
    for (int p : pages) free.add(p);
    if (free.size() > total) throw new IllegalStateException("KV page returned twice");
  }
}
