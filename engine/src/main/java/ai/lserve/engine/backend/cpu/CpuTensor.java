package ai.lserve.engine.backend.cpu;

import ai.lserve.engine.backend.Tensor;

/** Activations on the Java heap, row-major float32. */
final class CpuTensor implements Tensor {
  final float[] data;
  private final int rows, cols;

  CpuTensor(int rows, int cols) {
    this.rows = rows;
    this.cols = cols;
    this.data = new float[Math.multiplyExact(rows, cols)];
  }

  @Override
  public int rows() {
    return rows;
  }

  @Override
  public int cols() {
    return cols;
  }
}
