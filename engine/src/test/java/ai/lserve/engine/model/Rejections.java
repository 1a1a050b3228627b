package ai.lserve.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.function.Executable;

/** Asserts that a checkpoint is rejected with a message naming the file and the problem. */
final class Rejections {
  private Rejections() {}

  static CheckpointException assertRejected(Path file, String problem, Executable action) {
    CheckpointException e = assertThrows(CheckpointException.class, action);
    assertEquals(file, e.file(), e.getMessage());
    assertTrue(e.getMessage().startsWith(file + ": "), e.getMessage());
    assertTrue(
        e.getMessage().contains(problem), () -> "expected '" + problem + "' in: " + e.getMessage());
    return e;
  }
}
