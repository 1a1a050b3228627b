package ai.lserve.engine.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The machine-readable record of a bench run (what {@code docs/bench/h100-DATE.json} holds):
 * {@code {"device", "date", "command", "model", "settings", "floors", "results": [...], "peers":
 * {...}, "kernels": [...]}}, written as {@code bench.json} beside {@code bench.md} and the plots.
 */
public final class BenchReport {
  public static final String JSON = "bench.json", MARKDOWN = "bench.md";
  static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private final ObjectNode root;

  public BenchReport(String device, String date, String command, String model) {
    root = MAPPER.createObjectNode();
    root.put("device", device);
    root.put("date", date);
    root.put("command", command);
    root.put("model", model);
    ObjectNode floors = root.putObject("floors");
    floors.put("copy_tbps", Floors.COPY_TBPS);
    floors.put("gemm_tflops", Floors.GEMM_TFLOPS);
    root.putObject("settings");
    root.putArray("results");
  }

  private BenchReport(ObjectNode root) {
    this.root = root;
  }

  /** A report written before, to merge peers into or render again. */
  public static BenchReport read(Path file) {
    JsonNode n = readJson(file, "--from");
    if (!n.isObject() || !n.path("results").isArray())
      throw new IllegalArgumentException("--from " + file + ": not a bench report (no \"results\" list)");
    return new BenchReport((ObjectNode) n);
  }

  public ObjectNode root() {
    return root;
  }

  public ObjectNode settings() {
    return (ObjectNode) root.get("settings");
  }

  public void add(BenchResult r) {
    ((ArrayNode) root.get("results")).add(r.toJson());
  }

  /** The peer script's JSON (scripts/bench_peers.py), kept whole under "peers". */
  public void mergePeers(Path file) {
    JsonNode n = readJson(file, "--peers");
    if (!n.isObject() || !(n.has("transformers") || n.has("sdpa") || n.has("matmul")))
      throw new IllegalArgumentException("--peers " + file
          + ": expected the JSON of scripts/bench_peers.py (an object with \"transformers\", \"sdpa\" or \"matmul\")");
    root.set("peers", n);
  }

  /** A list of {name, shape, ms, tflops_or_gbps, peer_ratio}, or an object holding one as "kernels". */
  public void mergeKernels(Path file) {
    JsonNode n = readJson(file, "--kernels");
    JsonNode list = n.isObject() ? n.get("kernels") : n;
    if (list == null || !list.isArray())
      throw new IllegalArgumentException("--kernels " + file
          + ": expected a JSON list of {\"name\", \"shape\", \"ms\", \"tflops_or_gbps\", \"peer_ratio\"}");
    root.set("kernels", list);
  }

  /** Writes bench.json and bench.md into {@code dir}. */
  public void write(Path dir) {
    try {
      Files.createDirectories(dir);
      MAPPER.writeValue(dir.resolve(JSON).toFile(), root);
      Files.writeString(dir.resolve(MARKDOWN), BenchMarkdown.render(root));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the bench report to " + dir + ": " + e.getMessage(), e);
    }
  }

  /**
   * Writes the PNG plots into {@code dir}; returns null, or why there are none (a Java runtime
   * without the java.desktop module, as the GPU host's minimal one: render them elsewhere with
   * {@code lserve bench-report}).
   */
  public String writePlots(Path dir) {
    try {
      BenchPlots.write(root, dir);
      return null;
    } catch (LinkageError e) {
      return "this Java runtime cannot draw (" + e + ")";
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the plots to " + dir + ": " + e.getMessage(), e);
    }
  }

  private static JsonNode readJson(Path file, String option) {
    if (!Files.isRegularFile(file)) throw new IllegalArgumentException(option + " " + file + ": no such file");
    try {
      return MAPPER.readTree(file.toFile());
    } catch (IOException e) {
      throw new IllegalArgumentException(option + " " + file + ": not valid JSON: " + e.getMessage(), e);
    }
  }
}
