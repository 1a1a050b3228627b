package ai.lserve.engine.backend.cuda;

import com.sun.jna.Function;
import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import java.util.LinkedHashMap;
import java.util.Map;
import jcuda.CudaException;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUresult;

/**
 * Tensor maps (CUtensorMap) for the wgmma GEMM's tensor-copy loads (kernels/src/gemm_sm90.cuh):
 * the driver's cuTensorMapEncodeTiled, which JCuda 12.6 does not bind, called through JNA. A map
 * describes a row-major bf16 matrix and the box one copy moves: 64 columns (128 bytes, the
 * 128-byte swizzle wgmma reads) by {@code boxRows} rows; rows past the matrix arrive as zeros.
 */
final class TensorMaps {
  /** CUtensorMapDataType BFLOAT16, CUtensorMapSwizzle 128B, CUtensorMapL2promotion 256B (cuda.h). */
  private static final int BFLOAT16 = 9, SWIZZLE_128B = 3, L2_PROMOTION_256B = 3;
  /** sizeof(CUtensorMap). */
  static final int BYTES = 128;

  private final Function encode;
  /**
   * Maps already encoded (a map depends only on its key): a step's launches, and each decode step
   * recorded for its graph, would otherwise encode the same weights' maps again, a JNA call each.
   */
  private final Map<Key, TensorMap> encoded = new LinkedHashMap<>(256, 0.75f, true) {
    @Override
    protected boolean removeEldestEntry(Map.Entry<Key, TensorMap> eldest) {
      return size() > MAX_ENCODED;
    }
  };
  private static final int MAX_ENCODED = 4096;
  /** The map, then globalDim[2], globalStrides[1], boxDim[2] and elementStrides[2]. */
  private final Memory scratch = new Memory(BYTES + 16 + 8 + 8 + 8);

  /** What a map depends on: the matrix's address and shape, and the box's rows. */
  private record Key(long address, long rows, long cols, int boxRows) {}

  private TensorMaps(Function encode) {
    this.encode = encode;
  }

  /**
   * The encoder, or null (with a line on stderr) where JNA cannot reach the driver's
   * cuTensorMapEncodeTiled: the backend then runs the mma.sync GEMM instead of the wgmma one.
   */
  static TensorMaps open() {
    Function encode = JnaDriver.function("cuTensorMapEncodeTiled", "prefill GEMMs run on mma.sync");
    return encode == null ? null : new TensorMaps(encode);
  }

  /** The map of the [rows, cols] bf16 matrix at {@code matrix} (cols % 8 == 0), in boxes of 64 x boxRows. */
  synchronized TensorMap bf16(CUdeviceptr matrix, long rows, long cols, int boxRows) {
    Key key = new Key(StepGraph.address(matrix), rows, cols, boxRows);
    TensorMap map = encoded.get(key);
    if (map == null) {
      map = encode(key);
      encoded.put(key, map);
    }
    return map;
  }

  private TensorMap encode(Key k) {
    long rows = k.rows(), cols = k.cols();
    int boxRows = k.boxRows();
    long dims = BYTES, strides = dims + 16, box = strides + 8, elementStrides = box + 8;
    scratch.setLong(dims, cols); // innermost first
    scratch.setLong(dims + 8, rows);
    scratch.setLong(strides, 2 * cols); // bytes between rows
    scratch.setInt(box, 64);
    scratch.setInt(box + 4, boxRows);
    scratch.setInt(elementStrides, 1);
    scratch.setInt(elementStrides + 4, 1);
    int rc = encode.invokeInt(new Object[] {scratch, BFLOAT16, 2, new Pointer(k.address()),
        scratch.share(dims), scratch.share(strides), scratch.share(box), scratch.share(elementStrides), 0,
        SWIZZLE_128B, L2_PROMOTION_256B, 0});
    if (rc != CUresult.CUDA_SUCCESS)
      throw new CudaException(CUresult.stringFor(rc) + " (cuTensorMapEncodeTiled of a " + rows + " x " + cols
          + " matrix, boxes of 64 x " + boxRows + ")");
    return new TensorMap(scratch.getLongArray(0, BYTES / 8));
  }

  /** An encoded map: a kernel argument passed by value (128 bytes). */
  record TensorMap(long[] words) {}
}
