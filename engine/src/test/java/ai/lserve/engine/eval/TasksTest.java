package ai.lserve.engine.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class TasksTest {
  static Tasks.Case build(long seed, String task, int chars, double depth, int sample) {
    return Tasks.build(Tasks.rngFor(seed, task, chars, depth, sample), task, chars, depth);
  }

  @Test
  void sameSeedSameCasesOtherSeedOtherCases() {
    for (String t : Tasks.TASKS) {
      Tasks.Case a = build(7, t, 3000, Double.NaN, 0), b = build(7, t, 3000, Double.NaN, 0);
      assertEquals(a, b, t);
      Tasks.Case c = build(8, t, 3000, Double.NaN, 0), d = build(7, t, 3000, Double.NaN, 1);
      assertNotEquals(a.prompt(), c.prompt(), t);
      assertNotEquals(a.answer(), c.answer(), t);
      assertNotEquals(a.prompt(), d.prompt(), t);
    }
  }

  @Test
  void promptsHaveExactlyTheAskedLengthAndAreAscii() {
    for (String t : Tasks.TASKS)
      for (int chars : new int[] {Tasks.minLength(t), 1000, 4093, 20000}) {
        Tasks.Case c = build(1, t, chars, Double.NaN, 0);
        assertEquals(chars, c.prompt().length(), t + " " + chars);
        assertTrue(c.prompt().chars().allMatch(ch -> ch >= 32 && ch < 127), t);
        assertEquals(Tasks.answerLength(t), 1 + c.answer().length(), t); // the answer follows a space
      }
  }

  @Test
  void answersCanBeFoundInThePrompt() {
    for (int s = 0; s < 20; s++) {
      Tasks.Case p = build(s, "passkey", 2000, 0.5, 0);
      assertTrue(p.prompt().contains(" The pass key is " + p.answer() + ". Remember it."));
      assertTrue(p.prompt().endsWith(" What is the pass key? The pass key is"));

      Tasks.Case m = build(s, "multikey", 2000, Double.NaN, 0);
      Matcher q = Pattern.compile("What is the special magic number for ([a-z]+-[a-z]+)\\?").matcher(m.prompt());
      assertTrue(q.find());
      assertTrue(m.prompt().contains(" One of the special magic numbers for " + q.group(1) + " is: " + m.answer() + "."));
      assertEquals(4, m.needles().size());

      Tasks.Case k = build(s, "kv", 8000, Double.NaN, 0);
      Matcher kq = Pattern.compile("What is the value of key ([0-9a-f]{8})\\?").matcher(k.prompt());
      assertTrue(kq.find());
      assertTrue(k.prompt().contains(" Key " + kq.group(1) + " has value " + k.answer() + "."));
      assertEquals(15, k.needles().size()); // 8000 / 512

      Tasks.Case v = build(s, "vartrack", 2000, Double.NaN, 0);
      assertEquals(resolve(v.prompt()), v.answer());
    }
  }

  /** Follows the assignments from the asked variable and writes the trace the answer should be. */
  static String resolve(String prompt) {
    Map<String, String> assigned = new HashMap<>();
    Matcher m = Pattern.compile(" VAR ([A-Z]{5}) = (VAR [A-Z]{5}|[0-9]{5})\\.").matcher(prompt);
    while (m.find()) assigned.put(m.group(1), m.group(2));
    Matcher q = Pattern.compile("What is the value of VAR ([A-Z]{5})\\? Answer: VAR \\1 =$").matcher(prompt);
    assertTrue(q.find(), "question");
    StringBuilder trace = new StringBuilder();
    String cur = assigned.get(q.group(1));
    while (true) {
      if (trace.length() > 0) trace.append(" = ");
      trace.append(cur);
      if (!cur.startsWith("VAR ")) return trace.toString();
      cur = assigned.get(cur.substring(4));
    }
  }

  @Test
  void depthPlacesThePasskey() {
    for (int s = 0; s < 10; s++) {
      Tasks.Case top = build(s, "passkey", 5000, 0.0, 0), end = build(s, "passkey", 5000, 1.0, 0),
          mid = build(s, "passkey", 5000, 0.5, 0);
      assertTrue(top.prompt().startsWith(" The pass key is"));
      int e = end.prompt().indexOf(" The pass key is"), question = end.prompt().lastIndexOf(" What is the pass key?");
      assertTrue(question - e < 200, "the needle ends near the question: " + (question - e));
      int m = mid.prompt().indexOf(" The pass key is");
      assertTrue(Math.abs(m - 2500) < 150, "middle: " + m);
    }
  }

  @Test
  void tooShortPromptsAndUnknownTasksAreRejected() {
    assertThrows(IllegalArgumentException.class, () -> build(1, "multikey", 200, Double.NaN, 0));
    assertThrows(IllegalArgumentException.class, () -> build(1, "summarize", 2000, Double.NaN, 0));
  }

  @Test
  void documentsCycleTheTasksWithinTheLengthsAndSplitThePromptAtTheQuestion() throws Exception {
    List<String> tasks = List.of("passkey", "multikey", "kv");
    List<Tasks.Document> docs = Tasks.documents(5, 12, tasks, 2000, 4000);
    assertEquals(12, docs.size());
    java.util.Set<Integer> lengths = new java.util.HashSet<>();
    for (Tasks.Document d : docs) {
      assertEquals(tasks.get(d.id() % 3), d.task());
      String prompt = d.text() + d.question();
      assertTrue(prompt.length() >= 2000 && prompt.length() <= 4000, "length " + prompt.length());
      lengths.add(prompt.length());
      assertTrue(d.question().startsWith(" What is "), d.question());
      assertTrue(d.text().contains(" " + d.answer() + "."), "the answer is in the text");
      assertEquals(d, Tasks.document(5, d.id(), tasks, 2000, 4000), "a document depends only on its arguments");
      assertEquals(d, new com.fasterxml.jackson.databind.ObjectMapper()
          .readValue(Tasks.documentJson(5, d.id(), "passkey, multikey,kv", 2000, 4000), Tasks.Document.class));
    }
    assertTrue(lengths.size() > 6, "lengths are drawn: " + lengths);
    assertNotEquals(docs.get(0), Tasks.document(6, 0, tasks, 2000, 4000));
    Tasks.Document fixed = Tasks.document(1, 0, tasks, 3000, 3000);
    assertEquals(3000, fixed.text().length() + fixed.question().length());
    assertThrows(IllegalArgumentException.class, () -> Tasks.document(1, 0, tasks, 300, 4000)); // multikey needs 448
    assertThrows(IllegalArgumentException.class, () -> Tasks.document(1, 0, tasks, 4000, 2000));
    assertThrows(IllegalArgumentException.class, () -> Tasks.document(1, 0, List.of(), 2000, 4000));
    assertThrows(IllegalArgumentException.class, () -> Tasks.documentJson(1, 0, "passkey,summary", 2000, 4000));
  }

  /** The training script (scripts/longctx_tasks.py) and these generators must use the same text. */
  @Test
  void wordListsAndTemplatesMatchTheTrainingScript() throws Exception {
    Path py = Path.of("../scripts/longctx_tasks.py");
    Assumptions.assumeTrue(Files.isRegularFile(py), "scripts/longctx_tasks.py not found from " + Path.of("").toAbsolutePath());
    String src = Files.readString(py);
    assertEquals(Arrays.asList(Tasks.WORDS), pythonWords(src, "WORDS"));
    assertEquals(Arrays.asList(Tasks.KEY_ADJECTIVES), pythonWords(src, "KEY_ADJECTIVES"));
    assertEquals(Arrays.asList(Tasks.KEY_NOUNS), pythonWords(src, "KEY_NOUNS"));
    for (String template : List.of("\" The pass key is %s. Remember it. %s is the pass key.\"",
        "\" What is the pass key? The pass key is\"", "\" One of the special magic numbers for %s is: %s.\"",
        "\" What is the special magic number for %s? The special magic number for %s is\"",
        "\" Key %s has value %s.\"", "\" What is the value of key %s? Key %s has value\"", "\" VAR %s = %s.\"",
        "\" VAR %s = VAR %s.\"", "\" Question: What is the value of VAR %s? Answer: VAR %s =\"",
        "\" VAR %s = VAR %s = %s\"", "rng.randint(6, 14)", "max(4, min(32, prompt_len // 512))"))
      assertTrue(src.contains(template), template);
    for (String t : Tasks.TASKS) {
      assertTrue(src.contains("\"" + t + "\": " + Tasks.minLength(t)), "MIN_LENGTH of " + t);
      assertTrue(src.contains("\"" + t + "\": " + Tasks.answerLength(t)), "ANSWER_LENGTH of " + t);
    }
  }

  static List<String> pythonWords(String src, String name) {
    Matcher m = Pattern.compile("(?m)^" + name + " = \\(\\s*((?:\"[^\"]*\"\\s*)+)\\)\\.split\\(\\)").matcher(src);
    assertTrue(m.find(), name);
    StringBuilder all = new StringBuilder();
    Matcher s = Pattern.compile("\"([^\"]*)\"").matcher(m.group(1));
    while (s.find()) all.append(s.group(1));
    return Arrays.asList(all.toString().trim().split("\\s+"));
  }
}
