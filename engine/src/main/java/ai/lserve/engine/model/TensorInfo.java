package ai.lserve.engine.model;

import java.nio.file.Path;

/**
 * One entry of a safetensors header: where a tensor's bytes lie, before anything is mapped.
 *
 * @param begin first byte, relative to the start of the file's data section
 * @param end one past the last byte, relative to the start of the data section
 * @param file the safetensors file holding the tensor
 */
public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end, Path file) {

  /** Number of elements (1 for a scalar); callers have checked it does not overflow. */
  public long numel() {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    return n;
  }
}
