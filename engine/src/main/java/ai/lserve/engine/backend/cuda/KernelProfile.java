package ai.lserve.engine.backend.cuda;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import jcuda.driver.CUevent;
import jcuda.driver.CUstream;

/**
 * GPU time per kernel, between device events around every launch, split by the kind of step
 * (prefill or decode) that launched it; printed to stderr when the backend closes. On with
 * {@code -Dlserve.cuda.profile=true} or LSERVE_CUDA_PROFILE=1 (graphs are then off, so that each
 * launch is timed alone).
 */
final class KernelProfile {
  static final boolean ON = Boolean.getBoolean("lserve.cuda.profile") || "1".equals(System.getenv("LSERVE_CUDA_PROFILE"));
  private static final int BATCH = 4096;

  private record Timed(String key, CUevent start, CUevent stop) {}

  private final ArrayDeque<CUevent> free = new ArrayDeque<>();
  private final List<Timed> pending = new ArrayList<>();
  private final Map<String, double[]> totals = new TreeMap<>(); // {calls, ms}
  private String phase = "other";

  /** The kind of step whose launches follow. */
  void phase(String p) {
    phase = p;
  }

  CUevent before(String kernel, CUstream stream) {
    if (pending.size() >= BATCH) collect();
    Timed t = new Timed(phase + " " + kernel, event(), event());
    pending.add(t);
    cuEventRecord(t.start(), stream);
    return t.stop();
  }

  private CUevent event() {
    CUevent e = free.poll();
    if (e == null) {
      e = new CUevent();
      cuEventCreate(e, 0);
    }
    return e;
  }

  private void collect() {
    if (pending.isEmpty()) return;
    cuEventSynchronize(pending.get(pending.size() - 1).stop());
    float[] ms = {0};
    for (Timed t : pending) {
      cuEventElapsedTime(ms, t.start(), t.stop());
      double[] a = totals.computeIfAbsent(t.key(), k -> new double[2]);
      a[0]++;
      a[1] += ms[0];
      free.add(t.start());
      free.add(t.stop());
    }
    pending.clear();
  }

  /** The table: per phase and kernel, calls, total ms and microseconds per call. */
  String report() {
    collect();
    StringBuilder b = new StringBuilder("GPU time per kernel (events around each launch):\n");
    Map<String, Double> phaseMs = new TreeMap<>();
    for (Map.Entry<String, double[]> e : totals.entrySet()) {
      double[] a = e.getValue();
      b.append(String.format("  %-40s %8.0f calls %10.3f ms %9.2f us/call%n", e.getKey(), a[0], a[1], 1000 * a[1] / a[0]));
      phaseMs.merge(e.getKey().substring(0, e.getKey().indexOf(' ')), a[1], Double::sum);
    }
    phaseMs.forEach((p, ms) -> b.append(String.format("  %-40s %10.3f ms in all%n", p, ms)));
    return b.toString();
  }

  void close() {
    collect();
    for (CUevent e : free) cuEventDestroy(e);
    free.clear();
  }
}
