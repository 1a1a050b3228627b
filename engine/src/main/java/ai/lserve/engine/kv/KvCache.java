package ai.lserve.engine.kv;

/** Backend-owned storage of the paged KV cache; page ids come from the engine's page pools. */
public interface KvCache extends AutoCloseable {
  KvLayout layout();

  int retrievalPages();

  int streamingPages();

  /** Bytes the backend really allocated for the pages (checked against {@link KvPlan}). */
  long allocatedBytes();

  @Override
  void close();
}
