package ai.lserve.engine.sparse;

import ai.lserve.engine.model.CheckpointException;
import ai.lserve.engine.model.LlamaConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;
import java.util.stream.IntStream;

/**
 * Which KV head of each layer is a retrieval head (full attention over the paged cache) and which a
 * streaming head (sink + local window), as DuoAttention's gates decide (spec §1.2). Immutable.
 */
public final class HeadPattern {
  private static final Pattern WHITESPACE = Pattern.compile("\\s+");
  private static final Pattern NUMBER =
      Pattern.compile("[-+]?(\\d+(\\.\\d*)?|\\.\\d+)([eE][-+]?\\d+)?");

  private final int layers;
  private final int kvHeads;
  /** Layer-major: head h of layer l is at l·kvHeads + h. */
  private final boolean[] retrieval;

  private HeadPattern(int layers, int kvHeads, boolean[] retrieval) {
    this.layers = layers;
    this.kvHeads = kvHeads;
    this.retrieval = retrieval;
  }

  public static HeadPattern allRetrieval(int layers, int kvHeads) {
    if (layers < 1 || kvHeads < 1) {
      throw new IllegalArgumentException(
          "need at least one layer and one KV head, got " + layers + " x " + kvHeads);
    }
    boolean[] all = new boolean[layers * kvHeads];
    Arrays.fill(all, true);
    return new HeadPattern(layers, kvHeads, all);
  }

  /**
   * Makes exactly round(streamingFraction·layers·kvHeads) heads streaming: those with the lowest
   * gates (clipped to [0, 1]) over all layers and heads jointly, LServe's global quantile. LServe
   * breaks ties with unseeded noise, so its choice changes from run to run when many gates are tied
   * (often at 1.0). Here, among equal gates the head with the lower flat index layer·kvHeads + head
   * becomes streaming first: that is the order a stable ascending sort of the row-major gates gives
   * (numpy's {@code argsort(kind="stable")}), so a script can reproduce it; the noise expresses no
   * preference among tied heads that a fixed order would lose.
   */
  public static HeadPattern fromGates(double[][] gates, double streamingFraction) {
    if (!(streamingFraction >= 0 && streamingFraction <= 1)) {
      throw new IllegalArgumentException(
          "streaming fraction must be in [0, 1], got " + streamingFraction);
    }
    double[] clipped = flatten(gates);
    int layers = gates.length;
    int kvHeads = gates[0].length;
    for (int i = 0; i < clipped.length; i++) {
      clipped[i] = Math.min(1, Math.max(0, clipped[i]));
    }
    int streaming = (int) Math.round(streamingFraction * clipped.length);
    boolean[] retrieval = new boolean[clipped.length];
    Arrays.fill(retrieval, true);
    IntStream.range(0, clipped.length)
        .boxed()
        .sorted(Comparator.<Integer>comparingDouble(i -> clipped[i]).thenComparingInt(i -> i))
        .limit(streaming)
        .forEach(i -> retrieval[i] = false);
    return new HeadPattern(layers, kvHeads, retrieval);
  }

  /**
   * Reads DuoAttention's {@code full_attention_heads.tsv}: one line per layer, one gate per KV head,
   * separated by tabs (or any whitespace); trailing blank lines are ignored.
   */
  public static double[][] readGates(Path tsv, LlamaConfig config) {
    List<String> lines;
    try {
      lines = Files.readAllLines(tsv);
    } catch (IOException e) {
      throw new CheckpointException(tsv, "cannot read: " + e, e);
    }
    int rows = lines.size();
    while (rows > 0 && lines.get(rows - 1).isBlank()) {
      rows--;
    }
    int layers = config.numLayers();
    int heads = config.numKvHeads();
    if (rows == 0) {
      throw new CheckpointException(
          tsv, "empty, expected " + layers + " rows (layers) of " + heads + " gates (KV heads)");
    }
    if (rows != layers) { // checked first: a pattern made for another model fails here
      throw new CheckpointException(
          tsv, (rows == 1 ? "1 row" : rows + " rows") + ", the model has " + layers + " layers");
    }
    double[][] gates = new double[rows][heads];
    for (int r = 0; r < rows; r++) {
      String line = lines.get(r).strip();
      if (line.isEmpty()) {
        throw new CheckpointException(tsv, "line " + (r + 1) + " is blank");
      }
      String[] values = WHITESPACE.split(line);
      if (values.length != heads) {
        throw new CheckpointException(
            tsv,
            String.format(
                "line %d has %d values, the model has %d KV heads", r + 1, values.length, heads));
      }
      for (int h = 0; h < heads; h++) {
        gates[r][h] = parseGate(tsv, r + 1, h + 1, values[h]);
      }
    }
    return gates;
  }

