package ai.lserve.engine.bench;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Locale;

/** bench.md: the report's tables, ours and the peers', with ratios to the floors and to transformers. */
final class BenchMarkdown {
  private static final double GIB = 1L << 30;

  private BenchMarkdown() {}

  static String render(JsonNode r) {
    StringBuilder md = new StringBuilder();
    md.append("# lserve bench: ").append(r.path("model").asText()).append(", ").append(r.path("device").asText())
        .append(", ").append(r.path("date").asText()).append("\n\n");
    md.append("Command: `").append(r.path("command").asText()).append("`\n\n");
    if (r.path("settings").size() > 0) md.append("Settings: `").append(r.get("settings")).append("`\n\n");
    JsonNode floors = r.path("floors");
    md.append(String.format(Locale.ROOT,
        "Prefill: submission of the batch to its last first token. Decode: median step with every request"
            + " decoding (first such step left out). ÷ floor: measured / floor (decode: bytes read per step / %s TB/s;"
            + " prefill: FLOPs / %s TFLOP/s). HF ÷ ours: transformers' time / ours (above 1: we are faster).%n%n",
        floors.path("copy_tbps").asText("?"), floors.path("gemm_tflops").asText("?")));
    md.append("| mode | context | batch | prefill ms | prefill tok/s | prefill ÷ floor | decode ms/token | decode tok/s"
        + " | decode ÷ floor | KV | KV ÷ dense bf16 | peak device | HF prefill ÷ ours | HF decode ÷ ours |\n");
    md.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (JsonNode c : r.path("results")) {
      md.append("| ").append(c.path("mode").asText()).append(" | ").append(tokens(c.path("context").asInt()))
          .append(" | ").append(c.path("batch").asInt()).append(" | ");
      if (c.has("error")) {
        md.append(c.get("error").asText().replace("|", "/")).append(" |").append(" |".repeat(10)).append('\n');
        continue;
      }
      JsonNode hf = transformers(r, c.path("context").asInt(), c.path("batch").asInt());
      md.append(String.join(" | ",
          f("%.1f", c.path("prefill_ms")), f("%.0f", c.path("prefill_tokens_per_s")),
          ratio(c.path("prefill_ms"), c.path("prefill_floor_ms")),
          f("%.2f", c.path("decode_ms_per_token")), f("%.1f", c.path("tokens_per_s")),
          ratio(c.path("decode_ms_per_token"), c.path("decode_floor_ms")),
          gib(c.path("kv_bytes")), ratio(c.path("kv_bytes"), c.path("kv_bytes_dense_bf16")).replace("×", ""),
          gib(c.path("peak_device_bytes")),
          hf == null ? "—" : ratio(hf.path("prefill_ms"), c.path("prefill_ms")),
          hf == null ? "—" : ratio(hf.path("decode_ms_per_token"), c.path("decode_ms_per_token"))))
          .append(" |\n");
    }
    peers(md, r.path("peers"));
    kernels(md, r.path("kernels"));
    return md.toString();
  }

  private static void peers(StringBuilder md, JsonNode p) {
    if (p.isMissingNode() || p.isNull()) return;
    md.append("\n## Peers: ").append(p.path("device").asText()).append(", ").append(p.path("date").asText())
        .append(", torch ").append(p.path("torch").asText()).append(", transformers ")
        .append(p.path("transformers_version").asText()).append("\n\n");
    if (p.has("command")) md.append("Command: `").append(p.get("command").asText()).append("`\n\n");
    if (p.has("copy_tbps")) md.append(f("Device-to-device copy: %.2f TB/s (read + write).", p.get("copy_tbps"))).append("\n\n");
    if (p.path("transformers").size() > 0) {
      md.append("transformers LlamaForCausalLM, SDPA, random bf16 weights (").append(p.path("shape").asText())
          .append(", ").append(p.path("layers").asText()).append(" layers):\n\n");
      md.append("| context | batch | prefill ms | decode ms/token | peak device |\n|---|---|---|---|---|\n");
      for (JsonNode e : p.get("transformers"))
        md.append("| ").append(tokens(e.path("context").asInt())).append(" | ").append(e.path("batch").asInt()).append(" | ")
            .append(e.has("error") ? e.get("error").asText() + " | | |\n" : String.join(" | ", f("%.1f", e.path("prefill_ms")),
                f("%.2f", e.path("decode_ms_per_token")), gib(e.path("peak_device_bytes"))) + " |\n");
      md.append('\n');
    }
    if (p.path("sdpa").size() > 0) {
      md.append("torch SDPA, one layer (").append("prefill: causal; decode: one query token):\n\n");
      md.append("| kind | backend | context | batch | ms | rate |\n|---|---|---|---|---|---|\n");
      for (JsonNode e : p.get("sdpa"))
        md.append("| ").append(e.path("kind").asText()).append(" | ").append(e.path("backend").asText()).append(" | ")
            .append(tokens(e.path("context").asInt())).append(" | ").append(e.path("batch").asInt()).append(" | ")
            .append(e.has("error") ? e.get("error").asText() + " | |\n"
                : f("%.3f", e.path("ms")) + " | " + (e.has("tflops") ? f("%.0f TFLOP/s", e.get("tflops"))
                    : f("%.2f TB/s", e.path("tbps"))) + " |\n");
      md.append('\n');
    }
    if (p.path("matmul").size() > 0) {
      md.append("torch.matmul (cuBLAS), bf16, M x N x K:\n\n| shape | ms | TFLOP/s | weights TB/s |\n|---|---|---|---|\n");
      for (JsonNode e : p.get("matmul"))
        md.append("| ").append(e.path("shape").asText()).append(" | ").append(f("%.3f", e.path("ms"))).append(" | ")
            .append(f("%.0f", e.path("tflops"))).append(" | ").append(f("%.2f", e.path("weight_tbps"))).append(" |\n");
      md.append('\n');
    }
  }

  private static void kernels(StringBuilder md, JsonNode k) {
    if (!k.isArray() || k.size() == 0) return;
    md.append("\n## Kernels\n\n| name | shape | ms | TFLOP/s or GB/s | ÷ peer |\n|---|---|---|---|---|\n");
    for (JsonNode e : k)
      md.append("| ").append(e.path("name").asText()).append(" | ").append(e.path("shape").asText()).append(" | ")
          .append(f("%.3f", e.path("ms"))).append(" | ").append(f("%.1f", e.path("tflops_or_gbps"))).append(" | ")
          .append(f("%.2f", e.path("peer_ratio"))).append(" |\n");
  }

  /** The transformers cell of the same shape, when the peers ran it. */
  static JsonNode transformers(JsonNode r, int context, int batch) {
    for (JsonNode e : r.path("peers").path("transformers"))
      if (e.path("context").asInt() == context && e.path("batch").asInt() == batch && !e.has("error")) return e;
    return null;
  }

  static String tokens(int n) {
    return n % 1024 == 0 ? n / 1024 + "K" : String.valueOf(n);
  }

  private static String f(String format, JsonNode v) {
    return v.isNumber() ? String.format(Locale.ROOT, format, v.asDouble()) : "—";
  }

  private static String ratio(JsonNode a, JsonNode b) {
    return a.isNumber() && b.isNumber() && b.asDouble() > 0 ? String.format(Locale.ROOT, "%.2f×", a.asDouble() / b.asDouble()) : "—";
  }

  private static String gib(JsonNode v) {
    if (!v.isNumber()) return "—";
    double b = v.asDouble();
    return b >= GIB ? String.format(Locale.ROOT, "%.2f GiB", b / GIB) : String.format(Locale.ROOT, "%.1f MiB", b / (1 << 20));
  }
}
