package ai.lserve.engine.cli;

import ai.lserve.engine.eval.Tasks;
import ai.lserve.engine.model.Tokenizer;
import ai.lserve.engine.sparse.AblationCalibrator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Prompt + answer cases for ablation calibration, tokenized with the model's tokenizer. */
final class CalibrationCases {
  private CalibrationCases() {}

  /**
   * JSONL, one {"prompt": ..., "answer": ...} object a line (blank lines skipped); the answer is
   * scored as written, so it carries the space a model emits before it, if any.
   */
  static List<AblationCalibrator.Case> jsonl(Path file, Tokenizer tokenizer) throws IOException {
    List<String> lines = Files.readAllLines(file);
    List<AblationCalibrator.Case> out = new ArrayList<>();
    for (int i = 0; i < lines.size(); i++) {
      String line = lines.get(i);
      if (line.isBlank()) continue;
      String where = "--data " + file + " line " + (i + 1) + ": ";
      JsonNode o;
      try {
        o = Json.MAPPER.readTree(line);
      } catch (JsonProcessingException e) {
        throw new IllegalArgumentException(where + "not JSON (" + e.getOriginalMessage() + ")");
      }
      if (!o.isObject()) throw new IllegalArgumentException(where + "expected an object {\"prompt\": ..., \"answer\": ...}");
      String prompt = text(o, "prompt", where), answer = text(o, "answer", where);
      if (prompt.isEmpty()) throw new IllegalArgumentException(where + "\"prompt\" is empty");
      try {
        out.add(tokenize(tokenizer, prompt, answer));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(where + e.getMessage());
      }
    }
    if (out.isEmpty()) throw new IllegalArgumentException("--data " + file + " has no cases");
    return out;
  }

  /**
   * Cases of the eval's generator (same formats and per-case seeding as {@code lserve eval ruler}),
   * {@code samples} per (task, length); the answer is scored with the space the model emits first.
   */
  static List<AblationCalibrator.Case> tasks(List<String> tasks, List<Integer> lengths, int samples, long seed,
      Tokenizer tokenizer) {
    List<AblationCalibrator.Case> out = new ArrayList<>();
    for (String t : tasks)
      for (int len : lengths)
        for (int i = 0; i < samples; i++) {
          Tasks.Case c = Tasks.build(Tasks.rngFor(seed, t, len, Double.NaN, i), t, EvalCommand.promptChars(t, len), Double.NaN);
          out.add(tokenize(tokenizer, c.prompt(), " " + c.answer()));
        }
    return out;
  }

  /** Tokenizes prompt + answer as one text; the answer is what follows the prompt's own tokens. */
  static AblationCalibrator.Case tokenize(Tokenizer tokenizer, String prompt, String answer) {
    int[] p = tokenizer.encode(prompt), all = tokenizer.encode(prompt + answer);
    int common = 0;
    while (common < p.length && common < all.length && p[common] == all[common]) common++;
    if (common >= all.length) throw new IllegalArgumentException("the answer is empty (no tokens after the prompt)");
    return new AblationCalibrator.Case(all, common);
  }

  private static String text(JsonNode o, String field, String where) {
    JsonNode v = o.get(field);
    if (v == null || !v.isTextual()) throw new IllegalArgumentException(where + "\"" + field + "\" must be a string");
    return v.asText();
  }
}