  public static HeadPattern load(Path tsv, LlamaConfig config, double streamingFraction) {
    return fromGates(readGates(tsv, config), streamingFraction);
  }

  /** Writes gates as readGates reads them, in full precision, so that reading gives them back. */
  public static void writeGates(Path tsv, double[][] gates) {
    flatten(gates); // validates
    StringBuilder out = new StringBuilder();
    for (double[] row : gates) {
      for (int h = 0; h < row.length; h++) {
        out.append(h == 0 ? "" : "\t").append(row[h]);
      }
      out.append('\n');
    }
    try {
      Files.writeString(tsv, out);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + tsv, e);
    }
  }

  public boolean retrieval(int layer, int kvHead) {
    Objects.checkIndex(layer, layers);
    Objects.checkIndex(kvHead, kvHeads);
    return retrieval[layer * kvHeads + kvHead];
  }

  public int layers() {
    return layers;
  }

  public int kvHeads() {
    return kvHeads;
  }

  /** The retrieval KV heads of a layer, ascending. */
  public int[] retrievalHeads(int layer) {
    return heads(layer, true);
  }

  /** The streaming KV heads of a layer, ascending. */
  public int[] streamingHeads(int layer) {
    return heads(layer, false);
  }

  /** Streaming heads over all layers. */
  public int streamingCount() {
    int n = 0;
    for (boolean r : retrieval) {
      n += r ? 0 : 1;
    }
    return n;
  }

  /** Totals and the retrieval heads per layer, the number that varies under a global quantile. */
  public String describe() {
    int[] perLayer = IntStream.range(0, layers).map(l -> retrievalHeads(l).length).toArray();
    int streaming = streamingCount();
    return String.format(
        "%d layers x %d KV heads: %d retrieval, %d streaming; retrieval heads per layer %s",
        layers, kvHeads, retrieval.length - streaming, streaming, Arrays.toString(perLayer));
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof HeadPattern p
        && p.layers == layers
        && p.kvHeads == kvHeads
        && Arrays.equals(p.retrieval, retrieval);
  }

  @Override
  public int hashCode() {
    return 31 * (31 * layers + kvHeads) + Arrays.hashCode(retrieval);
  }

  @Override
  public String toString() {
    return describe();
  }

  private int[] heads(int layer, boolean wanted) {
    Objects.checkIndex(layer, layers);
    return IntStream.range(0, kvHeads)
        .filter(h -> retrieval[layer * kvHeads + h] == wanted)
        .toArray();
  }

  /** The gates, layer-major, after checking they form a non-empty matrix of finite values. */
  private static double[] flatten(double[][] gates) {
    if (gates.length == 0 || gates[0].length == 0) {
      throw new IllegalArgumentException("gates need at least one layer and one KV head");
    }
    int heads = gates[0].length;
    double[] flat = new double[gates.length * heads];
    for (int l = 0; l < gates.length; l++) {
      if (gates[l].length != heads) {
        throw new IllegalArgumentException(
            "layer " + l + " has " + gates[l].length + " gates, layer 0 has " + heads);
      }
      for (int h = 0; h < heads; h++) {
        if (!Double.isFinite(gates[l][h])) {
          throw new IllegalArgumentException(
              "gate of layer " + l + ", KV head " + h + " is " + gates[l][h]);
        }
        flat[l * heads + h] = gates[l][h];
      }
    }
    return flat;
  }

  private static double parseGate(Path tsv, int line, int column, String value) {
    if (!NUMBER.matcher(value).matches()) {
      String problem =
          value.equalsIgnoreCase("nan") ? "gate is NaN" : "'" + value + "' is not a number";
      throw new CheckpointException(
          tsv, String.format("line %d, column %d: %s", line, column, problem));
    }
    double g = Double.parseDouble(value);
    if (Double.isInfinite(g)) {
      throw new CheckpointException(
          tsv, String.format("line %d, column %d: '%s' is out of range", line, column, value));
    }
    return g;
  }
}
