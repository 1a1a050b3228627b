package ai.lserve.engine.kv;

/** One sequence's pages, in token order: token p lives in page {@code pages[p / 64]}, slot {@code p % 64}. */
public final class PageTable {
  private final int[] pages;
  private int tokens;

  public PageTable(int[] pages) {
    this.pages = pages;
  }

  /** Tokens whose keys and values are in the cache. */
  public int tokens() {
    return tokens;
  }

  public void advance(int n) {
    if (tokens + n > capacity()) throw new IllegalStateException("page table overflow");
    tokens += n;
  }

  public int capacity() {
    return pages.length * KvLayout.PAGE_TOKENS;
  }

  public int page(int position) {
    return pages[position / KvLayout.PAGE_TOKENS];
  }

  public int[] pages() {
    return pages;
  }
}
