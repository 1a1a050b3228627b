package ai.lserve.engine.cli;

import ai.lserve.engine.model.LlamaConfig;
import ai.lserve.engine.model.Tokenizer;
import ai.lserve.engine.runtime.EngineOptions;
import ai.lserve.engine.sparse.AblationCalibrator;
import ai.lserve.engine.sparse.Calibrator;
import ai.lserve.engine.sparse.HeadPattern;
import ai.lserve.engine.sparse.SparseConfig;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code lserve calibrate}: which KV heads can be streaming heads. {@code ablation} (default)
 * measures what the answers need: the answer log-likelihood of prompt + answer cases with heads
 * made streaming greedily ({@link AblationCalibrator}). {@code attention} is the DuoAttention-style
 * proxy: attention mass outside the streaming window over every position of calibration text
 * ({@link Calibrator}); it can pick heads the answers need (docs/ACCURACY.md).
 */
@Command(name = "calibrate", description = "Measure which KV heads can be streaming heads; writes a full_attention_heads.tsv.")
final class CalibrateCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, description = "Hugging Face Llama checkpoint directory")
  Path model;

  @Option(names = "--method", defaultValue = "ablation",
      description = "ablation: greedy ablation on the answer log-likelihood of prompt + answer cases;"
          + " attention: DuoAttention-style proxy, attention mass outside the window over calibration text (default: ${DEFAULT-VALUE})")
  String method;

  @Option(names = "--data", description = "ablation: JSONL, one {\"prompt\": ..., \"answer\": ...} a line;"
      + " attention: calibration text, or token ids separated by commas or spaces (tokenized with the model's tokenizer)")
  Path data;

  @Option(names = "--out", required = true, description = "the pattern TSV to write")
  Path out;

  @Option(names = "--streaming-fraction", defaultValue = "0.5", description = "share of KV heads to make streaming (default: ${DEFAULT-VALUE})")
  double streamingFraction;

  @Option(names = "--tasks", description = "ablation: draw cases from the eval's generator for these tasks (passkey, multikey, kv, vartrack)")
  String tasks;

  @Option(names = "--lengths", description = "ablation with --tasks: context lengths (k = 1024) as in 'lserve eval' (default 2k)")
  String lengths;

  @Option(names = "--seed", description = "ablation with --tasks: draws the cases (default 7; use another seed than the evals that report accuracy)")
  Long seed;

  @Option(names = "--samples", description = "attention: sequences at most (default 8); ablation with --tasks: cases per (task, length) (default 4)")
  Integer samples;

  @Option(names = "--length", description = "attention: tokens per calibration sequence (default 2048)")
  Integer length;

  @Option(names = "--sink", defaultValue = "128", description = "sink tokens of the streaming mask (default: ${DEFAULT-VALUE})")
  int sink;

  @Option(names = "--local", defaultValue = "256", description = "recent tokens of the streaming mask in decode (default: ${DEFAULT-VALUE})")
  int local;

  @Option(names = "--kv-bits", description = "ablation: KV cache precision of every run, the reference's too (default:"
      + " full, 32 on the CPU and 16 on a GPU, so that the losses measure the streaming mask alone)")
  Integer kvBits;

  @Option(names = "--device", defaultValue = "cpu", description = "ablation: cpu, cuda, cuda:N or auto; attention runs on the CPU (default: ${DEFAULT-VALUE})")
  String device;

  @Option(names = "--threads", description = "CPU threads (default: all cores)")
  Integer threads;

  @Override
  public Integer call() throws IOException {
    if (!(streamingFraction >= 0 && streamingFraction <= 1))
      throw new IllegalArgumentException("--streaming-fraction must be in [0, 1], got " + streamingFraction);
    return switch (method.strip().toLowerCase(Locale.ROOT)) {
      case "ablation" -> ablation();
      case "attention" -> attention();
      default -> throw new IllegalArgumentException("--method must be ablation or attention, got '" + method + "'");
    };
  }

  private int ablation() throws IOException {
    if (length != null) throw new IllegalArgumentException("--length applies to --method attention; ablation cases come from --data or --tasks/--lengths");
    if ((data == null) == (tasks == null)) throw new IllegalArgumentException("--method ablation needs exactly one of --data FILE (JSONL) or --tasks");
    if (data != null && (lengths != null || seed != null || samples != null))
      throw new IllegalArgumentException("--lengths, --seed and --samples apply to --tasks; --data uses every row of the file");
    int t = threads != null ? threads : Runtime.getRuntime().availableProcessors();
    // Full precision by default: the int8 cache's error is the same with and without a streaming
    // head and is measured by the evals; on the CPU float32 pages are also several times faster.
    int bits = kvBits != null ? kvBits : device.strip().equalsIgnoreCase("cpu") ? 32 : 16;
    SparseConfig sparse = SparseConfig.defaults().withSink(sink).withLocal(local).withKvBits(bits);
    EngineOptions options = EngineOptions.defaults().withDevice(device).withThreads(t).withSparse(sparse);
    Path tokenizerJson = model.resolve("tokenizer.json");
    if (!Files.isRegularFile(tokenizerJson)) throw new IllegalArgumentException("--method ablation needs the model's tokenizer.json (" + tokenizerJson + ")");
    List<AblationCalibrator.Case> cases;
    long s = seed != null ? seed : 7;
    int n = samples != null ? samples : 4;
    List<String> ts = new ArrayList<>();
    List<Integer> ls = List.of();
    try (Tokenizer tokenizer = Tokenizer.load(tokenizerJson)) {
      if (data != null) {
        cases = CalibrationCases.jsonl(data, tokenizer);
      } else {
        for (String x : tasks.split(",")) if (!x.isBlank()) ts.add(x.strip());
        if (ts.isEmpty()) throw new IllegalArgumentException("--tasks is empty");
        if (n < 1) throw new IllegalArgumentException("--samples must be >= 1");
        ls = EvalCommand.parseLengths(lengths != null ? lengths : "2k");
        cases = CalibrationCases.tasks(ts, ls, n, s, tokenizer);
      }
    }
    LlamaConfig c = LlamaConfig.load(model.resolve("config.json"));
    int total = c.numLayers() * c.numKvHeads();
    int streaming = (int) Math.round(streamingFraction * total);
    long t0 = System.nanoTime();
    AblationCalibrator.Result r = AblationCalibrator.run(model, cases, options, streaming,
        line -> System.out.printf(Locale.ROOT, "%s (%.0f s)%n", line, (System.nanoTime() - t0) / 1e9));
    double seconds = (System.nanoTime() - t0) / 1e9;
    HeadPattern.writeGates(out, r.gates());
    HeadPattern pattern = HeadPattern.fromGates(r.gates(), streamingFraction);
    System.out.println(pattern.describe());
    ObjectNode o = Json.object();
    o.put("method", "ablation");
    o.put("pattern", out.toString());
    if (data != null) o.put("data", data.toString());
    else {
      o.set("tasks", Json.MAPPER.valueToTree(ts));
      o.set("lengths", Json.MAPPER.valueToTree(ls));
      o.put("samples", n);
      o.put("seed", s);
    }
    o.put("cases", cases.size());
    o.put("device", device);
    o.put("sink", sink);
    o.put("local", local);
    o.put("kv_bits", sparse.kvBits());
    o.put("streaming_fraction", streamingFraction);
    o.put("streaming_heads", pattern.streamingCount());
    o.set("reference", score(r.reference()));
    ArrayNode steps = o.putArray("steps");
    for (AblationCalibrator.Step st : r.steps()) {
      ObjectNode x = steps.addObject();
      x.put("streaming", st.layer() + ":" + st.kvHead());
      x.setAll(score(st.score()));
      ObjectNode cand = x.putObject("candidates_nll");
      for (AblationCalibrator.Candidate cd : st.candidates()) cand.put(cd.layer() + ":" + cd.kvHead(), round(cd.score().nll()));
    }
    o.set("gates", Json.MAPPER.valueToTree(r.gates()));
    o.put("seconds", Math.round(seconds * 10) / 10.0);
    System.out.println(Json.line(o));
    return 0;
  }

  private static ObjectNode score(AblationCalibrator.Score s) {
    ObjectNode o = Json.object();
    o.put("nll", round(s.nll()));
    o.put("token_accuracy", round(s.tokenAccuracy()));
    return o;
  }

  private static double round(double v) {
    return Math.round(v * 1e6) / 1e6;
  }

  private int attention() throws IOException {
    if (data == null) throw new IllegalArgumentException("--method attention needs --data (calibration text or token ids)");
    for (Object[] x : new Object[][] {{"--tasks", tasks}, {"--lengths", lengths}, {"--seed", seed}, {"--kv-bits", kvBits}})
      if (x[1] != null) throw new IllegalArgumentException(x[0] + " applies to --method ablation");
    if (!device.strip().equalsIgnoreCase("cpu")) throw new IllegalArgumentException("--method attention runs on the CPU only (--device cpu)");
    int length = this.length != null ? this.length : 2048, samples = this.samples != null ? this.samples : 8;
    int[] ids = tokens();
    int n = Math.min(samples, ids.length / length);
    if (n < 1)
      throw new IllegalArgumentException(String.format("--data %s has %d tokens, fewer than one --length %d sequence", data, ids.length, length));
    int[][] sequences = new int[n][];
    for (int i = 0; i < n; i++) sequences[i] = Arrays.copyOfRange(ids, i * length, (i + 1) * length);
    int t = threads != null ? threads : Runtime.getRuntime().availableProcessors();
    double[][] gates = Calibrator.measure(model, sequences, sink, local, t);
    HeadPattern.writeGates(out, gates);
    HeadPattern pattern = HeadPattern.fromGates(gates, streamingFraction);
    System.out.println(pattern.describe());
    ObjectNode o = Json.object();
    o.put("method", "attention");
    o.put("pattern", out.toString());
    o.put("sequences", n);
    o.put("tokens_per_sequence", length);
    o.put("streaming_fraction", streamingFraction);
    o.put("streaming_heads", pattern.streamingCount());
    o.set("gates", Json.MAPPER.valueToTree(gates));
    System.out.println(Json.line(o));
    return 0;
  }

  private int[] tokens() throws IOException {
    String text = Files.readString(data);
    if (text.strip().matches("[0-9,\\s]+")) {
      List<Integer> ids = new ArrayList<>();
      for (String p : text.strip().split("[,\\s]+")) ids.add(Integer.parseInt(p));
      return ids.stream().mapToInt(Integer::intValue).toArray();
    }
    Path tokenizer = model.resolve("tokenizer.json");
    if (!Files.isRegularFile(tokenizer))
      throw new IllegalArgumentException("model " + model + " has no tokenizer.json; give --data as token ids");
    try (Tokenizer t = Tokenizer.load(tokenizer)) {
      return t.encode(text);
    }
  }
}
