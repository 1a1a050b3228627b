package ai.lserve.engine.backend.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.RecursiveAction;
import java.util.function.IntConsumer;

/** Runs a loop body over [0, n) on the backend's own fork-join pool. */
final class Parallel {
  private final ForkJoinPool pool;

  Parallel(int threads) {
    this.pool = new ForkJoinPool(threads);
  }

  int threads() {
    return pool.getParallelism();
  }

  void forEach(int n, IntConsumer body) {
    if (n <= 0) return;
    if (n == 1 || pool.getParallelism() == 1) {
      for (int i = 0; i < n; i++) body.accept(i);
      return;
    }
    pool.invoke(new Range(0, n, body));
  }

  void close() {
    pool.shutdownNow();
  }

  private static final class Range extends RecursiveAction {
    private final int lo, hi;
    private final IntConsumer body;

    Range(int lo, int hi, IntConsumer body) {
      this.lo = lo;
      this.hi = hi;
      this.body = body;
    }

    @Override
    protected void compute() {
      if (hi - lo == 1) {
        body.accept(lo);
        return;
      }
      int mid = (lo + hi) >>> 1;
      invokeAll(new Range(lo, mid, body), new Range(mid, hi, body));
    }
  }
}
