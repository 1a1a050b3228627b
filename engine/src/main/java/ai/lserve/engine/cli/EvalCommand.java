package ai.lserve.engine.cli;

import ai.lserve.engine.bench.Counts;
import ai.lserve.engine.eval.Evaluator;
import ai.lserve.engine.eval.HeatMap;
import ai.lserve.engine.eval.Tasks;
import ai.lserve.engine.runtime.Engine;
import ai.lserve.engine.sparse.SparseConfig;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicInteger;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code lserve eval niah|ruler}: long-context retrieval accuracy of a model under the engine's
 * settings (dense or LServe), on cases drawn from a seed in the formats of the bundled model's
 * training tasks ({@link Tasks}). Greedy decoding, exact match.
 */
@Command(name = "eval", description = "Long-context accuracy: needle-in-a-haystack (niah) and RULER-style tasks (ruler).",
    subcommands = {EvalCommand.Niah.class, EvalCommand.Ruler.class})
final class EvalCommand implements Callable<Integer> {
  @Override
  public Integer call() {
    throw new IllegalArgumentException("eval needs a subcommand: niah or ruler");
  }

  /** Options both evaluations share. */
  abstract static class Common implements Callable<Integer> {
    @Mixin EngineArgs engine;

    @Option(names = "--lengths", defaultValue = "2k,4k,8k,16k",
        description = "context lengths in tokens (k = 1024): prompt plus answer (default: ${DEFAULT-VALUE})")
    String lengths;

    @Option(names = "--seed", defaultValue = "0", description = "draws the cases; another seed gives new ones (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--out-dir", defaultValue = ".", description = "where the heat map PNG and the JSON go (default: current directory)")
    Path outDir;

    @Option(names = "--name", description = "file name stem of the PNG and JSON (default: the command's name)")
    String name;

    @Option(names = "--concurrency", defaultValue = "16", description = "requests in flight at once (default: ${DEFAULT-VALUE})")
    int concurrency;

    abstract String kind();

    abstract List<Tasks.Case> cases(List<Integer> lengths, List<String> cells);

    /** Writes the heat map and fills the command-specific parts of the JSON. */
    abstract void report(List<Evaluator.Outcome> outcomes, List<Integer> lengths, ObjectNode o, Path png) throws IOException;

    @Override
    public Integer call() throws Exception {
      List<Integer> ls = parseLengths(lengths);
      List<String> cells = new ArrayList<>();
      List<Tasks.Case> cases = cases(ls, cells);
      String stem = name != null ? name : kind();
      Path png = outDir.resolve(stem + ".png"), json = outDir.resolve(stem + ".json");
      long t0 = System.nanoTime();
      List<Evaluator.Outcome> outcomes;
      String mode, device;
      try (Engine e = engine.open()) {
        mode = e.mode().name().toLowerCase(Locale.ROOT);
        device = e.device();
        System.err.printf(Locale.ROOT, "eval %s: %d cases on %s, mode %s%n", kind(), cases.size(), device, mode);
        AtomicInteger done = new AtomicInteger();
        outcomes = Evaluator.run(e, cases, cells, concurrency, out -> {
          int n = done.incrementAndGet();
          if (n % 10 == 0 || n == cases.size())
            System.err.printf(Locale.ROOT, "  %d/%d done (%.0f s)%n", n, cases.size(), (System.nanoTime() - t0) / 1e9);
        });
      }
      double seconds = (System.nanoTime() - t0) / 1e9;
      for (Evaluator.Outcome out : outcomes)
        if (!out.correct() && out.output().startsWith("error: "))
          System.err.println("  " + out.cell() + ": " + out.output());
      ObjectNode o = Json.object();
      o.put("eval", kind());
      o.put("model", engine.model.toString());
      o.put("device", device);
      o.put("mode", mode);
      o.set("settings", settings(mode));
      o.put("seed", seed);
      o.put("accuracy", round(Evaluator.accuracy(outcomes)));
      o.put("cases", outcomes.size());
      o.put("correct", outcomes.stream().filter(Evaluator.Outcome::correct).count());
      try {
        report(outcomes, ls, o, png);
        o.put("heatmap", png.toString());
      } catch (LinkageError e) { // a Java runtime without java.desktop (the GPU host's) cannot draw
        System.err.println("eval: no heat map: this Java runtime cannot draw (" + e + ")");
        o.putNull("heatmap");
      }
      o.put("seconds", Math.round(seconds * 10) / 10.0);
      ArrayNode examples = o.putArray("wrong_examples");
      for (Evaluator.Outcome out : outcomes) {
        if (out.correct() || examples.size() >= 5) continue;
        ObjectNode x = examples.addObject();
        x.put("cell", out.cell());
        x.put("expected", out.kase().answer());
        x.put("output", out.output().strip());
      }
      Files.createDirectories(outDir);
      Files.writeString(json, Json.line(o) + "\n");
      System.out.printf(Locale.ROOT, "%s: accuracy %.1f%% (%d cases, mode %s, %.0f s); heat map %s%n", kind(),
          100 * Evaluator.accuracy(outcomes), outcomes.size(), mode, seconds, o.path("heatmap").asText("none"));
      System.out.println(Json.line(o));
      return 0;
    }

