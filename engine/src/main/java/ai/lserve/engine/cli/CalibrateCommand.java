package ai.lserve.engine.cli;

import ai.lserve.engine.model.Tokenizer;
import ai.lserve.engine.sparse.Calibrator;
import ai.lserve.engine.sparse.HeadPattern;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "calibrate", description = "Measure which KV heads can be streaming heads; writes a full_attention_heads.tsv.")
final class CalibrateCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, description = "Hugging Face Llama checkpoint directory")
  Path model;

  @Option(names = "--data", required = true, description = "calibration text (tokenized with the model's tokenizer), or token ids separated by commas or spaces")
  Path data;

  @Option(names = "--out", required = true, description = "the pattern TSV to write")
  Path out;

  @Option(names = "--streaming-fraction", defaultValue = "0.5", description = "share of KV heads to report as streaming (default: ${DEFAULT-VALUE})")
  double streamingFraction;

  @Option(names = "--length", defaultValue = "2048", description = "tokens per calibration sequence (default: ${DEFAULT-VALUE})")
  int length;

  @Option(names = "--samples", defaultValue = "8", description = "calibration sequences at most (default: ${DEFAULT-VALUE})")
  int samples;

  @Option(names = "--sink", defaultValue = "128", description = "sink tokens of the mask measured (default: ${DEFAULT-VALUE})")
  int sink;

  @Option(names = "--local", defaultValue = "256", description = "recent tokens of the mask measured (default: ${DEFAULT-VALUE})")
  int local;

  @Option(names = "--threads", description = "CPU threads (default: all cores)")
  Integer threads;

  @Override
  public Integer call() throws IOException {
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
