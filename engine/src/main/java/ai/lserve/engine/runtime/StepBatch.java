package ai.lserve.engine.runtime;

import ai.lserve.engine.kv.SequenceKv;
import java.util.ArrayList;
import java.util.List;

/**
 * The tokens one forward step processes: for each sequence, a run of consecutive new tokens (a
 * prompt chunk or one decoded token) placed in consecutive activation rows.
 */
public final class StepBatch {
  /**
   * A sequence's slice of this step: rows [row, row + count) hold positions [start, start + count);
   * {@code decode} marks a generated token (prompt tokens are prefill).
   */
  public record Slice(SequenceKv kv, int start, int count, int row, boolean decode) {}

  private final List<Slice> slices = new ArrayList<>();
  private int rows;

  public Slice add(SequenceKv kv, int start, int count, boolean decode) {
    Slice s = new Slice(kv, start, count, rows, decode);
    slices.add(s);
    rows += count;
    return s;
  }

  public List<Slice> slices() {
    return slices;
  }

  public int rows() {
    return rows;
  }

  /** The position of every row. */
  public int[] positions() {
    int[] pos = new int[rows];
    for (Slice s : slices) for (int i = 0; i < s.count(); i++) pos[s.row() + i] = s.start() + i;
    return pos;
  }
}
