package ai.lserve.engine.sparse;

/**
 * What each kind of head attends to, resolved from {@link SparseConfig} for one engine.
 *
 * @param selectPages retrieval heads read only selected pages in decode (lserve mode)
 * @param sink tokens from the start streaming heads always see
 * @param local recent tokens streaming heads see in decode (besides the current one)
 * @param prefillLocal window of streaming heads in prefill, the query itself included
 */
public record AttentionPolicy(
    boolean selectPages, int sink, int local, int prefillLocal, int budget, int reuseInterval,
    SparseConfig.Selection selection, boolean pinFirstPage) {

  public static AttentionPolicy of(SparseConfig c, boolean lserve) {
    return new AttentionPolicy(lserve, c.sink(), c.local(), c.prefillLocal(), c.budget(), c.reuseInterval(),
        c.selection(), c.pinFirstPage());
  }

  /** Whether a streaming head's token at {@code query} sees the token at {@code key} (key <= query). */
  public boolean streamingSees(int query, int key, boolean decode) {
    return key < sink || (decode ? query - key <= local : query - key < prefillLocal);
  }
}
