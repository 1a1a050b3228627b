package ai.lserve.engine.bench;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * One cell of {@code lserve bench}: a mode at a context and batch size. Times in milliseconds;
 * NaN (written as null) where not measured; {@code error} says why a cell has no figures.
 *
 * @param prefillMs from submitting the batch to the last request's first token
 * @param decodeMsPerToken median duration of the steps in which every request of the batch decoded
 *     (no prompt chunk in the step), the first such step left out
 * @param decodeSteps how many such steps the median is over (the first included)
 * @param kvBytes KV bytes the batch's requests hold (pages reserved, as the plan sizes them)
 * @param peakDeviceBytes the backend's device high-water mark after the cell; -1 when it has none
 */
public record BenchResult(
    String mode, int context, int batch, double prefillMs, double decodeMsPerToken, int decodeSteps,
    long kvBytes, long kvBytesDenseBf16, long peakDeviceBytes, double prefillFloorMs, double decodeFloorMs,
    String error) {

  public static BenchResult failed(String mode, int context, int batch, String error) {
    return new BenchResult(mode, context, batch, Double.NaN, Double.NaN, 0, -1, -1, -1, Double.NaN, Double.NaN, error);
  }

  /** Generated tokens per second in decode, over the batch. */
  public double decodeTokensPerS() {
    return batch * 1000.0 / decodeMsPerToken;
  }

  /** Prompt tokens per second in prefill, over the batch. */
  public double prefillTokensPerS() {
    return (double) batch * context * 1000.0 / prefillMs;
  }

  public ObjectNode toJson() {
    ObjectNode o = JsonNodeFactory.instance.objectNode();
    o.put("mode", mode);
    o.put("context", context);
    o.put("batch", batch);
    if (error != null) {
      o.put("error", error);
      return o;
    }
    o.put("prefill_ms", prefillMs);
    put(o, "decode_ms_per_token", decodeMsPerToken);
    put(o, "tokens_per_s", decodeTokensPerS());
    o.put("prefill_tokens_per_s", prefillTokensPerS());
    o.put("decode_steps", decodeSteps);
    o.put("kv_bytes", kvBytes);
    o.put("kv_bytes_dense_bf16", kvBytesDenseBf16);
    if (peakDeviceBytes >= 0) o.put("peak_device_bytes", peakDeviceBytes);
    else o.putNull("peak_device_bytes");
    o.put("prefill_floor_ms", prefillFloorMs);
    o.put("decode_floor_ms", decodeFloorMs);
    return o;
  }

  private static void put(ObjectNode o, String field, double v) {
    if (Double.isFinite(v)) o.put(field, v);
    else o.putNull(field);
  }
}
