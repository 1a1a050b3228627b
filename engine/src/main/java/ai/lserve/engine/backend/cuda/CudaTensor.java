package ai.lserve.engine.backend.cuda;

import ai.lserve.engine.backend.Tensor;
import jcuda.driver.CUdeviceptr;

/** Activations on the GPU: row-major bf16 in scratch memory. */
record CudaTensor(CUdeviceptr ptr, int rows, int cols) implements Tensor {
  long elements() {
    return (long) rows * cols;
  }
}