    ObjectNode settings(String mode) {
      SparseConfig s = engine.sparse();
      ObjectNode n = Json.object();
      if (mode.equals("lserve")) {
        n.put("streaming_fraction", s.streamingFraction());
        n.put("sink", s.sink());
        n.put("local", s.local());
        n.put("prefill_local", s.prefillLocal());
        n.put("budget", s.budget());
        n.put("reuse_interval", s.reuseInterval());
        n.put("selection", s.selection().name().toLowerCase(Locale.ROOT).replace('_', '-'));
        if (s.pattern() != null) n.put("pattern", s.pattern().toString());
      }
      if (s.kvBits() != null) n.put("kv_bits", s.kvBits());
      else n.put("kv_bits", mode.equals("lserve") ? "8 (default)" : "full (default)");
      return n;
    }
  }

  @Command(name = "niah", description = "Needle in a haystack: one pass key at each depth of each length; accuracy per (length, depth).")
  static final class Niah extends Common {
    @Option(names = "--depths", defaultValue = "0,10,...,100", description = "needle depths in percent (default: ${DEFAULT-VALUE})")
    String depths;

    @Option(names = "--samples", defaultValue = "4", description = "cases per (length, depth) cell (default: ${DEFAULT-VALUE})")
    int samples;

    List<Integer> ds;

    @Override
    String kind() {
      return "niah";
    }

    @Override
    List<Tasks.Case> cases(List<Integer> lengths, List<String> cells) {
      ds = parseList(depths, "--depths");
      for (int d : ds) if (d < 0 || d > 100) throw new IllegalArgumentException("--depths: " + d + " is not in 0-100");
      if (samples < 1) throw new IllegalArgumentException("--samples must be >= 1");
      List<Tasks.Case> out = new ArrayList<>();
      for (int len : lengths)
        for (int d : ds)
          for (int i = 0; i < samples; i++) {
            out.add(Tasks.build(Tasks.rngFor(seed, "niah", len, d, i), "passkey", promptChars("passkey", len), d / 100.0));
            cells.add(len + "@" + d);
          }
      return out;
    }

