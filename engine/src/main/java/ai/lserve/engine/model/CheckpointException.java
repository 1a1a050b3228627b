package ai.lserve.engine.model;

import java.nio.file.Path;

/** A model checkpoint that cannot be used; the message names the offending file and the problem. */
public class CheckpointException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /**
   * Transient because Path is not serializable (Spark ships task failures); the message keeps it.
   */
  private final transient Path file;

  public CheckpointException(Path file, String problem) {
    super(file + ": " + problem);
    this.file = file;
  }

  public CheckpointException(Path file, String problem, Throwable cause) {
    super(file + ": " + problem, cause);
    this.file = file;
  }

  /** The offending file or directory; null after deserialization. */
  public Path file() {
    return file;
  }
}
