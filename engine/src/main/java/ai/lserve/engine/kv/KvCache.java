package ai.lserve.engine.kv;

/** Backend-owned storage of the paged KV cache; page ids come from a {@link PagePool}. */
public interface KvCache extends AutoCloseable {
  KvCacheLayout layout();

  int pages();

  @Override
  void close();
}
