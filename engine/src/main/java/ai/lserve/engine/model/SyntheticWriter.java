package ai.lserve.engine.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes a synthetic model as a Hugging Face checkpoint: config.json, bf16 safetensors shards of at
 * most {@code shardBytes} (HF's 5 GB by default) named model-0000i-of-0000n.safetensors, and
 * model.safetensors.index.json. Values are generated chunk by chunk straight into the files, so the
 * heap never holds a tensor. Reading the result back gives exactly the synthetic model's weights.
 */
public final class SyntheticWriter {
  public static final long DEFAULT_SHARD_BYTES = 5_000_000_000L;
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int CHUNK_ELEMENTS = 8 << 20;

  private SyntheticWriter() {}

  /** Writes into {@code dir} (created; must not already hold a config.json) and returns the shard files. */
  public static List<Path> write(SyntheticModel model, Path dir, long shardBytes) {
    try {
      Files.createDirectories(dir);
      if (Files.exists(dir.resolve("config.json")))
        throw new IllegalArgumentException(dir + " already holds a model (config.json); choose an empty directory");
      Files.writeString(dir.resolve("config.json"), model.shape().configJson());
      List<List<RandomTensor>> shards = shard(model.tensors(), shardBytes);
      ObjectNode index = JSON.createObjectNode();
      long total = 0;
      ObjectNode map = JSON.createObjectNode();
      List<Path> files = new ArrayList<>();
      for (int i = 0; i < shards.size(); i++) {
        String name = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
        files.add(dir.resolve(name));
        for (RandomTensor t : shards.get(i)) {
          map.put(t.name(), name);
          total += 2 * t.numel();
        }
        writeShard(shards.get(i), dir.resolve(name));
      }
      index.putObject("metadata").put("total_size", total);
      index.set("weight_map", map);
      Files.writeString(dir.resolve("model.safetensors.index.json"), index.toPrettyString());
      return files;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the synthetic checkpoint to " + dir + ": " + e.getMessage(), e);
    }
  }

  /** Consecutive tensors, a new shard when the next would pass the limit (a larger tensor gets one alone). */
  private static List<List<RandomTensor>> shard(List<RandomTensor> tensors, long shardBytes) {
    List<List<RandomTensor>> shards = new ArrayList<>();
    List<RandomTensor> current = new ArrayList<>();
    long size = 0;
    for (RandomTensor t : tensors) {
      long bytes = 2 * t.numel();
      if (!current.isEmpty() && size + bytes > shardBytes) {
        shards.add(current);
        current = new ArrayList<>();
        size = 0;
      }
      current.add(t);
      size += bytes;
    }
    if (!current.isEmpty()) shards.add(current);
    return shards;
  }

  private static void writeShard(List<RandomTensor> tensors, Path file) throws IOException {
    ObjectNode header = JSON.createObjectNode();
    header.putObject("__metadata__").put("format", "pt");
    long offset = 0;
    for (RandomTensor t : tensors) {
      ObjectNode e = header.putObject(t.name());
      e.put("dtype", "BF16");
      var shape = e.putArray("shape");
      for (long d : t.shape()) shape.add(d);
      e.putArray("data_offsets").add(offset).add(offset + 2 * t.numel());
      offset += 2 * t.numel();
    }
    byte[] json = JSON.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
    int padded = (json.length + 7) & -8; // the data section starts 8-byte aligned, padded with spaces
    ByteBuffer buf = ByteBuffer.allocateDirect(2 * CHUNK_ELEMENTS).order(ByteOrder.LITTLE_ENDIAN);
    try (FileChannel out = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      buf.putLong(padded).put(json);
      for (int i = json.length; i < padded; i++) buf.put((byte) ' ');
      writeAll(out, buf.flip());
      for (RandomTensor t : tensors) {
        for (long first = 0; first < t.numel(); first += CHUNK_ELEMENTS) {
          buf.clear();
          t.fill(first, (int) Math.min(CHUNK_ELEMENTS, t.numel() - first), buf);
          writeAll(out, buf.flip());
        }
      }
    }
  }

  private static void writeAll(FileChannel out, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) out.write(b);
  }
}
