package ai.lserve.engine.backend.cuda;

import ai.lserve.engine.backend.Weight;
import jcuda.driver.CUdeviceptr;

/** A model weight in GPU memory, row-major bf16 ([out features, in features] for matrices). */
record CudaWeight(String name, CUdeviceptr ptr, int rows, int cols) implements Weight {}
