package ai.lserve.engine.eval;

import ai.lserve.engine.runtime.Engine;
import ai.lserve.engine.runtime.GenerationRequest;
import ai.lserve.engine.runtime.GenerationResult;
import ai.lserve.engine.runtime.SamplingParams;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.function.Consumer;

/**
 * Runs cases through an engine (submitted concurrently, so the engine batches them), greedy, and
 * scores each answer by exact match.
 */
public final class Evaluator {
  private Evaluator() {}

  /** One scored case. */
  public record Outcome(Tasks.Case kase, String cell, String output, boolean correct, int promptTokens, double totalMs) {}

  /** The greedy output matches when it equals the answer once surrounding white space is removed. */
  public static boolean exactMatch(String output, String answer) {
    return output != null && output.strip().equals(answer.strip());
  }

  /** Tokens to generate for a task's answer: its characters (a byte-level token each) plus two. */
  public static int maxNewTokens(String task) {
    return Tasks.answerLength(task) + 2;
  }

  /**
   * Submits every case (at most {@code concurrency} in flight), waits for all, and returns the
   * outcomes in the order of {@code cases}; {@code cells} names each case's cell. A case the
   * engine rejects counts as wrong, its error as the output.
   */
  public static List<Outcome> run(Engine engine, List<Tasks.Case> cases, List<String> cells, int concurrency,
      Consumer<Outcome> progress) throws InterruptedException {
    Semaphore window = new Semaphore(Math.max(1, concurrency));
    List<CompletableFuture<Outcome>> futures = new ArrayList<>();
    for (int i = 0; i < cases.size(); i++) {
      Tasks.Case c = cases.get(i);
      String cell = cells.get(i);
      window.acquire();
      SamplingParams p = SamplingParams.greedy(maxNewTokens(c.task()));
      CompletableFuture<Outcome> f;
      try {
        f = engine.submit(GenerationRequest.text(c.prompt(), p)).handle((GenerationResult r, Throwable e) -> {
          if (e != null) return new Outcome(c, cell, "error: " + rootMessage(e), false, 0, 0);
          String out = r.text() != null ? r.text() : "";
          return new Outcome(c, cell, out, exactMatch(out, c.answer()), r.promptTokens(), r.timings().totalMs());
        });
      } catch (RuntimeException e) {
        f = CompletableFuture.completedFuture(new Outcome(c, cell, "error: " + rootMessage(e), false, 0, 0));
      }
      f = f.whenComplete((o, e) -> {
        window.release();
        if (o != null && progress != null) progress.accept(o);
      });
      futures.add(f);
    }
    List<Outcome> out = new ArrayList<>();
    for (CompletableFuture<Outcome> f : futures) out.add(f.join());
    return out;
  }

  private static String rootMessage(Throwable e) {
    while (e.getCause() != null && e.getCause() != e) e = e.getCause();
    return e.getMessage() != null ? e.getMessage() : e.toString();
  }

  /** Accuracy per cell, in the order cells first appear. */
  public static Map<String, double[]> byCell(List<Outcome> outcomes) {
    Map<String, double[]> m = new LinkedHashMap<>(); // cell -> {correct, total, prompt tokens sum}
    for (Outcome o : outcomes) {
      double[] a = m.computeIfAbsent(o.cell(), k -> new double[3]);
      if (o.correct()) a[0]++;
      a[1]++;
      a[2] += o.promptTokens();
    }
    return m;
  }

  /**
   * Each cell's outcomes in sample order, one character a case: 1 right, 0 wrong (cases are drawn
   * per sample index, so runs with the same seed can be compared case by case).
   */
  public static Map<String, String> marks(List<Outcome> outcomes) {
    Map<String, StringBuilder> m = new LinkedHashMap<>();
    for (Outcome o : outcomes) m.computeIfAbsent(o.cell(), k -> new StringBuilder()).append(o.correct() ? '1' : '0');
    Map<String, String> out = new LinkedHashMap<>();
    m.forEach((k, v) -> out.put(k, v.toString()));
    return out;
  }

  public static double accuracy(List<Outcome> outcomes) {
    if (outcomes.isEmpty()) return 0;
    long ok = outcomes.stream().filter(Outcome::correct).count();
    return (double) ok / outcomes.size();
  }
}
