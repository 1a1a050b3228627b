package ai.lserve.spark;

import ai.lserve.engine.runtime.Engine;
import ai.lserve.engine.runtime.EngineOptions;
import ai.lserve.engine.runtime.EngineStats;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The engines of this JVM (an executor, or the driver in local mode): one per (model, device,
 * engine options), opened by the first task that needs it while the others wait, then shared by
 * every task, so the engine batches requests from all of them. Closed at executor shutdown
 * ({@link LServePlugin}) or JVM exit.
 */
public final class Engines {
  private static final Logger LOG = LoggerFactory.getLogger(Engines.class);
  private static final ConcurrentHashMap<Key, Slot> ENGINES = new ConcurrentHashMap<>();
  private static final Set<String> LOGGED_CHOICES = ConcurrentHashMap.newKeySet();
  private static final AtomicInteger OPENED = new AtomicInteger();

  static {
    Runtime.getRuntime().addShutdownHook(new Thread(Engines::closeAll, "lserve-engines-shutdown"));
  }

  private Engines() {}

  /** What makes two engines different. */
  public record Key(String model, String device, EngineOptions options) {}

  /** The engine for these settings on the device chosen for the current task. */
  public static Engine get(Settings s, GpuResolver.Choice choice) {
    if (LOGGED_CHOICES.add(choice.device() + " " + choice.source()))
      LOG.info("lserve: device {} ({})", choice.device(), choice.reason());
    Key key = new Key(s.requireModel(), choice.device(), s.engine().withDevice(choice.device()));
    return ENGINES.computeIfAbsent(key, k -> new Slot()).get(key, s.cacheDir());
  }

  /** Engines opened in this JVM so far (a reopened engine counts again). */
  public static int opened() {
    return OPENED.get();
  }

  /** Counters of every open engine. */
  public static Map<Key, EngineStats> snapshot() {
    Map<Key, EngineStats> out = new LinkedHashMap<>();
    ENGINES.forEach((k, slot) -> {
      Engine e = slot.engine;
      if (e != null) out.put(k, e.stats());
    });
    return out;
  }

  /** Closes every engine; requests still running fail. */
  public static void closeAll() {
    for (Key k : ENGINES.keySet()) {
      Slot slot = ENGINES.remove(k);
      Engine e = slot == null ? null : slot.engine;
      if (e != null) {
        e.close();
        LOG.info("lserve: closed engine for {} on {}", k.model(), k.device());
      }
    }
  }

  /** Opens its engine once; a failed open is not remembered, so a retried task tries again. */
  private static final class Slot {
    volatile Engine engine;

    synchronized Engine get(Key key, String cacheDir) {
      if (engine != null) return engine;
      long start = System.nanoTime();
      try {
        Path dir = ModelCache.localize(key.model(), cacheDir);
        engine = Engine.open(dir, key.options());
      } catch (RuntimeException e) {
        ENGINES.remove(key, this);
        throw new IllegalStateException(String.format(
            "cannot open the lserve engine for model %s on %s: %s", key.model(), key.device(), e.getMessage()), e);
      }
      OPENED.incrementAndGet();
      LOG.info("lserve: opened engine for {} on {} in {} ms (max model len {}, {} KV pages)", key.model(),
          engine.device(), (System.nanoTime() - start) / 1_000_000, engine.maxModelLen(), engine.kvPages());
      return engine;
    }
  }
}
