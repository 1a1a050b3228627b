package ai.lserve.engine.model;

import java.nio.file.Path;

/** The element types a checkpoint tensor may have, named as safetensors names them. */
public enum DType {
  BF16(2),
  F16(2),
  F32(4);

  /** Bytes per element. */
  public final int bytes;

  DType(int bytes) {
    this.bytes = bytes;
  }

  /** The dtype of a safetensors header entry; anything but BF16, F16 and F32 is refused. */
  public static DType parse(String safetensorsName, Path file, String tensorName) {
    for (DType t : values()) {
      if (t.name().equals(safetensorsName)) {
        return t;
      }
    }
    throw new CheckpointException(
        file,
        String.format(
            "unsupported dtype %s of tensor %s (supported: BF16, F16, F32)",
            safetensorsName, tensorName));
  }

  /** bfloat16 is the upper half of a float32, so widening is a shift. */
  public static float bf16ToFloat(short bits) {
    return Float.intBitsToFloat(bits << 16);
  }

  /**
   * IEEE binary16 to float32, exact for every input (Float.float16ToFloat arrives only in Java 20).
   * A table lookup: it runs for every element of every fp16 weight row, and measured twice as fast
   * as the branching conversion on real weights, where subnormals defeat branch prediction.
   */
  public static float f16ToFloat(short bits) {
    return F16_TABLE[bits & 0xffff];
  }

  private static final float[] F16_TABLE = new float[1 << 16];

  static {
    for (int bits = 0; bits < F16_TABLE.length; bits++) {
      F16_TABLE[bits] = convertF16(bits);
    }
  }

  private static float convertF16(int bits) {
    int sign = (bits & 0x8000) << 16;
    int exponent = (bits >>> 10) & 0x1f;
    int mantissa = bits & 0x3ff;
    if (exponent == 0x1f) { // infinity or NaN: keep the payload
      return Float.intBitsToFloat(sign | 0x7f800000 | (mantissa << 13));
    }
    if (exponent != 0) { // normal: rebias the exponent from 15 to 127
      return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
    }
    float subnormal = mantissa * 0x1p-24f; // zero or subnormal, exact in float32
    return sign == 0 ? subnormal : -subnormal;
  }
}
