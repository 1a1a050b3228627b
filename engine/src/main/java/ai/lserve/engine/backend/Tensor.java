package ai.lserve.engine.backend;

/** A backend-owned 2-D activation buffer: one row per token, {@code cols} values per row. */
public interface Tensor {
  int rows();

  int cols();
}
