package ai.lserve.spark;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelCacheTest {
  @TempDir Path tmp;

  static Configuration conf() {
    Configuration c = new Configuration();
    c.set("fs." + RemoteTestFileSystem.SCHEME + ".impl", RemoteTestFileSystem.class.getName());
    c.setBoolean("fs." + RemoteTestFileSystem.SCHEME + ".impl.disable.cache", true);
    return c;
  }

  Path remoteModel() throws IOException {
    Path m = Files.createDirectories(tmp.resolve("remote/my-model/sub"));
    Files.writeString(m.getParent().resolve("config.json"), "{}");
    Files.writeString(m.resolve("extra.txt"), "x");
    return m.getParent();
  }

  @Test
  void localDirectoriesAreUsedInPlace() throws IOException {
    Path m = remoteModel();
    assertEquals(m, ModelCache.localize(m.toString(), null, conf()));
    assertEquals(m, ModelCache.localize(m.toUri().toString(), null, conf()));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ModelCache.localize(tmp.resolve("nope").toString(), null, conf()));
    assertTrue(e.getMessage().contains("does not exist on this node"), e.getMessage());
  }

  @Test
  void remoteModelsAreCopiedOncePerNodeEvenUnderConcurrentTasks() throws Exception {
    Path m = remoteModel();
    String uri = RemoteTestFileSystem.SCHEME + "://" + m;
    Path cache = tmp.resolve("cache");
    ExecutorService pool = Executors.newFixedThreadPool(4);
    List<Future<Path>> results = new ArrayList<>();
    for (int i = 0; i < 8; i++) results.add(pool.submit(() -> ModelCache.localize(uri, cache.toString(), conf())));
    Path first = results.get(0).get();
    for (Future<Path> f : results) assertEquals(first, f.get());
    pool.shutdown();
    assertTrue(first.getFileName().toString().startsWith("my-model-"), first.toString());
    assertEquals("{}", Files.readString(first.resolve("config.json")));
    assertEquals("x", Files.readString(first.resolve("sub/extra.txt")));
    try (Stream<Path> s = Files.list(cache)) {
      assertEquals(1, s.filter(Files::isDirectory).count(), "one copy, no leftovers");
    }

    Files.writeString(m.resolve("config.json"), "{\"changed\": true}");
    Path second = ModelCache.localize(uri, cache.toString(), conf());
    assertNotEquals(first, second, "a changed model is copied again");
    assertEquals("{\"changed\": true}", Files.readString(second.resolve("config.json")));
  }
}