    @Override
    void report(List<Evaluator.Outcome> outcomes, List<Integer> lengths, ObjectNode o, Path png) throws IOException {
      Map<String, double[]> by = Evaluator.byCell(outcomes);
      Map<String, String> marks = Evaluator.marks(outcomes);
      o.set("lengths", Json.MAPPER.valueToTree(lengths));
      o.set("depths", Json.MAPPER.valueToTree(ds));
      o.put("samples", samples);
      ArrayNode cs = o.putArray("cells");
      double[][] grid = new double[ds.size()][lengths.size()];
      ObjectNode byLength = o.putObject("by_length");
      System.out.printf("%-8s", "depth%");
      for (int len : lengths) System.out.printf("%8s", label(len));
      System.out.println();
      for (int y = 0; y < ds.size(); y++) {
        System.out.printf("%-8d", ds.get(y));
        for (int x = 0; x < lengths.size(); x++) {
          double[] a = by.get(lengths.get(x) + "@" + ds.get(y));
          grid[y][x] = a[0] / a[1];
          System.out.printf(Locale.ROOT, "%7.0f%%", 100 * grid[y][x]);
          ObjectNode c = cs.addObject();
          c.put("length", lengths.get(x));
          c.put("depth", ds.get(y));
          c.put("accuracy", round(grid[y][x]));
          c.put("correct", (int) a[0]);
          c.put("total", (int) a[1]);
          c.put("prompt_tokens", Math.round(a[2] / a[1]));
          c.put("samples", marks.get(lengths.get(x) + "@" + ds.get(y)));
        }
        System.out.println();
      }
      for (int x = 0; x < lengths.size(); x++) {
        double sum = 0;
        for (int y = 0; y < ds.size(); y++) sum += grid[y][x];
        byLength.put(Integer.toString(lengths.get(x)), round(sum / ds.size()));
      }
      List<String> xl = lengths.stream().map(EvalCommand::label).toList();
      List<String> yl = ds.stream().map(d -> d + "%").toList();
      HeatMap.write(png, String.format(Locale.ROOT, "NIAH passkey, %s (%s): %.1f%%", o.get("mode").asText(),
          modelName(o), 100 * o.get("accuracy").asDouble()), "context length (tokens)", xl, "needle depth", yl, grid);
    }
  }

  @Command(name = "ruler", description = "RULER-style tasks (passkey, multikey, kv, vartrack) at each length; accuracy per (task, length).")
  static final class Ruler extends Common {
    @Option(names = "--tasks", defaultValue = "passkey,multikey,kv,vartrack", description = "tasks (default: ${DEFAULT-VALUE})")
    String tasks;

    @Option(names = "--samples", defaultValue = "8", description = "cases per (task, length) cell (default: ${DEFAULT-VALUE})")
    int samples;

    List<String> ts;

    @Override
    String kind() {
      return "ruler";
    }

    @Override
    List<Tasks.Case> cases(List<Integer> lengths, List<String> cells) {
      ts = new ArrayList<>();
      for (String t : tasks.split(",")) if (!t.isBlank()) ts.add(t.strip());
      if (ts.isEmpty()) throw new IllegalArgumentException("--tasks is empty");
      if (samples < 1) throw new IllegalArgumentException("--samples must be >= 1");
      List<Tasks.Case> out = new ArrayList<>();
      for (String t : ts)
        for (int len : lengths)
          for (int i = 0; i < samples; i++) {
            out.add(Tasks.build(Tasks.rngFor(seed, t, len, Double.NaN, i), t, promptChars(t, len), Double.NaN));
            cells.add(t + "@" + len);
          }
      return out;
    }

