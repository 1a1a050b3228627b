package ai.lserve.engine.cli;

import static ai.lserve.engine.cli.MainTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.lserve.engine.model.TinyCheckpoints;
import ai.lserve.engine.runtime.Engine;
import ai.lserve.engine.runtime.EngineOptions;
import ai.lserve.engine.sparse.HeadPattern;
import ai.lserve.engine.sparse.SparseConfig;
import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.StringJoiner;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PlanAndCalibrateTest {
  @TempDir Path dir;

  static final String LLAMA3_8B = "{\"model_type\": \"llama\", \"hidden_size\": 4096, \"intermediate_size\": 14336,"
      + " \"num_hidden_layers\": 32, \"num_attention_heads\": 32, \"num_key_value_heads\": 8, \"rms_norm_eps\": 1e-5,"
      + " \"rope_theta\": 500000.0, \"max_position_embeddings\": 131072, \"vocab_size\": 128256,"
      + " \"bos_token_id\": 128000, \"eos_token_id\": 128001, \"hidden_act\": \"silu\"}";

  @Test
  void planOfLlama3At128kNeedsOnlyTheConfig() throws Exception {
    Files.writeString(dir.resolve("config.json"), LLAMA3_8B);
    for (String[] c : new String[][] {{"4", "0.2"}, {"8", "0.32"}}) {
      MainTest.Run r = run("plan", "--model", dir.toString(), "--context", "131072", "--mode", "lserve",
          "--streaming-fraction", "0.5", "--kv-bits", c[0]);
      assertEquals(0, r.exit(), r.err());
      JsonNode o = r.lastLine();
      long sparse = o.get("kv_bytes_per_sequence").asLong(), dense = o.get("kv_bytes_per_sequence_dense_bf16").asLong();
      assertEquals(17_179_869_184L, dense); // 2 x 32 layers x 8 heads x 128 x 2 bytes x 131072
      assertEquals(128, o.get("streaming_heads").asInt());
      assertTrue(sparse <= Double.parseDouble(c[1]) * dense, "kv" + c[0] + ": " + (double) sparse / dense);
    }
  }

  @Test
  void planAgreesWithWhatTheEngineAllocates() throws Exception {
    Path model = TinyCheckpoints.write(dir.resolve("m"), TinyCheckpoints.Spec.tiny().withHeads(4, 2, 16));
    Files.writeString(model.resolve("full_attention_heads.tsv"), "0.9\t0.1\n0.2\t0.8\n");
    MainTest.Run r = run("plan", "--model", model.toString(), "--context", "200", "--mode", "lserve", "--kv-bits", "4",
        "--sink", "64", "--local", "64", "--budget", "128");
    assertEquals(0, r.exit(), r.err());
    long perSequence = r.lastLine().get("kv_bytes_per_sequence").asLong();
    EngineOptions o = EngineOptions.defaults().withDevice("cpu").withThreads(1).withSparse(SparseConfig.defaults()
        .withMode(SparseConfig.Mode.LSERVE).withKvBits(4).withSink(64).withLocal(64).withBudget(128));
    try (Engine e = Engine.open(model, o.withKvCacheBytes(perSequence * 8))) {
      assertEquals(perSequence, e.kvPlan().bytesPerSequence(200));
      long pages = (long) e.kvPages() * e.kvPlan().layout().retrievalPageBytes()
          + (long) e.streamingPages() * e.kvPlan().layout().streamingPageBytes();
      assertEquals(pages, e.kvAllocatedBytes());
      assertTrue(e.kvAllocatedBytes() <= perSequence * 8);
    }
  }

  @Test
  void attentionCalibrationWritesAPatternTheEngineLoads() throws Exception {
    Path model = TinyCheckpoints.write(dir.resolve("m"), TinyCheckpoints.Spec.tiny().withHeads(4, 2, 16));
    Files.writeString(model.resolve("config.json"),
        Files.readString(model.resolve("config.json")).replace("\"max_position_embeddings\": 256", "\"max_position_embeddings\": 2048"));
    Random rnd = new Random(5);
    StringJoiner ids = new StringJoiner(",");
    for (int i = 0; i < 1200; i++) ids.add(String.valueOf(3 + rnd.nextInt(60)));
    Path data = Files.writeString(dir.resolve("calib.ids"), ids.toString());
    Path out = dir.resolve("pattern.tsv");
    MainTest.Run r = run("calibrate", "--method", "attention", "--model", model.toString(), "--data", data.toString(),
        "--out", out.toString(), "--streaming-fraction", "0.5", "--length", "600", "--sink", "64", "--local", "128", "--threads", "2");
    assertEquals(0, r.exit(), r.err());
    JsonNode o = r.lastLine();
    assertEquals("attention", o.get("method").asText());
    assertEquals(2, o.get("sequences").asInt());
    assertEquals(2, o.get("streaming_heads").asInt());
    double[][] gates = HeadPattern.readGates(out, ai.lserve.engine.model.LlamaConfig.load(model.resolve("config.json")));
    for (double[] row : gates) for (double g : row) assertTrue(g > 0 && g < 1, "gate " + g);
    Files.copy(out, model.resolve("full_attention_heads.tsv"));
    try (Engine e = Engine.open(model, EngineOptions.defaults().withDevice("cpu").withThreads(1))) {
      assertEquals(SparseConfig.Mode.LSERVE, e.mode()); // auto picks lserve once the model has a pattern
    }
  }
}
