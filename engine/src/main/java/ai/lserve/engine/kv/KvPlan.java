package ai.lserve.engine.kv;

import ai.lserve.engine.model.LlamaConfig;

/**
 * How many KV pages a sequence needs and how a byte budget splits into the two pools. The engine
 * sizes its allocations with this class and {@code lserve plan} reports from it, so the plan is
 * what an engine would really allocate.
 *
 * <p>Per sequence of T tokens: ceil(T / 64) retrieval pages, each holding, for every layer l,
 * R_l retrieval heads × (keys + values + key statistics); and, with streaming heads, sink + ring
 * streaming pages (2 + 5 at LServe's defaults) holding S_l heads × (keys + values). Keys or values
 * of one head for one page take 64 × (D × bits / 8 + 4) bytes quantized (fp16 scale and zero per
 * token) or 64 × D × bits / 8 unquantized; statistics take 2 × 4 × D × 2 bytes (fp16 min and max
 * of 4 logical pages). While a prompt is prefilled the ring is larger (it must hold the prefill
 * window plus one step's chunk); it shrinks to the decode ring when prefill ends.
 */
public record KvPlan(KvLayout layout, int sink, int local, int prefillLocal, int maxBatchTokens) {
  public int sinkPages() {
    return layout.hasStreaming() ? sink / KvLayout.PAGE_TOKENS : 0;
  }

  /** Ring pages in decode: the last {@code local} tokens and the current one. */
  public int decodeRingPages() {
    return layout.hasStreaming() ? KvLayout.span(local + 1) : 0;
  }

  /** Ring pages while prefilling a prompt: the prefill window plus one step's chunk. */
  public int prefillRingPages(int promptTokens) {
    if (!layout.hasStreaming()) return 0;
    long window = Math.min((long) prefillLocal - 1 + maxBatchTokens, promptTokens + 1L);
    return Math.max(decodeRingPages(), KvLayout.span((int) window));
  }

  public int streamingPagesAtAdmission(int promptTokens) {
    return layout.hasStreaming() ? sinkPages() + prefillRingPages(promptTokens) : 0;
  }

  public int streamingPagesInDecode() {
    return layout.hasStreaming() ? sinkPages() + decodeRingPages() : 0;
  }

  /** KV bytes of one sequence of {@code tokens} tokens once its prompt is prefilled. */
  public long bytesPerSequence(long tokens) {
    return KvLayout.pagesFor(tokens) * layout.retrievalPageBytes()
        + streamingPagesInDecode() * layout.streamingPageBytes();
  }

  /** KV bytes of the same sequence while its prompt is being prefilled. */
  public long prefillPeakBytes(long tokens) {
    int prompt = (int) Math.min(tokens, Integer.MAX_VALUE - 1);
    return KvLayout.pagesFor(tokens) * layout.retrievalPageBytes()
        + streamingPagesAtAdmission(prompt) * layout.streamingPageBytes();
  }

  /** The dense bf16 cache of the same model: every head, every token, 2 bytes per value. */
  public static long denseBf16Bytes(LlamaConfig c, long tokens) {
    return KvLayout.pagesFor(tokens) * KvLayout.PAGE_TOKENS * 2L * c.numLayers() * c.numKvHeads() * c.headDim() * 2;
  }

  /** Pages of each pool for a byte budget. */
  public record Pools(int retrievalPages, int streamingPages) {}

  /**
   * Splits {@code budgetBytes}: the streaming pool gets the decode rings of {@code maxRunning}
   * sequences plus room for two prefills of prompts up to {@code maxTokens} at a time, at most a
   * quarter of the budget (but always one prefill); the retrieval pool gets the rest.
   */
  public Pools pools(long budgetBytes, int maxRunning, int maxTokens) {
    long streaming = 0;
    if (layout.hasStreaming()) {
      int prefill = streamingPagesAtAdmission(maxTokens);
      long want = (long) maxRunning * streamingPagesInDecode() + 2L * (prefill - streamingPagesInDecode());
      long cap = budgetBytes / 4 / layout.streamingPageBytes();
      streaming = Math.max(Math.min(want, cap), prefill);
    }
    long retrieval = (budgetBytes - streaming * layout.streamingPageBytes()) / layout.retrievalPageBytes();
    if (retrieval < 1)
      throw new IllegalArgumentException(String.format(
          "kv-cache-bytes %d is too small: one retrieval page takes %d bytes and the streaming heads' rings %d",
          budgetBytes, layout.retrievalPageBytes(), streaming * layout.streamingPageBytes()));
    return new Pools((int) Math.min(retrieval, Integer.MAX_VALUE), (int) streaming);
  }
}