    @Override
    void report(List<Evaluator.Outcome> outcomes, List<Integer> lengths, ObjectNode o, Path png) throws IOException {
      Map<String, double[]> by = Evaluator.byCell(outcomes);
      Map<String, String> marks = Evaluator.marks(outcomes);
      o.set("tasks", Json.MAPPER.valueToTree(ts));
      o.set("lengths", Json.MAPPER.valueToTree(lengths));
      o.put("samples", samples);
      ArrayNode cs = o.putArray("cells");
      double[][] grid = new double[ts.size()][lengths.size()];
      System.out.printf("%-10s", "task");
      for (int len : lengths) System.out.printf("%8s", label(len));
      System.out.println();
      Map<String, Double> byTask = new LinkedHashMap<>();
      for (int y = 0; y < ts.size(); y++) {
        System.out.printf("%-10s", ts.get(y));
        double sum = 0;
        for (int x = 0; x < lengths.size(); x++) {
          double[] a = by.get(ts.get(y) + "@" + lengths.get(x));
          grid[y][x] = a[0] / a[1];
          sum += grid[y][x];
          System.out.printf(Locale.ROOT, "%7.0f%%", 100 * grid[y][x]);
          ObjectNode c = cs.addObject();
          c.put("task", ts.get(y));
          c.put("length", lengths.get(x));
          c.put("accuracy", round(grid[y][x]));
          c.put("correct", (int) a[0]);
          c.put("total", (int) a[1]);
          c.put("prompt_tokens", Math.round(a[2] / a[1]));
          c.put("samples", marks.get(ts.get(y) + "@" + lengths.get(x)));
        }
        byTask.put(ts.get(y), round(sum / lengths.size()));
        System.out.println();
      }
      o.set("by_task", Json.MAPPER.valueToTree(byTask));
      ObjectNode byLength = o.putObject("by_length");
      for (int x = 0; x < lengths.size(); x++) {
        double sum = 0;
        for (int y = 0; y < ts.size(); y++) sum += grid[y][x];
        byLength.put(Integer.toString(lengths.get(x)), round(sum / ts.size()));
      }
      List<String> xl = lengths.stream().map(EvalCommand::label).toList();
      HeatMap.write(png, String.format(Locale.ROOT, "RULER-style tasks, %s (%s): %.1f%%", o.get("mode").asText(),
          modelName(o), 100 * o.get("accuracy").asDouble()), "context length (tokens)", xl, "task", ts, grid);
    }
  }

  /**
   * Prompt characters for a context of {@code length} tokens: one token is the BOS, and the
   * answer's tokens must fit too (with the byte-level tokenizer a character is a token).
   */
  static int promptChars(String task, int length) {
    int chars = length - 1 - Evaluator.maxNewTokens(task);
    if (chars < Tasks.minLength(task))
      throw new IllegalArgumentException(String.format(Locale.ROOT, "length %d is too short for task %s (at least %d)",
          length, task, Tasks.minLength(task) + 1 + Evaluator.maxNewTokens(task)));
    return chars;
  }

  /** "2k" = 2048, "16K" = 16384, "1500" = 1500 (the counts of {@link Counts}: positive, no repeats). */
  static List<Integer> parseLengths(String s) {
    return Arrays.stream(Counts.parse("--lengths", s)).boxed().toList();
  }

  /** Comma-separated integers; "a,b,...,z" is the arithmetic progression from a by b - a to z. */
  static List<Integer> parseList(String s, String option) {
    String[] parts = s.split(",");
    List<Integer> out = new ArrayList<>();
    try {
      for (int i = 0; i < parts.length; i++) {
        String p = parts[i].strip();
        if (p.equals("...")) {
          if (out.size() < 2 || i + 1 >= parts.length) throw new IllegalArgumentException(option + ": '...' needs two values before it and one after");
          int a = out.get(out.size() - 2), b = out.get(out.size() - 1), end = Integer.parseInt(parts[i + 1].strip());
          int step = b - a;
          if (step <= 0 || end < b) throw new IllegalArgumentException(option + ": '" + s + "' is not an increasing progression");
          for (int v = b + step; v < end; v += step) out.add(v);
        } else if (!p.isEmpty()) {
          out.add(Integer.parseInt(p));
        }
      }
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(option + ": '" + s + "' is not a list of integers");
    }
    if (out.isEmpty()) throw new IllegalArgumentException(option + " is empty");
    return out;
  }

  static String label(int length) {
    return length % 1024 == 0 ? (length / 1024) + "K" : Integer.toString(length);
  }

  static double round(double v) {
    return Math.round(v * 10000) / 10000.0;
  }

  static String modelName(ObjectNode o) {
    Path p = Path.of(o.get("model").asText()).getFileName();
    return p != null ? p.toString() : o.get("model").asText();
  }
}
