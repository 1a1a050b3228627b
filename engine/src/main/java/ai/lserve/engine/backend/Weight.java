package ai.lserve.engine.backend;

/** A model weight as the backend holds it: a matrix of {@code rows} x {@code cols} or a vector. */
public interface Weight {
  int rows();

  int cols();
}
