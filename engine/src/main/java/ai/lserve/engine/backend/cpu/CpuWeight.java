package ai.lserve.engine.backend.cpu;

import ai.lserve.engine.backend.Weight;
import ai.lserve.engine.model.WeightTensor;

/**
 * A weight read straight from the memory-mapped checkpoint: matrices are decoded a row at a time
 * while multiplying, so the model never sits in the Java heap; vectors (norms) are decoded once.
 */
final class CpuWeight implements Weight {
  final WeightTensor tensor;
  final float[] vector;

  CpuWeight(WeightTensor tensor) {
    this.tensor = tensor;
    this.vector = tensor.shape().length == 1 ? tensor.toFloatArray() : null;
  }

  @Override
  public int rows() {
    return tensor.rows();
  }

  @Override
  public int cols() {
    return tensor.cols();
  }
}
