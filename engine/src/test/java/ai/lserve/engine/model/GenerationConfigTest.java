package ai.lserve.engine.model;

import static ai.lserve.engine.model.Rejections.assertRejected;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GenerationConfigTest {
  @TempDir Path dir;

  @Test
  void readsLlama31InstructDefaults() throws Exception {
    Path f = dir.resolve("generation_config.json");
    Files.writeString(
        f,
        """
        {"bos_token_id": 128000, "do_sample": true, "eos_token_id": [128001, 128008, 128009],
         "temperature": 0.6, "top_p": 0.9, "transformers_version": "4.42.3"}
        """);
    GenerationConfig g = GenerationConfig.load(f);
    assertEquals(0.6, g.temperature());
    assertEquals(0.9, g.topP());
    assertNull(g.topK());
    assertNull(g.maxNewTokens());
    assertEquals(Boolean.TRUE, g.doSample());
    assertArrayEquals(new int[] {128001, 128008, 128009}, g.eosTokenIds());
    assertEquals(128000, g.bosTokenId());
  }

  @Test
  void eosAsASingleIntAndOtherFields() throws Exception {
    Path f = dir.resolve("generation_config.json");
    Files.writeString(
        f, "{\"eos_token_id\": 2, \"top_k\": 50, \"max_new_tokens\": 128, \"do_sample\": false}");
    GenerationConfig g = GenerationConfig.load(f);
    assertArrayEquals(new int[] {2}, g.eosTokenIds());
    assertEquals(50, g.topK());
    assertEquals(128, g.maxNewTokens());
    assertEquals(Boolean.FALSE, g.doSample());
    assertNull(g.temperature());
    assertNull(g.bosTokenId());
  }

  @Test
  void absentFileGivesNone() {
    GenerationConfig g = GenerationConfig.load(dir.resolve("generation_config.json"));
    assertSame(GenerationConfig.none(), g);
    assertNull(g.temperature());
    assertNull(g.eosTokenIds());
  }

  @Test
  void badJsonAndBadFieldsAreRejected() throws Exception {
    Path f = dir.resolve("generation_config.json");
    Files.writeString(f, "{\"temperature\": 0.6,,}");
    assertRejected(f, "bad JSON: ", () -> GenerationConfig.load(f));
    Files.writeString(f, "{\"temperature\": \"hot\"}");
    assertRejected(f, "field temperature must be a number", () -> GenerationConfig.load(f));
    Files.writeString(f, "");
    assertRejected(f, "expected a JSON object", () -> GenerationConfig.load(f));
  }
}
