package ai.lserve.engine.model;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A safetensors file: an 8-byte little-endian header length, a JSON header, then the data section.
 * {@link #open} reads and validates only the header; tensor bytes are touched only when {@link
 * #map} maps one. Mapped tensors stay valid after {@link #close}.
 */
public final class SafeTensorsFile implements AutoCloseable {
  /** The reference reader's cap on the header length. */
  private static final long MAX_HEADER = 100_000_000L;

  private static final ObjectMapper JSON =
      new ObjectMapper().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

  private final Path file;
  private final FileChannel channel;
  private final long dataStart;
  private final Map<String, TensorInfo> tensors;

  private SafeTensorsFile(
      Path file, FileChannel channel, long dataStart, Map<String, TensorInfo> tensors) {
    this.file = file;
    this.channel = channel;
    this.dataStart = dataStart;
    this.tensors = tensors;
  }

  public static SafeTensorsFile open(Path file) {
    FileChannel channel;
    try {
      channel = FileChannel.open(file, StandardOpenOption.READ);
    } catch (IOException | RuntimeException e) {
      throw new CheckpointException(file, "cannot open: " + e, e);
    }
    try {
      long size = channel.size();
      if (size < 8) {
        throw new CheckpointException(
            file,
            String.format(
                "truncated file: %d bytes, a safetensors file starts with an 8-byte header length",
                size));
      }
      long headerLength = readFully(channel, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
      // Unsigned on disk: a negative long is a length beyond any file.
      if (headerLength < 0 || headerLength > size - 8) {
        throw new CheckpointException(
            file,
            String.format(
                "header length %s goes beyond the end of the file (%d bytes)",
                Long.toUnsignedString(headerLength), size));
      }
      if (headerLength > MAX_HEADER) {
        throw new CheckpointException(
            file, "header length " + headerLength + " is over the " + MAX_HEADER + "-byte limit");
      }
      String header = utf8(readFully(channel, 8, (int) headerLength), file);
      long dataStart = 8 + headerLength;
      Map<String, TensorInfo> tensors = parseHeader(header, size - dataStart, file);
      return new SafeTensorsFile(file, channel, dataStart, tensors);
    } catch (IOException e) {
      closeQuietly(channel);
      throw new CheckpointException(file, "cannot read header: " + e, e);
    } catch (RuntimeException e) {
      closeQuietly(channel);
      throw e;
    }
  }

  public Path file() {
    return file;
  }

  /** All tensors, ordered by their position in the data section. */
  public Map<String, TensorInfo> tensors() {
    return tensors;
  }

  /** Maps one tensor's own byte range read-only. */
  public WeightTensor map(String name) {
    TensorInfo info = tensors.get(name);
    if (info == null) {
      throw new CheckpointException(file, "no tensor named " + name);
    }
    try {
      return new WeightTensor(
          info,
          channel.map(
              FileChannel.MapMode.READ_ONLY, dataStart + info.begin(), info.end() - info.begin()));
    } catch (IOException e) {
      throw new CheckpointException(file, "cannot map tensor " + name + ": " + e, e);
    }
  }

  @Override
  public void close() {
    try {
      channel.close();
    } catch (IOException e) {
      throw new CheckpointException(file, "cannot close: " + e, e);
    }
  }

  private static Map<String, TensorInfo> parseHeader(String header, long dataSize, Path file) {
    JsonNode root;
    try {
      root = JSON.readTree(header);
    } catch (JsonProcessingException e) {
      throw new CheckpointException(file, "bad JSON in header: " + e.getOriginalMessage(), e);
    }
    if (!root.isObject()) {
      throw new CheckpointException(file, "bad JSON in header: expected an object");
    }
    List<TensorInfo> list = new ArrayList<>();
    for (Map.Entry<String, JsonNode> e : root.properties()) {
      if (!e.getKey().equals("__metadata__")) {
        list.add(entry(e.getKey(), e.getValue(), dataSize, file));
      }
    }
    list.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
    TensorInfo furthest = null; // the tensor reaching furthest so far
    for (TensorInfo t : list) {
      if (furthest != null && t.begin() < furthest.end() && t.end() > t.begin()) {
        throw new CheckpointException(
            file,
            String.format(
                "tensors %s [%d, %d) and %s [%d, %d) overlap",
                furthest.name(), furthest.begin(), furthest.end(), t.name(), t.begin(), t.end()));
      }
      if (furthest == null || t.end() > furthest.end()) {
        furthest = t;
      }
    }
    Map<String, TensorInfo> byOffset = new LinkedHashMap<>();
    for (TensorInfo t : list) {
      byOffset.put(t.name(), t);
    }
    return Collections.unmodifiableMap(byOffset);
  }

  private static TensorInfo entry(String name, JsonNode node, long dataSize, Path file) {
    if (!node.isObject()) {
      throw new CheckpointException(file, "tensor " + name + ": header entry is not an object");
    }
    JsonNode dtypeNode = node.get("dtype");
    if (dtypeNode == null || !dtypeNode.isTextual()) {
      throw new CheckpointException(file, "tensor " + name + ": missing dtype");
    }
    DType dtype = DType.parse(dtypeNode.asText(), file, name);
    long[] shape = longs(node.get("shape"), -1, "shape", name, file);
    long[] offsets = longs(node.get("data_offsets"), 2, "data_offsets", name, file);
    long begin = offsets[0];
    long end = offsets[1];
    if (begin > end || end > dataSize) {
      throw new CheckpointException(
          file,
          String.format(
              "tensor %s: data_offsets [%d, %d] out of range of the %d-byte data section",
              name, begin, end, dataSize));
    }
    long needed;
    try {
      long numel = 1;
      for (long d : shape) {
        numel = Math.multiplyExact(numel, d);
      }
      needed = Math.multiplyExact(numel, dtype.bytes);
    } catch (ArithmeticException e) {
      throw new CheckpointException(
          file, "tensor " + name + ": shape " + Arrays.toString(shape) + " is too large");
    }
    if (end - begin != needed) {
      throw new CheckpointException(
          file,
          String.format(
              "tensor %s: %d bytes for shape %s of %s needs %d",
              name, end - begin, Arrays.toString(shape), dtype, needed));
    }
    // Java 17 maps at most Integer.MAX_VALUE bytes per buffer; checked here, before any mapping.
    if (needed > Integer.MAX_VALUE) {
      throw new CheckpointException(
          file,
          "tensor " + name + ": " + needed + " bytes, tensors of 2 GiB or more are not supported");
    }
    return new TensorInfo(name, dtype, shape, begin, end, file);
  }

  /** A list of non-negative integers, of exactly {@code length} elements unless length is -1. */
  private static long[] longs(JsonNode node, int length, String field, String name, Path file) {
    if (node == null || !node.isArray() || (length >= 0 && node.size() != length)) {
      throw new CheckpointException(
          file,
          String.format(
              "tensor %s: %s must be a list of %sintegers, got %s",
              name, field, length >= 0 ? length + " " : "", node));
    }
    long[] out = new long[node.size()];
    for (int i = 0; i < out.length; i++) {
      JsonNode v = node.get(i);
      if (!v.isIntegralNumber() || !v.canConvertToLong() || v.asLong() < 0) {
        throw new CheckpointException(
            file, "tensor " + name + ": " + field + " holds " + v + ", not a non-negative integer");
      }
      out[i] = v.asLong();
    }
    return out;
  }

  private static ByteBuffer readFully(FileChannel channel, long position, int length)
      throws IOException {
    ByteBuffer buf = ByteBuffer.allocate(length);
    while (buf.hasRemaining()) {
      if (channel.read(buf, position + buf.position()) < 0) {
        throw new IOException("unexpected end of file");
      }
    }
    return buf.flip();
  }

  private static String utf8(ByteBuffer bytes, Path file) {
    try {
      return StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(bytes)
          .toString();
    } catch (CharacterCodingException e) {
      throw new CheckpointException(file, "bad JSON in header: not valid UTF-8", e);
    }
  }

  private static void closeQuietly(FileChannel channel) {
    try {
      channel.close();
    } catch (IOException suppressed) {
      // the original failure is the one worth reporting
    }
  }
}
