package ai.lserve.engine.kv;

import ai.lserve.engine.sparse.PageSelection;

/**
 * A sequence's place in the KV cache: the page table of its retrieval heads, the ring of its
 * streaming heads (null without streaming heads), and its per-layer page selections.
 */
public final class SequenceKv {
  private final PageTable table;
  private final StreamingRing ring;
  private final PageSelection[] selections;

  public SequenceKv(PageTable table, StreamingRing ring, int layers) {
    this.table = table;
    this.ring = ring;
    this.selections = new PageSelection[layers];
    for (int l = 0; l < layers; l++) selections[l] = new PageSelection();
  }

  public PageTable table() {
    return table;
  }

  public StreamingRing ring() {
    return ring;
  }

  public PageSelection selection(int layer) {
    return selections[layer];
  }
}
