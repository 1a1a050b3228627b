package ai.lserve.spark;

import static org.junit.jupiter.api.Assertions.*;

import ai.lserve.engine.sparse.SparseConfig;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SettingsTest {
  static Settings parse(Map<String, String> session, Map<String, String> call) {
    return Settings.parse(Settings.merge(Settings.fromConf(session), call, false));
  }

  @Test
  void callOptionsOverrideSessionConfiguration() {
    Settings s = parse(
        Map.of("spark.lserve.model", "/m", "spark.lserve.max_new_tokens", "64", "spark.lserve.temperature", "0.5",
            "spark.other", "ignored"),
        Map.of("MAX_NEW_TOKENS", "8"));
    assertEquals("/m", s.model());
    assertEquals(8, s.sampling().maxNewTokens());
    assertEquals(0.5, s.sampling().temperature());
  }

  @Test
  void everyEngineOptionReachesTheEngine() {
    Settings s = parse(Map.of(), Map.ofEntries(
        Map.entry("mode", "lserve"), Map.entry("streaming_fraction", "0.25"), Map.entry("pattern", "/p.tsv"),
        Map.entry("sink", "64"), Map.entry("local", "128"), Map.entry("prefill_local", "1000"),
        Map.entry("budget", "256"), Map.entry("reuse_interval", "2"), Map.entry("kv_bits", "4"),
        Map.entry("selection", "query_head"), Map.entry("pin_first_page", "true"), Map.entry("threads", "3"),
        Map.entry("kv_cache_bytes", "1000000"), Map.entry("max_batch_tokens", "128"),
        Map.entry("max_model_len", "2048"), Map.entry("max_running", "7"), Map.entry("memory_fraction", "0.5"),
        Map.entry("device", "cuda"), Map.entry("gpu", "2"), Map.entry("on_error", "null")));
    SparseConfig sp = s.engine().sparse();
    assertEquals(SparseConfig.Mode.LSERVE, sp.mode());
    assertEquals(0.25, sp.streamingFraction());
    assertEquals("/p.tsv", sp.pattern().toString());
    assertEquals(List.of(64, 128, 1000, 256, 2, 4), List.of(sp.sink(), sp.local(), sp.prefillLocal(), sp.budget(),
        sp.reuseInterval(), sp.kvBits()));
    assertEquals(SparseConfig.Selection.QUERY_HEAD, sp.selection());
    assertTrue(sp.pinFirstPage());
    assertEquals(3, s.engine().threads());
    assertEquals(1_000_000, s.engine().kvCacheBytes());
    assertEquals(128, s.engine().maxBatchTokens());
    assertEquals(2048, s.engine().maxModelLen());
    assertEquals(7, s.engine().maxRunning());
    assertEquals(0.5, s.engine().memoryFraction());
    assertEquals(Settings.DevicePolicy.CUDA, s.device());
    assertEquals(2, s.gpu());
    assertEquals(Settings.OnError.NULL, s.onError(Settings.OnError.FAIL));
  }

  @Test
  void generationOptions() {
    Settings s = parse(Map.of(), Map.of("top_k", "5", "top_p", "0.9", "seed", "7", "stop", "[\"\\n\\n\", \"END\"]",
        "ignore_eos", "true"));
    assertEquals(5, s.sampling().topK());
    assertEquals(0.9, s.sampling().topP());
    assertEquals(7L, s.sampling().seed());
    assertEquals(List.of("\n\n", "END"), s.sampling().stop());
    assertTrue(s.sampling().ignoreEos());
    assertEquals(List.of("###"), parse(Map.of(), Map.of("stop", "###")).sampling().stop());
  }

  @Test
  void unknownNamesListTheValidOnes() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> parse(Map.of(), Map.of("max_tokens", "3")));
    assertTrue(e.getMessage().startsWith("unknown option 'max_tokens'; valid options are: model, device, gpu"), e.getMessage());
    assertFalse(e.getMessage().contains("template"), "data source options are not offered to functions");
    e = assertThrows(IllegalArgumentException.class, () -> parse(Map.of("spark.lserve.temprature", "1"), Map.of()));
    assertTrue(e.getMessage().startsWith("unknown configuration 'spark.lserve.temprature'"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> parse(Map.of(), Map.of("template", "{x}")));
    assertTrue(e.getMessage().contains("unknown option 'template'"), e.getMessage());
  }

  @Test
  void invalidValuesNameTheOption() {
    assertMessage("invalid option 'temperature' = 'hot': expected a number", Map.of("temperature", "hot"));
    assertMessage("invalid generation option: top_p must be in (0, 1], got 2.0", Map.of("top_p", "2"));
    assertMessage("invalid option 'kv_bits' = '5': kv-bits must be 16, 8 or 4", Map.of("kv_bits", "5"));
    assertMessage("invalid option 'device' = 'tpu': expected auto, cpu or cuda", Map.of("device", "tpu"));
    assertMessage("invalid option 'mode' = 'sparse': mode must be dense, lserve or auto", Map.of("mode", "sparse"));
    assertMessage("invalid option 'pin_first_page' = 'yes': expected true or false", Map.of("pin_first_page", "yes"));
    assertMessage("invalid option 'memory_fraction' = '0'", Map.of("memory_fraction", "0"));
    assertMessage("invalid generation option: top_p must be in (0, 1], got 0.0", Map.of("top_p", "0"));
  }

  @Test
  void missingModelSaysHowToSetIt() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> parse(Map.of(), Map.of()).requireModel());
    assertTrue(e.getMessage().contains("spark.lserve.model"), e.getMessage());
  }

  private static void assertMessage(String expected, Map<String, String> call) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> parse(Map.of(), call));
    assertTrue(e.getMessage().startsWith(expected), e.getMessage());
  }
}
