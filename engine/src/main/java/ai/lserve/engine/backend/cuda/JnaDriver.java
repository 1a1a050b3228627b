package ai.lserve.engine.backend.cuda;

import com.sun.jna.Function;
import com.sun.jna.NativeLibrary;

/** CUDA driver functions that JCuda 12.6 does not bind, looked up through JNA. */
final class JnaDriver {
  private JnaDriver() {}

  /**
   * The driver's function {@code name}, or null (with a line on stderr saying {@code otherwise},
   * what the backend does instead) where JNA cannot reach it.
   */
  static Function function(String name, String otherwise) {
    try {
      return library().getFunction(name);
    } catch (LinkageError e) {
      System.err.println("lserve: " + otherwise + ", " + name + " is not reachable through JNA: " + e);
      return null;
    }
  }

  /** The CUDA driver library JCuda has loaded (the same handle: the process has it open). */
  private static NativeLibrary library() {
    try {
      return NativeLibrary.getInstance("libcuda.so.1");
    } catch (UnsatisfiedLinkError e) {
      return NativeLibrary.getInstance("cuda");
    }
  }
}
