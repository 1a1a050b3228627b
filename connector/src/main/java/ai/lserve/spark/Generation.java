package ai.lserve.spark;

import ai.lserve.engine.runtime.Engine;
import ai.lserve.engine.runtime.GenerationRequest;
import ai.lserve.engine.runtime.GenerationResult;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.spark.TaskContext;

/**
 * Submitting prompts to this JVM's engine and telling a row's own problem (reported per row) from a
 * failure of the engine or the task (which fails the task).
 */
public final class Generation {
  private Generation() {}

  /** The engine for the settings, on the device chosen for the current task. */
  public static Engine engine(Settings s) {
    return Engines.get(s, GpuResolver.here(s));
  }

  /**
   * Submits one prompt. A row problem (empty prompt, too long, bad sampling value) completes the
   * future with an {@link IllegalArgumentException}.
   */
  public static CompletableFuture<GenerationResult> submit(Engine engine, Settings s, String prompt) {
    if (prompt.isEmpty()) return CompletableFuture.failedFuture(new IllegalArgumentException("prompt is empty"));
    return engine.submit(GenerationRequest.text(prompt, s.sampling()));
  }

  /** Waits for a result, giving up when Spark kills the task; row problems become failed outcomes. */
  public static Outcome await(CompletableFuture<GenerationResult> f) {
    TaskContext tc = TaskContext.get();
    while (true) {
      try {
        return Outcome.of(f.get(200, TimeUnit.MILLISECONDS));
      } catch (TimeoutException e) {
        if (tc != null && tc.isInterrupted()) {
          f.cancel(true);
          tc.killTaskIfInterrupted();
        }
      } catch (InterruptedException e) {
        f.cancel(true);
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while generating", e);
      } catch (ExecutionException e) {
        return outcomeOf(e.getCause());
      }
    }
  }

  /** The outcome of a finished future, which must be done. */
  public static Outcome outcomeOf(CompletableFuture<GenerationResult> f) {
    try {
      return Outcome.of(f.join());
    } catch (CompletionException e) {
      return outcomeOf(e.getCause());
    } catch (CancellationException e) {
      throw new IllegalStateException("generation was cancelled", e);
    }
  }

  private static Outcome outcomeOf(Throwable cause) {
    if (cause instanceof IllegalArgumentException) return Outcome.failed(cause.getMessage());
    if (cause instanceof RuntimeException r) throw r;
    if (cause instanceof Error err) throw err;
    throw new IllegalStateException(cause);
  }

  /** The start of a prompt and its length, to name a row in an error. */
  public static String describe(String prompt) {
    String flat = prompt.replaceAll("\\s+", " ").strip();
    String start = flat.length() > 60 ? flat.substring(0, 60) + "…" : flat;
    return String.format("the row whose prompt starts \"%s\" (%,d chars)", start, prompt.length());
  }
}
